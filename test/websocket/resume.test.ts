// Reconnection end to end (SPEC.md §5): a client that comes back with lastEventId gets
// every later event it is entitled to, in order, once, then the live ones; also while
// events keep coming during the replay, across a Redis restart, and across two gateway
// instances on one Redis. Real gateways, real ws clients, the real event log.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { WebSocket } from 'ws'
import { startGateway, servicesFor, until, signToken, startRedisServer, uniquePrefix, TEST_SECRET, type StartedGateway } from '../helpers.js'
import { parseEventId, compareEventIds } from '../../plugins/websocket/event-log.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'
const ADMIN_TOKEN = 'test-admin-token-0123456789'

// ------------------------------------------------------------------------- helpers

interface Message {
  type: string
  [field: string]: any
}

interface EventMessage extends Message {
  type: 'event'
  id: string
  channel: string
  event: string
  subject: string
  data: any
  ts: number
}

/** A ws client that keeps every message it gets and can wait for one (or a state of them). */
class TestClient {
  readonly messages: Message[] = []
  closed: { code: number, reason: string } | null = null
  private readonly waiters = new Set<() => void>()

  constructor (readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Message)
      this.wake()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      this.wake()
    })
    ws.on('error', () => {})
  }

  send (message: object): void {
    this.ws.send(JSON.stringify(message))
  }

  /** the event messages, of one channel if given, from message index `from` on */
  events (channel?: string, from = 0): EventMessage[] {
    return this.messages.slice(from).filter((m): m is EventMessage => m.type === 'event' && (channel === undefined || m.channel === channel))
  }

  /**
   * Resolves with the first truthy value `probe` returns, re-checked on every message;
   * rejects after `ms`, or when the socket closes first.
   */
  async waitFor<T> (probe: () => T | undefined | null | false, what: string, ms = 5000): Promise<T> {
    const found = probe()
    if (found) return found
    return await new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = probe()
        if (value) {
          done()
          resolve(value)
        } else if (this.closed !== null) {
          done()
          reject(new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        const last = this.messages.slice(-3).map((m) => JSON.stringify(m)).join('\n  ')
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (${this.messages.length} messages; last:\n  ${last})`))
      }, ms)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
    })
  }

  /** waits for a message of this type (and fields) from index `from` on */
  async message (match: Record<string, unknown>, from = 0, ms = 5000): Promise<Message> {
    return await this.waitFor(() => this.messages.slice(from).find((m) => Object.entries(match).every(([k, v]) => m[k] === v)), JSON.stringify(match), ms)
  }

  /** waits until an event with this id has come */
  async eventWithId (id: string, ms = 5000): Promise<EventMessage> {
    return await this.waitFor(() => this.events().find((e) => e.id === id), `the event ${id}`, ms)
  }

  async subscribe (channel: string, extra: Record<string, unknown> = {}): Promise<Message> {
    const from = this.messages.length
    this.send({ type: 'subscribe', channel, ...extra })
    return await this.waitFor(() => this.messages.slice(from).find((m) => (m.type === 'subscribed' && m.channel === channel) || m.type === 'error'), `subscribed to ${channel}`)
  }

  async close (): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return
    const closed = once(this.ws, 'close')
    this.ws.close(1000)
    await closed
  }

  private wake (): void {
    for (const check of [...this.waiters]) check()
  }
}

/** A client of /ws authenticated with a JWT, closed with the test. */
async function connect (t: Test, gw: StartedGateway, claims: Record<string, unknown> = { sub: 'u-1' }): Promise<TestClient> {
  const ws = new WebSocket(gw.url.replace('http', 'ws') + '/ws', { headers: { authorization: 'Bearer ' + signToken(claims) } })
  const client = new TestClient(ws)
  t.teardown(() => { if (ws.readyState !== WebSocket.CLOSED) ws.terminate() })
  await Promise.race([
    once(ws, 'open'),
    once(ws, 'unexpected-response').then(([, res]) => { throw new Error(`upgrade refused: ${(res as { statusCode: number }).statusCode}`) })
  ])
  return client
}

interface NewEvent {
  channel: string
  event: string
  subject: string
  data?: unknown
}

/** POST /admin/events on a keep-alive pool; resolves to the entry id */
function publisher (t: Test, gw: StartedGateway) {
  const pool = new Pool(gw.adminUrl, { connections: 8 })
  t.teardown(() => pool.close())
  return async (e: NewEvent): Promise<string> => {
    const res = await pool.request({
      path: '/admin/events',
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(e)
    })
    const text = await res.body.text()
    if (res.statusCode !== 202) throw new Error(`POST /admin/events: ${res.statusCode} ${text}`)
    return (JSON.parse(text) as { id: string }).id
  }
}

/** runs `fn` over the items, at most `concurrency` at a time; results in item order */
async function pooled<I, O> (items: readonly I[], concurrency: number, fn: (item: I) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }))
  return out
}

const byId = (a: string, b: string) => compareEventIds(parseEventId(a)!, parseEventId(b)!)

/** ids strictly increasing: in stream order, no duplicate */
function increasing (ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if (byId(ids[i - 1]!, ids[i]!) >= 0) return false
  return true
}

interface Setup {
  name: 'memory' | 'redis'
  /** the overrides for a gateway with this event log */
  overrides: (t: Test) => Promise<Record<string, unknown>>
}

const memory: Setup = { name: 'memory', overrides: async () => ({}) }

const sharedRedis: Setup = {
  name: 'redis',
  overrides: async (t) => {
    const keyPrefix = uniquePrefix()
    t.teardown(async () => {
      const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
      await client.del(`${keyPrefix}events`)
      await client.quit()
    })
    return { redis: { url: SHARED_REDIS, keyPrefix } }
  }
}

const gateway = (t: Test, overrides: Record<string, unknown> = {}, deps = {}) =>
  startGateway(t, { services: servicesFor('http://127.0.0.1:1'), server: { adminToken: ADMIN_TOKEN }, jwt: { secret: TEST_SECRET }, ...overrides }, deps)

const wallet = (n: number, subject = 'u-1'): NewEvent => ({ channel: 'wallet', event: 'wallet.updated', subject, data: { n } })
const claim = (n: number, subject = 'u-1'): NewEvent => ({ channel: 'claim', event: 'claim.approved', subject, data: { n } })

// ------------------------------------------------------------------------- tests

for (const setup of [memory, sharedRedis]) {
  t.test(`${setup.name}: a client that reconnects with lastEventId gets exactly what it missed, then live events`, async (t) => {
    const gw = await gateway(t, await setup.overrides(t))
    const publish = publisher(t, gw)

    const first = await connect(t, gw)
    t.match(await first.subscribe('wallet'), { type: 'subscribed', channel: 'wallet' })
    const ids1to3: string[] = []
    for (let n = 1; n <= 3; n++) ids1to3.push(await publish(wallet(n)))
    await first.eventWithId(ids1to3[2]!)
    t.same(first.events().map((e) => e.id), ids1to3, 'events 1..3 live')
    t.match(first.events()[0], { type: 'event', channel: 'wallet', event: 'wallet.updated', subject: 'u-1', data: { n: 1 } })
    await first.close()

    // while it is away: 4..8 for it, interleaved with events for another subject and on another channel
    const missed: string[] = []
    const others: string[] = []
    for (let n = 4; n <= 8; n++) {
      missed.push(await publish(wallet(n)))
      others.push(await publish(wallet(n, 'u-2')))
      others.push(await publish(claim(n)))
    }

    const back = await connect(t, gw)
    const lastEventId = first.events()[2]!.id
    t.match(await back.subscribe('wallet', { lastEventId }), { type: 'subscribed', channel: 'wallet', lastEventId })
    await back.eventWithId(missed.at(-1)!)
    t.same(back.events().map((e) => e.id), missed, 'exactly 4..8, in order, nothing before or twice')
    t.same(back.events().map((e) => e.data.n), [4, 5, 6, 7, 8])
    t.ok(back.events().every((e) => e.subject === 'u-1' && e.channel === 'wallet'), 'only its own subject, only the channel')

    // then live, with no gap
    const live = [await publish(wallet(9)), await publish(wallet(9, 'u-2')), await publish(wallet(10))]
    await back.eventWithId(live[2]!)
    t.same(back.events().map((e) => e.id), [...missed, live[0], live[2]], 'live events 9 and 10 follow')

    // an admin sees every subject: its replay has u-2's events too
    const admin = await connect(t, gw, { sub: 'ops-1', roles: ['admin'] })
    await admin.subscribe('wallet', { lastEventId })
    await admin.eventWithId(live[2]!)
    const walletAfter3 = [...missed.flatMap((id, i) => [id, others[2 * i]!]), ...live].sort(byId)
    t.same(admin.events().map((e) => e.id), walletAfter3, 'admin: every wallet event after 3, in order')
  })

  t.test(`${setup.name}: events appended during the replay are each received once, in order`, async (t) => {
    const redisOverrides = await setup.overrides(t)
    const gw = await gateway(t, redisOverrides)
    const publishHttp = publisher(t, gw)
    // with Redis, most are written as the backends write them (XADD); in memory, POST /admin/events
    let publish = publishHttp
    if (setup.name === 'redis') {
      const { keyPrefix } = (redisOverrides as { redis: { keyPrefix: string } }).redis
      const backend = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
      t.teardown(() => backend.quit())
      publish = async (e) => (await backend.xadd(`${keyPrefix}events`, 'MAXLEN', '~', '100000', '*', 'channel', e.channel, 'event', e.event, 'subject', e.subject, 'data', JSON.stringify(e.data ?? {})))!
    }
    // 3 of 5 are for u-1 on wallet; the rest for another subject or on another channel
    const mix = (n: number): NewEvent => [wallet(n), wallet(n), wallet(n), wallet(n, 'u-2'), claim(n)][n % 5]!
    const forMe = (e: NewEvent) => e.channel === 'wallet' && e.subject === 'u-1'

    const first = await connect(t, gw)
    await first.subscribe('wallet')
    let lastSeen = await publish(wallet(0))
    await first.eventWithId(lastSeen)
    await first.close()

    // the race is at the end of each replay (what the last XRANGE read vs what the tail
    // has delivered yet): a few rounds of disconnect, catch up, publish meanwhile
    let n = 0
    for (const [round, offlineCount] of [[1, 2000], [2, 700], [3, 700]] as const) {
      // more than one replay page (500) before it comes back
      const offline = Array.from({ length: offlineCount }, () => mix(++n))
      const offlineIds = await pooled(offline, 8, publish)

      const back = await connect(t, gw)
      back.send({ type: 'subscribe', channel: 'wallet', lastEventId: lastSeen })
      // and more while the replay runs: started right after the subscribe, not waiting for anything
      const during = Array.from({ length: 600 }, () => mix(++n))
      const duringIds = await pooled(during, 4, publish)
      const sentinel = await publishHttp(wallet(++n))

      await back.waitFor(() => back.events().some((e) => e.id === sentinel), `round ${round}: the last event`, 30_000)
      const expected = [
        ...offline.flatMap((e, i) => (forMe(e) ? [offlineIds[i]!] : [])),
        ...during.flatMap((e, i) => (forMe(e) ? [duringIds[i]!] : [])),
        sentinel
      ].sort(byId)
      const received = back.events().map((e) => e.id)
      const got = new Set(received)
      const wanted = new Set(expected)
      t.equal(back.messages.filter((m) => m.type === 'error').length, 0, `round ${round}: no error message`)
      t.ok(increasing(received), `round ${round}: strictly increasing ids: stream order, no duplicate`)
      t.equal(got.size, received.length, `round ${round}: no duplicate`)
      t.same(expected.filter((id) => !got.has(id)), [], `round ${round}: nothing missing`)
      t.same(received.filter((id) => !wanted.has(id)), [], `round ${round}: nothing it is not entitled to, nothing from before lastEventId`)
      t.same(received, expected, `round ${round}: exactly the ${expected.length} entitled events after lastEventId, in order`)
      t.ok(back.events().every((e) => e.channel === 'wallet' && e.subject === 'u-1'), `round ${round}: its own wallet events only`)
      t.equal(back.closed, null, `round ${round}: the connection stays open`)
      lastSeen = received.at(-1)!
      await back.close()
    }
  })

  t.test(`${setup.name}: {"type":"resume"} replays every current subscription; errors for no subscription and a bad id`, async (t) => {
    const gw = await gateway(t, await setup.overrides(t))
    const publish = publisher(t, gw)
    const client = await connect(t, gw)
    await client.subscribe('wallet')
    await client.subscribe('claim')
    const w1 = await publish(wallet(1))
    const c1 = await publish(claim(1))
    const w2 = await publish(wallet(2))
    const c2 = await publish(claim(2))
    await publish(wallet(3, 'u-2'))
    await client.eventWithId(c2)
    t.same(client.events().map((e) => e.id), [w1, c1, w2, c2], 'live, both channels')

    const from = client.messages.length
    client.send({ type: 'resume', lastEventId: w1 })
    await client.waitFor(() => client.events('wallet', from).length >= 1 && client.events('claim', from).length >= 2, 'the replay of both channels')
    const w3 = await publish(wallet(3))
    const c3 = await publish(claim(3))
    await client.eventWithId(w3)
    await client.eventWithId(c3)
    t.same(client.events('wallet', from).map((e) => e.id), [w2, w3], 'wallet: replayed after w1, then live, once each')
    t.same(client.events('claim', from).map((e) => e.id), [c1, c2, c3], 'claim: replayed after w1, then live, once each')
    t.equal(client.messages.slice(from).filter((m) => m.type === 'error').length, 0, 'no error')

    // a malformed id: refused, nothing replayed
    const before = client.messages.length
    client.send({ type: 'resume', lastEventId: 'yesterday' })
    t.match(await client.message({ type: 'error' }, before), { type: 'error', code: 'invalid_event_id' })
    for (const bad of [42, '1-2-3', null]) {
      const at = client.messages.length
      client.send({ type: 'resume', lastEventId: bad })
      t.match(await client.message({ type: 'error' }, at), { code: 'invalid_event_id' }, `resume with ${JSON.stringify(bad)}`)
    }
    client.send({ type: 'ping' })
    await client.message({ type: 'pong' }, before)
    t.same(client.events(undefined, before), [], 'no event replayed for a bad id')
    t.equal(client.closed, null, 'four bad messages (fewer than MAX_PROTOCOL_ERRORS): still open')

    // a subscribe with a malformed lastEventId: refused
    const other = await connect(t, gw)
    t.match(await other.subscribe('wallet', { lastEventId: 'abc-def' }), { type: 'error', code: 'invalid_event_id' })

    // resume before subscribing to anything
    const fresh = await connect(t, gw)
    fresh.send({ type: 'resume', lastEventId: w1 })
    t.match(await fresh.message({ type: 'error' }), { type: 'error', code: 'not_subscribed' })
    t.same(fresh.events(), [], 'nothing sent')
  })
}

for (const setup of [memory, sharedRedis]) {
  t.test(`${setup.name}: a replay larger than the send-buffer bound is paced to a client that reads, not closed with 1013`, async (t) => {
    // 400 events of ~60 KB (POST /admin/events allows 64 KiB of data): ~24 MB to replay,
    // far over the default bound of 1 MiB of unsent data (and over what the loopback's
    // socket buffers absorb); the client reads as fast as it can
    const gw = await gateway(t, await setup.overrides(t))
    const publish = publisher(t, gw)
    const first = await connect(t, gw)
    await first.subscribe('wallet')
    const lastSeen = await publish(wallet(0))
    await first.eventWithId(lastSeen)
    await first.close()
    const pad = 'x'.repeat(60_000)
    const missed = (await pooled(Array.from({ length: 400 }, (_, i) => ({ ...wallet(i + 1), data: { n: i + 1, pad } })), 8, publish)).sort(byId)

    const back = await connect(t, gw)
    back.send({ type: 'subscribe', channel: 'wallet', lastEventId: lastSeen })
    let error: unknown
    try {
      await back.waitFor(() => back.events().some((e) => e.id === missed.at(-1)), 'the last missed event', 30_000)
    } catch (err) {
      error = err
    }
    t.equal(error, undefined, 'the whole replay arrives')
    t.same(back.closed, null, 'not closed as a slow consumer: it reads everything it is sent')
    t.same(back.events().map((e) => e.id), missed, `all ${missed.length} missed events, in order (got ${back.events().length})`)
    t.same(back.messages.filter((m) => m.type === 'error'), [], 'no replay_failed')
  })
}

t.test('redis restart: the tail recovers; events written after the restart reach a client whose connection stayed open', async (t) => {
  const server = await startRedisServer(t)
  const keyPrefix = uniquePrefix()
  const lines: Array<Record<string, unknown>> = []
  const gw = await gateway(t, { redis: { url: server.url, keyPrefix }, server: { adminToken: ADMIN_TOKEN, logLevel: 'warn' } }, {
    logStream: { write: (line: string) => lines.push(JSON.parse(line)) }
  })
  const publish = publisher(t, gw)
  const client = await connect(t, gw)
  await client.subscribe('wallet')
  const before = await publish(wallet(1))
  await client.eventWithId(before)

  await server.kill()
  await until(() => lines.some((l) => l.msg === 'event stream unreadable: retrying; subscribers get no live events until it is back'), 10_000, 'the tail to notice')
  await server.restart()

  // a backend writes to the stream directly, once its client is connected again
  const backend = new Redis(server.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => backend.disconnect())
  const after: string[] = []
  for (let n = 2; n <= 4; n++) {
    after.push((await backend.xadd(`${keyPrefix}events`, 'MAXLEN', '~', '100000', '*', 'channel', 'wallet', 'event', 'wallet.updated', 'subject', 'u-1', 'data', JSON.stringify({ n })))!)
  }
  await client.eventWithId(after.at(-1)!, 10_000)
  t.same(client.events().map((e) => e.id), [before, ...after], 'the events after the restart, in order, once each')
  t.same(client.events().map((e) => e.data.n), [1, 2, 3, 4])
  t.equal(client.closed, null, 'the client connection stayed open throughout')
  t.equal(client.ws.readyState, WebSocket.OPEN)
  t.equal(lines.filter((l) => l.msg === 'event stream unreadable: retrying; subscribers get no live events until it is back').length, 1, 'the tail warned once')

  // and POST /admin/events works again too
  let id: string | undefined
  await until(async () => { try { id = await publish(wallet(5)); return true } catch { return false } }, 6000, 'publishing after the restart')
  await client.eventWithId(id!)
  t.equal(client.events().length, 5)
})

t.test('two gateway instances on one Redis: clients on each get the same events with the same ids', async (t) => {
  const keyPrefix = uniquePrefix()
  t.teardown(async () => {
    const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
    await client.del(`${keyPrefix}events`)
    await client.quit()
  })
  const redis = { url: SHARED_REDIS, keyPrefix }
  const a = await gateway(t, { redis })
  const b = await gateway(t, { redis })
  const onA = await connect(t, a)
  const onB = await connect(t, b)
  const supportOnB = await connect(t, b, { sub: 'agent-7', roles: ['support'] })
  await onA.subscribe('wallet')
  await onB.subscribe('wallet')
  await supportOnB.subscribe('wallet')

  const publishA = publisher(t, a)
  const publishB = publisher(t, b)
  const ids = [
    await publishA(wallet(1)),
    await publishB(wallet(2)),
    await publishA(wallet(3, 'u-2')),
    await publishB(claim(4)),
    await publishA(wallet(5))
  ]
  await onA.eventWithId(ids[4]!)
  await onB.eventWithId(ids[4]!)
  await supportOnB.eventWithId(ids[4]!)
  const mine = [ids[0], ids[1], ids[4]]
  t.same(onA.events().map((e) => e.id), mine, 'instance A: the ids POST /admin/events returned, in order')
  t.same(onB.events().map((e) => e.id), mine, 'instance B: the same ids')
  t.same(onA.events(), onB.events(), 'the same events, field for field')
  t.same(supportOnB.events().map((e) => e.id), [ids[0], ids[1], ids[2], ids[4]], 'support sees every subject of the channel')

  // and a client that moves from A to B resumes there with the id it got on A
  const lastOnA = onA.events()[1]!.id
  await onA.close()
  const moved = await connect(t, b)
  await moved.subscribe('wallet', { lastEventId: lastOnA })
  await moved.eventWithId(ids[4]!)
  t.same(moved.events().map((e) => e.id), [ids[4]], 'resumed on the other instance: what followed, once')
})
