// One upstream service: its targets (found by resolving the configured URLs), a
// keep-alive connection pool per target, the balancer, and active health checks.
import { Pool } from 'undici'
import { isIP } from 'node:net'
import { lookup as dnsLookup } from 'node:dns/promises'
import type { FastifyBaseLogger } from 'fastify'
import { createPicker, type Picker } from './balancer.js'
import { Target, type TargetState } from './target.js'
import { RetryBudget } from './retry-budget.js'
import type { ServiceConfig } from './options.js'
import type { RetryConfig } from '../circuit-breaker/options.js'
import type { GatewayMetrics, TargetMetrics } from '../metrics/metrics.js'

/** Resolves a host name to its addresses (service discovery). Injectable for tests. */
export type Lookup = (hostname: string) => Promise<string[]>
export const systemLookup: Lookup = async (hostname) => (await dnsLookup(hostname, { all: true })).map((a) => a.address)

export interface UpstreamDeps {
  log: FastifyBaseLogger
  lookup?: Lookup
  now?: () => number
  metrics: GatewayMetrics
}

/** A target together with the pool that carries its traffic and its metrics. */
export interface PooledTarget extends Target { pool: Pool, metrics: TargetMetrics }

export interface TargetSummary {
  origin: string
  host: string
  weight: number
  state: TargetState
  inflight: number
  lastFailure?: string
}

export class UpstreamService {
  targets: readonly PooledTarget[] = []
  readonly timeoutMs: number
  /** retries this service may still take (shared by every route to it) */
  readonly retryBudget: RetryBudget
  private readonly picker: Picker<PooledTarget>
  private readonly lookup: Lookup
  readonly now: () => number
  private readonly log: FastifyBaseLogger
  private readonly metrics: GatewayMetrics
  private timers: NodeJS.Timeout[] = []
  private checking = false
  private closed = false

  constructor (readonly name: string, readonly config: ServiceConfig, defaults: { timeoutMs: number, retry: RetryConfig }, deps: UpstreamDeps) {
    this.timeoutMs = config.timeoutMs ?? defaults.timeoutMs
    this.retryBudget = new RetryBudget(defaults.retry.budget, defaults.retry.reserve)
    this.picker = createPicker<PooledTarget>(config.loadBalancing)
    this.lookup = deps.lookup ?? systemLookup
    this.now = deps.now ?? Date.now
    this.log = deps.log.child({ service: name })
    this.metrics = deps.metrics
  }

  async start (): Promise<void> {
    await this.resolve()
    const named = this.config.targets.some((t) => isIP(new URL(t.url).hostname.replace(/^\[|\]$/g, '')) === 0)
    if (named) this.every(this.config.resolveIntervalMs, () => this.resolve())
    if (this.config.healthCheck.enabled) {
      void this.check()
      this.every(this.config.healthCheck.intervalMs, () => this.check())
    }
  }

  /** The next usable target, never one of `tried` (those this request already went to). */
  pick (tried?: readonly Target[], hashKey?: string): PooledTarget | undefined {
    const now = this.now()
    return this.picker(this.targets, tried === undefined ? (t) => t.isAvailable(now) : (t) => t.isAvailable(now) && !tried.includes(t), hashKey)
  }

  availableCount (): number {
    const now = this.now()
    let n = 0
    for (const t of this.targets) if (t.isAvailable(now)) n++
    return n
  }

  summary (): TargetSummary[] {
    const now = this.now()
    return this.targets.map((t) => ({ origin: t.origin, host: t.host, weight: t.weight, state: t.state(now), inflight: t.inflight, ...(t.lastFailure ? { lastFailure: t.lastFailure } : {}) }))
  }

  /** Resolves every configured URL; keeps the state of targets whose address did not change. */
  async resolve (): Promise<void> {
    const next: PooledTarget[] = []
    const current = new Map(this.targets.map((t) => [t.origin, t]))
    for (const configured of this.config.targets) {
      const url = new URL(configured.url)
      const hostname = url.hostname.replace(/^\[|\]$/g, '')
      let addresses = [hostname]
      if (isIP(hostname) === 0) {
        try {
          addresses = [...new Set(await this.lookup(hostname))]
        } catch (err) {
          const known = this.targets.filter((t) => t.host === url.host)
          this.log.warn({ host: hostname, err: (err as Error).message }, known.length ? 'name resolution failed; keeping the last known addresses' : 'name resolution failed; connecting by name')
          if (known.length) { next.push(...known); continue }
        }
      }
      const port = url.port || (url.protocol === 'https:' ? '443' : '80')
      const basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '')
      for (const address of addresses) {
        const origin = `${url.protocol}//${isIP(address) === 6 ? `[${address}]` : address}:${port}`
        const existing = current.get(origin) ?? next.find((t) => t.origin === origin)
        if (existing) { if (!next.includes(existing)) next.push(existing); continue }
        next.push(this.createTarget(origin, url, basePath, configured.weight))
      }
    }
    const removed = this.targets.filter((t) => !next.includes(t))
    this.targets = next
    for (const t of removed) {
      this.log.info({ target: t.origin }, 'target removed (no longer resolved)')
      this.metrics.forgetTarget(this.name, t.origin)
      void t.pool.close().catch(() => {})
    }
    if (next.length !== current.size || removed.length) this.log.debug({ targets: next.map((t) => t.origin) }, 'targets updated')
  }

  private createTarget (origin: string, url: URL, basePath: string, weight: number): PooledTarget {
    const target = new Target(origin, url.host, basePath, weight, this.config.passiveHealth, this.config.healthCheck) as PooledTarget
    target.metrics = this.metrics.target(this.name, origin)
    target.pool = new Pool(origin, {
      connections: this.config.connectionsPerTarget,
      pipelining: 1,
      // a dead host must not hold a request for the whole request timeout
      connectTimeout: Math.min(this.timeoutMs, 3000),
      // TLS must verify the configured name, not the address it resolved to
      ...(url.protocol === 'https:' && isIP(url.hostname) === 0 ? { connect: { servername: url.hostname } } : {})
    })
    return target
  }

  private async check (): Promise<void> {
    if (this.checking || this.closed) return
    this.checking = true
    const { path, timeoutMs } = this.config.healthCheck
    try {
      await Promise.all(this.targets.map(async (target) => {
        let ok = false
        try {
          const res = await target.pool.request({
            path: target.basePath + path,
            method: 'GET',
            headers: { host: target.host, 'user-agent': 'healthpay-gateway-health-check' },
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs
          })
          await res.body.dump()
          ok = res.statusCode >= 200 && res.statusCode < 400
        } catch {
          ok = false
        }
        const before = target.activeHealthy
        target.onCheck(ok)
        if (before !== target.activeHealthy) this.log.warn({ target: target.origin }, target.activeHealthy ? 'target healthy again (active check)' : 'target unhealthy (active check)')
      }))
    } finally {
      this.checking = false
    }
  }

  private every (ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => { fn().catch((err) => this.log.error({ err }, 'periodic task failed')) }, ms)
    timer.unref()
    this.timers.push(timer)
  }

  async close (): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    await Promise.all(this.targets.map((t) => t.pool.close().catch(() => {})))
  }

  /** For shutdown past the drain timeout: cut what is still open. */
  async destroy (): Promise<void> {
    this.closed = true
    for (const timer of this.timers) clearInterval(timer)
    await Promise.all(this.targets.map((t) => t.pool.destroy().catch(() => {})))
  }
}
