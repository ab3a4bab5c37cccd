// Version resolution (SPEC.md §4 step 3): which API version a request asks for.
// Pure functions, no Fastify: the gateway calls resolveVersion() before routing
// (the version decides the route) and the route scope's hook applies the result.
//
// Order: a `/vN` path segment, else `X-API-Version: N`, else
// `Accept: application/vnd.healthpay.vN+json`, else the default version. The
// first source present decides alone: a path version wins over any header, even a
// conflicting or malformed one, and a header wins over Accept.

export type VersionSource = 'path' | 'header' | 'accept' | 'default'

export type Resolution =
  | { readonly ok: true, readonly version: number, readonly source: VersionSource }
  /** malformed: not a version at all ("abc", "1.2"); unsupported: a version number not in the supported set */
  | { readonly ok: false, readonly source: VersionSource, readonly reason: 'malformed' | 'unsupported', readonly given: string }

export interface VersionPolicy {
  /** the supported versions, ascending */
  readonly versions: readonly number[]
  readonly defaultVersion: number
}

export interface VersionRequest {
  /** the digits after "/v" in the first path segment, when the path has one */
  readonly pathToken?: string
  /** the X-API-Version header (Node joins repeated headers with ", ") */
  readonly header?: string
  /** the Accept header */
  readonly accept?: string
}

const NUMBER = /^[vV]?(\d+)$/

/**
 * Checks a version token ("2", "v2", "V2"). A canonical number (no leading zero)
 * in the supported set is that version; any other run of digits ("0", "01",
 * "99999999999") is an unsupported version; anything else is malformed.
 */
export function checkToken (token: string, policy: VersionPolicy, source: VersionSource): Resolution {
  const m = NUMBER.exec(token)
  if (m === null) return { ok: false, source, reason: 'malformed', given: token }
  const digits = m[1]!
  const version = digits.length <= 3 ? Number(digits) : NaN
  if (String(version) !== digits || !policy.versions.includes(version)) return { ok: false, source, reason: 'unsupported', given: digits }
  return { ok: true, version, source }
}

/**
 * The version token of a path whose first segment is `v` + digits ("/v2/api" → "2",
 * "/V2" → "2"); undefined when the path is unversioned ("/api", "/vendor", "/v2x").
 */
export function pathVersionToken (url: string): string | undefined {
  const c = url.charCodeAt(1)
  if (c !== 118 /* v */ && c !== 86 /* V */) return undefined
  let i = 2
  while (i < url.length) {
    const d = url.charCodeAt(i)
    if (d < 48 || d > 57) break
    i++
  }
  if (i === 2) return undefined
  if (i < url.length) {
    const next = url.charCodeAt(i)
    if (next !== 47 /* / */ && next !== 63 /* ? */) return undefined
  }
  return url.slice(2, i)
}

// application/vnd.healthpay.v2+json (media types are case-insensitive); a suffix
// starting with a digit ("…healthpay.2+json") is read as a version too
const VENDOR_TYPE = /^application\/vnd\.healthpay\.([v\d][^+;\s]*)\+json$/i
const Q_PARAM = /^\s*q\s*=\s*([0-9.]+)\s*$/i

/**
 * The version token of the most preferred `application/vnd.healthpay.vN+json`
 * media range in an Accept header: highest q first, the earliest listed among
 * equals; a range with q=0 (explicitly not acceptable) never selects a version.
 * Undefined when Accept names no HealthPay vendor type with a version.
 */
export function acceptVersionToken (accept: string): string | undefined {
  if (!/vnd\.healthpay\./i.test(accept)) return undefined
  let best: string | undefined
  let bestQ = 0
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';')
    const m = VENDOR_TYPE.exec(type!.trim())
    if (m === null) continue
    let q = 1
    for (const p of params) {
      const qm = Q_PARAM.exec(p)
      if (qm !== null) q = Number(qm[1])
    }
    if (!(q > 0) || q <= bestQ) continue
    best = m[1]!
    bestQ = q
  }
  return best
}

/** Resolves the version a request asks for, in the order above. */
export function resolveVersion (request: VersionRequest, policy: VersionPolicy): Resolution {
  if (request.pathToken !== undefined) return checkToken(request.pathToken, policy, 'path')
  if (request.header !== undefined) return checkToken(request.header.trim(), policy, 'header')
  if (request.accept !== undefined) {
    const token = acceptVersionToken(request.accept)
    if (token !== undefined) return checkToken(token, policy, 'accept')
  }
  return { ok: true, version: policy.defaultVersion, source: 'default' }
}
