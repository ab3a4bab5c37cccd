// loadConfig: environment + optional file → one validated, deep-frozen GatewayConfig.
// Precedence: built-in defaults < GATEWAY_CONFIG file < environment variables.
import { Value } from '@sinclair/typebox/value'
import type { TSchema } from '@sinclair/typebox'
import { GatewayConfigSchema, type GatewayConfig, type MutableGatewayConfig } from './schema.js'
import { readEnv } from './env.js'
import { readConfigFile, ConfigFileError } from './file.js'
import { defaultRoutes, defaultServices, ServiceSchema } from '../../plugins/proxy/options.js'
import { buildRouteTable } from '../../plugins/versioning/routes.js'
import { keyEntry } from '../../plugins/auth/options.js'
import { compileAddressList } from '../../plugins/ip-restriction/index.js'
import { compileMatch } from '../route-match.js'

export type { GatewayConfig } from './schema.js'

export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor (problems: string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface LoadedConfig {
  config: GatewayConfig
  warnings: string[]
}

/** Reads process.env (or the given env) and the GATEWAY_CONFIG file. Throws ConfigError. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: string[] = []
  const filePath = env.GATEWAY_CONFIG?.trim()
  let file: Record<string, unknown> = {}
  const warnings: string[] = []
  let kong = false
  if (filePath) {
    try {
      const read = readConfigFile(filePath, { kongLenient: /^(true|1|yes|on)$/i.test(env.GATEWAY_KONG_LENIENT?.trim() ?? '') })
      file = read.config
      kong = read.kong === true
      warnings.push(...read.warnings)
    } catch (err) {
      if (err instanceof ConfigFileError) throw new ConfigError([...err.problems])
      throw err
    }
  }
  const fromEnv = readEnv(env)
  problems.push(...fromEnv.problems)
  const input = structuredClone(file)
  for (const { path, value } of fromEnv.values) setPath(input, path, value)
  const config = resolve(input, { problems, envSources: fromEnv.sources, fileLabel: filePath ? `in ${filePath}` : undefined, builtInServices: !kong })
  return { config, warnings: [...warnings, ...fromEnv.warnings] }
}

/** Validates a config object (e.g. built by a test) the same way, filling defaults. */
export function resolveConfig (input: unknown): GatewayConfig {
  return resolve(structuredClone(input ?? {}) as Record<string, unknown>, { problems: [] })
}

interface ResolveContext {
  problems: string[]
  envSources?: Map<string, { name: string, raw: string }>
  fileLabel?: string
  /** false: no command/query services unless configured (a Kong file names its own) */
  builtInServices?: boolean
}

function resolve (input: Record<string, unknown>, ctx: ResolveContext): GatewayConfig {
  // services merge by name over the defaults; routes replace the defaults wholesale
  if (input.services !== undefined && !isPlainObject(input.services)) {
    ctx.problems.push(`${keyLabel('/services', ctx)}: got ${Array.isArray(input.services) ? 'a list' : preview(input.services)}, expected a mapping of service name → { targets, ... }${Array.isArray(input.services) ? ' (a Kong file needs its _format_version line)' : ''}`)
  }
  const services = isPlainObject(input.services) ? input.services : {}
  input.services = ctx.builtInServices === false ? { ...services } : { ...defaultServices(), ...services }
  if (input.routes === undefined) input.routes = defaultRoutes()
  // Value.Default does not descend into Record values: default each service itself
  for (const service of Object.values(input.services as Record<string, unknown>)) {
    if (isPlainObject(service)) Value.Default(ServiceSchema, service)
  }
  Value.Default(GatewayConfigSchema, input)
  const { problems } = ctx
  for (const error of Value.Errors(GatewayConfigSchema, input)) {
    problems.push(describe(error, ctx))
  }
  if (problems.length === 0) {
    for (const route of (input as MutableGatewayConfig).routes) route.name ??= route.prefix.replace(/^\//, '').replace(/[^A-Za-z0-9]+/g, '-').slice(0, 64) || 'root'
    crossCheck(input as MutableGatewayConfig, ctx)
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems))
  const config = input as MutableGatewayConfig
  return deepFreeze(config) as GatewayConfig
}

function crossCheck (config: MutableGatewayConfig, ctx: ResolveContext): void {
  // "KEY: got VALUE, expected WHAT" — the value is left out when the key names an env variable (it shows it already)
  const fail = (path: string, value: unknown, what: string) => {
    ctx.problems.push(`${keyLabel(path, ctx)}: ${findEnvSource(path, ctx) ? '' : `got ${holdsSecret(path) ? '[redacted]' : preview(value)}, `}expected ${what}`)
  }
  const prefixes = new Set<string>()
  const names = new Map<string, number>()
  config.routes.forEach((route, i) => {
    // names key rate-limit counters: two routes with one name would share them
    // (a repeated prefix repeats its derived name: reported once, as the prefix)
    const sameName = names.get(route.name!)
    if (sameName !== undefined && !prefixes.has(route.prefix.toLowerCase())) fail(`/routes/${i}/name`, route.name, `a name not already used by routes[${sameName}] (set "name" on one of them)`)
    names.set(route.name!, i)
    prefixes.add(route.prefix.toLowerCase())
    const known = `one of the configured services: ${Object.keys(config.services).join(', ')}`
    if (!(route.service in config.services)) fail(`/routes/${i}/service`, route.service, known)
    for (const [version, own] of Object.entries(route.versions ?? {})) {
      if (own !== false && !(own.service in config.services)) fail(`/routes/${i}/versions/${version}/service`, own.service, known)
    }
  })
  // prefixes per version: shadowing, unsupported version segments, two routes on one prefix
  for (const p of buildRouteTable(config.routes, config.versioning).problems) fail(p.path, p.value, p.expected)
  const consumerIdSet = new Set(config.consumers.map((c) => c.id))
  config.routes.forEach((route, i) => {
    if (route.anonymousConsumer !== undefined && !consumerIdSet.has(route.anonymousConsumer)) fail(`/routes/${i}/anonymousConsumer`, route.anonymousConsumer, 'the id of a configured consumer')
    for (const list of ['allow', 'deny'] as const) {
      route.ipRestriction?.[list].forEach((entry, k) => {
        try { compileAddressList([entry]) } catch { fail(`/routes/${i}/ipRestriction/${list}/${k}`, entry, 'an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)') }
      })
    }
    if (route.match?.pathRegex !== undefined) {
      try { compileMatch(route.match) } catch { fail(`/routes/${i}/match/pathRegex`, route.match.pathRegex, 'a valid regular expression') }
    }
    if (route.rateLimit?.byHeader !== undefined && route.rateLimit.by !== 'header') fail(`/routes/${i}/rateLimit/byHeader`, route.rateLimit.byHeader, 'no byHeader unless by: header')
    if (route.auth === 'public' && route.roles.length > 0) fail(`/routes/${i}/roles`, route.roles, 'no roles on a public route (set auth: authenticated, or drop roles)')
  })
  if (config.jwt.secret?.includes('-----BEGIN')) {
    // a PEM used as an HMAC secret is how HS/RS confusion attacks start
    fail('/jwt/secret', config.jwt.secret, 'a random HS* secret, not a PEM key (put public keys in JWT_PUBLIC_KEY)')
  }
  const consumerIds = new Map<string, number>()
  const keyHashes = new Map<string, string>()
  const jwtKeys = new Map<string, string>()
  config.consumers.forEach((consumer, i) => {
    const previous = consumerIds.get(consumer.id)
    if (previous !== undefined) fail(`/consumers/${i}/id`, consumer.id, `an id not already used by consumers[${previous}]`)
    consumerIds.set(consumer.id, i)
    consumer.jwtSecrets.forEach((secret, k) => {
      const hmac = secret.algorithm.startsWith('HS')
      if (hmac && secret.secret === undefined) fail(`/consumers/${i}/jwtSecrets/${k}/secret`, undefined, `a secret for ${secret.algorithm}`)
      if (!hmac && secret.publicKey === undefined) fail(`/consumers/${i}/jwtSecrets/${k}/publicKey`, undefined, `a PEM public key for ${secret.algorithm}`)
      const owner = jwtKeys.get(secret.key)
      if (owner !== undefined) fail(`/consumers/${i}/jwtSecrets/${k}/key`, secret.key, `a key not already used by consumer ${owner}`)
      jwtKeys.set(secret.key, consumer.id)
    })
    consumer.apiKeys.forEach((entry, k) => {
      const { hash } = keyEntry(entry)
      const owner = keyHashes.get(hash)
      if (owner !== undefined) fail(`/consumers/${i}/apiKeys/${k}`, hash, `a key hash not already given to consumer ${owner}`)
      keyHashes.set(hash, consumer.id)
    })
  })
  const { versions, defaultVersion, deprecated } = config.versioning
  const supported = `one of the supported versions ${versions.join(', ')}`
  if (!versions.includes(defaultVersion)) fail('/versioning/defaultVersion', defaultVersion, supported)
  const deprecatedAt = new Map<number, number>()
  deprecated.forEach((d, i) => {
    if (!versions.includes(d.version)) fail(`/versioning/deprecated/${i}/version`, d.version, supported)
    const previous = deprecatedAt.get(d.version)
    if (previous !== undefined) fail(`/versioning/deprecated/${i}/version`, d.version, `a version not already deprecated by deprecated[${previous}]`)
    deprecatedAt.set(d.version, i)
    if (!isCalendarDate(d.sunset)) fail(`/versioning/deprecated/${i}/sunset`, d.sunset, 'a real calendar date YYYY-MM-DD')
    if (d.since !== undefined) {
      if (!isCalendarDate(d.since)) fail(`/versioning/deprecated/${i}/since`, d.since, 'a real calendar date YYYY-MM-DD')
      else if (d.since > d.sunset) fail(`/versioning/deprecated/${i}/since`, d.since, `a date not after the sunset ${d.sunset} (RFC 9745 §3)`)
    }
  })
  if (new Set(versions).size !== versions.length) fail('/versioning/versions', versions, 'each version listed once')
  const { port, adminPort } = config.server
  if (port !== 0 && port === adminPort) fail('/server/adminPort', adminPort, `a port different from the public port ${port}`)
}

function isCalendarDate (text: string): boolean {
  const time = Date.parse(`${text}T00:00:00Z`)
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === text
}

interface SchemaError { type: number, path: string, value: unknown, message: string, schema: TSchema }

function describe (error: SchemaError, ctx: ResolveContext): string {
  const key = keyLabel(error.path, ctx)
  const env = findEnvSource(error.path, ctx)
  const got = env ? '' : `got ${holdsSecret(error.path) ? '[redacted]' : preview(error.value)}, `
  const schema = error.schema as TSchema & { properties?: Record<string, unknown>, anyOf?: Array<{ const?: unknown }>, description?: string }
  if (error.type === 42 /* additional property */ && schema.properties) {
    return `${key}: unknown key, expected one of: ${Object.keys(schema.properties).join(', ')}`
  }
  if (error.value === undefined) return `${key}: missing, expected ${expected(schema, error.message)}`
  return `${key}: ${got}expected ${expected(schema, error.message)}`
}

function expected (schema: TSchema & { anyOf?: Array<{ const?: unknown }>, description?: string }, message: string): string {
  if (schema.anyOf?.every((s) => 'const' in s)) return `one of ${schema.anyOf.map((s) => JSON.stringify(s.const)).join(', ')}`
  const bounds = [
    schema.minimum !== undefined ? `≥ ${schema.minimum}` : '',
    schema.exclusiveMinimum !== undefined ? `> ${schema.exclusiveMinimum}` : '',
    schema.maximum !== undefined ? `≤ ${schema.maximum}` : '',
    schema.minLength !== undefined ? `at least ${schema.minLength} characters` : '',
    schema.minItems !== undefined ? `at least ${schema.minItems} item(s)` : ''
  ].filter(Boolean).join(' and ')
  if (schema.description) return schema.description
  if (schema.type === 'integer') return `an integer${bounds ? ' ' + bounds : ''}`
  if (schema.type === 'number') return `a number${bounds ? ' ' + bounds : ''}`
  if (schema.type === 'string' && schema.pattern) return `a string matching ${schema.pattern}`
  if (schema.type && bounds) return `a ${schema.type} with ${bounds}`
  if (schema.type) return `a${/^[aeio]/.test(String(schema.type)) ? 'n' : ''} ${schema.type}`
  return message.replace(/^Expected /, '').toLowerCase()
}

// Values under these keys never appear in error messages (they end up in logs).
const SECRET_PATHS = /^\/(jwt\/secret|server\/adminToken|consumers\/\d+\/apiKeys\/\d+(\/hash)?|consumers\/\d+\/jwtSecrets\/\d+\/secret)$/
// ...and a value at a parent of those keys may be the secret given at the wrong level
const SECRET_PARENTS = /^(\/(jwt|server|consumers(\/\d+(\/apiKeys(\/\d+)?|\/jwtSecrets(\/\d+)?)?)?)?)?$/
const holdsSecret = (path: string): boolean => SECRET_PATHS.test(path) || SECRET_PARENTS.test(path)

function findEnvSource (path: string, ctx: ResolveContext): { name: string, raw: string } | undefined {
  if (!ctx.envSources) return undefined
  for (let p = path; p !== ''; p = p.slice(0, p.lastIndexOf('/'))) {
    const source = ctx.envSources.get(p)
    if (source) return SECRET_PATHS.test(p) ? { name: source.name, raw: `[redacted, ${source.raw.length} characters]` } : { name: source.name, raw: maskUrlCredentials(source.raw) }
  }
  return undefined
}

/** "/routes/0/prefix" → "routes[0].prefix (in gw.yaml)", or "PORT=\"x\"" when the value came from the environment */
function keyLabel (path: string, ctx: ResolveContext): string {
  const env = findEnvSource(path, ctx)
  if (env) return `${env.name}=${JSON.stringify(env.raw)}`
  const key = path.split('/').filter(Boolean).map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join('') || '(root)'
  return ctx.fileLabel ? `${key} (${ctx.fileLabel})` : key
}

/** redis://user:password@host → redis://[redacted]@host, anywhere in a text */
const maskUrlCredentials = (text: string): string => text.replace(/\/\/[^/@\s"]*@/g, '//[redacted]@')

function preview (value: unknown): string {
  const text = maskUrlCredentials(JSON.stringify(value) ?? String(value))
  return text.length > 80 ? text.slice(0, 77) + '...' : text
}

function setPath (target: Record<string, unknown>, pointer: string, value: unknown): void {
  const parts = pointer.split('/').filter(Boolean)
  let node = target
  for (const part of parts.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {}
    node = node[part] as Record<string, unknown>
  }
  node[parts[parts.length - 1]!] = value
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function dedupe (list: string[]): string[] {
  return [...new Set(list)]
}

function deepFreeze<T> (value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
