// GET /admin/routes: the effective route table, one entry per route and version as
// the gateway registered them, with what actually applies (timeouts and rate limits
// after falling back to the service's and the global ones). Pure, no Fastify.
import type { GatewayContext } from '../../src/context.js'
import type { RouteConfig } from '../proxy/options.js'
import type { RateLimitConfig } from '../rate-limit/options.js'
import { TIERS, type Tier } from '../auth/options.js'
import { redactHeaders } from '../../src/redaction.js'

export type EffectiveRateLimit =
  | { enabled: false, source: 'global' | 'route' }
  | { enabled: true, source: 'global' | 'route', windowMs: number, limits: Record<Tier, number> }

/**
 * The limits the rate-limit plugin applies to this route. It mirrors the rule in
 * plugins/rate-limit/index.ts: a route block with no limit of its own keeps the global count.
 */
export function effectiveRateLimit (route: RouteConfig, global: RateLimitConfig): EffectiveRateLimit {
  if (!global.enabled) return { enabled: false, source: 'global' }
  const block = route.rateLimit
  if (block?.enabled === false) return { enabled: false, source: 'route' }
  const own = block && (['max', 'anonymous', 'authenticated', 'premium', 'windowMs'] as const).some((k) => block[k] !== undefined) ? block : undefined
  const limits = {} as Record<Tier, number>
  for (const tier of TIERS) limits[tier] = own?.[tier] ?? own?.max ?? global[tier]
  return { enabled: true, source: own ? 'route' : 'global', windowMs: own?.windowMs ?? global.windowMs, limits }
}

const transformView = (t: { add?: Readonly<Record<string, string>>, remove?: readonly string[] } | undefined) =>
  ({ add: redactHeaders(t?.add ?? {}), remove: [...(t?.remove ?? [])] })

export function routeTable (context: Pick<GatewayContext, 'config' | 'services' | 'versions'>): { routes: unknown[], absent: unknown[] } {
  const { config, services, versions } = context
  const routes = versions.table.routes.map(({ route, version, family, successor }) => {
    const deprecation = versions.deprecations.get(version)
    return {
      prefix: route.prefix,
      version,
      family,
      name: route.name,
      service: route.service,
      auth: route.auth,
      roles: [...route.roles],
      validate: route.validate,
      websocket: route.websocket,
      stripPrefix: route.stripPrefix,
      preserveHost: route.preserveHost,
      hideCredentials: route.hideCredentials,
      timeoutMs: route.timeoutMs ?? services.get(route.service)!.timeoutMs,
      rateLimit: effectiveRateLimit(route, config.rateLimit),
      headers: { request: transformView(route.headers?.request), response: transformView(route.headers?.response) },
      fallback: route.fallback !== undefined,
      deprecation: deprecation === undefined ? null : { since: deprecation.since ?? null, sunset: deprecation.sunset, successor: successor ?? null }
    }
  })
  const absent = versions.table.absent.map((a) => ({ prefix: a.prefix, version: a.version, versions: [...a.versions] }))
  return { routes, absent }
}
