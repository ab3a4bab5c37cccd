// Each gateway instance follows the event log from where it stood when it started,
// blocking on its own connection (XREAD BLOCK), and hands every entry to its hub in
// order. When Redis is unreachable it retries with backoff from the same position,
// so entries appended meanwhile by others, or after Redis comes back, are not skipped.
import type { EventLog, StreamEvent } from './event-log.js'

export interface StreamTailOptions {
  log: EventLog
  deliver: (events: readonly StreamEvent[]) => void
  logger: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  /** how long one read waits for new entries */
  blockMs?: number
  /** entries handed over per read */
  batch?: number
}

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 2000

export class StreamTail {
  /** the id of the last entry handed over (or where the tail started) */
  position: string | null = null
  private stopped = false
  private running: Promise<void> | null = null
  private wakeBackoff: (() => void) | null = null

  constructor (private readonly opts: StreamTailOptions) {}

  start (): void {
    this.running ??= this.run()
  }

  /** Stops after the read in flight (the caller closes the connection it blocks on). */
  async stop (): Promise<void> {
    this.stopped = true
    this.wakeBackoff?.()
    await this.running
  }

  private async run (): Promise<void> {
    const { log, deliver, logger } = this.opts
    const blockMs = this.opts.blockMs ?? 5000
    const batch = this.opts.batch ?? 1000
    let backoff = 0
    let failing = false
    while (!this.stopped) {
      try {
        this.position ??= await log.lastId()
        const events = await log.read(this.position, batch, blockMs)
        if (this.stopped) return
        if (failing) {
          failing = false
          logger.info({ position: this.position }, 'event stream readable again: delivering from where it stopped')
        }
        backoff = 0
        if (events.length === 0) continue
        this.position = events[events.length - 1]!.id
        deliver(events)
      } catch (err) {
        if (this.stopped) return
        if (!failing) {
          failing = true
          logger.warn({ err: (err as Error).message, position: this.position }, 'event stream unreadable: retrying; subscribers get no live events until it is back')
        }
        backoff = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, backoff * 2))
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff)
          this.wakeBackoff = () => { clearTimeout(timer); resolve() }
        })
        this.wakeBackoff = null
      }
    }
  }
}
