// The one GatewayConfig schema, composed from each plugin's options schema.
// TypeBox gives both the static type and the runtime check from this one source.
import { Type, FormatRegistry, type Static } from '@sinclair/typebox'
import { Strict, Port, DurationMs, type DeepReadonly } from './types.js'
import { ServiceSchema, RouteSchema } from '../../plugins/proxy/options.js'
import { JwtSchema, ConsumerSchema } from '../../plugins/auth/options.js'
import { RateLimitSchema } from '../../plugins/rate-limit/options.js'
import { BreakerSchema, RetrySchema } from '../../plugins/circuit-breaker/options.js'
import { VersioningSchema } from '../../plugins/versioning/options.js'
import { WebSocketSchema } from '../../plugins/websocket/options.js'

function isUrlWithProtocol (value: string, protocols: string[]): boolean {
  try {
    const url = new URL(value)
    return protocols.includes(url.protocol) && url.hostname !== ''
  } catch {
    return false
  }
}
FormatRegistry.Set('http-url', (v) => isUrlWithProtocol(v, ['http:', 'https:']))
FormatRegistry.Set('redis-url', (v) => isUrlWithProtocol(v, ['redis:', 'rediss:']))

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const ServerSchema = Strict({
  host: Type.String({ minLength: 1, default: '0.0.0.0' }),
  port: Port(8000),
  adminHost: Type.String({ minLength: 1, default: '127.0.0.1' }),
  adminPort: Port(8001),
  adminToken: Type.Optional(Type.String({ minLength: 16, description: 'a token of at least 16 characters' })),
  /** false, true, a hop count, or a list of trusted proxy addresses / CIDRs */
  trustProxy: Type.Union([Type.Boolean(), Type.Integer({ minimum: 0 }), Type.Array(Type.String({ minLength: 1 }))], { default: false }),
  bodyLimitBytes: Type.Integer({ minimum: 0, maximum: 1_073_741_824, default: 1_048_576 }),
  corsOrigins: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  logLevel: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)), { default: 'info' }),
  workers: Type.Integer({ minimum: 1, maximum: 256, default: 1 }),
  /** on SIGTERM: how long in-flight requests may take to finish before the process exits anyway */
  shutdownTimeoutMs: DurationMs(10_000),
  /** a client must have sent its request headers within this (slow-loris); then 408 and the socket closes */
  headersTimeoutMs: DurationMs(10_000),
  /** the listen backlog: connections the kernel queues before the gateway accepts them (capped by net.core.somaxconn) */
  backlog: Type.Integer({ minimum: 1, maximum: 65_535, default: 4096 })
}, { default: {} })

export const RedisSchema = Strict({
  url: Type.Optional(Type.String({ format: 'redis-url', description: 'a redis:// or rediss:// URL' })),
  keyPrefix: Type.String({ default: 'healthpay:' })
}, { default: {} })

export const GatewayConfigSchema = Strict({
  server: ServerSchema,
  redis: RedisSchema,
  jwt: JwtSchema,
  rateLimit: RateLimitSchema,
  breaker: BreakerSchema,
  retry: RetrySchema,
  versioning: VersioningSchema,
  websocket: WebSocketSchema,
  /** API consumers known from configuration (more are added at run time via POST /admin/api-keys) */
  consumers: Type.Array(ConsumerSchema, { default: [] }),
  services: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), ServiceSchema),
  routes: Type.Array(RouteSchema)
})

export type MutableGatewayConfig = Static<typeof GatewayConfigSchema>
export type GatewayConfig = DeepReadonly<MutableGatewayConfig>
export type ServerConfig = GatewayConfig['server']
