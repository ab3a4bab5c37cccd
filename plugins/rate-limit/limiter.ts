// The limiter every route scope shares: the Redis store when Redis is configured,
// the in-memory store otherwise, and the in-memory store as the fallback while Redis
// is unreachable (RATE_LIMIT_FAIL_MODE=open) — or a 503 (closed). After a Redis
// failure the next second is served locally without trying Redis (a hung Redis
// would otherwise cost every request the command timeout); then Redis is tried
// again, so shared limiting resumes by itself.
import createError from '@fastify/error'
import type { Redis } from 'ioredis'
import { MemoryWindowStore, RedisWindowStore } from './stores.js'
import type { Decision } from './sliding-window.js'

export const RateLimitUnavailableError = createError('GW_RATE_LIMIT_UNAVAILABLE', 'Rate limits cannot be checked right now (Redis is unreachable and RATE_LIMIT_FAIL_MODE=closed); retry shortly', 503)

/** How long the limiter stays local after a Redis failure before trying Redis again. */
export const PROBE_INTERVAL_MS = 1000

export interface RateLimiterOptions {
  redis: Redis | null
  keyPrefix: string
  failMode: 'open' | 'closed'
  /** see RedisWindowStoreOptions.leaseMax (0: every request asks Redis) */
  leaseMax?: number
  log: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  now?: () => number
}

export interface RateLimiterStats {
  /** requests decided by the local limiter because Redis was unreachable */
  failOpen: number
  /** requests refused with 503 because Redis was unreachable (fail closed) */
  failClosed: number
  /** outages seen (a failure after Redis had answered) */
  outages: number
  /** error replies from Redis about one key (WRONGTYPE...): that request decided locally, no outage */
  replyErrors: number
}

export class RateLimiter {
  readonly stats: RateLimiterStats = { failOpen: 0, failClosed: 0, outages: 0, replyErrors: 0 }
  readonly memory = new MemoryWindowStore()
  private readonly shared: RedisWindowStore | null
  private readonly now: () => number
  private localUntil = 0
  private down = false
  /** while Redis is down, one request at a time probes it; the others stay local */
  private probing = false
  private readonly sweeper: NodeJS.Timeout

  constructor (private readonly opts: RateLimiterOptions) {
    this.shared = opts.redis ? new RedisWindowStore(opts.redis, opts.keyPrefix, { leaseMax: opts.leaseMax ?? 0 }) : null
    this.now = opts.now ?? Date.now
    this.sweeper = setInterval(() => this.memory.sweep(this.now()), 60_000)
    this.sweeper.unref()
  }

  /** where decisions are made right now */
  get mode (): 'memory' | 'redis' | 'fallback' {
    return this.shared === null ? 'memory' : this.down ? 'fallback' : 'redis'
  }

  hit (key: string, limit: number, windowMs: number): Decision | Promise<Decision> {
    const now = this.now()
    if (this.shared === null) return this.memory.hit(key, limit, windowMs, now)
    if (this.down && (now < this.localUntil || this.probing)) return this.fallback(key, limit, windowMs, now)
    const probe = this.down
    if (probe) this.probing = true
    const decided = this.shared.hit(key, limit, windowMs, now)
    // decided from the key's lease, in this turn: Redis was not asked
    if (!(decided instanceof Promise)) {
      if (probe) this.probing = false
      return decided
    }
    return decided.then((decision) => {
      if (probe) this.probing = false
      if (this.down) {
        this.down = false
        this.opts.log.info({ failOpenSoFar: this.stats.failOpen }, 'rate limiter: Redis answers again, limits are shared again')
      }
      return decision
    }, (err: Error) => {
      if (probe) this.probing = false
      if (err.name === 'ReplyError') {
        // Redis answered, about this key only (a foreign value under our prefix...)
        this.stats.replyErrors++
        this.opts.log.warn({ err: err.message }, 'rate limiter: Redis refused the script for one key; decided locally')
        return this.fallback(key, limit, windowMs, now)
      }
      if (!this.down) {
        this.down = true
        this.stats.outages++
        this.opts.log.warn({ err: err.message, failMode: this.opts.failMode }, this.opts.failMode === 'open'
          ? 'rate limiter: Redis unreachable, limiting per instance until it is back (fail open)'
          : 'rate limiter: Redis unreachable, refusing limited requests until it is back (fail closed)')
      }
      this.localUntil = this.now() + PROBE_INTERVAL_MS
      return this.fallback(key, limit, windowMs, now)
    })
  }

  /** takes back a request `hit` counted (another of the route's windows refused it), in the store that counted it */
  refund (key: string, windowMs: number, local = false): void {
    const now = this.now()
    if (local || this.shared === null || this.down) this.memory.refund(key, windowMs, now)
    else this.shared.refund(key, windowMs, now)
  }

  /** this instance's own count, Redis or not (a route's store: local) */
  hitLocal (key: string, limit: number, windowMs: number): Decision {
    return this.memory.hit(key, limit, windowMs, this.now())
  }

  private fallback (key: string, limit: number, windowMs: number, now: number): Decision {
    if (this.opts.failMode === 'closed') {
      this.stats.failClosed++
      throw Object.assign(new RateLimitUnavailableError(), { headers: { 'retry-after': String(PROBE_INTERVAL_MS / 1000) } })
    }
    this.stats.failOpen++
    return this.memory.hit(key, limit, windowMs, now)
  }

  /** stops the sweeper; the Redis store's unused leases go back (resolves once Redis has them) */
  async close (): Promise<void> {
    clearInterval(this.sweeper)
    await this.shared?.close()
  }
}
