// Kong routes → the gateway's routes: one per path, served as written, with their
// methods, hosts, headers and regex as match conditions ordered like Kong's priorities.
import { checkFields, isObj, preview, safeName, strings, type KongReport, type Obj } from './report.js'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const PREFIX = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/
const HOST = /^(\*\.)?[A-Za-z0-9._-]+(\.\*)?$/
/** Kong 2.x told regex paths apart by their characters (deck convert prefixes those with "~") */
const LOOKS_LIKE_REGEX = /[^A-Za-z0-9._~/%-]/

export interface KongService { key: string, name: string, id?: string, path: string, obj: Obj }
export interface KongRoute { name: string, id?: string, service: KongService | undefined, path: string, obj: Obj, reported?: boolean }

export function uniqueKey (base: string, taken: Obj | Set<string>): string {
  const has = (k: string) => (taken instanceof Set ? taken.has(k) : k in taken)
  let key = base
  for (let n = 2; has(key); n++) key = `${base.slice(0, 60)}-${n}`
  return key
}


/** one Kong route → one gateway route per path (the gateway's routes have one prefix each) */
export function translateRoute (report: KongReport, route: KongRoute, legacyPaths: boolean, names: Set<string>): Obj[] {
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

