import { Type, type Static } from '@sinclair/typebox'
import { Strict, DurationMs, type DeepReadonly } from '../../src/config/types.js'

export const WebSocketSchema = Strict({
  heartbeatMs: DurationMs(30_000),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 }))
}, { default: {} })

export type WebSocketConfig = DeepReadonly<Static<typeof WebSocketSchema>>
