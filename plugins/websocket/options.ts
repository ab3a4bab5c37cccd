import { Type, type Static } from '@sinclair/typebox'
import { Strict, DurationMs, PositiveInt, type DeepReadonly } from '../../src/config/types.js'

/** The event channels a subscriber may subscribe to and POST /admin/events may publish on (SPEC.md §5). */
export const CHANNELS = ['wallet', 'payment', 'medcard', 'claim', 'analytics'] as const
export type Channel = typeof CHANNELS[number]

export const WebSocketSchema = Strict({
  heartbeatMs: DurationMs(30_000),
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** events kept in the stream (Redis trims approximately): how far back a reconnecting client can resume */
  streamMaxLen: PositiveInt(100_000),
  /** a subscriber whose unsent data passes this many bytes is closed with 1013 (a slow consumer) */
  maxBufferBytes: PositiveInt(1_048_576),
  /** the largest message a client may send; a larger one is an error, and closes the connection */
  maxMessageBytes: PositiveInt(4096, 1_048_576)
}, { default: {} })

export type WebSocketConfig = DeepReadonly<Static<typeof WebSocketSchema>>
