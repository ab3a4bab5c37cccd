import type { IncomingMessage } from 'node:http'

// Paths two servers could read differently are refused at the edge: the gateway
// decides the route (and so the auth policy) from the path, and the upstream must
// not reach a different resource from the same bytes. So no "." / ".." segments
// (plain or encoded), no "//" (nginx merges them), no ";" (servlet containers strip
// path parameters), no backslash, no encoded "/", "\" or ";", no control characters,
// no segment ending in "." or " ". Case differences are
// handled by the router instead (caseSensitive: false).

/** true when the path (before any "?") is not in the normal form the gateway routes on */
export function isAmbiguousPath (url: string): boolean {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  // "#" never belongs in a request target (RFC 9112 §3.2): the router stops at it, a validator may not
  if (path.includes('//') || path.includes(';') || path.includes('\\') || path.includes('#')) return true
  if (path.indexOf('.') === -1 && path.indexOf('%') === -1) return false
  if (/%(2f|5c|3b)/i.test(path)) return true
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return true
  }
  // a control character (%00...), or a segment ending in "." or " ": servers that trim
  // them (IIS, Windows file systems) or stop at NUL would reach another resource than the
  // route the gateway chose (/v1/api/analytics./x is not under /v1/api/analytics)
  if (CONTROL.test(decoded)) return true
  return decoded.split('/').some((segment) => segment === '..' || segment === '.' || segment.endsWith('.') || segment.endsWith(' '))
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/

/** An HTTP/1.1 request carries exactly one Host header (HTTP/1.0 may carry none). */
export function hasOneHost (req: IncomingMessage): boolean {
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
  }
  return hosts === 1 || (hosts === 0 && req.httpVersionMinor === 0 && req.httpVersionMajor === 1)
}
