// Every Prometheus metric the gateway exports, in one registry per gateway (tests
// build many gateways in one process; prom-client's global registry would refuse
// the second). No Fastify import: the plugins feed these objects, the admin
// listener serves them (plugins/metrics/index.ts).
//
// What every request (or every WebSocket message) touches is a child bound once
// in ./families.ts — per route, target, tier — so counting is an increment, not a
// label hash. Rarer events (auth failures, upstream errors, transitions) use
// prom-client's own counters. State that already lives elsewhere (breaker states,
// rate-limiter fail-open counts, version usage, target health) is read at scrape
// time by collect() callbacks and costs requests nothing.
import { Registry, Counter, Gauge, collectDefaultMetrics } from 'prom-client'
import { readFileSync } from 'node:fs'
import type { AuthReason } from '../auth/errors.js'
import type { Tier } from '../auth/options.js'
import { TIERS } from '../auth/options.js'
import type { Transition, ServiceBreaker } from '../circuit-breaker/breaker.js'
import { STATE_CODES } from '../circuit-breaker/breaker.js'
import { CounterFamily, HistogramFamily, type CounterChild, type HistogramChild } from './families.js'
import type { RateLimiterStats } from '../rate-limit/limiter.js'
import type { UpstreamService } from '../proxy/upstream-service.js'
import type { VersionUsage } from '../versioning/usage.js'

/**
 * request and upstream latency buckets (seconds): dense from 1 to 25 ms, where a
 * gateway's answers fall (so a p99 is read off a narrow bucket, not interpolated
 * across a wide one), then sparse up to the 5 s default timeout and past it
 */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

// the package's version: package.json is two levels up from plugins/metrics/, three from dist/plugins/metrics/
const GATEWAY_VERSION = readVersion()
function readVersion (): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'healthpay-gateway' && typeof pkg.version === 'string') return pkg.version
    } catch { /* not there: try the next level */ }
  }
  return 'unknown'
}

/** the route label of requests that matched no route (route labels are patterns starting with "/") */
export const UNMATCHED_ROUTE = 'unmatched'

/** a prom-client counter child for a rare event (it hashes its labels per call), exported at 0 from now on */
function bound<T extends string> (counter: Counter<T>, labels: Record<T, string>): Counter.Internal {
  counter.inc(labels as never, 0)
  return counter.labels(labels as never)
}

/** One route's request metrics: a child per method and status, bound on first use. */
export class RouteMetrics {
  private readonly byMethod = new Map<string, Map<number, HistogramChild>>()

  constructor (readonly route: string, private readonly durations: HistogramFamily) {}

  observe (method: string, status: number, seconds: number): void {
    let byStatus = this.byMethod.get(method)
    if (byStatus === undefined) this.byMethod.set(method, (byStatus = new Map()))
    let child = byStatus.get(status)
    if (child === undefined) byStatus.set(status, (child = this.durations.child({ route: this.route, method, status: String(status) })))
    child.observe(seconds)
  }
}

/** what an upstream attempt can fail with, as counted */
const UPSTREAM_ERROR_KINDS = ['refused', 'reset', 'timeout', 'http_5xx'] as const
export type UpstreamErrorKind = typeof UPSTREAM_ERROR_KINDS[number]

/** One target's upstream metrics, bound once when the target is first used. */
export class TargetMetrics {
  private readonly latency: HistogramChild
  private readonly errors: Record<UpstreamErrorKind, Counter.Internal>

  constructor (service: string, target: string, latency: HistogramFamily, errors: Counter<'service' | 'target' | 'kind'>) {
    // every series exported from the target's first use on, at 0: a rate() over a
    // series that appears only with its first error misses that error
    this.latency = latency.child({ service, target })
    this.errors = Object.fromEntries(UPSTREAM_ERROR_KINDS.map((kind) => [kind, bound(errors, { service, target, kind })])) as Record<UpstreamErrorKind, Counter.Internal>
  }

  /** the target answered (headers received) after `seconds` */
  answered (status: number, seconds: number): void {
    this.latency.observe(seconds)
    if (status >= 500) this.errors.http_5xx.inc()
  }

  failed (kind: UpstreamErrorKind): void {
    this.errors[kind].inc()
  }
}

/** The WebSocket metrics, registered now; the event stream (SPEC.md §5) feeds them. */
export interface WebSocketMetrics {
  connections: Gauge
  /** per message sent: a bound child */
  messagesSent: CounterChild
  slowConsumerCloses: Counter
  /** from an event's stream entry time to its send to a subscriber, in seconds: a bound child */
  eventLag: HistogramChild
}

/** what the scrape-time collectors read */
export interface MetricSources {
  services: ReadonlyMap<string, UpstreamService>
  breakers: ReadonlyMap<string, ServiceBreaker>
  rateLimiter: { readonly stats: RateLimiterStats } | null
  versionUsage: VersionUsage
  /** the deprecated versions, whose consumers are counted */
  deprecatedVersions: readonly number[]
  /** open proxied WebSocket tunnels (graphql-transport-ws) */
  tunnels: { readonly size: number }
}

// Process metrics (CPU, memory, event-loop lag, GC...) are the process's, not a
// gateway's: one registry per process, merged into each gateway's exposition.
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
    // gauges with a counter's suffix, which `promtool check metrics` rejects; the
    // same counts are exported by type as nodejs_active_handles / _requests / _resources
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) processRegistry.removeSingleMetric(name)
  }
  return processRegistry
}

export class GatewayMetrics {
  readonly registry = new Registry()
  readonly websocket: WebSocketMetrics
  private readonly durations: HistogramFamily
  private readonly upstreamLatency: HistogramFamily
  private readonly upstreamErrors: Counter<'service' | 'target' | 'kind'>
  private readonly transitions: Counter<'service' | 'from' | 'to'>
  private readonly authFailures: Record<AuthReason, Counter.Internal>
  private readonly rateLimited: Record<Tier, { allowed: CounterChild, rejected: CounterChild }>
  private readonly routes = new Map<string, RouteMetrics>()
  private readonly targets = new Map<string, TargetMetrics>()
  private sources: MetricSources | undefined

  constructor () {
    const registers = [this.registry]
    this.durations = new HistogramFamily('gateway_http_request_duration_seconds', 'Time from the request\'s arrival to the end of its response, by route pattern, method and status', LATENCY_BUCKETS, this.registry)
    this.durations.counter('gateway_http_requests_total', 'Requests answered on the public listener, by route pattern, method and status', this.registry)
    this.upstreamLatency = new HistogramFamily('gateway_upstream_response_seconds', 'Time from sending a request upstream to its response headers, per attempt, by service and target', LATENCY_BUCKETS, this.registry)
    this.upstreamErrors = new Counter({ name: 'gateway_upstream_errors_total', help: 'Upstream attempts that failed (refused, reset, timeout) or answered 5xx, by service and target', labelNames: ['service', 'target', 'kind'], registers })
    const sources = () => this.sources
    new Gauge({
      name: 'gateway_upstream_target_up',
      help: 'Whether the balancer may send to a target: 1 healthy, 0 unhealthy (active check) or ejected (passive)',
      labelNames: ['service', 'target'],
      registers,
      // cluster mode: down as soon as one worker sees it down
      aggregator: 'min',
      collect () {
        this.reset()
        for (const [name, service] of sources()?.services ?? []) {
          const now = service.now()
          for (const target of service.targets) this.set({ service: name, target: target.origin }, target.isAvailable(now) ? 1 : 0)
        }
      }
    })
    new Counter({
      name: 'gateway_upstream_retries_total',
      help: 'Requests sent again to another target after a connection failure or a 502/503, by service',
      labelNames: ['service'],
      registers,
      collect () {
        this.reset()
        for (const [name, service] of sources()?.services ?? []) this.inc({ service: name }, service.retryBudget.retried)
      }
    })
    new Gauge({
      name: 'gateway_circuit_breaker_state',
      help: 'Circuit breaker state per upstream service: 0 closed, 1 half-open, 2 open',
      labelNames: ['service'],
      registers,
      // cluster mode: each worker has its own breaker; the worst state shows
      aggregator: 'max',
      collect () {
        for (const [name, breaker] of sources()?.breakers ?? []) this.set({ service: name }, STATE_CODES[breaker.stateName])
      }
    })
    this.transitions = new Counter({ name: 'gateway_circuit_breaker_transitions_total', help: 'Circuit breaker state changes, by service and the states left and entered', labelNames: ['service', 'from', 'to'], registers })
    new Gauge({
      name: 'gateway_build_info',
      help: 'Always 1: the gateway\'s version and the Node.js version it runs on, for annotating deploys',
      labelNames: ['version', 'node'],
      registers,
      aggregator: 'first'
    }).set({ version: GATEWAY_VERSION, node: process.versions.node }, 1)
    new Counter({
      name: 'gateway_circuit_breaker_rejected_total',
      help: 'Requests answered with the route\'s fallback because the service\'s breaker was open (or its half-open trials were taken)',
      labelNames: ['service'],
      registers,
      collect () {
        this.reset()
        for (const [name, breaker] of sources()?.breakers ?? []) this.inc({ service: name }, breaker.rejected)
      }
    })
    const limited = new CounterFamily('gateway_rate_limit_requests_total', 'Rate-limit decisions by consumer tier: allowed or rejected (429)', this.registry)
    this.rateLimited = {} as GatewayMetrics['rateLimited']
    for (const tier of TIERS) this.rateLimited[tier] = { allowed: limited.child({ tier, decision: 'allowed' }), rejected: limited.child({ tier, decision: 'rejected' }) }
    const limiterStat = (name: string, help: string, stat: keyof RateLimiterStats) => new Counter({
      name,
      help,
      registers,
      collect () {
        this.reset()
        this.inc(sources()?.rateLimiter?.stats[stat] ?? 0)
      }
    })
    limiterStat('gateway_rate_limit_redis_fail_open_total', 'Requests limited by this instance alone because Redis was unreachable (RATE_LIMIT_FAIL_MODE=open)', 'failOpen')
    limiterStat('gateway_rate_limit_redis_fail_closed_total', 'Requests refused with 503 because Redis was unreachable (RATE_LIMIT_FAIL_MODE=closed)', 'failClosed')
    limiterStat('gateway_rate_limit_redis_outages_total', 'Times the rate limiter lost Redis', 'outages')
    const auth = new Counter({ name: 'gateway_auth_failures_total', help: 'Requests whose credentials were refused or missing, by reason', labelNames: ['reason'], registers })
    const reasons: AuthReason[] = ['missing', 'malformed', 'algorithm', 'signature', 'expired', 'not_yet_valid', 'issuer', 'audience', 'claims', 'unknown_kid', 'unknown_key', 'forbidden', 'unavailable']
    this.authFailures = Object.fromEntries(reasons.map((reason) => [reason, bound(auth, { reason })])) as Record<AuthReason, Counter.Internal>
    new Counter({
      name: 'gateway_api_version_requests_total',
      help: 'Requests per resolved API version',
      labelNames: ['version'],
      registers,
      collect () {
        this.reset()
        const s = sources()
        if (s === undefined) return
        for (const [version, calls] of s.versionUsage.entries()) this.inc({ version: String(version) }, calls)
      }
    })
    new Gauge({
      name: 'gateway_api_deprecated_version_consumers',
      help: 'Distinct consumers that called a deprecated API version since start-up',
      labelNames: ['version'],
      registers,
      // cluster mode: the workers' sets overlap; the largest is a lower bound
      aggregator: 'max',
      collect () {
        this.reset()
        const s = sources()
        for (const version of s?.deprecatedVersions ?? []) this.set({ version: String(version) }, Object.keys(s!.versionUsage.consumers(version)).length)
      }
    })
    new Gauge({
      name: 'gateway_websocket_proxied_connections',
      help: 'Open WebSocket connections tunnelled to upstream services (/vN/graphql)',
      registers,
      collect () { this.set(sources()?.tunnels.size ?? 0) }
    })
    this.websocket = {
      connections: new Gauge({ name: 'gateway_websocket_connections', help: 'Open /ws event-stream connections', registers }),
      messagesSent: new CounterFamily('gateway_websocket_messages_sent_total', 'Messages sent to /ws subscribers', this.registry).child({}),
      slowConsumerCloses: new Counter({ name: 'gateway_websocket_slow_consumer_closes_total', help: '/ws connections closed (1013) because their send buffer passed the bound', registers }),
      eventLag: new HistogramFamily('gateway_websocket_event_lag_seconds', 'From an event\'s stream entry time to its send to a /ws subscriber', LATENCY_BUCKETS, this.registry).child({})
    }
  }

  /** this gateway's registry and the process's */
  registries (): Registry[] {
    return [this.registry, processMetrics()]
  }

  /** the merged exposition: this gateway's metrics and the process's */
  exposition (): Registry {
    return Registry.merge(this.registries())
  }

  /** the state the scrape-time collectors read, once the gateway has built it */
  watch (sources: MetricSources): void {
    this.sources = sources
    // every transition a breaker can make, exported at 0 from the start
    for (const service of sources.breakers.keys()) {
      for (const [from, to] of [['closed', 'open'], ['open', 'half-open'], ['half-open', 'closed'], ['half-open', 'open']]) this.transitions.inc({ service, from: from!, to: to! }, 0)
    }
  }

  /** request metrics for one route pattern (shared by every route registered with that label) */
  route (pattern: string): RouteMetrics {
    let metrics = this.routes.get(pattern)
    if (metrics === undefined) this.routes.set(pattern, (metrics = new RouteMetrics(pattern, this.durations)))
    return metrics
  }

  /** upstream metrics for one target of one service */
  target (service: string, origin: string): TargetMetrics {
    const key = `${service} ${origin}`
    let metrics = this.targets.get(key)
    if (metrics === undefined) this.targets.set(key, (metrics = new TargetMetrics(service, origin, this.upstreamLatency, this.upstreamErrors)))
    return metrics
  }

  /** a target no longer resolved: its series go, rather than linger frozen at their last values */
  forgetTarget (service: string, origin: string): void {
    if (!this.targets.delete(`${service} ${origin}`)) return
    this.upstreamLatency.remove({ service, target: origin })
    for (const kind of UPSTREAM_ERROR_KINDS) this.upstreamErrors.remove({ service, target: origin, kind })
  }

  transition (t: Transition): void {
    this.transitions.inc({ service: t.service, from: t.from, to: t.to })
  }

  authFailure (reason: AuthReason): void {
    this.authFailures[reason].inc()
  }

  rateLimit (tier: Tier): { allowed: CounterChild, rejected: CounterChild } {
    return this.rateLimited[tier]
  }
}
