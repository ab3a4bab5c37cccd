// What the admin API may show of the configuration: a copy with every secret replaced.
// Pure, no Fastify; the frozen config itself is never touched. API-key digests stay
// (GET /admin/api-keys lists them anyway); public keys are public.
import type { GatewayConfig, MutableGatewayConfig } from '../../src/config/schema.js'

export const REDACTED = '[redacted]'

const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'])
// over-matching ("x-keyword") costs a hidden value; under-matching leaks a credential
const SENSITIVE_PART = /token|secret|key|passw|auth|session|signature/i

/** Whether a header (or query parameter) of this name may carry a credential. */
export function isSensitiveName (name: string): boolean {
  return SENSITIVE_HEADERS.has(name.toLowerCase()) || SENSITIVE_PART.test(name)
}

/** A header map with the values of sensitive names replaced. */
export function redactHeaders (headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) setOwn(out, name, isSensitiveName(name) ? REDACTED : value)
  return out
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//
const QUERY_PARAM = /([?&;])([^=&;#]*)=([^&;#]*)/g

/**
 * "redis://user:pw@host:6379/0?password=x" → "redis://[redacted]@host:6379/0?password=[redacted]".
 * The userinfo is found as WHATWG URL parsing finds it (the last "@" before the path),
 * so a password with an unencoded "@" is masked whole.
 */
export function maskUrl (url: string): string {
  const scheme = SCHEME.exec(url)
  if (scheme === null) return url
  const start = scheme[0].length
  const rest = url.slice(start).search(/[/?#\\]/)
  const end = rest === -1 ? url.length : start + rest
  const at = url.lastIndexOf('@', end - 1)
  let out = at >= start ? url.slice(0, start) + REDACTED + url.slice(at) : url
  const hash = out.indexOf('#')
  const query = out.indexOf('?')
  if (query !== -1 && (hash === -1 || query < hash)) {
    const tail = hash === -1 ? '' : out.slice(hash)
    const head = hash === -1 ? out : out.slice(0, hash)
    out = head.replace(QUERY_PARAM, (whole, sep: string, name: string) => {
      let decoded = name
      try { decoded = decodeURIComponent(name) } catch { /* checked as written */ }
      return isSensitiveName(decoded) ? `${sep}${name}=${REDACTED}` : whole
    }) + tail
  }
  return out
}

/** The config as GET /admin/config shows it: a fresh, mutable copy without secrets. */
export function redactConfig (config: GatewayConfig): MutableGatewayConfig {
  // every URL anywhere (Redis, targets, JWKS, and any a fallback body holds) is masked on the way
  const copy = copyMaskingUrls(config) as MutableGatewayConfig
  if (copy.jwt.secret !== undefined) copy.jwt.secret = REDACTED
  if (copy.server.adminToken !== undefined) copy.server.adminToken = REDACTED
  for (const route of copy.routes) {
    for (const transform of [route.headers?.request, route.headers?.response]) {
      if (transform?.add) transform.add = redactHeaders(transform.add)
    }
    if (route.fallback?.headers) route.fallback.headers = redactHeaders(route.fallback.headers)
  }
  return copy
}

function copyMaskingUrls (value: unknown): unknown {
  if (typeof value === 'string') return maskUrl(value)
  if (Array.isArray(value)) return value.map(copyMaskingUrls)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) setOwn(out, key, copyMaskingUrls(v))
    return out
  }
  return value
}

// a key named "__proto__" (a fallback body may have one) must stay data, not set the prototype
function setOwn (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
