// A Kong declarative config (_format_version "3.0", or "2.1") → the gateway's own
// config object, which then goes through the same validation as any config file.
// Services, routes, upstreams + targets, consumers + credentials, and the plugins of
// plugins.ts, nested or top-level, referenced by name or id. API keys are hashed
// here; nothing of the parsed file is kept. What Kong does and the gateway does not
// stops start-up with the item's path (or, lenient, a warning per item).
import { createHash } from 'node:crypto'
import { isIP } from 'node:net'
import { KongReport, checkFields, isObj, list, preview, refOf, safeName, strings, type Obj } from './report.js'
import { PLUGINS, type PluginContext, type PluginScope, type RouteEffect } from './plugins.js'

export const KONG_FORMAT_VERSIONS = ['3.0', '2.1']

export interface KongTranslation {
  config: Obj
  /** the gateway's built-in services (command, query) are not added to a Kong file's */
  kong: true
  /** unsupported items left out (lenient) and behaviour differences worth a log line */
  warnings: string[]
}

export class KongConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid Kong configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`)
    this.name = 'KongConfigError'
  }
}

const TOP_LEVEL = ['_format_version', '_transform', '_workspace', '_info', '_comment', 'services', 'routes', 'upstreams', 'targets', 'consumers', 'plugins', 'keyauth_credentials', 'jwt_secrets', 'acls']
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/
const HOST = /^(\*\.)?[A-Za-z0-9._-]+(\.\*)?$/
const CONSUMER_ID = /^[\x21-\x7E][\x20-\x7E]{0,255}$/
const ROLE = /^[A-Za-z0-9_.:/@-]{1,64}$/
/** Kong 2.x told regex paths apart by their characters (deck convert prefixes those with "~") */
const LOOKS_LIKE_REGEX = /[^A-Za-z0-9._~/%-]/

interface Upstream { id: string | undefined, targets: Obj[], service: Obj, path: string }
interface PluginInstance { name: string, config: Obj, path: string, service?: string, route?: string, consumer?: string }
interface KongService { key: string, name: string, id?: string, path: string, obj: Obj }
interface KongRoute { name: string, id?: string, service: KongService | undefined, path: string, obj: Obj, reported?: boolean }

export function translateKong (doc: Obj, opts: { lenient: boolean, label: string }): KongTranslation {
  const report = new KongReport(opts.lenient, opts.label)
  const version = String(doc._format_version)
  if (!KONG_FORMAT_VERSIONS.includes(version)) {
    const hint = typeof doc._format_version === 'number' ? ' — write it quoted, _format_version: "3.0" (YAML reads 3.0 unquoted as the number 3)' : ''
    report.invalid('_format_version', `${preview(doc._format_version)} is not a Kong declarative format this gateway reads (${KONG_FORMAT_VERSIONS.map((v) => `"${v}"`).join(', ')})${hint}`)
    throw new KongConfigError(report.problems)
  }
  checkFields(report, doc, '', TOP_LEVEL)
  const legacyPaths = version === '2.1'

  const plugins: PluginInstance[] = []
  const collectPlugins = (value: unknown, path: string, scope: Omit<PluginInstance, 'name' | 'config' | 'path'>) => {
    list(report, value, path).forEach((p, i) => {
      const at = `${path}[${i}]`
      if (!isObj(p)) { report.invalid(at, `expected a plugin object, got ${preview(p)}`); return }
      checkFields(report, p, at, ['name', 'config', 'enabled', 'service', 'route', 'consumer', 'protocols', 'instance_name'], { ordering: null })
      if (p.enabled === false) return
      if (typeof p.name !== 'string') { report.invalid(`${at}.name`, 'missing: a plugin needs a name'); return }
      const config = p.config === undefined || p.config === null ? {} : p.config
      if (!isObj(config)) { report.invalid(`${at}.config`, `expected an object, got ${preview(config)}`); return }
      plugins.push({ name: p.name, config, path: at, service: scope.service ?? refOf(p.service), route: scope.route ?? refOf(p.route), consumer: scope.consumer ?? refOf(p.consumer) })
    })
  }

  // upstreams and their targets
  const upstreams = new Map<string, Upstream>()
  list(report, doc.upstreams, 'upstreams').forEach((u, i) => {
    const at = `upstreams[${i}]`
    if (!isObj(u) || typeof u.name !== 'string') { report.invalid(at, 'an upstream needs a name (the host services refer to it by)'); return }
    upstreams.set(u.name, { id: typeof u.id === 'string' ? u.id : undefined, targets: [], service: upstreamSettings(report, u, at), path: at })
    list(report, u.targets, `${at}.targets`).forEach((t, k) => { if (isObj(t)) upstreams.get(u.name as string)!.targets.push({ ...t, _path: `${at}.targets[${k}]` }) })
  })
  list(report, doc.targets, 'targets').forEach((t, i) => {
    const at = `targets[${i}]`
    const ref = isObj(t) ? refOf(t.upstream) : undefined
    const upstream = ref === undefined ? undefined : upstreams.get(ref) ?? [...upstreams.values()].find((u) => u.id === ref)
    if (!isObj(t) || upstream === undefined) { report.invalid(`${at}.upstream`, `${preview(isObj(t) ? t.upstream : t)} is not an upstream in this file`); return }
    upstream.targets.push({ ...t, _path: at })
  })

  // services (routes nested or not come after)
  const services: KongService[] = []
  const out: { services: Obj, routes: Obj[], consumers: Obj[] } = { services: {}, routes: [], consumers: [] }
  list(report, doc.services, 'services').forEach((s, i) => {
    const at = `services[${i}]`
    if (!isObj(s)) { report.invalid(at, `expected a service object, got ${preview(s)}`); return }
    const name = typeof s.name === 'string' ? s.name : typeof s.id === 'string' ? s.id : `service-${i}`
    const key = uniqueKey(safeName(name), out.services)
    const service: KongService = { key, name, id: typeof s.id === 'string' ? s.id : undefined, path: at, obj: s }
    const translated = translateService(report, s, at, upstreams)
    if (translated === undefined) return
    out.services[key] = translated
    services.push(service)
    collectPlugins(s.plugins, `${at}.plugins`, { service: name })
  })
  const findService = (ref: string | undefined) => ref === undefined ? undefined : services.find((s) => s.name === ref || s.id === ref)

  const routes: KongRoute[] = []
  services.forEach((service) => {
    list(report, service.obj.routes, `${service.path}.routes`).forEach((r, k) => {
      if (isObj(r)) routes.push(kongRoute(r, `${service.path}.routes[${k}]`, service, routes.length))
      else report.invalid(`${service.path}.routes[${k}]`, `expected a route object, got ${preview(r)}`)
    })
  })
  list(report, doc.routes, 'routes').forEach((r, i) => {
    const at = `routes[${i}]`
    if (!isObj(r)) { report.invalid(at, `expected a route object, got ${preview(r)}`); return }
    const ref = refOf(r.service)
    const service = findService(ref)
    if (ref !== undefined && service === undefined) report.invalid(`${at}.service`, `${preview(r.service)} is not a service in this file`)
    routes.push({ ...kongRoute(r, at, service, routes.length), reported: ref !== undefined && service === undefined })
  })
  for (const route of routes) collectPlugins(route.obj.plugins, `${route.path}.plugins`, { route: route.name })
  collectPlugins(doc.plugins, 'plugins', {})

  // consumers and their credentials
  const consumers = translateConsumers(report, doc, collectPlugins)
  out.consumers = consumers.list
  const consumerId = (ref: string) => consumers.byRef.get(ref)

  // plugins: each instance translated once; then applied to the routes it covers
  const ctx: PluginContext = { report, consumerId, global: {} }
  const compiled: Array<{ plugin: PluginInstance, effect: RouteEffect, level: number }> = []
  for (const plugin of plugins) {
    const translate = PLUGINS[plugin.name]
    if (translate === undefined) {
      report.unsupported(`${plugin.path}.name`, `the plugin ${preview(plugin.name)} is not supported (supported: ${Object.keys(PLUGINS).join(', ')})`)
      continue
    }
    const consumer = plugin.consumer === undefined ? undefined : consumerId(plugin.consumer)
    if (plugin.consumer !== undefined && consumer === undefined) { report.invalid(`${plugin.path}.consumer`, `${preview(plugin.consumer)} is not a consumer in this file`); continue }
    if (consumer !== undefined && plugin.name !== 'rate-limiting') {
      report.unsupported(`${plugin.path}`, `${plugin.name} configured for one consumer is not supported (rate-limiting is; other plugins apply at global, service and route scope)`)
      continue
    }
    const route = plugin.route === undefined ? undefined : routes.find((r) => r.name === plugin.route || r.id === plugin.route)
    if (plugin.route !== undefined && route === undefined) { report.invalid(`${plugin.path}.route`, `${preview(plugin.route)} is not a route in this file`); continue }
    const service = plugin.service === undefined ? undefined : findService(plugin.service)
    if (plugin.service !== undefined && service === undefined) { report.invalid(`${plugin.path}.service`, `${preview(plugin.service)} is not a service in this file`); continue }
    const scope: PluginScope = consumer !== undefined
      ? { kind: 'consumer', name: `${safeName(consumer, 80)}${route !== undefined ? `~r~${safeName(route.name)}` : service !== undefined ? `~s~${service.key}` : ''}` }
      : route !== undefined ? { kind: 'route', name: safeName(route.name) } : service !== undefined ? { kind: 'service', name: service.key } : { kind: 'global', name: '' }
    const effect = translate(plugin.config, plugin.path, scope, ctx)
    if (effect === undefined) continue
    const level = route !== undefined ? 2 : service !== undefined ? 1 : 0
    compiled.push({ plugin: { ...plugin, route: route?.name, service: service?.name, consumer }, effect, level })
  }
  const seen = new Map<string, string>()
  for (const { plugin, level } of compiled) {
    const scopeKey = `${plugin.name} ${level} ${plugin.route ?? ''} ${plugin.service ?? ''} ${plugin.consumer ?? ''}`
    const first = seen.get(scopeKey)
    if (first !== undefined) report.invalid(plugin.path, `a second ${plugin.name} plugin at the scope of ${first} (Kong allows one per scope)`)
    else seen.set(scopeKey, plugin.path)
  }

  const names = new Set<string>()
  for (const route of routes) {
    if (route.service === undefined) {
      if (route.reported !== true) report.unsupported(route.path, 'a route without a service is not supported (it has nowhere to proxy to)')
      continue
    }
    const drafts = translateRoute(report, route, legacyPaths, names)
    // the most specific instance of each plugin applies: route over service over global
    const applying = new Map<string, { effect: RouteEffect, level: number }>()
    // consumer-scoped rate limits: per consumer, consumer + route over consumer + service over consumer alone
    const perConsumer = new Map<string, { effect: RouteEffect, level: number }>()
    for (const c of compiled) {
      const covers = c.level === 0 || (c.level === 1 && c.plugin.service === route.service.name) || (c.level === 2 && c.plugin.route === route.name)
      if (!covers) continue
      const into = c.plugin.consumer === undefined ? applying : perConsumer
      const key = c.plugin.consumer ?? c.plugin.name
      const current = into.get(key)
      if (current === undefined || c.level > current.level) into.set(key, { effect: c.effect, level: c.level })
    }
    for (const draft of drafts) {
      draft.service = route.service.key
      for (const { effect } of applying.values()) effect(draft)
      if (draft.aclNeedsAuth === true && draft.auth !== 'authenticated') report.invalid(route.path, 'an acl plugin applies here without key-auth or jwt: groups belong to an authenticated consumer')
      delete draft.aclNeedsAuth
      if (!applying.has('rate-limiting')) draft.rateLimit = { enabled: false }
      if (perConsumer.size > 0) {
        const consumersLimits: Obj = {}
        for (const [id, { effect }] of perConsumer) {
          const holder: Obj = {}
          effect(holder)
          consumersLimits[id] = holder.rateLimit
        }
        ;(draft.rateLimit as Obj).consumers = consumersLimits
      }
      out.routes.push(draft)
    }
  }

  const config: Obj = { services: out.services, routes: out.routes, consumers: out.consumers }
  const { redisUrl, failClosed, failOpen } = ctx.global
  if (redisUrl !== undefined) config.redis = { url: redisUrl }
  if (failClosed !== undefined) {
    config.rateLimit = { failMode: 'closed' }
    if (failOpen !== undefined) report.note(failClosed, `fault_tolerant: false makes every rate limit fail closed while Redis is unreachable (the gateway has one fail mode; ${failOpen} asked for fault_tolerant: true)`)
  }
  if (report.problems.length > 0) throw new KongConfigError(report.problems)
  return { config, warnings: report.warnings, kong: true }

  function kongRoute (r: Obj, path: string, service: KongService | undefined, index: number): KongRoute {
    const name = typeof r.name === 'string' ? r.name : typeof r.id === 'string' ? r.id : `${service?.name ?? 'route'}-${index}`
    return { name, id: typeof r.id === 'string' ? r.id : undefined, service, path, obj: r }
  }
}

function uniqueKey (base: string, taken: Obj | Set<string>): string {
  const has = (k: string) => (taken instanceof Set ? taken.has(k) : k in taken)
  let key = base
  for (let n = 2; has(key); n++) key = `${base.slice(0, 60)}-${n}`
  return key
}

/** a Kong upstream's balancing and health checks, as service settings */
function upstreamSettings (report: KongReport, u: Obj, at: string): Obj {
  checkFields(report, u, at, ['name', 'algorithm', 'hash_on', 'hash_fallback', 'hash_on_header', 'hash_fallback_header', 'hash_on_cookie', 'hash_on_cookie_path', 'hash_on_query_arg', 'hash_fallback_query_arg', 'healthchecks', 'targets', 'slots'], { use_srv_name: false, hash_on_uri_capture: null, hash_fallback_uri_capture: null, host_header: null, client_certificate: null })
  const settings: Obj = {}
  const algorithm = u.algorithm ?? 'round-robin'
  if (algorithm === 'least-connections') settings.loadBalancing = 'least-connections'
  else if (algorithm === 'consistent-hashing') {
    settings.loadBalancing = 'consistent-hashing'
    const sources: Obj[] = []
    for (const [field, nameField, queryField] of [['hash_on', 'hash_on_header', 'hash_on_query_arg'], ['hash_fallback', 'hash_fallback_header', 'hash_fallback_query_arg']] as const) {
      const by = u[field] ?? 'none'
      if (by === 'none') continue
      if (by === 'ip' || by === 'consumer' || by === 'path') sources.push({ by })
      else if (by === 'header') sources.push({ by: 'header', name: String(u[nameField] ?? '') })
      else if (by === 'cookie') sources.push({ by: 'cookie', name: String(u.hash_on_cookie ?? '') })
      else if (by === 'query_arg') sources.push({ by: 'query', name: String(u[queryField] ?? '') })
      else report.unsupported(`${at}.${field}`, `hashing on ${preview(by)} is not supported (ip, consumer, header, cookie, path, query_arg are)`)
    }
    settings.hashOn = sources
  } else if (algorithm !== 'round-robin') report.unsupported(`${at}.algorithm`, `the ${preview(algorithm)} algorithm is not supported (round-robin, least-connections, consistent-hashing are)`)
  else settings.loadBalancing = 'round-robin'
  const checks = isObj(u.healthchecks) ? u.healthchecks : {}
  checkFields(report, checks, `${at}.healthchecks`, ['active', 'passive'], { threshold: 0 })
  const active = isObj(checks.active) ? checks.active : {}
  const healthy = isObj(active.healthy) ? active.healthy : {}
  const unhealthy = isObj(active.unhealthy) ? active.unhealthy : {}
  const passiveChecks = isObj(checks.passive) ? checks.passive : {}
  const passive = isObj(passiveChecks.unhealthy) ? passiveChecks.unhealthy : {}
  checkFields(report, active, `${at}.healthchecks.active`, ['healthy', 'unhealthy', 'http_path', 'timeout', 'type'], { concurrency: 10, https_verify_certificate: true })
  checkFields(report, healthy, `${at}.healthchecks.active.healthy`, ['interval', 'successes'], { http_statuses: [200, 302] })
  checkFields(report, unhealthy, `${at}.healthchecks.active.unhealthy`, ['interval', 'http_failures', 'tcp_failures', 'timeouts'], { http_statuses: [429, 404, 500, 501, 502, 503, 504, 505] })
  checkFields(report, passiveChecks, `${at}.healthchecks.passive`, ['healthy', 'unhealthy'], { type: 'http' })
  if (isObj(passiveChecks.healthy)) checkFields(report, passiveChecks.healthy, `${at}.healthchecks.passive.healthy`, ['successes'], { http_statuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308] })
  checkFields(report, passive, `${at}.healthchecks.passive.unhealthy`, ['http_failures', 'tcp_failures', 'timeouts'], { http_statuses: [429, 500, 503] })
  const type = active.type ?? 'http'
  const intervals = [healthy.interval, unhealthy.interval].filter((v): v is number => typeof v === 'number' && v > 0)
  const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined)
  if (intervals.length > 0 && type !== 'http' && type !== 'https') {
    report.unsupported(`${at}.healthchecks.active.type`, `active health checks of type ${preview(type)} are not supported (http and https are: a GET of http_path)`)
    settings.healthCheck = { enabled: false }
  } else if (intervals.length > 0) {
    const failures = [unhealthy.http_failures, unhealthy.tcp_failures, unhealthy.timeouts].map(num).filter((v): v is number => v !== undefined)
    settings.healthCheck = {
      enabled: true,
      path: typeof active.http_path === 'string' ? active.http_path : '/',
      intervalMs: Math.max(1, Math.round(Math.min(...intervals) * 1000)),
      timeoutMs: Math.max(1, Math.round((num(active.timeout) ?? 1) * 1000)),
      healthyThreshold: Math.min(Math.max(1, Math.round(num(healthy.successes) ?? 2)), 100),
      unhealthyThreshold: failures.length > 0 ? Math.min(Math.max(1, Math.round(Math.min(...failures))), 100) : 2
    }
  } else {
    settings.healthCheck = { enabled: false }
  }
  const http5xx = num(passive.http_failures)
  const connectionCounts = [passive.tcp_failures, passive.timeouts].map(num).filter((v): v is number => v !== undefined)
  const connection = connectionCounts.length > 0 ? Math.min(...connectionCounts) : undefined
  settings.passiveHealth = http5xx === undefined && connection === undefined
    ? { enabled: false }
    : { enabled: true, consecutive5xx: Math.min(Math.round(http5xx ?? 1000), 1000), consecutiveFailures: Math.min(Math.round(connection ?? 1000), 1000) }
  return settings
}

function translateService (report: KongReport, s: Obj, at: string, upstreams: Map<string, Upstream>): Obj | undefined {
  checkFields(report, s, at, ['name', 'url', 'protocol', 'host', 'port', 'path', 'connect_timeout', 'write_timeout', 'read_timeout', 'retries', 'routes', 'plugins'], { enabled: true, tls_verify: null, tls_verify_depth: null, client_certificate: null, ca_certificates: null })
  let protocol: unknown = s.protocol ?? 'http'
  let host: unknown = s.host
  let port: unknown = s.port
  let path: unknown = s.path
  if (typeof s.url === 'string') {
    try {
      const url = new URL(s.url)
      protocol = url.protocol.slice(0, -1)
      host = url.hostname.replace(/^\[|\]$/g, '')
      port = url.port === '' ? undefined : Number(url.port)
      path = url.pathname === '/' && !s.url.endsWith('/') ? undefined : url.pathname
    } catch {
      report.invalid(`${at}.url`, `${preview(s.url)} is not a URL`)
      return undefined
    }
  }
  if (protocol !== 'http' && protocol !== 'https') {
    report.unsupported(`${at}.protocol`, `protocol ${preview(protocol)} is not supported (http, https are)`)
    return undefined
  }
  if (typeof host !== 'string' || host === '') {
    report.invalid(`${at}.host`, 'a service needs a url or a host')
    return undefined
  }
  if (path !== undefined && path !== null && (typeof path !== 'string' || !path.startsWith('/'))) {
    report.invalid(`${at}.path`, `expected a path starting with "/", got ${preview(path)}`)
    path = undefined
  }
  const basePath = typeof path === 'string' ? path : ''
  const service: Obj = {}
  const upstream = upstreams.get(host)
  if (upstream !== undefined) {
    Object.assign(service, upstream.service)
    const weights: number[] = []
    const targets: Obj[] = []
    const addresses = new Set<string>()
    for (const t of upstream.targets) {
      const tPath = String(t._path)
      checkFields(report, t, tPath, ['target', 'weight', 'upstream', '_path'])
      const weight = t.weight === undefined || t.weight === null ? 100 : t.weight
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 65535) { report.invalid(`${tPath}.weight`, `expected a whole number 0–65535, got ${preview(weight)}`); continue }
      if (weight === 0) continue // Kong: a disabled target
      const address = typeof t.target === 'string' ? targetAddress(t.target) : undefined
      if (address === undefined) { report.invalid(`${tPath}.target`, `expected "host:port", got ${preview(t.target)}`); continue }
      if (addresses.has(address)) { report.invalid(`${tPath}.target`, `${preview(t.target)} is already a target of this upstream (Kong refuses duplicates too)`); continue }
      addresses.add(address)
      targets.push({ url: `${String(protocol)}://${address}${basePath}`, weight })
      weights.push(weight)
    }
    if (targets.length === 0) {
      report.invalid(upstream.path, `the upstream ${preview(host)} has no target with a weight above 0 (the services using it would have nowhere to go)`)
      return undefined
    }
    // Kong's weights go to 65535, the gateway's to 1000: scaled, proportions kept
    const top = Math.max(...weights)
    if (top > 1000) for (const t of targets) t.weight = Math.max(1, Math.round((t.weight as number) * 1000 / top))
    if (service.loadBalancing === 'round-robin' && new Set(weights).size > 1) service.loadBalancing = 'weighted'
    service.targets = targets
  } else {
    // Kong checks the health of upstream targets only: a plain service URL has no checks
    service.healthCheck = { enabled: false }
    service.passiveHealth = { enabled: false }
    const hostPart = isIP(host) === 6 ? `[${host}]` : host
    service.targets = [{ url: `${String(protocol)}://${hostPart}${port === undefined || port === null ? '' : `:${String(port)}`}${basePath}` }]
  }
  const read = s.read_timeout
  if (read !== undefined && read !== null) {
    if (typeof read !== 'number' || !Number.isInteger(read) || read < 1) report.invalid(`${at}.read_timeout`, `expected milliseconds ≥ 1, got ${preview(read)}`)
    else service.timeoutMs = Math.min(read, 86_400_000)
  }
  if (s.retries !== undefined && s.retries !== null) {
    if (typeof s.retries !== 'number' || !Number.isInteger(s.retries) || s.retries < 0) report.invalid(`${at}.retries`, `expected a whole number ≥ 0, got ${preview(s.retries)}`)
    else service.retries = Math.min(s.retries, 10)
  }
  return service
}

/** "host:port", "host" (Kong's default port 8000), "[::1]:80" → an URL authority */
function targetAddress (target: string): string | undefined {
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(target)
  if (v6) return `[${v6[1]}]:${v6[2] ?? '8000'}`
  const m = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(target)
  if (!m) return undefined
  return `${m[1]}:${m[2] ?? '8000'}`
}

/** one Kong route → one gateway route per path (the gateway's routes have one prefix each) */
function translateRoute (report: KongReport, route: KongRoute, legacyPaths: boolean, names: Set<string>): Obj[] {
  const r = route.obj
  const at = route.path
  checkFields(report, r, at, ['name', 'service', 'paths', 'methods', 'hosts', 'headers', 'strip_path', 'preserve_host', 'protocols', 'regex_priority', 'path_handling', 'plugins', 'https_redirect_status_code', 'request_buffering', 'response_buffering'], { snis: null, sources: null, destinations: null, expression: null })
  const protocols = strings(report, r.protocols ?? ['http', 'https'], `${at}.protocols`)
  if (!protocols.some((p) => p === 'http' || p === 'https')) report.unsupported(`${at}.protocols`, `protocols ${preview(protocols)} are not supported (http, https are)`)
  if (r.path_handling !== undefined && r.path_handling !== null && r.path_handling !== 'v0' && r.path_handling !== 'v1') report.invalid(`${at}.path_handling`, `expected v0 or v1, got ${preview(r.path_handling)}`)
  const base: Obj = {
    versioned: false,
    auth: 'public',
    // Kong proxies WebSocket upgrades on http(s) routes
    websocket: true,
    stripPrefix: r.strip_path !== false,
    preserveHost: r.preserve_host === true
  }
  const methods = strings(report, r.methods ?? [], `${at}.methods`).map((m) => m.toUpperCase())
  for (const [i, m] of methods.entries()) if (!METHODS.has(m)) report.unsupported(`${at}.methods[${i}]`, `the method ${preview(m)} is not proxied (${[...METHODS].join(', ')} are)`)
  if (methods.length > 0) base.methods = [...new Set(methods.filter((m) => METHODS.has(m)))]
  const match: Obj = {}
  const hosts = strings(report, r.hosts ?? [], `${at}.hosts`)
  for (const [i, h] of hosts.entries()) if (!HOST.test(h)) report.unsupported(`${at}.hosts[${i}]`, `the host ${preview(h)} is not supported (names with a leading "*." or trailing ".*" wildcard are; no ports)`)
  if (hosts.length > 0) match.hosts = hosts.filter((h) => HOST.test(h))
  if (r.headers !== undefined && r.headers !== null) {
    if (!isObj(r.headers)) report.invalid(`${at}.headers`, `expected an object of header → values, got ${preview(r.headers)}`)
    else {
      const headers: Record<string, string[]> = {}
      for (const [name, values] of Object.entries(r.headers)) {
        const vs = typeof values === 'string' ? [values] : strings(report, values, `${at}.headers.${name}`)
        if (name.toLowerCase() === 'host') { report.invalid(`${at}.headers.${name}`, 'use hosts to match the Host header'); continue }
        if (vs.some((v) => v.startsWith('~*'))) { report.unsupported(`${at}.headers.${name}`, 'regex header values ("~*...") are not supported'); continue }
        headers[name.toLowerCase()] = vs
      }
      if (Object.keys(headers).length > 0) match.headers = headers
    }
  }
  // Kong's route priority, highest first: how many kinds of condition (methods, hosts,
  // headers), plain hosts only over wildcards, regex paths over prefixes, more headers,
  // then regex_priority. Among routes one request matches on one prefix the highest
  // wins (src/route-match.ts).
  const categories = (base.methods ? 1 : 0) + (match.hosts ? 1 : 0) + (match.headers ? 1 : 0)
  const plainHostsOnly = Array.isArray(match.hosts) && (match.hosts as string[]).every((h) => !h.includes('*'))
  const headerCount = Math.min(Object.keys((match.headers as Obj | undefined) ?? {}).length, 99)
  const regexPriority = typeof r.regex_priority === 'number' ? Math.max(-49_999_999, Math.min(49_999_999, Math.trunc(r.regex_priority))) : 0
  const priorityOf = (isRegex: boolean) => categories * 1e12 + (plainHostsOnly ? 1e11 : 0) + (isRegex ? 1e10 : 0) + headerCount * 1e8 + (isRegex ? regexPriority + 5e7 : 0)
  const paths = strings(report, r.paths ?? [], `${at}.paths`)
  if (paths.length === 0) paths.push('/')
  const drafts: Obj[] = []
  paths.forEach((raw, i) => {
    const pathAt = `${at}.paths[${i}]`
    const isRegex = raw.startsWith('~') || (legacyPaths && LOOKS_LIKE_REGEX.test(raw))
    const pattern = raw.startsWith('~') ? raw.slice(1) : raw
    const draft: Obj = { ...base }
    const own: Obj = { ...match }
    let prefix: string
    if (isRegex) {
      try {
        // Kong anchors regex paths at the start of the path
        RegExp(pattern)
      } catch {
        report.unsupported(pathAt, `${preview(raw)} is not a regular expression JavaScript reads`)
        return
      }
      own.pathRegex = pattern.startsWith('^') ? pattern : `^(?:${pattern})`
      prefix = literalPrefix(pattern)
    } else {
      if (!PREFIX.test(raw)) { report.invalid(pathAt, `expected a path starting with "/" (letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ % /), got ${preview(raw)}`); return }
      prefix = raw.length > 1 ? raw.replace(/\/+$/, '') || '/' : '/'
    }
    // a route with methods gets a match too (with no other condition it always holds):
    // it can then share its prefix with a route without methods, which takes the rest
    if (Object.keys(own).length > 0 || base.methods !== undefined) {
      own.priority = priorityOf(isRegex)
      draft.match = own
    }
    draft.prefix = prefix
    draft.name = uniqueKey(safeName(paths.length > 1 ? `${route.name}-${i + 1}` : route.name), names)
    names.add(draft.name as string)
    drafts.push(draft)
  })
  return drafts
}

/** "/v1/users/\d+$" → "/v1/users": the static part a regex path starts with, up to its last "/" */
function literalPrefix (pattern: string): string {
  const body = pattern.startsWith('^') ? pattern.slice(1) : pattern
  let end = 0
  while (end < body.length && !'\\.^$*+?()[]{}|'.includes(body[end]!)) end++
  const literal = body.slice(0, end)
  const slash = literal.lastIndexOf('/')
  const prefix = slash <= 0 ? '/' : literal.slice(0, slash)
  return PREFIX.test(prefix) ? prefix : '/'
}

interface Consumers { list: Obj[], byRef: Map<string, string> }

function translateConsumers (report: KongReport, doc: Obj, collectPlugins: (value: unknown, path: string, scope: { consumer: string }) => void): Consumers {
  const byRef = new Map<string, string>()
  const entries: Array<{ consumer: Obj, at: string }> = []
  const ids = new Set<string>()
  list(report, doc.consumers, 'consumers').forEach((c, i) => {
    const at = `consumers[${i}]`
    if (!isObj(c)) { report.invalid(at, `expected a consumer object, got ${preview(c)}`); return }
    checkFields(report, c, at, ['username', 'custom_id', 'keyauth_credentials', 'jwt_secrets', 'acls', 'plugins'])
    const ref = [c.id, c.username, c.custom_id].find((v): v is string => typeof v === 'string' && v !== '')
    if (ref === undefined) { report.invalid(at, 'a consumer needs a username or custom_id'); return }
    if (!CONSUMER_ID.test(ref)) { report.invalid(at, `the consumer's id ${preview(ref)} must be printable ASCII of at most 256 characters`); return }
    if (ids.has(ref)) { report.invalid(at, `a second consumer ${preview(ref)}`); return }
    ids.add(ref)
    const consumer: Obj = { id: ref, tier: 'authenticated', roles: [], apiKeys: [], jwtSecrets: [] }
    if (typeof c.username === 'string') { consumer.username = c.username; byRef.set(c.username, ref) }
    if (typeof c.custom_id === 'string') { consumer.customId = c.custom_id; byRef.set(c.custom_id, ref) }
    if (typeof c.id === 'string') byRef.set(c.id, ref)
    entries.push({ consumer, at })
    addCredentials(consumer, c, at)
    collectPlugins(c.plugins, `${at}.plugins`, { consumer: ref })
  })
  const find = (value: unknown) => { const ref = refOf(value); return ref === undefined ? undefined : entries.find((e) => e.consumer.id === byRef.get(ref))?.consumer }
  for (const kind of ['keyauth_credentials', 'jwt_secrets', 'acls'] as const) {
    list(report, doc[kind], kind).forEach((cred, i) => {
      const at = `${kind}[${i}]`
      const consumer = isObj(cred) ? find(cred.consumer) : undefined
      if (!isObj(cred) || consumer === undefined) { report.invalid(`${at}.consumer`, 'expected a reference to a consumer in this file (username or id)'); return }
      addCredentials(consumer, { [kind]: [cred] }, at, true)
    })
  }
  const keyOwners = new Map<string, string>()
  for (const { consumer } of entries) {
    for (const entry of consumer.apiKeys as Array<{ hash: string, id: string } | string>) {
      const hash = typeof entry === 'string' ? entry : entry.hash
      const owner = keyOwners.get(hash)
      if (owner !== undefined) report.invalid(`consumers (${String(consumer.id)})`, `an API key also given to consumer ${owner} (the key is not shown)`)
      keyOwners.set(hash, String(consumer.id))
    }
  }
  return { list: entries.map((e) => e.consumer), byRef }

  function addCredentials (consumer: Obj, c: Obj, at: string, topLevel = false): void {
    const path = (kind: string, k: number) => (topLevel ? at : `${at}.${kind}[${k}]`)
    list(report, c.keyauth_credentials, `${at}.keyauth_credentials`).forEach((k, n) => {
      const p = path('keyauth_credentials', n)
      if (!isObj(k) || typeof k.key !== 'string' || k.key === '') { report.invalid(`${p}.key`, 'a key-auth credential needs a key'); return }
      checkFields(report, k, p, ['key', 'consumer'], { ttl: null })
      if (!/^[\x21-\x7E]{1,256}$/.test(k.key)) { report.invalid(`${p}.key`, 'an API key must be printable ASCII of at most 256 characters (the key is not shown)'); return }
      // hashed here: the plaintext goes no further than this line
      const hash = createHash('sha256').update(k.key).digest('hex')
      ;(consumer.apiKeys as Obj[]).push({ hash, id: typeof k.id === 'string' && CONSUMER_ID.test(k.id) ? k.id : hash.slice(0, 16) })
    })
    list(report, c.jwt_secrets, `${at}.jwt_secrets`).forEach((s, n) => {
      const p = path('jwt_secrets', n)
      if (!isObj(s) || typeof s.key !== 'string' || s.key === '') { report.invalid(`${p}.key`, 'a JWT credential needs a key (the value tokens carry in their iss claim)'); return }
      checkFields(report, s, p, ['key', 'algorithm', 'secret', 'rsa_public_key', 'consumer'])
      const algorithm = typeof s.algorithm === 'string' ? s.algorithm : 'HS256'
      const secret: Obj = { key: s.key, algorithm }
      if (typeof s.id === 'string' && CONSUMER_ID.test(s.id)) secret.id = s.id
      if (algorithm.startsWith('HS')) {
        if (typeof s.secret !== 'string' || s.secret === '') { report.invalid(`${p}.secret`, `an ${algorithm} credential needs its secret in the file (Kong would generate one; the gateway cannot share it with clients)`); return }
        secret.secret = s.secret
      } else {
        if (typeof s.rsa_public_key !== 'string') { report.invalid(`${p}.rsa_public_key`, `an ${algorithm} credential needs rsa_public_key (a PEM public key)`); return }
        secret.publicKey = s.rsa_public_key
      }
      ;(consumer.jwtSecrets as Obj[]).push(secret)
    })
    list(report, c.acls, `${at}.acls`).forEach((a, n) => {
      const p = path('acls', n)
      if (!isObj(a) || typeof a.group !== 'string') { report.invalid(`${p}.group`, 'an acl needs a group'); return }
      checkFields(report, a, p, ['group', 'consumer'])
      if (!ROLE.test(a.group)) { report.invalid(`${p}.group`, `the group ${preview(a.group)} must be letters, digits and _ . : / @ - (at most 64): groups travel upstream in X-Consumer-Roles`); return }
      const roles = consumer.roles as string[]
      if (!roles.includes(a.group)) roles.push(a.group)
    })
  }
}
