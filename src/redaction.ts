// Credentials out of anything the gateway shows: log lines, the admin API's config
// view, error messages. Pure, no Fastify.

export const REDACTED = '[redacted]'

const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'])
// over-matching ("x-keyword") costs a hidden value; under-matching leaks a credential
const SENSITIVE_PART = /token|jwt|secret|key|passw|pwd|auth|session|signature|sig$|code$/i

/** Whether a header or query parameter of this name may carry a credential. */
export function isSensitiveName (name: string): boolean {
  return SENSITIVE_HEADERS.has(name.toLowerCase()) || SENSITIVE_PART.test(name)
}

/** A header map with the values of sensitive names replaced. */
export function redactHeaders (headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) setOwn(out, name, isSensitiveName(name) ? REDACTED : value)
  return out
}

// query (and matrix) parameters
const QUERY_PARAM = /([?&;])([^=&;#]*)=([^&;#]*)/g

/** A URL or request target with the values of credential-looking parameters redacted. */
export function redactQuery (url: string): string {
  if (url.indexOf('=') === -1) return url
  return url.replace(QUERY_PARAM, (whole, sep: string, name: string) => {
    let decoded = name
    try { decoded = decodeURIComponent(name) } catch { /* an undecodable name is checked as written */ }
    return isSensitiveName(decoded) ? `${sep}${name}=${REDACTED}` : whole
  })
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

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
  const out = at >= start ? url.slice(0, start) + REDACTED + url.slice(at) : url
  const hash = out.indexOf('#')
  const query = out.indexOf('?')
  if (query === -1 || (hash !== -1 && hash < query)) return out
  return hash === -1 ? redactQuery(out) : redactQuery(out.slice(0, hash)) + out.slice(hash)
}

// a key named "__proto__" (a fallback body may have one) must stay data, not set the prototype
export function setOwn (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
