import { Type, type Static } from '@sinclair/typebox'
import { Strict, PositiveInt, DurationMs, type DeepReadonly } from '../../src/config/types.js'

export const BreakerSchema = Strict({
  errorThreshold: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'a fraction in (0, 1]' }),
  windowMs: DurationMs(10_000),
  minRequests: PositiveInt(10),
  /** upstream request timeout → 504 */
  timeoutMs: DurationMs(5000),
  resetMs: DurationMs(30_000),
  halfOpenRequests: PositiveInt(3, 1000)
}, { default: {} })

export type BreakerConfig = DeepReadonly<Static<typeof BreakerSchema>>
