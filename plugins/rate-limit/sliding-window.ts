// The two-window weighted counter (the sliding window Cloudflare and nginx-style
// limiters use): time is cut into fixed windows of W ms; a key's rate is estimated as
//   previous window's count × (the part of it still inside the sliding window) + current count
// which assumes the previous window's requests were spread evenly. O(1) memory per
// key (two integers) instead of one entry per request for a sliding log; the estimate
// is exact when traffic is even and errs by at most the previous window's count
// times the fraction of it that is still inside the window.
//
// `decide` is the one definition of the algorithm; the in-memory store runs it
// directly, the Redis store runs the same arithmetic in one Lua script (stores.ts) and
// then uses `describe` for the headers.

export interface WindowCounts {
  /** requests counted in the previous fixed window */
  previous: number
  /** requests counted in the current fixed window (including this one, when allowed) */
  current: number
}

export interface Decision {
  allowed: boolean
  limit: number
  /** requests still allowed right now */
  remaining: number
  /** ms until the current fixed window ends (when the previous one stops counting) */
  resetMs: number
  /** when refused: ms until one request will be allowed again */
  retryAfterMs: number
}

/** The position of `now` in the fixed windows: the window's index and ms elapsed in it. */
export function windowOf (now: number, windowMs: number): { index: number, elapsed: number } {
  const index = Math.floor(now / windowMs)
  return { index, elapsed: now - index * windowMs }
}

export function estimate (counts: WindowCounts, elapsed: number, windowMs: number): number {
  return counts.previous * (windowMs - elapsed) / windowMs + counts.current
}

/** Would one more request fit? (before counting it) */
export function admits (counts: WindowCounts, elapsed: number, windowMs: number, limit: number): boolean {
  return estimate(counts, elapsed, windowMs) + 1 <= limit
}

/**
 * The headers' view of a decision. `counts` are after the decision (current includes
 * this request when it was allowed).
 */
export function describe (allowed: boolean, counts: WindowCounts, elapsed: number, windowMs: number, limit: number): Decision {
  const resetMs = windowMs - elapsed
  const used = estimate(counts, elapsed, windowMs)
  const remaining = Math.max(0, Math.floor(limit - used))
  return { allowed, limit, remaining, resetMs, retryAfterMs: allowed ? 0 : retryAfter(counts, elapsed, windowMs, limit) }
}

/** ms until previous × (W − elapsed − t)/W + current + 1 ≤ limit, crossing into the next window if need be. */
export function retryAfter (counts: WindowCounts, elapsed: number, windowMs: number, limit: number): number {
  const { previous, current } = counts
  const room = limit - 1 - current
  if (room >= 0 && previous > 0) {
    // inside this window, as the previous window's weight drains
    const t = (windowMs - elapsed) - room * windowMs / previous
    return Math.max(1, Math.ceil(t))
  }
  // the current window alone is full: in the next one it becomes "previous"
  if (limit - 1 >= current) return Math.max(1, windowMs - elapsed)
  const into = current === 0 ? 0 : windowMs * (1 - (limit - 1) / current)
  return Math.max(1, Math.ceil(windowMs - elapsed + into))
}
