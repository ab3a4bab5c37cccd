// Where the window counters live: in this process, or in Redis for every instance.
// Both run the algorithm of sliding-window.ts and answer with the same Decision.
import type { Redis } from 'ioredis'
import { windowOf, admits, describe, type Decision } from './sliding-window.js'

export interface WindowStore {
  /** Counts one request against `key` when it fits under `limit` per `windowMs`. */
  hit (key: string, limit: number, windowMs: number, now: number): Decision | Promise<Decision>
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

// One atomic step per request: read both windows, decide, count. KEYS[1] = current
// window, KEYS[2] = previous; ARGV = limit, window ms, ms elapsed in the window.
// The decision is sliding-window.ts#admits, written in Lua.
export const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * (window - elapsed) / window + current + 1 > limit then
  return {0, current, previous}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], window * 2) end
return {1, current, previous}
`

type SlidingWindowCommand = (current: string, previous: string, limit: number, windowMs: number, elapsed: number) => Promise<[number, number, number]>

/**
 * Counters in Redis, shared by every instance: two string keys per consumer (and
 * route) with a hash tag, so both land in one Redis Cluster slot. One EVALSHA per
 * request; ioredis loads the script once and re-sends it on NOSCRIPT.
 */
export class RedisWindowStore implements WindowStore {
  private readonly run: SlidingWindowCommand

  constructor (redis: Redis, private readonly prefix: string) {
    if (!('healthpaySlidingWindow' in redis)) redis.defineCommand('healthpaySlidingWindow', { numberOfKeys: 2, lua: SLIDING_WINDOW_LUA })
    const command = (redis as unknown as Record<string, SlidingWindowCommand>).healthpaySlidingWindow!
    this.run = command.bind(redis)
  }

  async hit (key: string, limit: number, windowMs: number, now: number): Promise<Decision> {
    const { index, elapsed } = windowOf(now, windowMs)
    const base = `${this.prefix}rl:{${key}}:${windowMs}:`
    const [allowed, current, previous] = await this.run(base + index, base + (index - 1), limit, windowMs, elapsed)
    return describe(allowed === 1, { previous, current }, elapsed, windowMs, limit)
  }
}
