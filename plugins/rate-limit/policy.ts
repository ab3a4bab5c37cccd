// Which rate limits apply to a route. Pure, no Fastify.
import type { RouteConfig } from '../proxy/options.js'
import type { RateLimitConfig } from './options.js'
import { TIERS, type Tier } from '../auth/options.js'

export type EffectiveRateLimit =
  | { enabled: false, source: 'global' | 'route' }
  | { enabled: true, source: 'global' | 'route', windowMs: number, limits: Record<Tier, number>, windows?: ReadonlyArray<{ max: number, windowMs: number, name?: string | undefined }> }

/**
 * The limits that apply to a route: its own block's (counted apart from the
 * consumer's global window), or the global ones; a block that sets no limit of its
 * own ({} or {enabled: true}) keeps the global count. The rate-limit plugin and
 * GET /admin/routes both read it from here.
 */
export function effectiveRateLimit (route: RouteConfig, global: RateLimitConfig): EffectiveRateLimit {
  if (!global.enabled) return { enabled: false, source: 'global' }
  const block = route.rateLimit
  if (block?.enabled === false) return { enabled: false, source: 'route' }
  if (block?.windows !== undefined) {
    const first = block.windows[0]!
    return { enabled: true, source: 'route', windowMs: first.windowMs, limits: { anonymous: first.max, authenticated: first.max, premium: first.max }, windows: block.windows }
  }
  const own = block && (['max', 'anonymous', 'authenticated', 'premium', 'windowMs'] as const).some((k) => block[k] !== undefined) ? block : undefined
  const limits = {} as Record<Tier, number>
  for (const tier of TIERS) limits[tier] = own?.[tier] ?? own?.max ?? global[tier]
  return { enabled: true, source: own ? 'route' : 'global', windowMs: own?.windowMs ?? global.windowMs, limits }
}
