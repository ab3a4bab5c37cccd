// How many retries a service may take: a token bucket filled by the requests
// themselves (Finagle's retry budget, without the clock). Each request adds
// `ratio` of a token, each retry takes one, and the bucket holds at most `reserve`:
// over any stretch of N requests at most reserve + ratio · N retries are sent, so
// when a whole service fails, retries add at most `ratio` extra load instead of
// multiplying it.
import { fullJitterGenerator, type IExponentialBackoffOptions } from 'cockatiel'
import type { RetryConfig } from '../circuit-breaker/options.js'

// Counted in thousandths of a retry: five deposits of 0.2 make exactly one retry
// (in floating point they make 0.9999999999999999).
const UNIT = 1000

export class RetryBudget {
  private balance: number
  private readonly perRequest: number
  private readonly cap: number
  retried = 0
  /** retries refused because the budget was spent */
  exhausted = 0

  constructor (ratio: number, reserve: number) {
    this.perRequest = Math.round(ratio * UNIT)
    // room for one retry at least, or a reserve of 0 could never retry at all
    this.cap = Math.max(reserve, 1) * UNIT
    this.balance = reserve * UNIT
  }

  /** a request came in */
  deposit (): void {
    const next = this.balance + this.perRequest
    this.balance = next > this.cap ? this.cap : next
  }

  /** may one more retry go out? */
  withdraw (): boolean {
    if (this.balance < UNIT) {
      this.exhausted++
      return false
    }
    this.balance -= UNIT
    this.retried++
    return true
  }

  snapshot (): { retried: number, exhausted: number, available: number } {
    return { retried: this.retried, exhausted: this.exhausted, available: Math.floor(this.balance / UNIT) }
  }
}

/** Full-jitter exponential backoff (cockatiel's generator): retry n waits a random [0, min(max, base · 2^(n-1))) ms. */
export function retryBackoff (config: Pick<RetryConfig, 'backoffMs' | 'maxBackoffMs'>): (retry: number) => number {
  const options: IExponentialBackoffOptions<number> = { generator: fullJitterGenerator, initialDelay: config.backoffMs, maxDelay: config.maxBackoffMs, exponent: 2 }
  return (retry) => fullJitterGenerator(retry - 1, options)[0]
}
