// CORS decided per request: CORS_ORIGINS for every route, or a route's own `cors`
// block (Kong's cors plugin). Credentials go only to a listed origin, never with "*";
// only a real preflight (Origin + Access-Control-Request-Method) is answered by the
// CORS plugin — any other OPTIONS goes to its route.
import type { FastifyRequest } from 'fastify'
import type { RouteConfig } from '../plugins/proxy/options.js'

export interface CorsPolicy {
  /** @fastify/cors options for this request */
  options (req: FastifyRequest): object
}

const EXPOSED = ['X-Request-Id', 'X-API-Version', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'Deprecation', 'Sunset', 'Link']

type CorsBlock = Partial<NonNullable<RouteConfig['cors']>> & { origins: readonly string[] }

/** an origin entry with regex syntax in it (Kong allows those) is matched as an anchored regex */
const isPattern = (origin: string) => /[\\^$*+?()[\]{}|]/.test(origin) && origin !== '*'

export function compileCorsPolicy (block: CorsBlock): CorsPolicy {
  const listed = new Set(block.origins.filter((o) => !isPattern(o)))
  const patterns = block.origins.filter(isPattern).map((o) => new RegExp(`^(?:${o})$`))
  const any = listed.has('*')
  const common = {
    maxAge: block.maxAgeSeconds ?? 600,
    exposedHeaders: block.exposedHeaders ?? EXPOSED,
    ...(block.methods !== undefined ? { methods: block.methods } : {}),
    ...(block.headers !== undefined ? { allowedHeaders: block.headers } : {})
  }
  // credentials: CORS_ORIGINS sends them to listed origins; a route block only when it says so
  const credentials = block.credentials ?? true
  const unlisted = [...listed]
  return {
    options (req) {
      const origin = req.headers.origin
      const preflight = req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined
      const named = origin !== undefined && (listed.has(origin) || patterns.some((p) => p.test(origin)))
      if (named || (any && origin !== undefined)) {
        return { ...common, origin, credentials: named && credentials && !any, preflight, strictPreflight: false }
      }
      return { ...common, origin: unlisted, credentials: false, preflight, strictPreflight: false }
    }
  }
}
