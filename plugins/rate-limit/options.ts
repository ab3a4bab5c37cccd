import { Type, type Static } from '@sinclair/typebox'
import { Strict, PositiveInt, DurationMs, type DeepReadonly } from '../../src/config/types.js'

export const RateLimitSchema = Strict({
  anonymous: PositiveInt(100),
  authenticated: PositiveInt(1000),
  premium: PositiveInt(10_000),
  windowMs: DurationMs(60_000),
  failMode: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open' })
}, { default: {} })

export type RateLimitConfig = DeepReadonly<Static<typeof RateLimitSchema>>
