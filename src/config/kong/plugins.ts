// Kong plugins → route options of the gateway's own config. Each plugin instance is
// translated once (its problems reported once, at its path in the file) into an
// effect applied to every route it covers. docs/migrating-from-kong.md lists what
// maps to what and what behaves differently.
import { checkFields, isObj, preview, strings, type KongReport, type Obj } from './report.js'

/** the Kong scope a plugin instance was configured at: its rate-limit counters are shared across that scope */
export interface PluginScope { kind: 'global' | 'service' | 'route' | 'consumer', name: string }

export interface PluginContext {
  report: KongReport
  /** a Kong consumer reference (id or username) → the gateway's consumer id */
  consumerId: (ref: string) => string | undefined
  /** settings several plugins feed into the top level of the config */
  global: { redisUrl?: string, redisFrom?: string, failClosed?: string, failOpen?: string }
}

export type RouteEffect = (route: Obj) => void

type Translator = (config: Obj, path: string, scope: PluginScope, ctx: PluginContext) => RouteEffect | undefined

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

function anonymous (config: Obj, path: string, ctx: PluginContext): string | undefined {
  const ref = config.anonymous
  if (ref === undefined || ref === null || ref === '') return undefined
  const id = typeof ref === 'string' ? ctx.consumerId(ref) : undefined
  if (id === undefined) ctx.report.invalid(`${path}.anonymous`, `${preview(ref)} is not a consumer in this file (expected a consumer's id or username)`)
  return id
}

function headerNames (ctx: PluginContext, value: unknown, path: string): string[] {
  return strings(ctx.report, value, path).filter((name, i) => {
    if (HEADER_NAME.test(name)) return true
    ctx.report.invalid(`${path}[${i}]`, `${preview(name)} is not a header name`)
    return false
  })
}

function credentialsOf (route: Obj): Obj {
  route.credentials ??= {}
  return route.credentials as Obj
}

const keyAuth: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['key_names', 'hide_credentials', 'anonymous', 'key_in_header', 'key_in_query', 'run_on_preflight', 'realm'], { key_in_body: false })
  const names = config.key_names === undefined || config.key_names === null ? ['apikey'] : strings(ctx.report, config.key_names, `${path}.config.key_names`)
  const inHeader = config.key_in_header !== false
  const inQuery = config.key_in_query !== false
  const headers = inHeader ? headerNames(ctx, names, `${path}.config.key_names`).map((n) => n.toLowerCase()) : []
  const query = inQuery ? names : []
  const hide = config.hide_credentials === true
  const anon = anonymous(config, `${path}.config`, ctx)
  return (route) => {
    credentialsOf(route).apiKey = { headers, query }
    if (hide) route.hideCredentials = true
    if (anon !== undefined) route.anonymousConsumer = anon
    route.auth = 'authenticated'
  }
}

const jwt: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['uri_param_names', 'cookie_names', 'header_names', 'claims_to_verify', 'key_claim_name', 'anonymous', 'run_on_preflight', 'maximum_expiration', 'realm'], { secret_is_base64: false })
  const query = config.uri_param_names === undefined || config.uri_param_names === null ? ['jwt'] : strings(ctx.report, config.uri_param_names, `${path}.config.uri_param_names`)
  const cookies = strings(ctx.report, config.cookie_names ?? [], `${path}.config.cookie_names`)
  const headers = config.header_names === undefined || config.header_names === null ? ['authorization'] : headerNames(ctx, config.header_names, `${path}.config.header_names`).map((n) => n.toLowerCase())
  const claims = strings(ctx.report, config.claims_to_verify ?? [], `${path}.config.claims_to_verify`)
  const verifyClaims = claims.filter((c, i) => {
    if (c === 'exp' || c === 'nbf') return true
    ctx.report.invalid(`${path}.config.claims_to_verify[${i}]`, `${preview(c)}: expected "exp" or "nbf"`)
    return false
  })
  const keyClaim = typeof config.key_claim_name === 'string' && config.key_claim_name !== '' ? config.key_claim_name : 'iss'
  const maxLifetime = typeof config.maximum_expiration === 'number' ? config.maximum_expiration : 0
  if (maxLifetime > 0 && !verifyClaims.includes('exp')) ctx.report.invalid(`${path}.config.maximum_expiration`, 'maximum_expiration needs "exp" in claims_to_verify (as in Kong)')
  const anon = anonymous(config, `${path}.config`, ctx)
  return (route) => {
    credentialsOf(route).jwt = { headers, query, cookies, keys: 'consumers', keyClaim, verifyClaims, maxLifetimeSeconds: maxLifetime }
    if (anon !== undefined) route.anonymousConsumer = anon
    route.auth = 'authenticated'
  }
}

const acl: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['allow', 'deny', 'hide_groups_header', 'whitelist', 'blacklist'], { include_consumer_groups: false, always_use_authenticated_groups: false })
  const allow = strings(ctx.report, config.allow ?? config.whitelist ?? [], `${path}.config.allow`)
  const deny = strings(ctx.report, config.deny ?? config.blacklist ?? [], `${path}.config.deny`)
  if (allow.length === 0 && deny.length === 0) ctx.report.invalid(`${path}.config`, 'an acl plugin needs allow or deny groups')
  const groupsHeader = config.hide_groups_header !== true
  return (route) => {
    if (allow.length > 0) route.roles = allow
    if (deny.length > 0) route.denyRoles = deny
    route.groupsHeader = groupsHeader
    route.aclNeedsAuth = true
  }
}

const UNITS: Array<[string, number]> = [
  ['second', 1000], ['minute', 60_000], ['hour', 3_600_000], ['day', 86_400_000], ['month', 2_592_000_000], ['year', 31_536_000_000]
]
const LIMIT_BY: Record<string, string> = { consumer: 'consumer', credential: 'consumer', ip: 'ip', service: 'service', header: 'header', path: 'path' }

function redisUrlOf (config: Obj): string | undefined {
  const nested = isObj(config.redis) ? config.redis : {}
  const pick = (flat: string, key: string): unknown => nested[key] ?? config[flat]
  const host = pick('redis_host', 'host')
  if (typeof host !== 'string' || host === '') return undefined
  const port = pick('redis_port', 'port') ?? 6379
  const password = pick('redis_password', 'password')
  const username = pick('redis_username', 'username')
  const database = pick('redis_database', 'database') ?? 0
  const ssl = pick('redis_ssl', 'ssl') === true
  const auth = typeof password === 'string' && password !== ''
    ? `${typeof username === 'string' ? encodeURIComponent(username) : ''}:${encodeURIComponent(password)}@`
    : ''
  return `${ssl ? 'rediss' : 'redis'}://${auth}${host.includes(':') ? `[${host}]` : host}:${String(port)}/${String(database)}`
}

const REDIS_FIELDS = ['redis', 'redis_host', 'redis_port', 'redis_password', 'redis_username', 'redis_database', 'redis_ssl', 'redis_ssl_verify', 'redis_server_name', 'redis_timeout', 'redis_connect_timeout', 'redis_read_timeout', 'redis_send_timeout', 'redis_keepalive_pool_size', 'redis_keepalive_backlog', 'redis_sentinel_master', 'redis_sentinel_role', 'redis_sentinel_addresses', 'redis_cluster_addresses', 'redis_sentinel_username', 'redis_sentinel_password', 'redis_cluster_max_redirections', 'redis_connection_is_proxied']

const rateLimiting: Translator = (config, path, scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['second', 'minute', 'hour', 'day', 'month', 'year', 'limit_by', 'header_name', 'path', 'policy', 'fault_tolerant', 'hide_client_headers', 'sync_rate', ...REDIS_FIELDS], { error_code: 429, error_message: 'API rate limit exceeded', retry_after_jitter_max: 0 })
  const windows: Obj[] = []
  for (const [unit, ms] of UNITS) {
    const max = config[unit]
    if (max === undefined || max === null) continue
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
      ctx.report.invalid(`${path}.config.${unit}`, `expected a whole number ≥ 1, got ${preview(max)}`)
      continue
    }
    windows.push({ max, windowMs: ms, name: unit })
  }
  if (windows.length === 0) {
    ctx.report.invalid(`${path}.config`, 'a rate-limiting plugin needs at least one of second, minute, hour, day, month, year')
    return undefined
  }
  const limitBy = typeof config.limit_by === 'string' ? config.limit_by : 'consumer'
  const by = LIMIT_BY[limitBy]
  if (by === undefined) ctx.report.unsupported(`${path}.config.limit_by`, `limit_by ${preview(limitBy)} is not supported (consumer, credential, ip, service, header, path are)`)
  const fixedPath = typeof config.path === 'string' ? config.path : undefined
  if (limitBy === 'path' && (fixedPath === undefined || !fixedPath.startsWith('/'))) ctx.report.invalid(`${path}.config.path`, 'limit_by path needs path: the path whose requests count together (as in Kong)')
  const header = typeof config.header_name === 'string' ? config.header_name : undefined
  if (limitBy === 'header' && header === undefined) ctx.report.invalid(`${path}.config.header_name`, 'limit_by header needs header_name')
  const policy = typeof config.policy === 'string' ? config.policy : 'local'
  if (policy === 'cluster') ctx.report.unsupported(`${path}.config.policy`, 'policy cluster keeps counters in Kong\'s database; use redis (or local)')
  else if (policy !== 'local' && policy !== 'redis') ctx.report.invalid(`${path}.config.policy`, `expected local, redis or cluster, got ${preview(policy)}`)
  if (policy === 'redis') {
    const url = redisUrlOf(config)
    if (url !== undefined) {
      const g = ctx.global
      if (g.redisUrl !== undefined && g.redisUrl !== url) ctx.report.unsupported(`${path}.config.redis`, `a second Redis server (the gateway uses one: the first, named at ${g.redisFrom})`)
      else { g.redisUrl = url; g.redisFrom ??= path }
    }
  }
  if (config.fault_tolerant === false) ctx.global.failClosed ??= path
  else ctx.global.failOpen ??= path
  // Kong keys counters by the plugin's own scope: a global plugin's count spans every route
  const counter = scope.kind === 'global' ? 'kong-global' : `kong-${scope.kind}-${scope.name}`.slice(0, scope.kind === 'consumer' ? 128 : 64)
  const block: Obj = { windows, counter, by: by ?? 'consumer', store: policy === 'redis' ? 'shared' : 'local' }
  if (limitBy === 'header' && header !== undefined) block.byHeader = header
  if (limitBy === 'path' && fixedPath?.startsWith('/') === true) block.byPath = fixedPath
  if (config.hide_client_headers === true) block.hideHeaders = true
  return (route) => { route.rateLimit = { ...block } }
}

const cors: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['origins', 'methods', 'headers', 'exposed_headers', 'credentials', 'max_age'], { preflight_continue: false, private_network: false })
  const origins = config.origins === undefined || config.origins === null ? ['*'] : strings(ctx.report, config.origins, `${path}.config.origins`)
  const block: Obj = { origins: origins.length > 0 ? origins : ['*'], credentials: config.credentials === true }
  if (config.methods !== undefined && config.methods !== null) block.methods = strings(ctx.report, config.methods, `${path}.config.methods`)
  if (config.headers !== undefined && config.headers !== null) block.headers = strings(ctx.report, config.headers, `${path}.config.headers`)
  if (config.exposed_headers !== undefined && config.exposed_headers !== null) block.exposedHeaders = strings(ctx.report, config.exposed_headers, `${path}.config.exposed_headers`)
  if (typeof config.max_age === 'number') block.maxAgeSeconds = config.max_age
  return (route) => { route.cors = { ...block } }
}

const SIZE_UNITS: Record<string, number> = { bytes: 1, kilobytes: 1024, megabytes: 1024 * 1024 }

const requestSizeLimiting: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['allowed_payload_size', 'size_unit'], { require_content_length: false })
  const size = config.allowed_payload_size ?? 128
  const unit = typeof config.size_unit === 'string' ? config.size_unit : 'megabytes'
  const factor = SIZE_UNITS[unit]
  if (typeof size !== 'number' || size < 0 || factor === undefined) {
    ctx.report.invalid(`${path}.config`, `expected allowed_payload_size ≥ 0 and size_unit bytes, kilobytes or megabytes, got ${preview(size)} ${preview(unit)}`)
    return undefined
  }
  const bytes = Math.min(Math.floor(size * factor), 1_073_741_824)
  return (route) => { route.bodyLimitBytes = bytes }
}

/** "X-Name:value" pairs, or "old:new" for renames */
function pairs (ctx: PluginContext, value: unknown, path: string): Record<string, string> {
  const out: Record<string, string> = {}
  strings(ctx.report, value, path).forEach((item, i) => {
    const colon = item.indexOf(':')
    const name = colon === -1 ? '' : item.slice(0, colon).trim()
    if (!HEADER_NAME.test(name)) {
      ctx.report.invalid(`${path}[${i}]`, `expected "Header-Name:value", got ${preview(item)}`)
      return
    }
    out[name.toLowerCase()] = item.slice(colon + 1)
  })
  return out
}

function transformer (direction: 'request' | 'response'): Translator {
  return (config, path, _scope, ctx) => {
    checkFields(ctx.report, config, `${path}.config`, ['remove', 'rename', 'add', 'replace', 'append'], { http_method: null })
    const transform: Obj = {}
    for (const action of ['remove', 'rename', 'add', 'replace', 'append']) {
      const part = config[action]
      if (part === undefined || part === null) continue
      if (!isObj(part)) {
        ctx.report.invalid(`${path}.config.${action}`, `expected an object, got ${preview(part)}`)
        continue
      }
      const supported = action === 'remove' || action === 'rename' || action === 'add' ? ['headers'] : []
      checkFields(ctx.report, part, `${path}.config.${action}`, supported, { json_types: part.json_types })
      if (!supported.includes('headers') || part.headers === undefined || part.headers === null) continue
      if (action === 'remove') transform.remove = strings(ctx.report, part.headers, `${path}.config.remove.headers`).map((h) => h.toLowerCase())
      if (action === 'rename') transform.rename = pairs(ctx, part.headers, `${path}.config.rename.headers`)
      if (action === 'add') transform.add = pairs(ctx, part.headers, `${path}.config.add.headers`)
    }
    return (route) => {
      const headers = (route.headers ??= {}) as Obj
      headers[direction] = { ...transform }
    }
  }
}

const ipRestriction: Translator = (config, path, _scope, ctx) => {
  checkFields(ctx.report, config, `${path}.config`, ['allow', 'deny', 'whitelist', 'blacklist', 'status', 'message'], { protocols: config.protocols })
  const allow = strings(ctx.report, config.allow ?? config.whitelist ?? [], `${path}.config.allow`)
  const deny = strings(ctx.report, config.deny ?? config.blacklist ?? [], `${path}.config.deny`)
  if (allow.length === 0 && deny.length === 0) ctx.report.invalid(`${path}.config`, 'an ip-restriction plugin needs allow or deny addresses')
  const block: Obj = { allow, deny }
  if (typeof config.status === 'number') block.status = config.status
  return (route) => { route.ipRestriction = { ...block } }
}

// metrics are always on: GET /metrics on the admin listener
const prometheus: Translator = () => () => {}

export const PLUGINS: Record<string, Translator> = {
  'key-auth': keyAuth,
  jwt,
  acl,
  'rate-limiting': rateLimiting,
  cors,
  'request-size-limiting': requestSizeLimiting,
  'request-transformer': transformer('request'),
  'response-transformer': transformer('response'),
  'ip-restriction': ipRestriction,
  prometheus
}
