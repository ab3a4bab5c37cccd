// The subscribers of one gateway instance and what each is sent. Events come in from
// the tail of the event log (stream-tail.ts), in stream order; each goes to the
// sockets subscribed to its channel that are entitled to it (protocol.ts), as one
// frame serialized once. A subscribe with lastEventId first replays the log from
// there, holding back live events for that subscription meanwhile, then sends the
// held-back ones it did not replay: no gap, no duplicate.
//
// Bounds: a socket whose unsent bytes pass maxBufferBytes is closed with 1013 (and
// counted); events held back during one replay are bounded too; a client that sends
// MAX_PROTOCOL_ERRORS bad messages is closed with 1008; one that misses two
// heartbeats is terminated; shutdown closes every socket with 1001.
import type { WebSocket, RawData } from 'ws'
import type { Consumer } from '../auth/consumer.js'
import type { EventLog, StreamEvent } from './event-log.js'
import { parseEventId, compareEventIds } from './event-log.js'
import type { Channel, WebSocketConfig } from './options.js'
import type { WebSocketMetrics } from '../metrics/metrics.js'
import { parseClientMessage, ProtocolError, maySubscribe, seesAllSubjects, entitled, matches, eventFrame, type EventFilter } from './protocol.js'

/** bad messages tolerated per connection before it is closed with 1008 */
export const MAX_PROTOCOL_ERRORS = 5
/** events read per XRANGE page while replaying (64 KiB each at most: a page stays well inside the command timeout) */
const REPLAY_PAGE = 100
/** live events one subscription may hold back while its replay runs */
const MAX_HELD_BACK = 10_000
/** after a 1013 or 1001 close frame, the socket is cut if the client has not answered by then */
const CLOSE_GRACE_MS = 5000

export const CLOSE_GOING_AWAY = 1001
export const CLOSE_POLICY = 1008
export const CLOSE_INTERNAL_ERROR = 1011
export const CLOSE_TRY_AGAIN_LATER = 1013

export interface HubLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  debug: (obj: object, msg: string) => void
}

interface Subscription {
  readonly channel: Channel
  readonly filter: EventFilter | null
  /** live events held back while a replay runs; null when live */
  held: StreamEvent[] | null
  /**
   * the last entry a finished replay read: the tail may not have delivered it yet, and
   * must not deliver it (or anything before it) again; null once the tail is past it
   */
  replayedTo: [number, number] | null
  /** bumped by each replay, so an older replay still running stops */
  generation: number
}

class Subscriber {
  readonly subscriptions = new Map<Channel, Subscription>()
  missedPongs = 0
  errors = 0
  closing = false
  constructor (readonly ws: WebSocket, readonly consumer: Consumer) {}
}

/** who on this instance listens to one channel: all of it, or by subject */
interface ChannelIndex {
  all: Set<Subscriber>
  bySubject: Map<string, Set<Subscriber>>
}

export interface EventHubOptions {
  log: EventLog
  config: WebSocketConfig
  metrics: WebSocketMetrics
  logger: HubLog
}

export class EventHub {
  readonly clients = new Set<Subscriber>()
  private readonly channels = new Map<Channel, ChannelIndex>()
  private readonly heartbeat: NodeJS.Timeout
  private closed = false

  constructor (private readonly opts: EventHubOptions) {
    this.heartbeat = setInterval(() => this.beat(), opts.config.heartbeatMs)
    this.heartbeat.unref()
  }

  get size (): number {
    return this.clients.size
  }

  /** A socket that passed authentication at its upgrade. */
  attach (ws: WebSocket, consumer: Consumer): void {
    if (this.closed) {
      ws.close(CLOSE_GOING_AWAY, 'gateway shutting down')
      return
    }
    const client = new Subscriber(ws, consumer)
    this.clients.add(client)
    this.opts.metrics.connections.inc()
    ws.on('pong', () => { client.missedPongs = 0 })
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(client, data, isBinary))
    ws.once('close', () => this.detach(client))
    // a reset connection: 'close' follows, nothing else to do
    ws.on('error', () => {})
  }

  /** Live events from the tail of the log, in stream order. */
  deliver (events: readonly StreamEvent[]): void {
    for (const e of events) {
      const index = this.channels.get(e.channel as Channel)
      if (index === undefined) continue
      let frame: Buffer | undefined
      let id: [number, number] | undefined
      const offer = (client: Subscriber) => {
        const sub = client.subscriptions.get(e.channel as Channel)
        if (sub === undefined) return
        if (sub.replayedTo !== null && sub.held === null) {
          if (compareEventIds(id ??= parseEventId(e.id)!, sub.replayedTo) <= 0) return
          sub.replayedTo = null
        }
        if (!matches(sub.filter, e)) return
        if (sub.held !== null) {
          if (sub.held.length >= MAX_HELD_BACK) this.tooSlow(client)
          else sub.held.push(e)
          return
        }
        this.send(client, frame ??= eventFrame(e))
      }
      // one subscriber's failure must not cost the others this event (nor stop the tail)
      const send = (client: Subscriber) => {
        try {
          offer(client)
        } catch (err) {
          this.opts.logger.warn({ consumer: client.consumer.id, err: (err as Error).message }, 'websocket delivery failed')
          this.closeWith(client, CLOSE_INTERNAL_ERROR, 'internal error')
        }
      }
      for (const client of index.all) send(client)
      const own = index.bySubject.get(e.subject)
      if (own !== undefined) for (const client of own) send(client)
      if (frame !== undefined) this.opts.metrics.eventLag.observe(Math.max(0, Date.now() - e.ts) / 1000)
    }
  }

  /** Shutdown: every socket gets a 1001 close; resolves once they are all gone (bounded). */
  async close (): Promise<void> {
    this.closed = true
    clearInterval(this.heartbeat)
    const gone = [...this.clients].map((client) => new Promise<void>((resolve) => {
      client.ws.once('close', () => resolve())
      this.closeWith(client, CLOSE_GOING_AWAY, 'gateway shutting down')
    }))
    await Promise.all(gone)
  }

  /** Past the drain timeout: every socket still open is cut. */
  terminate (): void {
    for (const client of this.clients) client.ws.terminate()
  }

  private receive (client: Subscriber, data: RawData, isBinary: boolean): void {
    if (client.closing) return
    try {
      const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength
      if (bytes > this.opts.config.maxMessageBytes) {
        throw new ProtocolError('message_too_large', `messages are at most ${this.opts.config.maxMessageBytes} bytes`)
      }
      if (isBinary) throw new ProtocolError('invalid_message', 'messages are JSON text frames, not binary')
      const text = Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data as ArrayBuffer).toString()
      const message = parseClientMessage(text)
      switch (message.type) {
        case 'ping':
          this.sendJson(client, { type: 'pong' })
          return
        case 'subscribe':
          this.subscribe(client, message.channel, message.filter, message.lastEventId, message.filterAsSent)
          return
        case 'unsubscribe':
          this.unsubscribe(client, message.channel)
          return
        case 'resume':
          if (client.subscriptions.size === 0) throw new ProtocolError('not_subscribed', 'resume replays current subscriptions: subscribe first (or subscribe with "lastEventId")')
          for (const sub of client.subscriptions.values()) this.replay(client, sub, message.lastEventId)
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.protocolError(client, err)
        return
      }
      // thrown in a socket's event handler, it would take the process down
      this.opts.logger.warn({ consumer: client.consumer.id, err: (err as Error).message }, 'websocket message handling failed')
      this.closeWith(client, CLOSE_INTERNAL_ERROR, 'internal error')
    }
  }

  private protocolError (client: Subscriber, err: ProtocolError): void {
    client.errors++
    this.sendJson(client, err.toJSON())
    if (client.errors >= MAX_PROTOCOL_ERRORS) {
      this.opts.logger.debug({ consumer: client.consumer.id, errors: client.errors }, 'websocket closed: too many invalid messages')
      this.closeWith(client, CLOSE_POLICY, 'too many invalid messages')
    }
  }

  private subscribe (client: Subscriber, channel: Channel, filter: EventFilter | null, lastEventId: string | null, filterAsSent: unknown): void {
    const { consumer } = client
    if (!maySubscribe(consumer, channel)) {
      throw new ProtocolError('forbidden', `the ${channel} channel needs the role analyst or admin`, channel)
    }
    // a second subscribe to a channel replaces the first (its filter)
    this.index(client, channel, false)
    const sub: Subscription = { channel, filter, held: null, replayedTo: null, generation: 0 }
    client.subscriptions.set(channel, sub)
    this.index(client, channel, true)
    const ack: Record<string, unknown> = { type: 'subscribed', channel }
    // echoed as the client wrote it
    if (filter !== null) ack.filter = filterAsSent
    if (lastEventId !== null) ack.lastEventId = lastEventId
    this.sendJson(client, ack)
    if (lastEventId !== null) this.replay(client, sub, lastEventId)
  }

  private unsubscribe (client: Subscriber, channel: Channel): void {
    if (!client.subscriptions.has(channel)) throw new ProtocolError('not_subscribed', `not subscribed to ${channel}`, channel)
    this.index(client, channel, false)
    client.subscriptions.delete(channel)
    this.sendJson(client, { type: 'unsubscribed', channel })
  }

  /** Adds or removes the client in the channel's index, by what it may see. */
  private index (client: Subscriber, channel: Channel, add: boolean): void {
    let index = this.channels.get(channel)
    if (index === undefined) {
      if (!add) return
      index = { all: new Set(), bySubject: new Map() }
      this.channels.set(channel, index)
    }
    const { consumer } = client
    if (seesAllSubjects(consumer, channel)) {
      if (add) index.all.add(client)
      else index.all.delete(client)
      return
    }
    let own = index.bySubject.get(consumer.id)
    if (add) {
      if (own === undefined) index.bySubject.set(consumer.id, own = new Set())
      own.add(client)
    } else if (own !== undefined) {
      own.delete(client)
      if (own.size === 0) index.bySubject.delete(consumer.id)
    }
  }

  /**
   * Sends every entitled event of the subscription's channel after `afterId`, in
   * order, then the live events held back meanwhile that the replay did not reach.
   */
  private replay (client: Subscriber, sub: Subscription, afterId: string): void {
    const generation = ++sub.generation
    // from now on live events for this subscription wait, unless a replay already holds them
    sub.held ??= []
    const { consumer } = client
    const current = () => client.subscriptions.get(sub.channel) === sub && sub.generation === generation && !client.closing
    void (async () => {
      let cursor = afterId
      let replayed = 0
      try {
        const low = this.opts.config.maxBufferBytes / 2
        for (;;) {
          const page = await this.opts.log.range(cursor, REPLAY_PAGE)
          if (!current()) return
          for (const e of page) {
            // sent as fast as the client takes it: a replay must not trip the slow-consumer bound
            if (client.ws.bufferedAmount > low) {
              await this.drained(client)
              if (!current()) return
            }
            if (entitled(consumer, sub.channel, sub.filter, e)) {
              this.send(client, eventFrame(e))
              replayed++
            }
            cursor = e.id
          }
          if (page.length < REPLAY_PAGE) break
        }
      } catch (err) {
        if (!current()) return
        this.opts.logger.warn({ consumer: consumer.id, channel: sub.channel, err: (err as Error).message }, 'websocket replay failed: the event log is unreachable')
        this.sendJson(client, new ProtocolError('replay_failed', 'the event log could not be read: events after lastEventId were not replayed; live events follow; resume again later', sub.channel).toJSON())
      }
      const reached = parseEventId(cursor)!
      const held = sub.held ?? []
      sub.held = null
      sub.replayedTo = reached
      for (const e of held) {
        if (compareEventIds(parseEventId(e.id)!, reached) > 0) {
          sub.replayedTo = null
          this.send(client, eventFrame(e))
        }
      }
      this.opts.logger.debug({ consumer: consumer.id, channel: sub.channel, afterId, replayed }, 'websocket replay done')
    })()
  }

  /** Resolves once the client's unsent bytes are below half the bound (or it is gone). */
  private async drained (client: Subscriber): Promise<void> {
    const low = this.opts.config.maxBufferBytes / 2
    while (!client.closing && client.ws.readyState === client.ws.OPEN && client.ws.bufferedAmount > low) {
      // the socket's own 'drain' is not part of ws's API: poll at the pace a network drains
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  private sendJson (client: Subscriber, message: object): void {
    this.send(client, JSON.stringify(message))
  }

  private send (client: Subscriber, frame: Buffer | string): void {
    const { ws } = client
    if (client.closing || ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount > this.opts.config.maxBufferBytes) {
      this.tooSlow(client)
      return
    }
    ws.send(frame, { binary: false })
    this.opts.metrics.messagesSent.inc()
  }

  private tooSlow (client: Subscriber): void {
    if (client.closing) return
    this.opts.metrics.slowConsumerCloses.inc()
    this.opts.logger.info({ consumer: client.consumer.id, buffered: client.ws.bufferedAmount }, 'websocket closed: slow consumer (send buffer over the bound)')
    this.closeWith(client, CLOSE_TRY_AGAIN_LATER, 'slow consumer: too much unsent data')
  }

  private closeWith (client: Subscriber, code: number, reason: string): void {
    if (client.closing) return
    client.closing = true
    this.unindex(client)
    const { ws } = client
    ws.close(code, reason)
    // the close frame waits behind unsent data: a client that never reads it is cut
    const cut = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
    cut.unref()
    ws.once('close', () => clearTimeout(cut))
  }

  private unindex (client: Subscriber): void {
    for (const channel of client.subscriptions.keys()) this.index(client, channel, false)
  }

  private detach (client: Subscriber): void {
    if (!this.clients.delete(client)) return
    this.unindex(client)
    client.subscriptions.clear()
    this.opts.metrics.connections.dec()
  }

  /** Pings every socket; one that has not answered the last two pings is terminated. */
  private beat (): void {
    for (const client of this.clients) {
      if (client.missedPongs >= 2) {
        this.opts.logger.debug({ consumer: client.consumer.id }, 'websocket terminated: missed two heartbeats')
        client.ws.terminate()
        continue
      }
      client.missedPongs++
      client.ws.ping()
    }
  }
}
