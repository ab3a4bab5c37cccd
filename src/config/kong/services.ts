// Kong services, upstreams and targets → the gateway's services (targets, balancing,
// health checks, timeouts, retries).
import { isIP } from 'node:net'
import { checkFields, isObj, preview, type KongReport, type Obj } from './report.js'

export interface Upstream { id: string | undefined, targets: Obj[], service: Obj, path: string }

/** a Kong upstream's balancing and health checks, as service settings */
export function upstreamSettings (report: KongReport, u: Obj, at: string): Obj {
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

export function translateService (report: KongReport, s: Obj, at: string, upstreams: Map<string, Upstream>): Obj | undefined {
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

