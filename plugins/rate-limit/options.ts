import { Type, type Static } from '@sinclair/typebox'
import { Strict, PositiveInt, DurationMs, type DeepReadonly } from '../../src/config/types.js'

const Limit = (def: number) => PositiveInt(def, 1_000_000_000)

export const RateLimitSchema = Strict({
  /** false: no rate limiting at all (benchmarks, or a gateway behind another limiter) */
  enabled: Type.Boolean({ default: true }),
  /** requests per window for each tier */
  anonymous: Limit(100),
  authenticated: Limit(1000),
  premium: Limit(10_000),
  windowMs: DurationMs(60_000),
  failMode: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' })
}, { default: {} })

/** A route's own limits: counted separately from the consumer's global ones. */
// no defaults here: an unset value falls back to the global one
const RouteLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 }))

export const RouteRateLimitSchema = Strict({
  /** the same limit for every tier (a tier's own value below wins) */
  max: RouteLimit,
  anonymous: RouteLimit,
  authenticated: RouteLimit,
  premium: RouteLimit,
  windowMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'milliseconds (1–86400000)' })),
  /** false: this route is not rate limited */
  enabled: Type.Optional(Type.Boolean())
})

export type RateLimitConfig = DeepReadonly<Static<typeof RateLimitSchema>>
export type RouteRateLimitConfig = DeepReadonly<Static<typeof RouteRateLimitSchema>>
