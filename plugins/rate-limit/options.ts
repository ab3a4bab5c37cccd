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
  failMode: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' }),
  /**
   * With Redis: the most requests of one busy key an instance may admit from tokens
   * Redis counted ahead of time, without a Redis trip (also at most 1 % of the limit
   * and 1/8 of what the key has left; 0 turns leases off). See plugins/rate-limit/stores.ts.
   */
  leaseMax: Type.Integer({ minimum: 0, maximum: 10_000, default: 100 })
}, { default: {} })

/** A route's own limits: counted separately from the consumer's global ones. */
// no defaults here: an unset value falls back to the global one
const RouteLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 }))

const RateWindows = Type.Array(Strict({
  max: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  windowMs: Type.Integer({ minimum: 1, maximum: 31_536_000_000, description: 'milliseconds (1 ms to 365 days)' }),
  /** names the window in X-RateLimit-Limit-<Name> / X-RateLimit-Remaining-<Name> headers */
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z]{1,16}$' }))
}), { minItems: 1, maxItems: 6 })
const CountedBy = Type.Union([Type.Literal('consumer'), Type.Literal('ip'), Type.Literal('header'), Type.Literal('path'), Type.Literal('service')])
const HeaderName = Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' })
const Store = Type.Union([Type.Literal('shared'), Type.Literal('local')])

/** one consumer's own limits on a route (Kong's consumer-scoped rate-limiting): they replace the route's for that consumer */
const ConsumerRateLimitSchema = Strict({
  windows: RateWindows,
  counter: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._~-]{1,128}$' })),
  by: Type.Optional(CountedBy),
  byHeader: Type.Optional(HeaderName),
  byPath: Type.Optional(Type.String({ pattern: '^/' })),
  hideHeaders: Type.Optional(Type.Boolean()),
  store: Type.Optional(Store)
})

export const RouteRateLimitSchema = Strict({
  /** the same limit for every tier (a tier's own value below wins) */
  max: RouteLimit,
  anonymous: RouteLimit,
  authenticated: RouteLimit,
  premium: RouteLimit,
  windowMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'milliseconds (1–86400000)' })),
  /** false: this route is not rate limited */
  enabled: Type.Optional(Type.Boolean()),
  /** several windows at once, the same for every tier (Kong's second/minute/hour/day): a request must fit all */
  windows: Type.Optional(RateWindows),
  /** routes naming the same counter count together (default: the route's own) */
  counter: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })),
  /** what is counted: the consumer (the client address when anonymous, the default), the client address, one header's value, the path, or the whole route */
  by: Type.Optional(CountedBy),
  /** with by: header */
  byHeader: Type.Optional(HeaderName),
  /** with by: path: only requests to this exact path count together; others count by client address */
  byPath: Type.Optional(Type.String({ pattern: '^/', description: 'a path starting with "/"' })),
  /** no rate-limit headers on responses (429s keep Retry-After) */
  hideHeaders: Type.Optional(Type.Boolean()),
  /** local: this instance's own count, even when Redis is configured */
  store: Type.Optional(Store),
  /** consumer id → that consumer's own limits on this route */
  consumers: Type.Optional(Type.Record(Type.String({ minLength: 1 }), ConsumerRateLimitSchema))
})

export type RateLimitConfig = DeepReadonly<Static<typeof RateLimitSchema>>
export type RouteRateLimitConfig = DeepReadonly<Static<typeof RouteRateLimitSchema>>
