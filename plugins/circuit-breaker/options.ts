// Circuit breaker (one per upstream service) and retry settings: schema and defaults.
import { Type, type Static } from '@sinclair/typebox'
import { Strict, PositiveInt, DurationMs, type DeepReadonly } from '../../src/config/types.js'

export const BreakerSchema = Strict({
  /** opens when at least this fraction of the window's requests failed */
  errorThreshold: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'a fraction in (0, 1]' }),
  /** the sliding window failures are counted over */
  windowMs: DurationMs(10_000),
  /** a window with fewer requests never opens the breaker */
  minRequests: PositiveInt(10),
  /** upstream request timeout → 504 (a service or route may set its own) */
  timeoutMs: DurationMs(5000),
  /** how long the breaker stays open before it lets trial requests through */
  resetMs: DurationMs(30_000),
  /** trial requests admitted while half-open: all succeed → closed, any fails → open */
  halfOpenRequests: PositiveInt(3, 1000)
}, { default: {} })

/** A service's own breaker settings, over the global ones (no defaults here: unset keys inherit). */
export const ServiceBreakerSchema = Strict({
  errorThreshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'a fraction in (0, 1]' })),
  windowMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'milliseconds (1–86400000)' })),
  minRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647 })),
  resetMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'milliseconds (1–86400000)' })),
  halfOpenRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }))
})

export const RetrySchema = Strict({
  /** retries per request, each on a target not tried yet for it (0: never retry) */
  attempts: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  /** retries may add at most this fraction of a service's requests as extra load */
  budget: Type.Number({ minimum: 0, maximum: 1, default: 0.2, description: 'a fraction in [0, 1]' }),
  /** retries available beyond the fraction, so a quiet service can still retry; regained at `budget` per request */
  reserve: Type.Integer({ minimum: 0, maximum: 10_000, default: 10 }),
  /** backoff before retry n is a random delay in [0, min(maxBackoffMs, backoffMs · 2^(n-1))) */
  backoffMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 25 }),
  maxBackoffMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 250 })
}, { default: {} })

export type BreakerConfig = DeepReadonly<Static<typeof BreakerSchema>>
export type RetryConfig = DeepReadonly<Static<typeof RetrySchema>>
export type ServiceBreakerConfig = DeepReadonly<Static<typeof ServiceBreakerSchema>>
