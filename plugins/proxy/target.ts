// One upstream address and its health, as the balancer and the checks see it.
// Pure: the clock is passed in, so the state machine is tested with a fake one.
import type { Balanced } from './balancer.js'
import type { ServiceConfig } from './options.js'

export type FailureKind = 'refused' | 'reset' | 'timeout'
export type TargetState = 'healthy' | 'unhealthy' | 'ejected'

type Passive = ServiceConfig['passiveHealth']
type Active = ServiceConfig['healthCheck']

export class Target implements Balanced {
  inflight = 0
  currentWeight = 0
  /** set by active checks; a target starts healthy so traffic flows before the first check */
  activeHealthy = true
  ejectedUntil = 0
  /** ejections in a row; each lengthens the next one */
  ejections = 0
  private failures = 0
  private serverErrors = 0
  private checkSuccesses = 0
  private checkFailures = 0
  lastFailure: string | undefined

  constructor (
    /** scheme://address:port the connection goes to (an IP once resolved) */
    readonly origin: string,
    /** Host header value: the configured host:port, not the resolved address */
    readonly host: string,
    /** path prefix of the configured URL ("" or "/base") */
    readonly basePath: string,
    readonly weight: number,
    private readonly passive: Passive,
    private readonly active: Active
  ) {}

  isAvailable (now: number): boolean {
    return this.activeHealthy && now >= this.ejectedUntil
  }

  state (now: number): TargetState {
    if (!this.activeHealthy) return 'unhealthy'
    return now < this.ejectedUntil ? 'ejected' : 'healthy'
  }

  /** an answer came back: a 5xx streak ejects, anything else clears the streaks */
  onResponse (status: number, now: number): void {
    if (status >= 500) {
      if (++this.serverErrors >= this.passive.consecutive5xx) this.eject(now, `${this.serverErrors} consecutive ${status}-class answers`)
      return
    }
    this.serverErrors = 0
    this.failures = 0
    this.ejections = 0
  }

  /** no answer: a refused connection ejects at once, resets and timeouts after a streak */
  onFailure (kind: FailureKind, now: number): void {
    this.lastFailure = kind
    if (kind === 'refused' || ++this.failures >= this.passive.consecutiveFailures) this.eject(now, kind)
  }

  onCheck (ok: boolean): void {
    if (ok) {
      this.checkFailures = 0
      if (!this.activeHealthy && ++this.checkSuccesses >= this.active.healthyThreshold) {
        this.activeHealthy = true
        this.checkSuccesses = 0
      }
    } else {
      this.checkSuccesses = 0
      if (this.activeHealthy && ++this.checkFailures >= this.active.unhealthyThreshold) {
        this.activeHealthy = false
        this.checkFailures = 0
      }
    }
  }

  private eject (now: number, reason: string): void {
    this.failures = 0
    this.serverErrors = 0
    if (!this.passive.enabled) return
    this.ejections++
    this.ejectedUntil = now + Math.min(this.passive.ejectMs * this.ejections, this.passive.maxEjectMs)
    this.lastFailure = reason
  }
}
