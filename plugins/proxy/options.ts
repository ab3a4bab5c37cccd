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
  Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('weighted'), Type.Literal('consistent-hashing')
], { default: 'round-robin' })

const HashSource = Type.Union([Type.Literal('ip'), Type.Literal('consumer'), Type.Literal('header'), Type.Literal('cookie'), Type.Literal('path'), Type.Literal('query')])
/** what consistent hashing keys on: the first source that has a value (else round-robin) */
export const HashOnSchema = Type.Array(Strict({
  by: HashSource,
  /** the header, cookie or query parameter name */
  name: Type.Optional(Type.String({ minLength: 1 }))
}), { maxItems: 2 })

export const ServiceSchema = Strict({
  targets: Type.Array(TargetSchema, { minItems: 1 }),
  loadBalancing: LoadBalancing,
  /** with consistent-hashing: what the hash is taken of (default: the client address) */
  hashOn: Type.Optional(HashOnSchema),
  healthCheck: HealthCheckSchema,
  passiveHealth: PassiveHealthSchema,
  /** how often host names in target URLs are resolved again (service discovery) */
  resolveIntervalMs: DurationMs(30_000),
  /** upstream request timeout; defaults to breaker.timeoutMs */
  timeoutMs: Type.Optional(Millis),
  /** this service's circuit breaker settings, over the global BREAKER_* ones */
  breaker: Type.Optional(ServiceBreakerSchema),
  /** retries per request on this service (default: retry.attempts) */
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
  /** keep-alive connections per target */
  connectionsPerTarget: PositiveInt(128, 10_000)
})

// values as Node and undici accept them: a value they refuse would fail every request
// of the route at run time (and count against the service's health and breaker)
const HeaderValue = Type.String({ pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$', description: 'a header value: printable ASCII or Latin-1, no control characters or line breaks' })
const HeaderMap = Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), HeaderValue)
const HeaderName = Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'a header name' })
const HeaderTransform = Strict({
  add: Type.Optional(HeaderMap),
  remove: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /** old name → new name (applied before add) */
  rename: Type.Optional(Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), HeaderName))
})

export const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** Extra conditions a request must meet to take this route (otherwise the next route on the same prefix, or 404). */
export const RouteMatchSchema = Strict({
  /** Host header (port ignored), "*.example.com" / "api.*" wildcards allowed */
  hosts: Type.Optional(Type.Array(Type.String({ pattern: '^(\\*\\.)?[A-Za-z0-9._-]+(\\.\\*)?$', description: 'a host name, optionally with a leading "*." or trailing ".*" wildcard' }), { minItems: 1 })),
  /** each header must carry one of its values (case-insensitive) */
  headers: Type.Optional(Type.Record(Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' }), Type.Array(Type.String(), { minItems: 1 }))),
  /** the whole request path (without query) must match this regular expression */
  pathRegex: Type.Optional(Type.String({ minLength: 1 })),
  /** among routes on one prefix whose conditions all hold, the highest priority wins (then the later one) */
  priority: Type.Integer({ default: 0 })
})

/** Where a route looks for credentials, when not in the default places (Authorization: Bearer, X-API-Key). */
export const CredentialsSchema = Strict({
  apiKey: Type.Optional(Strict({
    headers: Type.Array(Type.String({ minLength: 1 }), { default: ['x-api-key'] }),
    query: Type.Array(Type.String({ minLength: 1 }), { default: [] })
  })),
  jwt: Type.Optional(Strict({
    /** headers holding "Bearer <token>" */
    headers: Type.Array(Type.String({ minLength: 1 }), { default: ['authorization'] }),
    query: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    cookies: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** gateway: the JWT_* settings; consumers: each consumer's own jwtSecrets, found by keyClaim */
    keys: Type.Union([Type.Literal('gateway'), Type.Literal('consumers')], { default: 'gateway' }),
    keyClaim: Type.String({ minLength: 1, default: 'iss' }),
    /** with keys: consumers, the time claims checked (the gateway's own keys always check exp) */
    verifyClaims: Type.Array(Type.Union([Type.Literal('exp'), Type.Literal('nbf')]), { default: [] }),
    /** with keys: consumers, refuse tokens whose exp lies further ahead than this (0: no bound) */
    maxLifetimeSeconds: Type.Integer({ minimum: 0, default: 0 })
  }))
})

export const RouteCorsSchema = Strict({
  origins: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  credentials: Type.Boolean({ default: false }),
  methods: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  headers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  exposedHeaders: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0 }))
})

export const IpRestrictionSchema = Strict({
  /** addresses or CIDRs allowed (empty: all but the denied) */
  allow: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  deny: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  status: Type.Integer({ minimum: 400, maximum: 599, default: 403 })
})

export const RouteSchema = Strict({
  /** used in logs, rate-limit keys and headers: letters, digits, . _ - (default: from the prefix) */
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'a route name: letters, digits, ".", "_" or "-" (at most 64)' })),
  /**
   * path prefix, no trailing slash. Unversioned ("/api"): the route exists in every
   * supported version, at /v1/api, /v2/api..., and "/api/..." is negotiated. With a
   * version segment ("/v1/api"): the route exists in that version only.
   */
  prefix: Type.String({ pattern: '^(/|/[A-Za-z0-9._~!$&\'()*+,;=:@%/-]*[^/])$', description: 'a path starting with "/" and not ending with "/" (or "/" itself on an unversioned route)' }),
  /** false: the prefix is served as written, outside API versioning (no negotiation, no X-API-Version) */
  versioned: Type.Boolean({ default: true }),
  /** only these methods take the route (default: all) */
  methods: Type.Optional(Type.Array(Type.Union(ROUTE_METHODS.map((m) => Type.Literal(m))), { minItems: 1 })),
  match: Type.Optional(RouteMatchSchema),
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
  /** where credentials are looked for, and which kinds count (default: Bearer JWT or X-API-Key) */
  credentials: Type.Optional(CredentialsSchema),
  /** the consumer (by id) a request without valid credentials proceeds as, instead of a 401 */
  anonymousConsumer: Type.Optional(Type.String({ minLength: 1 })),
  /** also send the consumer's roles as X-Consumer-Groups (Kong's acl plugin header) */
  groupsHeader: Type.Boolean({ default: false }),
  /** a consumer holding any of these roles is refused (403) */
  denyRoles: Type.Array(RoleName, { default: [] }),
  ipRestriction: Type.Optional(IpRestrictionSchema),
  /** this route's request body limit (default: server.bodyLimitBytes) */
  bodyLimitBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_073_741_824 })),
  /** this route's CORS policy (default: server.corsOrigins) */
  cors: Type.Optional(RouteCorsSchema),
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
