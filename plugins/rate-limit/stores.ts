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

// One atomic step per key and event-loop turn: read both windows, admit as many of
// the n requests waiting as fit, count them. KEYS[1] = current window, KEYS[2] =
// previous; ARGV = limit, window ms, ms elapsed in the window, n. The loop is
// sliding-window.ts#admits applied to the n requests one after the other, written
// in Lua, so a batch decides exactly what n single steps in a row would have.
// Returns {admitted, current after counting, previous}.
export const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local weight = previous * (window - elapsed) / window
local admitted = 0
while admitted < n and weight + current + admitted + 1 <= limit do admitted = admitted + 1 end
if admitted == 0 then return {0, current, previous} end
current = redis.call('INCRBY', KEYS[1], admitted)
if current == admitted then redis.call('PEXPIRE', KEYS[1], window * 2) end
return {admitted, current, previous}
`

// the refund: one less in the current window, never below zero (the key may have expired)
const REFUND_LUA = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`

type SlidingWindowCommand = (current: string, previous: string, limit: number, windowMs: number, elapsed: number, n: number) => Promise<[number, number, number]>

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
  /** how many requests wait on this batch; the i-th (from 0) is admitted when i < admitted */
  n: number
  outcome: Promise<[number, number, number]>
  settle: { resolve: (r: [number, number, number]) => void, reject: (err: Error) => void }
}

/**
 * Counters in Redis, shared by every instance: two string keys per consumer (and
 * route) with a hash tag, so both land in one Redis Cluster slot.
 *
 * Requests are not sent one EVALSHA each: those for the same key that arrive in one
 * turn of the event loop (every socket read of one poll phase) wait for that turn to
 * end and go as one EVALSHA carrying their count, and the turn's EVALSHAs for all
 * keys leave in one write (ioredis auto-pipelining). A busy consumer with 50
 * requests in flight costs a few commands per turn instead of 50, and each request
 * still gets the decision it would have had alone, in arrival order. The wait is
 * the rest of the current turn (setImmediate), not a timer. ioredis loads the
 * script once and re-sends it on NOSCRIPT.
 */
export class RedisWindowStore implements WindowStore {
  private readonly run: SlidingWindowCommand
  private pending = new Map<string, Batch>()
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
      this.run(b.current, b.previous, b.limit, b.windowMs, b.elapsed, b.n).then(b.settle.resolve, b.settle.reject).finally(done)
    }
  }

  /** @param timeoutMs a decision not answered within this (from the end of its turn) is a Redis failure */
  constructor (redis: Redis, private readonly prefix: string, private readonly timeoutMs = 200) {
    if (!('healthpaySlidingWindow' in redis)) redis.defineCommand('healthpaySlidingWindow', { numberOfKeys: 2, lua: SLIDING_WINDOW_LUA })
    if (!('healthpayRefund' in redis)) redis.defineCommand('healthpayRefund', { numberOfKeys: 1, lua: REFUND_LUA })
    const command = (redis as unknown as Record<string, SlidingWindowCommand>).healthpaySlidingWindow!
    this.run = command.bind(redis)
    const refund = (redis as unknown as Record<string, (key: string) => Promise<unknown>>).healthpayRefund!
    this.runRefund = refund.bind(redis)
  }

  private readonly runRefund: (key: string) => Promise<unknown>

  refund (key: string, windowMs: number, now: number): void {
    const { index } = windowOf(now, windowMs)
    // best effort: a refund lost to a Redis failure leaves one request too many counted
    this.runRefund(`${this.prefix}rl:{${key}}:${windowMs}:${index}`).catch(() => {})
  }

  hit (key: string, limit: number, windowMs: number, now: number): Promise<Decision> {
    const { index, elapsed } = windowOf(now, windowMs)
    const base = `${this.prefix}rl:{${key}}:${windowMs}:`
    const current = base + index
    const id = `${current}:${limit}`
    let batch = this.pending.get(id)
    if (batch === undefined) {
      if (this.pending.size === 0) setImmediate(this.flush)
      let settle!: Batch['settle']
      const outcome = new Promise<[number, number, number]>((resolve, reject) => { settle = { resolve, reject } })
      batch = { current, previous: base + (index - 1), limit, windowMs, elapsed, n: 0, outcome, settle }
      this.pending.set(id, batch)
    }
    const i = batch.n++
    const b = batch
    return b.outcome.then(([admitted, after, previous]) => {
      const allowed = i < admitted
      // as if alone: an admitted request sees the count up to itself, a refused one all that were admitted
      return describe(allowed, { previous, current: allowed ? after - admitted + i + 1 : after }, b.elapsed, windowMs, limit)
    })
  }
}
