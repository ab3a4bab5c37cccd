// One upstream service's circuit breaker: closed → open → half-open → closed.
// Pure: the clock is passed in, so the state machine is tested with a fake one.
//
// Built on cockatiel's breaker contract (CircuitState, IBreaker) rather than on its
// CircuitBreakerPolicy, because the policy
//  - makes calls beyond the half-open trials wait for the verdict; the gateway must
//    answer them the fallback at once;
//  - counts a trial whose client went away (or that failed on the client's side) as a
//    success, so a hung upstream could be closed by clients that gave up; here such
//    a trial frees its slot for the next request and decides nothing;
//  - runs every call through two async functions (promises on each request); here a
//    decision is a state check and a number.
import { CircuitState } from 'cockatiel'
import { FailureWindow, type WindowCounts } from './failure-window.js'
import type { BreakerConfig } from './options.js'

export { CircuitState }

/** what a finished request says about the service */
export type Outcome = 'success' | 'failure' | 'neutral'

/** admit() answers this when the request must get the fallback */
export const REFUSED = -1

export type BreakerStateName = 'closed' | 'open' | 'half-open'
const NAMES: Record<number, BreakerStateName> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open'
}
/** the value of the Prometheus gauge: ordered by severity, unlike cockatiel's CircuitState */
export const STATE_CODES: Record<BreakerStateName, number> = { closed: 0, 'half-open': 1, open: 2 }

export interface Transition {
  service: string
  from: BreakerStateName
  to: BreakerStateName
  /** the window's counts when it opened from closed */
  window?: WindowCounts
  /** when an open breaker will admit trials (epoch ms) */
  halfOpenAt?: number
}

export interface BreakerSnapshot {
  state: BreakerStateName
  /** 0 closed, 1 half-open, 2 open: the gateway_circuit_breaker_state gauge */
  stateCode: number
  since: string
  window: WindowCounts & { failureRate: number }
  halfOpenAt?: string
  trials?: { admitted: number, succeeded: number, of: number }
  /** times it opened since start-up */
  opened: number
  /** requests answered with the fallback since start-up */
  rejected: number
}

export type BreakerSettings = Pick<BreakerConfig, 'errorThreshold' | 'windowMs' | 'minRequests' | 'resetMs' | 'halfOpenRequests'>

export interface BreakerOptions {
  now?: () => number
  onTransition?: (t: Transition) => void
}

export class ServiceBreaker {
  state: CircuitState = CircuitState.Closed
  opened = 0
  rejected = 0
  private readonly window: FailureWindow
  private readonly now: () => number
  private readonly onTransition: (t: Transition) => void
  /** bumped on every transition: outcomes of requests admitted before it are ignored */
  private generation = 0
  private since: number
  private openedAt = 0
  private trialsAdmitted = 0
  private trialsSucceeded = 0

  /** what decides this breaker (only these keys: the admin API shows them as they are) */
  readonly settings: BreakerSettings

  constructor (readonly service: string, settings: BreakerSettings, opts: BreakerOptions = {}) {
    const { errorThreshold, windowMs, minRequests, resetMs, halfOpenRequests } = settings
    this.settings = { errorThreshold, windowMs, minRequests, resetMs, halfOpenRequests }
    this.now = opts.now ?? Date.now
    this.onTransition = opts.onTransition ?? (() => {})
    this.window = new FailureWindow({ threshold: settings.errorThreshold, windowMs: settings.windowMs, minRequests: settings.minRequests, now: this.now })
    this.since = this.now()
  }

  /**
   * May this request go to the service? REFUSED: answer the fallback. Otherwise a
   * ticket to hand back to record() with the request's outcome, exactly once.
   */
  admit (): number {
    if (this.state === CircuitState.Closed) return this.generation
    if (this.state === CircuitState.Open) {
      if (this.now() - this.openedAt < this.settings.resetMs) {
        this.rejected++
        return REFUSED
      }
      this.enter(CircuitState.HalfOpen)
    }
    if (this.trialsAdmitted >= this.settings.halfOpenRequests) {
      this.rejected++
      return REFUSED
    }
    this.trialsAdmitted++
    return this.generation
  }

  record (ticket: number, outcome: Outcome): void {
    if (ticket !== this.generation) return
    if (this.state === CircuitState.Closed) {
      if (outcome === 'success') {
        this.window.success(CircuitState.Closed)
      } else if (outcome === 'failure' && this.window.failure(CircuitState.Closed)) {
        this.enter(CircuitState.Open)
      }
      return
    }
    // half-open: this was a trial (an open breaker admits nothing)
    if (outcome === 'failure') {
      this.enter(CircuitState.Open)
    } else if (outcome === 'neutral') {
      // the trial told nothing about the service: its slot goes to the next request
      this.trialsAdmitted--
    } else if (++this.trialsSucceeded >= this.settings.halfOpenRequests) {
      this.enter(CircuitState.Closed)
    }
  }

  /** how long a refused client should wait: until half-open, or a moment while trials run */
  retryAfterMs (): number {
    if (this.state === CircuitState.Open) return Math.max(0, this.openedAt + this.settings.resetMs - this.now())
    return 0
  }

  /**
   * Moves an open breaker whose reset time has passed to half-open. The state
   * machine is otherwise driven by requests: without this, a breaker nobody calls
   * would read "open" forever in the admin API and the metrics.
   */
  poll (): void {
    if (this.state === CircuitState.Open && this.now() - this.openedAt >= this.settings.resetMs) this.enter(CircuitState.HalfOpen)
  }

  /** the current state's name (after poll()) */
  get stateName (): BreakerStateName {
    this.poll()
    return NAMES[this.state]!
  }

  snapshot (): BreakerSnapshot {
    const state = this.stateName
    const counts = this.window.counts()
    return {
      state,
      stateCode: STATE_CODES[state],
      since: new Date(this.since).toISOString(),
      window: { ...counts, failureRate: counts.requests === 0 ? 0 : counts.failures / counts.requests },
      ...(this.state === CircuitState.Open ? { halfOpenAt: new Date(this.openedAt + this.settings.resetMs).toISOString() } : {}),
      ...(this.state === CircuitState.HalfOpen ? { trials: { admitted: this.trialsAdmitted, succeeded: this.trialsSucceeded, of: this.settings.halfOpenRequests } } : {}),
      opened: this.opened,
      rejected: this.rejected
    }
  }

  private enter (next: CircuitState): void {
    const from = this.state
    this.state = next
    this.generation++
    this.since = this.now()
    const transition: Transition = { service: this.service, from: NAMES[from]!, to: NAMES[next]! }
    if (next === CircuitState.Open) {
      if (from === CircuitState.Closed) transition.window = this.window.counts()
      this.opened++
      this.openedAt = this.since
      transition.halfOpenAt = this.openedAt + this.settings.resetMs
    } else if (next === CircuitState.HalfOpen) {
      this.trialsAdmitted = 0
      this.trialsSucceeded = 0
    } else {
      // closed by its trials: the failures that opened it are history
      this.window.reset()
    }
    this.onTransition(transition)
  }
}
