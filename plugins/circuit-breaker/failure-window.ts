// The failure rate of one service over a sliding window: ten time slots, each
// stamped with the slot period it counts, so a slot from an earlier lap of the
// ring is empty however long the service sat idle. It implements cockatiel's
// IBreaker (the contract cockatiel's own samplers follow).
//
// Why not cockatiel's SamplingBreaker: it clears one slot per write, not one per
// elapsed slot, so after a quiet spell old slots still count. With a 10 s window,
// 9 failures an hour ago and 1 now open it (reproduced against cockatiel 4.0.0).
// It also opens on "more than" the threshold and takes a minimum rate, where our
// contract is "at least" the threshold over "at least" BREAKER_MIN_REQUESTS.
import { CircuitState, type IBreaker } from 'cockatiel'

const SLOTS = 10

export interface FailureWindowOptions {
  /** opens at failures / requests ≥ threshold */
  threshold: number
  windowMs: number
  /** fewer requests in the window never open */
  minRequests: number
  now: () => number
}

export interface WindowCounts { requests: number, failures: number }

export class FailureWindow implements IBreaker {
  private readonly slotMs: number
  /** the slot period (now / slotMs, floored) each slot counts, -1 when never used */
  private readonly periods = new Float64Array(SLOTS).fill(-1)
  private readonly failures = new Uint32Array(SLOTS)
  private readonly successes = new Uint32Array(SLOTS)

  constructor (private readonly opts: FailureWindowOptions) {
    this.slotMs = opts.windowMs / SLOTS
  }

  /** cockatiel's IBreaker state (serialisation): the live counts */
  get state (): WindowCounts {
    return this.counts()
  }

  set state (_value: unknown) {
    // breaker state is local to an instance and never restored
  }

  success (state: CircuitState): void {
    // the trials that closed a half-open breaker start a fresh window
    if (state === CircuitState.HalfOpen) this.reset()
    this.successes[this.slot()]!++
  }

  /** true when the breaker should open */
  failure (state: CircuitState): boolean {
    this.failures[this.slot()]!++
    if (state !== CircuitState.Closed) return true
    const { requests, failures } = this.counts()
    // a quotient, not failures ≥ threshold·requests: 0.3 · 10 is 3.0000000000000004
    return requests >= this.opts.minRequests && failures / requests >= this.opts.threshold
  }

  counts (): WindowCounts {
    const current = Math.floor(this.opts.now() / this.slotMs)
    let requests = 0
    let failures = 0
    for (let i = 0; i < SLOTS; i++) {
      if (current - this.periods[i]! < SLOTS) {
        requests += this.failures[i]! + this.successes[i]!
        failures += this.failures[i]!
      }
    }
    return { requests, failures }
  }

  reset (): void {
    this.periods.fill(-1)
    this.failures.fill(0)
    this.successes.fill(0)
  }

  private slot (): number {
    const period = Math.floor(this.opts.now() / this.slotMs)
    const i = period % SLOTS
    if (this.periods[i] !== period) {
      this.periods[i] = period
      this.failures[i] = 0
      this.successes[i] = 0
    }
    return i
  }
}
