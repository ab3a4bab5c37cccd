// Where the window counters live: in this process, or in Redis for every instance.
// Both run the algorithm of sliding-window.ts and answer with the same Decision.
import type { Redis } from 'ioredis'
import { windowOf, admits, describe, type Decision } from './sliding-window.js'

export interface WindowStore {
  /** Counts one request against `key` when it fits under `limit` per `windowMs`. */
  hit (key: string, limit: number, windowMs: number, now: number): Decision | Promise<Decision>
  /** Takes back one request counted at `now` (another window refused it). */
  refund (key: string, windowMs: number, now: number): void
}

interface Entry { index: number, previous: number, current: number, windowMs: number }

/** keys idle for this many windows no longer weigh anything */
const IDLE_WINDOWS = 2

/** The in-process twin: same algorithm, per-instance counts. */
export class MemoryWindowStore implements WindowStore {
  private readonly entries = new Map<string, Entry>()

  /** @param maxKeys beyond this many keys the least recently used go first (their counts restart) */
  constructor (private readonly maxKeys = 500_000) {}

  hit (key: string, limit: number, windowMs: number, now: number): Decision {
    const { index, elapsed } = windowOf(now, windowMs)
    // the window length is part of the key, as in Redis: two lengths, two counters
    const id = `${windowMs}:${key}`
    let entry = this.entries.get(id)
    if (entry === undefined) {
      if (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value as string)
      entry = { index, previous: 0, current: 0, windowMs }
    } else {
      // least recently used first: an active key is never the one evicted
      this.entries.delete(id)
    }
    this.entries.set(id, entry)
    if (entry.index < index) {
      // roll forward: the window before this one counts as previous, older ones not at all
      entry.previous = entry.index === index - 1 ? entry.current : 0
      entry.current = 0
      entry.index = index
    }
    const allowed = admits(entry, elapsed, windowMs, limit)
    if (allowed) entry.current++
    return describe(allowed, entry, elapsed, windowMs, limit)
  }

  refund (key: string, windowMs: number, now: number): void {
    const entry = this.entries.get(`${windowMs}:${key}`)
    if (entry !== undefined && entry.index === windowOf(now, windowMs).index && entry.current > 0) entry.current--
  }

  /** Drops keys idle for two windows or more (their counts no longer matter). */
  sweep (now: number): void {
    for (const [key, entry] of this.entries) {
      if (Math.floor(now / entry.windowMs) - entry.index >= IDLE_WINDOWS) this.entries.delete(key)
    }
  }

  get size (): number {
    return this.entries.size
  }
}

/** at most this share (1/n) of what a key has left is leased to one instance at a time */
export const LEASE_SHARE = 8
/** how often unused leases go back to Redis: a lease lives one to two of these after its last grant */
export const LEASE_SWEEP_MS = 500

// One atomic step per key and event-loop turn: read both windows, admit as many of
// the n requests waiting as fit, count them. KEYS[1] = current window, KEYS[2] =
// previous; ARGV = limit, window ms, ms elapsed in the window, n, lease. The loop is
// sliding-window.ts#admits applied to the n requests one after the other, written
// in Lua, so a batch decides exactly what n single steps in a row would have.
// Then, when asked, up to `lease` more are counted for the instance to admit on its
// own (see RedisWindowStore): never more than an eighth of the room left after the
// waiting requests, so near its limit a key gets no lease and every request is
// decided here. Returns {counted (admitted + leased), current after counting, previous}.
export const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local lease = tonumber(ARGV[5] or '0')
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local weight = previous * (window - elapsed) / window
local admitted = 0
while admitted < n and weight + current + admitted + 1 <= limit do admitted = admitted + 1 end
if lease > 0 then
  lease = math.min(lease, math.floor((limit - weight - current - admitted) / ${LEASE_SHARE}))
  if lease > 0 then admitted = admitted + lease end
end
if admitted == 0 then return {0, current, previous} end
current = redis.call('INCRBY', KEYS[1], admitted)
if current == admitted then redis.call('PEXPIRE', KEYS[1], window * 2) end
return {admitted, current, previous}
`

// the refund: ARGV[1] less in the window, never below zero (the key may have expired)
const REFUND_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(current, tonumber(ARGV[1] or '1'))
if n > 0 then return redis.call('DECRBY', KEYS[1], n) end
return 0
`

type SlidingWindowCommand = (current: string, previous: string, limit: number, windowMs: number, elapsed: number, n: number, lease: number) => Promise<[number, number, number]>

export class RedisDecisionTimeout extends Error {
  constructor (ms: number) {
    super(`Redis did not answer the rate-limit script within ${ms} ms`)
    this.name = 'RedisDecisionTimeout'
  }
}

/** The requests for one key (and window, and limit) that arrived in one event-loop turn. */
interface Batch {
  current: string
  previous: string
  limit: number
  windowMs: number
  elapsed: number
  index: number
  /** how many requests wait on this batch; the i-th (from 0) is admitted when i < admitted */
  n: number
  /** tokens asked for beyond the waiting requests, for the key's lease */
  lease: number
  /** the lease they go to (its key's string) */
  leaseKey: string
  outcome: Promise<[number, number, number]>
  settle: { resolve: (r: [number, number, number]) => void, reject: (err: Error) => void }
}

/**
 * Requests this instance may admit for one key without asking Redis: tokens Redis
 * has already counted in the key's window, handed to this instance in advance.
 */
interface Lease {
  /** the fixed window the tokens were counted in */
  index: number
  limit: number
  /** the counts Redis answered with at the last grant (after counting the grant) */
  previous: number
  after: number
  /** tokens not used yet */
  left: number
  /** how many to ask for next time: doubles with every trip to Redis while the key is busy */
  size: number
  /** a background top-up is on its way */
  refilling: boolean
  /** cleared by every sweep, set by every grant: a lease not topped up between two sweeps goes back */
  fresh: boolean
}

export interface RedisWindowStoreOptions {
  /** a decision not answered within this (from the end of its turn) is a Redis failure */
  timeoutMs?: number
  /**
   * The most tokens one key's lease may hold (0: no leases, every request asks Redis).
   * A key's lease is also at most 1 % of its limit and 1/LEASE_SHARE of the room it has left.
   */
  leaseMax?: number
}

/**
 * Counters in Redis, shared by every instance: two string keys per consumer (and
 * route) with a hash tag, so both land in one Redis Cluster slot.
 *
 * Requests are not sent one EVALSHA each: those for the same key that arrive in one
 * turn of the event loop (every socket read of one poll phase) wait for that turn to
 * end and go as one EVALSHA carrying their count, and the turn's EVALSHAs for all
 * keys leave in one write (ioredis auto-pipelining). Each request still gets the
 * decision it would have had alone, in arrival order. The wait is the rest of the
 * current turn (setImmediate), not a timer. ioredis loads the script once and
 * re-sends it on NOSCRIPT.
 *
 * Leases: a key that keeps coming back (a busy consumer) also gets a few tokens
 * counted in Redis ahead of time, which this instance spends on the key's next
 * requests with no Redis trip and no wait: the decision is taken in the request's
 * own turn. The lease is topped up in the background when half spent, so a busy key
 * asks Redis once per a few dozen requests. It stays exact where it matters:
 * - every token is counted in Redis before it is spent, so all instances together
 *   never admit more than the limit;
 * - a lease is at most 1/LEASE_SHARE of the room the key has left, so close to its
 *   limit a key gets none and every request is decided by Redis, as without leases;
 * - unused tokens go back (DECRBY) when the key goes quiet (LEASE_SWEEP_MS), when
 *   the window rolls over, and at shutdown.
 * What it changes: a leased token is counted when granted rather than when spent (at
 * most a second earlier), and X-RateLimit-Remaining counts the tokens this instance
 * holds as still available (they are, to this consumer).
 */
export class RedisWindowStore implements WindowStore {
  private readonly run: SlidingWindowCommand
  private readonly runRefund: (key: string, n: number) => Promise<unknown>
  private pending = new Map<string, Batch>()
  private readonly leases = new Map<string, Lease>()
  /** commands out that carry lease tokens (close waits for them, to give their tokens back) */
  private readonly granting = new Set<Promise<void>>()
  private closed = false
  private readonly timeoutMs: number
  private readonly leaseMax: number
  private readonly sweeper: NodeJS.Timeout | undefined
  private readonly flush = () => {
    const batches = [...this.pending.values()]
    this.pending = new Map()
    // one deadline for the turn's commands, from now: ioredis starts a command's own
    // timeout only when its pipeline is sent, so behind a hung one it could wait twice
    const deadline = setTimeout(() => {
      for (const b of batches) b.settle.reject(new RedisDecisionTimeout(this.timeoutMs))
    }, this.timeoutMs)
    let open = batches.length
    const done = () => { if (--open === 0) clearTimeout(deadline) }
    for (const b of batches) {
      this.run(b.current, b.previous, b.limit, b.windowMs, b.elapsed, b.n, b.lease).then(b.settle.resolve, b.settle.reject).finally(done)
      if (b.lease > 0) {
        const granted = b.outcome.then(() => {}, () => {})
        this.granting.add(granted)
        void granted.finally(() => this.granting.delete(granted))
      }
    }
  }

  constructor (redis: Redis, private readonly prefix: string, options: RedisWindowStoreOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 200
    this.leaseMax = options.leaseMax ?? 0
    if (!('healthpaySlidingWindow' in redis)) redis.defineCommand('healthpaySlidingWindow', { numberOfKeys: 2, lua: SLIDING_WINDOW_LUA })
    if (!('healthpayRefund' in redis)) redis.defineCommand('healthpayRefund', { numberOfKeys: 1, lua: REFUND_LUA })
    const command = (redis as unknown as Record<string, SlidingWindowCommand>).healthpaySlidingWindow!
    this.run = command.bind(redis)
    const refund = (redis as unknown as Record<string, (key: string, n: number) => Promise<unknown>>).healthpayRefund!
    this.runRefund = refund.bind(redis)
    if (this.leaseMax > 0) {
      this.sweeper = setInterval(() => this.sweep(), LEASE_SWEEP_MS)
      this.sweeper.unref()
    }
  }

  refund (key: string, windowMs: number, now: number): void {
    const { index } = windowOf(now, windowMs)
    const base = `${this.prefix}rl:{${key}}:${windowMs}:`
    const lease = this.leases.get(base)
    // counted in Redis already: back into the lease, for this key's next request
    if (lease !== undefined && lease.index === index) {
      lease.left++
      return
    }
    this.giveBack(base + index, 1)
  }

  hit (key: string, limit: number, windowMs: number, now: number): Decision | Promise<Decision> {
    const { index, elapsed } = windowOf(now, windowMs)
    const base = `${this.prefix}rl:{${key}}:${windowMs}:`
    const lease = this.leaseMax > 0 ? this.leases.get(base) : undefined
    if (lease !== undefined && lease.left > 0 && lease.index === index && lease.limit === limit) {
      lease.left--
      if (lease.left * 2 < lease.size && !lease.refilling) {
        lease.refilling = true
        const done = () => { lease.refilling = false }
        this.batchFor(base, index, elapsed, limit, windowMs).outcome.then(done, done)
      }
      // as the client sees it: the tokens still in the lease are still its to use
      return describe(true, { previous: lease.previous, current: lease.after - lease.left }, elapsed, windowMs, limit)
    }
    const batch = this.batchFor(base, index, elapsed, limit, windowMs)
    const i = batch.n++
    return batch.outcome.then(([counted, after, previous]) => {
      const admitted = Math.min(counted, batch.n)
      const allowed = i < admitted
      // as if alone: an admitted request sees the count up to itself (not the lease's
      // tokens), a refused one all that were counted
      const leased = counted - admitted
      return describe(allowed, { previous, current: allowed ? after - leased - admitted + i + 1 : after }, batch.elapsed, windowMs, limit)
    })
  }

  /** the turn's batch for this key, created (and the key's lease asked for) by the first to need it */
  private batchFor (base: string, index: number, elapsed: number, limit: number, windowMs: number): Batch {
    const current = base + index
    const id = `${current}:${limit}`
    let batch = this.pending.get(id)
    if (batch !== undefined) return batch
    if (this.pending.size === 0) setImmediate(this.flush)
    let settle!: Batch['settle']
    const outcome = new Promise<[number, number, number]>((resolve, reject) => { settle = { resolve, reject } })
    batch = { current, previous: base + (index - 1), limit, windowMs, elapsed, index, n: 0, lease: this.leaseSize(base, limit), leaseKey: base, outcome, settle }
    this.pending.set(id, batch)
    if (batch.lease > 0) {
      const b = batch
      outcome.then((result) => this.grant(b, result), () => {})
    }
    return batch
  }

  /** how many tokens to lease with this trip: none the first time, then doubling up to the cap */
  private leaseSize (base: string, limit: number): number {
    if (this.leaseMax === 0) return 0
    const cap = Math.min(this.leaseMax, Math.floor(limit / 100))
    if (cap < 1) return 0
    const lease = this.leases.get(base)
    if (lease === undefined) {
      this.leases.set(base, { index: -1, limit, previous: 0, after: 0, left: 0, size: 1, refilling: false, fresh: true })
      return 0
    }
    const size = Math.min(cap, lease.size)
    lease.size = Math.min(cap, size * 2)
    lease.fresh = true
    return size
  }

  private grant (b: Batch, [counted, after, previous]: [number, number, number]): void {
    const lease = this.closed ? undefined : this.leases.get(b.leaseKey)
    const leased = counted - Math.min(counted, b.n)
    if (lease === undefined || b.index < lease.index) {
      // swept or closed while the command was out, or a grant for a window already
      // left behind: nothing holds these tokens, so they go back
      if (leased > 0) this.giveBack(b.current, leased)
      return
    }
    if (lease.index === b.index) {
      lease.left += leased
    } else {
      // a new window: what is left of the old one's tokens goes back to it
      if (lease.left > 0) this.giveBack(b.leaseKey + lease.index, lease.left)
      lease.left = leased
    }
    lease.index = b.index
    lease.limit = b.limit
    lease.previous = previous
    lease.after = after
    lease.refilling = false
    lease.fresh = true
  }

  /** unused tokens of keys that went quiet go back to Redis */
  private sweep (): void {
    for (const [base, lease] of this.leases) {
      if (lease.fresh) {
        lease.fresh = false
        continue
      }
      if (lease.refilling) continue
      this.leases.delete(base)
      if (lease.left > 0) this.giveBack(base + lease.index, lease.left)
    }
  }

  private giveBack (key: string, n: number): Promise<unknown> {
    // best effort: tokens lost to a Redis failure stay counted until their window ends
    return this.runRefund(key, n).catch(() => {})
  }

  /** every unused token goes back; resolves when Redis has taken them (or failed to) */
  async close (): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.closed = true
    // the turn's batches go now, and the leases they carry come back before the rest go
    if (this.pending.size > 0) this.flush()
    await Promise.all([...this.granting])
    const back: Array<Promise<unknown>> = []
    for (const [base, lease] of this.leases) if (lease.left > 0) back.push(this.giveBack(base + lease.index, lease.left))
    this.leases.clear()
    await Promise.all(back)
  }
}
