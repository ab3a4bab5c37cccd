// Negotiation happens before routing, because the version decides the route: the
// gateway's rewriteUrl resolves the version of a request whose path has none and
// routes it as "/v{N}" + path through the same route scopes as "/v{N}/..." (the
// upstream sees the versioned path). The outcome is left on the raw request for
// the route scope's hook (plugins/versioning/index.ts) and for the 404 handler,
// which turns "no route" for an unknown or malformed version into a 400.
import type { IncomingMessage } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { checkToken, pathVersionToken, resolveVersion, type Resolution, type VersionPolicy } from './resolve.js'
import type { RouteTable } from './routes.js'
import { versionError, type VersionError } from './errors.js'

/** set on the raw request when the version was negotiated, or when a path version is unsupported */
export const kNegotiated = Symbol('healthpay.version.negotiated')
export type NegotiatedRequest = IncomingMessage & { [kNegotiated]?: Resolution }

/** the response depends on these request headers whenever the path named no version */
export const VARY = 'X-API-Version, Accept'

/** Adds VARY to the reply when headers chose the version, after any Vary already set (CORS sets Vary: Origin). */
export function varyIfNegotiated (request: FastifyRequest, reply: FastifyReply): void {
  if ((request.raw as NegotiatedRequest)[kNegotiated] === undefined) return
  const prior = reply.getHeader('vary')
  reply.header('vary', prior === undefined ? VARY : `${String(prior)}, ${VARY}`)
}

export interface Negotiator {
  /** Fastify's rewriteUrl: the URL to route on */
  rewriteUrl (req: IncomingMessage): string
  /** the 400 behind an unmatched request whose version is unknown or malformed (Vary set on the reply) */
  notFoundError (request: FastifyRequest, reply: FastifyReply): VersionError | undefined
}

export function createNegotiator (table: RouteTable, policy: VersionPolicy): Negotiator {
  // the first segments of families, lower-cased: only paths under one are negotiated
  const heads = new Set<string>()
  for (const family of table.families.keys()) {
    if (family !== '') heads.add(family.slice(1).split('/')[0]!)
  }

  const supported = new Set(policy.versions)
  /** "/v2/..." with 2 supported (1–3 digits, no leading zero) */
  const supportedInPath = (url: string): boolean => {
    const c = url.charCodeAt(1)
    if ((c !== 118 /* v */ && c !== 86 /* V */) || url.charCodeAt(2) === 48 /* 0 */) return false
    let n = 0
    let i = 2
    for (; i < url.length && i < 6; i++) {
      const d = url.charCodeAt(i) - 48
      if (d < 0 || d > 9) break
      n = n * 10 + d
    }
    if (i === 2 || i > 5) return false
    const next = i < url.length ? url.charCodeAt(i) : 47
    return (next === 47 || next === 63) && supported.has(n)
  }

  return {
    rewriteUrl (req: NegotiatedRequest): string {
      const url = req.url!
      if (url.charCodeAt(0) !== 47 /* / */) return url
      if (supportedInPath(url)) return url // the common case, without allocating
      const token = pathVersionToken(url)
      if (token !== undefined) {
        // an unsupported (or non-canonical: "/v01") version: left for the 404 handler's 400
        const checked = checkToken(token, policy, 'path')
        if (!checked.ok) req[kNegotiated] = checked
        return url
      }
      let end = 1
      while (end < url.length) {
        const c = url.charCodeAt(end)
        if (c === 47 || c === 63 /* ? */) break
        end++
      }
      if (!heads.has(url.slice(1, end).toLowerCase())) return url
      const header = req.headers['x-api-version']
      const resolution = resolveVersion({ header: Array.isArray(header) ? header.join(', ') : header, accept: req.headers.accept }, policy)
      req[kNegotiated] = resolution
      return resolution.ok ? `/v${resolution.version}${url}` : url
    },

    notFoundError (request: FastifyRequest, reply: FastifyReply): VersionError | undefined {
      const resolution = (request.raw as NegotiatedRequest)[kNegotiated]
      if (resolution === undefined || resolution.ok) return undefined
      // a path version is recorded only when unsupported: no Vary for it
      if (resolution.source !== 'path') varyIfNegotiated(request, reply)
      return versionError(resolution, policy.versions)
    }
  }
}
