// What the composition root hands to route scopes and plugins: built once at start-up.
import type { GatewayConfig } from './config/index.js'
import type { UpstreamService } from '../plugins/proxy/upstream-service.js'
import type { TunnelRegistry } from '../plugins/proxy/tunnel.js'
import type { TrustFunction } from './trust-proxy.js'
import type { Redis } from './redis.js'
import type { Authenticator } from '../plugins/auth/authenticator.js'
import type { RateLimiter } from '../plugins/rate-limit/limiter.js'
import type { ServiceBreaker } from '../plugins/circuit-breaker/breaker.js'
import type { ApiVersions } from '../plugins/versioning/api-versions.js'
import type { OperationIndex } from '../plugins/validation/operations.js'
import type { EventLog } from '../plugins/websocket/event-log.js'
import type { GatewayMetrics } from '../plugins/metrics/metrics.js'
import type { RouteMatcher } from './route-match.js'

export interface GatewayContext {
  readonly config: GatewayConfig
  /** match conditions of routes sharing a prefix (hosts, headers, path regex) */
  readonly routeMatch: RouteMatcher
  readonly services: ReadonlyMap<string, UpstreamService>
  /** one circuit breaker per service, local to this instance */
  readonly breakers: ReadonlyMap<string, ServiceBreaker>
  readonly tunnels: TunnelRegistry
  readonly trust: TrustFunction
  readonly redis: Redis | null
  /** credentials → consumer (JWT verifiers, JWKS cache, API-key registry) */
  readonly authenticator: Authenticator
  /** shared by every route scope; null when RATE_LIMIT_ENABLED=false */
  readonly rateLimiter: RateLimiter | null
  /** the versioned route table, deprecations and per-version call counts */
  readonly versions: ApiVersions
  /** request validators of the validating routes, by concrete prefix (from openapi/openapi.yaml) */
  readonly validators: ReadonlyMap<string, OperationIndex>
  /** the event stream WebSocket subscribers read and POST /admin/events appends to (Redis, or in memory) */
  readonly events: EventLog
  /** the Prometheus metrics the plugins feed and GET /metrics serves */
  readonly metrics: GatewayMetrics
  /** true from the moment shutdown starts */
  readonly closing: () => boolean
}
