// Services (upstreams with targets) and routes: schema and defaults.
import { Type, type Static } from '@sinclair/typebox'
import { Strict, PositiveInt, DurationMs, HttpUrl, type DeepReadonly } from '../../src/config/types.js'
import { RoleName } from '../auth/options.js'
import { RouteRateLimitSchema } from '../rate-limit/options.js'
import { ServiceBreakerSchema } from '../circuit-breaker/options.js'
import { RouteVersionsSchema } from '../versioning/options.js'

const Millis = Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'milliseconds (1–86400000)' })

export const TargetSchema = Strict({
  url: HttpUrl,
  weight: Type.Integer({ minimum: 1, maximum: 1000, default: 1 })
})

export const HealthCheckSchema = Strict({
  enabled: Type.Boolean({ default: true }),
  path: Type.String({ pattern: '^/', default: '/health' }),
  intervalMs: DurationMs(5000),
  timeoutMs: DurationMs(1000),
  healthyThreshold: PositiveInt(2, 100),
  unhealthyThreshold: PositiveInt(2, 100)
}, { default: {} })

export const PassiveHealthSchema = Strict({
  enabled: Type.Boolean({ default: true }),
  /** consecutive connection failures (reset, timeout) before ejection; a refused connection ejects at once */
  consecutiveFailures: PositiveInt(3, 1000),
  /** consecutive 5xx answers before ejection */
  consecutive5xx: PositiveInt(5, 1000),
  /** first ejection lasts this long; each further ejection in a row adds as much again */
  ejectMs: DurationMs(10_000),
  maxEjectMs: DurationMs(300_000)
}, { default: {} })

export const LoadBalancing = Type.Union([
  Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('weighted')
], { default: 'round-robin' })

export const ServiceSchema = Strict({
  targets: Type.Array(TargetSchema, { minItems: 1 }),
  loadBalancing: LoadBalancing,
  healthCheck: HealthCheckSchema,
  passiveHealth: PassiveHealthSchema,
  /** how often host names in target URLs are resolved again (service discovery) */
  resolveIntervalMs: DurationMs(30_000),
  /** upstream request timeout; defaults to breaker.timeoutMs */
  timeoutMs: Type.Optional(Millis),
  /** this service's circuit breaker settings, over the global BREAKER_* ones */
  breaker: Type.Optional(ServiceBreakerSchema),
  /** keep-alive connections per target */
  connectionsPerTarget: PositiveInt(128, 10_000)
})

// values as Node and undici accept them: a value they refuse would fail every request
// of the route at run time (and count against the service's health and breaker)
const HeaderValue = Type.String({ pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$', description: 'a header value: printable ASCII or Latin-1, no control characters or line breaks' })
const HeaderMap = Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), HeaderValue)
const HeaderTransform = Strict({
  add: Type.Optional(HeaderMap),
  remove: Type.Optional(Type.Array(Type.String({ minLength: 1 })))
})

export const RouteSchema = Strict({
  /** used in logs, rate-limit keys and headers: letters, digits, . _ - (default: from the prefix) */
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'a route name: letters, digits, ".", "_" or "-" (at most 64)' })),
  /**
   * path prefix, no trailing slash. Unversioned ("/api"): the route exists in every
   * supported version, at /v1/api, /v2/api..., and "/api/..." is negotiated. With a
   * version segment ("/v1/api"): the route exists in that version only.
   */
  prefix: Type.String({ pattern: '^/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*[^/]$', description: 'a path starting with "/" and not ending with "/"' }),
  service: Type.String({ minLength: 1 }),
  stripPrefix: Type.Boolean({ default: false }),
  preserveHost: Type.Boolean({ default: false }),
  /** proxy WebSocket upgrades on this prefix to the service (e.g. graphql-transport-ws) */
  websocket: Type.Boolean({ default: false }),
  /** public: anyone (credentials, when valid, still identify the consumer); authenticated: a valid JWT or API key */
  auth: Type.Union([Type.Literal('public'), Type.Literal('authenticated')], { default: 'authenticated' }),
  /** any-of: the consumer needs at least one of these roles */
  roles: Type.Array(RoleName, { default: [] }),
  /** remove the client's Authorization and X-API-Key before proxying (the X-Consumer-* headers still go) */
  hideCredentials: Type.Boolean({ default: false }),
  /** this route's own limits, counted apart from the consumer's global ones */
  rateLimit: Type.Optional(RouteRateLimitSchema),
  /** what requests get while the service's circuit breaker is open (default: 503 problem+json) */
  fallback: Type.Optional(Strict({
    status: Type.Integer({ minimum: 200, maximum: 599, default: 503 }),
    /** sent as JSON; none: an empty body */
    body: Type.Optional(Type.Unknown()),
    headers: Type.Optional(HeaderMap)
  })),
  headers: Type.Optional(Strict({ request: Type.Optional(HeaderTransform), response: Type.Optional(HeaderTransform) })),
  /** validate requests against openapi/openapi.yaml before proxying */
  validate: Type.Boolean({ default: false }),
  /** overrides the service's timeout for this route */
  timeoutMs: Type.Optional(Millis),
  /** per-version settings of an unversioned prefix: { "2": { service: "query-v2" }, "3": false } */
  versions: Type.Optional(RouteVersionsSchema)
})

export type TargetConfig = DeepReadonly<Static<typeof TargetSchema>>
export type ServiceConfig = DeepReadonly<Static<typeof ServiceSchema>>
export type RouteConfig = DeepReadonly<Static<typeof RouteSchema>>

export const defaultServices = (): Record<string, unknown> => ({
  command: { targets: [{ url: 'http://127.0.0.1:3000' }] },
  query: { targets: [{ url: 'http://127.0.0.1:4000' }] }
})

// SPEC.md §3. Unversioned prefixes: each route exists in every supported version
// (/v1/api, /v2/api...). Order does not matter for matching (the router prefers the
// longest static prefix).
export const defaultRoutes = (): unknown[] => [
  { name: 'auth', prefix: '/auth', service: 'command', auth: 'public' },
  { name: 'commands', prefix: '/commands', service: 'command', validate: true },
  { name: 'analytics', prefix: '/api/analytics', service: 'query', roles: ['analyst', 'admin'] },
  { name: 'api', prefix: '/api', service: 'query' },
  { name: 'graphql', prefix: '/graphql', service: 'query', websocket: true }
]
