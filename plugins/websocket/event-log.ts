// The event log WebSocket subscribers are served from (SPEC.md §5): the Redis stream
// `${keyPrefix}events` that backends and POST /admin/events append to, or, without
// Redis, a bounded in-memory twin with the same ids and semantics. No Fastify here.
//
// Entry format (shared with the backends, which XADD directly):
//   XADD healthpay:events MAXLEN ~ <maxLen> * channel <c> event <e> subject <s> data <JSON>
import type { Redis } from 'ioredis'

export interface StreamEvent {
  /** the stream entry id "<ms>-<seq>": the same on every gateway instance */
  id: string
  channel: string
  event: string
  subject: string
  data: unknown
  /** ms since the epoch, from the id */
  ts: number
}

export interface NewEvent {
  channel: string
  event: string
  subject: string
  data: unknown
}

export interface EventLog {
  /** Appends the event; resolves to its entry id. Rejects when the store is unreachable. */
  append (e: NewEvent): Promise<string>
  /**
   * Entries strictly after `afterId` ('0' or '0-0' = from the start), oldest first, at
   * most `count`. Fewer than `count` only when the end of the log was reached.
   * An id without its sequence part ("1700000000000") means "<ms>-0", as in Redis.
   * Throws InvalidEventIdError for an id that is not "<ms>" or "<ms>-<seq>".
   */
  range (afterId: string, count: number): Promise<StreamEvent[]>
  /**
   * Like range, but when nothing follows `afterId` yet, waits up to `blockMs` for
   * entries to be appended (XREAD BLOCK): resolves to [] when none came, or when the
   * log was closed meanwhile. Every gateway instance tails the log with this.
   */
  read (afterId: string, count: number, blockMs: number): Promise<StreamEvent[]>
  /** The id of the newest entry, or "0-0" when the log is empty: where a tail starts. */
  lastId (): Promise<string>
  close (): void
}

export interface EventLogOptions {
  redis: Redis | null
  /**
   * the connection `read` blocks on (XREAD BLOCK holds its connection until entries
   * come): its own, with a command timeout longer than any block; default `redis`
   */
  blocking?: Redis | null
  /** the stream key: `${config.redis.keyPrefix}events` */
  key: string
  /** entries kept: exactly in memory, approximately (MAXLEN ~) in Redis */
  maxLen: number
  /** the in-memory log's clock (tests move it, backwards too) */
  now?: () => number
}

export class InvalidEventIdError extends Error {
  constructor (id: string) {
    super(`"${id.slice(0, 50)}" is not an event id: expected "<ms>-<seq>" (e.g. "1700000000000-0") or "0" for the start`)
    this.name = 'InvalidEventIdError'
  }
}

export class EventLogClosedError extends Error {
  constructor () {
    super('The event log is closed (the gateway is shutting down)')
    this.name = 'EventLogClosedError'
  }
}

// Redis ids are two unsigned 64-bit numbers; 20 digits bound them
const EVENT_ID = /^(\d{1,20})(?:-(\d{1,20}))?$/

/** "<ms>-<seq>" → [ms, seq]; "<ms>" → [ms, 0]; undefined when malformed. */
export function parseEventId (id: string): [number, number] | undefined {
  const m = EVENT_ID.exec(id)
  return m ? [Number(m[1]), m[2] === undefined ? 0 : Number(m[2])] : undefined
}

/** Orders ids by (ms, seq) as numbers: "9-0" comes before "10-0", unlike as strings. */
export function compareEventIds (a: readonly [number, number], b: readonly [number, number]): number {
  return a[0] - b[0] || a[1] - b[1]
}

export function createEventLog (opts: EventLogOptions): EventLog {
  return opts.redis ? new RedisEventLog(opts.redis, opts.blocking ?? opts.redis, opts.key, opts.maxLen) : new MemoryEventLog(opts.maxLen, opts.now)
}

const serialize = (data: unknown): string => JSON.stringify(data) ?? 'null'

class RedisEventLog implements EventLog {
  #closed = false
  constructor (private readonly redis: Redis, private readonly blocking: Redis, private readonly key: string, private readonly maxLen: number) {}

  async append ({ channel, event, subject, data }: NewEvent): Promise<string> {
    if (this.#closed) throw new EventLogClosedError()
    // "~": Redis trims whole macro nodes, far cheaper than an exact MAXLEN on every XADD
    const id = await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxLen), '*',
      'channel', channel, 'event', event, 'subject', subject, 'data', serialize(data))
    if (id === null) throw new Error('XADD returned no id')
    return id
  }

  async range (afterId: string, count: number): Promise<StreamEvent[]> {
    if (parseEventId(afterId) === undefined) throw new InvalidEventIdError(afterId)
    if (count <= 0) return []
    const out: StreamEvent[] = []
    let cursor = afterId
    // malformed entries are skipped: read on so that a short answer still means "the end"
    while (out.length < count) {
      const want = count - out.length
      const raw = await this.redis.xrange(this.key, `(${cursor}`, '+', 'COUNT', want)
      for (const [id, fields] of raw) {
        const event = decodeEntry(id, fields)
        if (event !== undefined) out.push(event)
      }
      if (raw.length < want) break
      cursor = raw[raw.length - 1]![0]
    }
    return out
  }

  async read (afterId: string, count: number, blockMs: number): Promise<StreamEvent[]> {
    if (parseEventId(afterId) === undefined) throw new InvalidEventIdError(afterId)
    if (this.#closed) return []
    const answer = await this.blocking.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, afterId)
    const out: StreamEvent[] = []
    for (const [id, fields] of answer?.[0]?.[1] ?? []) {
      const event = decodeEntry(id, fields)
      if (event !== undefined) out.push(event)
    }
    return out
  }

  async lastId (): Promise<string> {
    const newest = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1)
    return newest[0]?.[0] ?? '0-0'
  }

  close (): void {
    // the Redis clients belong to the gateway, which quits them after this
    this.#closed = true
  }
}

/**
 * One stream entry as written by anyone (a backend too): undefined when a field is
 * missing or `data` is not JSON, so one bad producer cannot break every subscriber.
 */
function decodeEntry (id: string, fields: string[]): StreamEvent | undefined {
  let channel: string | undefined
  let event: string | undefined
  let subject: string | undefined
  let json: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1]!
    switch (fields[i]) {
      case 'channel': channel = value; break
      case 'event': event = value; break
      case 'subject': subject = value; break
      case 'data': json = value; break
    }
  }
  if (channel === undefined || event === undefined || subject === undefined || json === undefined) return undefined
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch {
    return undefined
  }
  return { id, channel, event, subject, data, ts: Number(id.slice(0, id.indexOf('-'))) }
}

interface MemoryEntry {
  ms: number
  seq: number
  id: string
  channel: string
  event: string
  subject: string
  /** kept serialized: every reader gets its own copy, as from Redis */
  json: string
}

class MemoryEventLog implements EventLog {
  // entries[head..] are live; the dropped prefix is cut off in batches, not per append
  #entries: MemoryEntry[] = []
  #head = 0
  #lastMs = 0
  #lastSeq = -1
  #closed = false
  /** readers waiting for the next append */
  #waiting = new Set<() => void>()

  constructor (private readonly maxLen: number, private readonly now: () => number = Date.now) {}

  async append ({ channel, event, subject, data }: NewEvent): Promise<string> {
    if (this.#closed) throw new EventLogClosedError()
    const json = serialize(data)
    // as Redis does: a clock that went backwards keeps the last ms and counts on
    const now = Math.floor(this.now())
    if (now > this.#lastMs) {
      this.#lastMs = now
      this.#lastSeq = 0
    } else {
      this.#lastSeq++
    }
    const id = `${this.#lastMs}-${this.#lastSeq}`
    this.#entries.push({ ms: this.#lastMs, seq: this.#lastSeq, id, channel, event, subject, json })
    if (this.#entries.length - this.#head > this.maxLen) this.#head = this.#entries.length - this.maxLen
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
    this.#wake()
    return id
  }

  async range (afterId: string, count: number): Promise<StreamEvent[]> {
    return this.#after(afterId, count)
  }

  async read (afterId: string, count: number, blockMs: number): Promise<StreamEvent[]> {
    // checked and waited for in one synchronous step: an append cannot slip in between
    const now = this.#after(afterId, count)
    if (now.length > 0 || this.#closed) return now
    let wake!: () => void
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      wake = resolve
      timer = setTimeout(resolve, blockMs)
      this.#waiting.add(wake)
    })
    clearTimeout(timer)
    this.#waiting.delete(wake)
    return this.#after(afterId, count)
  }

  async lastId (): Promise<string> {
    return this.#lastSeq < 0 ? '0-0' : `${this.#lastMs}-${this.#lastSeq}`
  }

  #after (afterId: string, count: number): StreamEvent[] {
    const after = parseEventId(afterId)
    if (after === undefined) throw new InvalidEventIdError(afterId)
    if (count <= 0) return []
    const entries = this.#entries
    // binary search: the first live entry with an id > afterId
    let lo = this.#head
    let hi = entries.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const e = entries[mid]!
      if (compareEventIds([e.ms, e.seq], after) <= 0) lo = mid + 1
      else hi = mid
    }
    const out: StreamEvent[] = []
    for (let i = lo; i < entries.length && out.length < count; i++) {
      const e = entries[i]!
      out.push({ id: e.id, channel: e.channel, event: e.event, subject: e.subject, data: JSON.parse(e.json), ts: e.ms })
    }
    return out
  }

  #wake (): void {
    for (const wake of this.#waiting) wake()
    this.#waiting.clear()
  }

  close (): void {
    this.#closed = true
    this.#entries = []
    this.#head = 0
    this.#wake()
  }
}
