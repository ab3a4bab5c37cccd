// GET /ws end to end (SPEC.md §5): real `ws` clients against a real gateway on port 0.
// Auth at the upgrade (refusals are HTTP 401 problem+json, never open-then-close),
// per-subject and per-role entitlement, filters, unsubscribe, the protocol's errors,
// the event message, and delivery through Redis across two gateway instances.
//
// Nothing here sleeps: messages are awaited with a predicate. That an event was NOT
// delivered is shown by a later marker event that was: events arrive in stream order.
import t, { type Test } from 'tap'
import http from 'node:http'
import { createHash } from 'node:crypto'
import { WebSocket, type RawData } from 'ws'
import { Redis } from 'ioredis'
import { startGateway, servicesFor, call, signToken, TEST_SECRET, uniquePrefix, type StartedGateway } from '../helpers.js'
import { MAX_PROTOCOL_ERRORS } from '../../plugins/websocket/hub.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'
const ADMIN_TOKEN = 'test-admin-token-0123456789'
const PROBLEM = /^application\/problem\+json/
const WAIT_MS = 5000
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

// config-file consumers: only the keys' digests go into the config
const ALICE_KEY = 'alice-ws-key-0123456789abcdef'
const CONSUMERS = [{ id: 'alice', tier: 'authenticated', roles: [], apiKeys: [sha256(ALICE_KEY)] }]

type Message = { type: string, [field: string]: any }

/** A connected client that keeps every message it gets, in order. */
class Client {
  readonly messages: Message[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  isClosed = false
  private cursor = 0
  private readonly waiters = new Set<() => void>()

  constructor (readonly ws: WebSocket, readonly name: string) {
    // a reset connection while tearing down is expected; failures show up as timeouts
    ws.on('error', () => {})
    ws.on('message', (data: RawData) => {
      this.messages.push(JSON.parse(String(data)) as Message)
      this.wake()
    })
    this.closed = new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => {
      this.isClosed = true
      this.wake()
      resolve({ code, reason: String(reason) })
    }))
  }

  send (message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message))
  }

  /** The next message, after those already taken, that matches; the ones skipped stay skipped. */
  next (predicate: (m: Message) => boolean, what: string, ms = WAIT_MS): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = this.cursor; i < this.messages.length; i++) {
          if (predicate(this.messages[i]!)) {
            this.cursor = i + 1
            done()
            resolve(this.messages[i]!)
            return
          }
        }
        if (this.isClosed) fail('the connection closed')
      }
      const fail = (why: string) => {
        done()
        reject(new Error(`${this.name}: ${why} while waiting for ${what}; got ${JSON.stringify(this.messages.slice(this.cursor))}`))
      }
      const timer = setTimeout(() => fail(`timed out after ${ms} ms`), ms)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** The next message of this type. */
  nextOf (type: string, what = type): Promise<Message> {
    return this.next((m) => m.type === type, what)
  }

  /** The event with this id (skipping any other message before it). */
  event (id: string): Promise<Message> {
    return this.next((m) => m.type === 'event' && m.id === id, `event ${id}`)
  }

  /** Every event received so far, in order. */
  events (): Message[] {
    return this.messages.filter((m) => m.type === 'event')
  }

  async subscribe (channel: string, extra: Record<string, unknown> = {}): Promise<Message> {
    this.send({ type: 'subscribe', channel, ...extra })
    return this.next((m) => (m.type === 'subscribed' && m.channel === channel) || m.type === 'error', `the answer to subscribe ${channel}`)
  }

  /** ping → pong: the connection is open and served */
  async ping (): Promise<Message> {
    this.send({ type: 'ping' })
    return this.nextOf('pong')
  }

  private wake (): void {
    for (const check of [...this.waiters]) check()
  }
}

async function within<T> (promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const wsUrl = (gw: StartedGateway, query = '') => `${gw.url.replace(/^http/, 'ws')}/ws${query}`

/** Opens a client (closed at teardown); rejects when the upgrade is refused. */
async function connect (t: Test, gw: StartedGateway, opts: { headers?: Record<string, string>, query?: string, name?: string } = {}): Promise<Client> {
  const ws = new WebSocket(wsUrl(gw, opts.query), { headers: opts.headers })
  const client = new Client(ws, opts.name ?? 'client')
  t.teardown(() => { if (ws.readyState !== ws.CLOSED) ws.terminate() })
  await within(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  }), `${client.name} to connect`)
  return client
}

/** A client authenticated by a JWT for this subject and roles. */
const connectAs = (t: Test, gw: StartedGateway, sub: string, roles: string[] = []) =>
  connect(t, gw, { headers: { authorization: `Bearer ${signToken({ sub, roles })}` }, name: sub })

interface Refusal { status: number, headers: http.IncomingHttpHeaders, body: string }

/** An upgrade that must be refused with a plain HTTP answer, without ever opening. */
async function refusedUpgrade (t: Test, gw: StartedGateway, opts: { headers?: Record<string, string>, query?: string } = {}): Promise<Refusal> {
  const ws = new WebSocket(wsUrl(gw, opts.query), { headers: opts.headers })
  // the aborted handshake also emits an error: expected here
  ws.on('error', () => {})
  t.teardown(() => { if (ws.readyState !== ws.CLOSED) ws.terminate() })
  return within(new Promise<Refusal>((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted: the socket opened')))
    ws.once('unexpected-response', (_req: http.ClientRequest, res: http.IncomingMessage) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => {
        ws.terminate()
        resolve({ status: res.statusCode!, headers: res.headers, body })
      })
    })
  }), 'the refused upgrade')
}

const gateway = (t: Test, overrides: Record<string, unknown> = {}) =>
  startGateway(t, {
    services: servicesFor('http://127.0.0.1:1'),
    server: { adminToken: ADMIN_TOKEN },
    jwt: { secret: TEST_SECRET },
    consumers: CONSUMERS,
    ...overrides
  })

/** POST /admin/events; resolves to the entry id. */
async function publish (gw: StartedGateway, channel: string, event: string, subject: string, data?: unknown): Promise<string> {
  const res = await call(`${gw.adminUrl}/admin/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, event, subject, ...(data === undefined ? {} : { data }) })
  })
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${res.text}`)
  return res.json().id as string
}

const ids = (client: Client) => client.events().map((e) => e.id)
/** an event's ts: the time of its id, in ISO 8601 */
const tsOf = (id: string) => new Date(Number(id.split('-')[0])).toISOString()

/** a refused upgrade: 401 problem+json with its code and request id, and nothing internal */
function assertRefused (t: Test, res: Refusal, code: string, what: string) {
  t.equal(res.status, 401, `${what}: 401`)
  t.match(res.headers['content-type'], PROBLEM, `${what}: problem+json`)
  const body = JSON.parse(res.body)
  t.match(body, { status: 401, code, requestId: /.+/, title: /.+/, detail: /.+/ }, `${what}: ${code}`)
  t.equal(body.requestId, res.headers['x-request-id'], `${what}: the request id is echoed`)
  t.notOk('stack' in body, `${what}: no stack`)
  t.notOk(/at .+\.(ts|js):\d+/.test(res.body), `${what}: no stack frames in the body`)
  t.ok(res.headers['www-authenticate'], `${what}: a challenge`)
}

t.test('auth refused at the upgrade: HTTP 401 problem+json each way, never an open socket', async (t) => {
  const gw = await gateway(t)
  assertRefused(t, await refusedUpgrade(t, gw), 'GW_AUTH_MISSING_CREDENTIALS', 'no credentials')

  const forged = signToken({ sub: 'u-1', roles: ['admin'] }, { key: 'another-secret-of-at-least-32-characters' })
  const badHeader = await refusedUpgrade(t, gw, { headers: { authorization: `Bearer ${forged}` } })
  assertRefused(t, badHeader, 'GW_AUTH_INVALID_TOKEN', 'a JWT with a bad signature in Authorization')
  t.notOk(badHeader.body.includes(forged.split('.')[2]!), 'the token is not echoed')
  const expired = signToken({ sub: 'u-1', exp: Math.floor(Date.now() / 1000) - 3600 })
  assertRefused(t, await refusedUpgrade(t, gw, { headers: { authorization: `Bearer ${expired}` } }), 'GW_AUTH_INVALID_TOKEN', 'an expired JWT in Authorization')

  assertRefused(t, await refusedUpgrade(t, gw, { query: `?token=${forged}` }), 'GW_AUTH_INVALID_TOKEN', 'a bad JWT as ?token=')
  const badKeyQuery = await refusedUpgrade(t, gw, { query: '?token=not-a-known-key-0123456789' })
  assertRefused(t, badKeyQuery, 'GW_AUTH_INVALID_API_KEY', 'an unknown API key as ?token=')
  t.notOk(badKeyQuery.body.includes('not-a-known-key-0123456789'), 'the key is not echoed')

  const badKey = await refusedUpgrade(t, gw, { headers: { 'x-api-key': 'wrong-key-0123456789abcdef' } })
  assertRefused(t, badKey, 'GW_AUTH_INVALID_API_KEY', 'an unknown X-API-Key')
  t.notOk(badKey.body.includes('wrong-key-0123456789abcdef'), 'the key is not echoed')

  t.equal(gw.hub.size, 0, 'no socket was ever attached')
})

t.test('a plain HTTP GET /ws with valid credentials: 426 problem+json', async (t) => {
  const gw = await gateway(t)
  const res = await call(`${gw.url}/ws`, { headers: { authorization: `Bearer ${signToken({ sub: 'u-1' })}` } })
  t.equal(res.status, 426)
  t.match(res.headers['content-type'], PROBLEM)
  const body = res.json()
  t.match(body, { status: 426, code: 'GW_WS_UPGRADE_REQUIRED', requestId: /.+/ })
  t.notOk('stack' in body)
  const viaKey = await call(`${gw.url}/ws?token=${ALICE_KEY}`)
  t.equal(viaKey.status, 426, 'with ?token= too')
  t.match(viaKey.json(), { code: 'GW_WS_UPGRADE_REQUIRED' })
})

t.test('auth accepted each way: Bearer header, ?token=<JWT>, X-API-Key, ?token=<API key>', async (t) => {
  const gw = await gateway(t)
  const ways: Array<[string, { headers?: Record<string, string>, query?: string }, string]> = [
    ['Authorization: Bearer <JWT>', { headers: { authorization: `Bearer ${signToken({ sub: 'u-header' })}` } }, 'u-header'],
    ['?token=<JWT>', { query: `?token=${signToken({ sub: 'u-query' })}` }, 'u-query'],
    ['X-API-Key', { headers: { 'x-api-key': ALICE_KEY } }, 'alice'],
    ['?token=<API key>', { query: `?token=${encodeURIComponent(ALICE_KEY)}` }, 'alice']
  ]
  for (const [way, opts, subject] of ways) {
    const client = await connect(t, gw, { ...opts, name: way })
    t.same(await client.subscribe('wallet'), { type: 'subscribed', channel: 'wallet' }, `${way}: subscribed`)
    // the consumer is who the credentials say: it gets the events about itself
    const id = await publish(gw, 'wallet', 'wallet.updated', subject, { way })
    t.match(await client.event(id), { subject, data: { way } }, `${way}: consumer ${subject} gets its event`)
  }
})

t.test('subjects: a consumer gets only its own; admin and support get every subject', async (t) => {
  const gw = await gateway(t)
  const u1 = await connectAs(t, gw, 'u-1')
  const u2 = await connectAs(t, gw, 'u-2', ['wallet:read'])
  const adminClient = await connectAs(t, gw, 'ops-admin', ['admin'])
  const supportClient = await connect(t, gw, { query: `?token=${signToken({ sub: 'agent-7', roles: ['support'] })}`, name: 'support' })
  for (const c of [u1, u2, adminClient, supportClient]) t.match(await c.subscribe('wallet'), { type: 'subscribed' }, `${c.name} subscribed`)

  const a = await publish(gw, 'wallet', 'wallet.updated', 'u-2')
  const b = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const c = await publish(gw, 'wallet', 'wallet.updated', 'u-3')
  const d = await publish(gw, 'payment', 'payment.settled', 'u-1')
  const e = await publish(gw, 'wallet', 'wallet.credited', 'u-1')
  const f = await publish(gw, 'wallet', 'wallet.credited', 'u-2')

  await u1.event(e)
  t.same(ids(u1), [b, e], 'u-1: only the wallet events about u-1')
  await u2.event(f)
  t.same(ids(u2), [a, f], 'u-2: only the wallet events about u-2')
  await adminClient.event(f)
  t.same(ids(adminClient), [a, b, c, e, f], `admin: every wallet event, in order (not payment ${d}: not subscribed)`)
  await supportClient.event(f)
  t.same(ids(supportClient), [a, b, c, e, f], 'support: every wallet event, in order')
})

t.test('analytics: forbidden to a plain consumer (which stays connected); analyst and admin get every subject', async (t) => {
  const gw = await gateway(t)
  const plain = await connectAs(t, gw, 'u-1')
  const analyst = await connectAs(t, gw, 'an-1', ['analyst'])
  const adminClient = await connectAs(t, gw, 'ops-admin', ['admin'])
  const support = await connectAs(t, gw, 'agent-7', ['support'])

  const refused = await plain.subscribe('analytics')
  t.match(refused, { type: 'error', code: 'forbidden', channel: 'analytics', message: /analyst or admin/ })
  t.match(await support.subscribe('analytics'), { type: 'error', code: 'forbidden', channel: 'analytics' }, 'support is not enough for analytics')
  await plain.ping()
  t.equal(plain.ws.readyState, plain.ws.OPEN, 'still open after the refusal')
  t.match(await plain.subscribe('wallet'), { type: 'subscribed', channel: 'wallet' }, 'and may subscribe elsewhere')
  t.match(await analyst.subscribe('analytics'), { type: 'subscribed', channel: 'analytics' })
  t.match(await analyst.subscribe('wallet'), { type: 'subscribed', channel: 'wallet' })
  t.match(await adminClient.subscribe('analytics'), { type: 'subscribed', channel: 'analytics' })

  const report = await publish(gw, 'analytics', 'report.ready', 'u-1', { rows: 3 })
  const other = await publish(gw, 'analytics', 'report.ready', 'u-9', { rows: 4 })
  const walletOther = await publish(gw, 'wallet', 'wallet.updated', 'u-9')
  const marker = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const analystMarker = await publish(gw, 'wallet', 'wallet.updated', 'an-1')

  await analyst.event(analystMarker)
  t.same(ids(analyst), [report, other, analystMarker], 'analyst: every analytics subject, but on wallet only its own')
  await adminClient.event(other)
  t.same(ids(adminClient), [report, other], 'admin: every analytics subject')
  await plain.event(marker)
  t.same(ids(plain), [marker], 'the refused consumer got no analytics event, not even about itself')
  t.same(support.events(), [], 'support was never subscribed to anything')
  t.not(walletOther, marker)
})

t.test('filter: one event name, a list, a field of data; the ack echoes it as sent', async (t) => {
  const gw = await gateway(t)
  const one = await connectAs(t, gw, 'u-1')
  const list = await connectAs(t, gw, 'u-1')
  const bySubject = await connectAs(t, gw, 'ops-admin', ['admin'])
  const byWallet = await connectAs(t, gw, 'u-1')
  t.same(await one.subscribe('wallet', { filter: { event: 'wallet.updated' } }), { type: 'subscribed', channel: 'wallet', filter: { event: 'wallet.updated' } })
  t.same(await list.subscribe('wallet', { filter: { event: ['wallet.credited', 'wallet.debited'] } }), { type: 'subscribed', channel: 'wallet', filter: { event: ['wallet.credited', 'wallet.debited'] } })
  t.same(await bySubject.subscribe('wallet', { filter: { subject: ['u-2'], event: 'wallet.closed' } }), { type: 'subscribed', channel: 'wallet', filter: { subject: ['u-2'], event: 'wallet.closed' } })
  t.same(await byWallet.subscribe('wallet', { filter: { walletId: 'w-alice-1' } }), { type: 'subscribed', channel: 'wallet', filter: { walletId: 'w-alice-1' } })

  const updated = await publish(gw, 'wallet', 'wallet.updated', 'u-1', { walletId: 'w-alice-1' })
  const credited = await publish(gw, 'wallet', 'wallet.credited', 'u-1', { walletId: 'w-alice-2' })
  const debited = await publish(gw, 'wallet', 'wallet.debited', 'u-1', { walletId: 'w-alice-1' })
  const closed1 = await publish(gw, 'wallet', 'wallet.closed', 'u-1')
  const closed2 = await publish(gw, 'wallet', 'wallet.closed', 'u-2', { walletId: 'w-alice-1' })
  const updated2 = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const credited2 = await publish(gw, 'wallet', 'wallet.credited', 'u-1', { walletId: 'w-alice-1' })

  await one.event(updated2)
  t.same(ids(one), [updated, updated2], '{"event":"wallet.updated"}: only those')
  await list.event(credited2)
  t.same(ids(list), [credited, debited, credited2], '{"event":[credited, debited]}: only those')
  await bySubject.event(closed2)
  t.same(ids(bySubject), [closed2], 'admin narrowed to subject u-2 and wallet.closed')
  await byWallet.event(credited2)
  t.same(ids(byWallet), [updated, debited, credited2], '{"walletId":"w-alice-1"}: only those, and only u-1\'s (not the u-2 one)')
  t.not(closed1, closed2)

  t.match(await one.subscribe('payment', { filter: { $where: 'x' } }), { type: 'error', code: 'invalid_filter', channel: 'payment' }, 'a bad filter is an error')
  t.match(await one.subscribe('payment', { filter: 'payment.settled' }), { type: 'error', code: 'invalid_filter', channel: 'payment' }, 'a filter that is not an object too')
  await one.ping()
  // the refused subscribe changed nothing: still subscribed to wallet only
  const payment = await publish(gw, 'payment', 'payment.settled', 'u-1')
  const marker = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  await one.event(marker)
  t.same(ids(one), [updated, updated2, marker], `no payment event (${payment})`)

  // a second subscribe to a channel replaces the first filter
  t.same(await one.subscribe('wallet', { filter: { event: 'wallet.closed' } }), { type: 'subscribed', channel: 'wallet', filter: { event: 'wallet.closed' } })
  const updated3 = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const closed3 = await publish(gw, 'wallet', 'wallet.closed', 'u-1')
  await one.event(closed3)
  t.same(ids(one), [updated, updated2, marker, closed3], `the new filter applies (${updated3} not delivered)`)
})

t.test('a subscriber whose filter names "__proto__" does not stop delivery to the others', async (t) => {
  const gw = await gateway(t)
  // subscribed first: the hub reaches it before the others for each event
  const odd = await connectAs(t, gw, 'u-1')
  const oddAdmin = await connectAs(t, gw, 'ops-odd', ['admin'])
  const victim = await connectAs(t, gw, 'u-1')
  const victimAdmin = await connectAs(t, gw, 'ops-admin', ['admin'])
  for (const c of [odd, oddAdmin]) {
    c.send('{"type":"subscribe","channel":"wallet","filter":{"__proto__":[1]}}')
    const answer = await c.next((m) => m.type === 'subscribed' || m.type === 'error', 'the answer to the odd subscribe')
    t.ok(answer.type === 'subscribed' || answer.code === 'invalid_filter', `${c.name}: accepted or refused as invalid_filter, got ${JSON.stringify(answer)}`)
  }
  await victim.subscribe('wallet')
  await victimAdmin.subscribe('wallet')
  const first = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const second = await publish(gw, 'wallet', 'wallet.updated', 'u-2')
  await victim.event(first)
  await victimAdmin.event(second)
  t.same(ids(victim), [first])
  t.same(ids(victimAdmin), [first, second])
  await odd.ping()
  await oddAdmin.ping()
})

t.test('unsubscribe: no more events after unsubscribed; a channel not subscribed is not_subscribed', async (t) => {
  const gw = await gateway(t)
  const client = await connectAs(t, gw, 'u-1')
  await client.subscribe('wallet')
  await client.subscribe('payment')
  const before = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  await client.event(before)

  client.send({ type: 'unsubscribe', channel: 'wallet' })
  t.same(await client.nextOf('unsubscribed'), { type: 'unsubscribed', channel: 'wallet' })
  const after = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  const marker = await publish(gw, 'payment', 'payment.settled', 'u-1')
  await client.event(marker)
  t.same(ids(client), [before, marker], `no wallet event after unsubscribing (${after} not delivered)`)

  client.send({ type: 'unsubscribe', channel: 'wallet' })
  t.match(await client.nextOf('error'), { type: 'error', code: 'not_subscribed', channel: 'wallet' }, 'unsubscribing twice')
  client.send({ type: 'unsubscribe', channel: 'claim' })
  t.match(await client.nextOf('error'), { type: 'error', code: 'not_subscribed', channel: 'claim' }, 'never subscribed')
  await client.ping()

  // subscribing again works
  await client.subscribe('wallet')
  const again = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  await client.event(again)
  t.same(ids(client), [before, marker, again])
})

t.test('ping, bad messages, and the close after too many of them; other clients are unaffected', async (t) => {
  t.equal(MAX_PROTOCOL_ERRORS, 5, 'the 5th bad message closes the connection')
  const gw = await gateway(t, { websocket: { maxMessageBytes: 256 } })
  const bystander = await connectAs(t, gw, 'u-2')
  await bystander.subscribe('wallet')
  const client = await connectAs(t, gw, 'u-1')
  t.same(await client.ping(), { type: 'pong' }, 'ping → pong')

  const oversized = JSON.stringify({ type: 'ping', pad: 'x'.repeat(1000 - JSON.stringify({ type: 'ping', pad: '' }).length) })
  const bad: Array<[string, string | Buffer, string]> = [
    ['malformed JSON', '{"type":"subscribe",', 'invalid_message'],
    ['an unknown type', '{"type":"dance"}', 'unknown_type'],
    ['an oversized message (1000 bytes > 256)', oversized, 'message_too_large'],
    ['an unknown channel', '{"type":"subscribe","channel":"loyalty"}', 'unknown_channel'],
    ['a binary frame', Buffer.from('{"type":"ping"}'), 'invalid_message']
  ]
  t.equal(Buffer.byteLength(bad[2]![1]), 1000)
  t.equal(bad.length, MAX_PROTOCOL_ERRORS)
  for (const [i, [what, message, code]] of bad.entries()) {
    client.ws.send(message, { binary: Buffer.isBuffer(message) })
    const error = await client.nextOf('error', `the error for ${what}`)
    t.match(error, { type: 'error', code, message: /.+/ }, `${what}: error ${code}`)
    if (i < MAX_PROTOCOL_ERRORS - 1) {
      await client.ping()
      t.equal(client.ws.readyState, client.ws.OPEN, `${what}: still open`)
    }
  }
  const { code } = await within(client.closed, 'the 1008 close')
  t.equal(code, 1008, `closed with 1008 after ${MAX_PROTOCOL_ERRORS} bad messages`)

  // the gateway keeps serving: the client connected before, and a new one
  await bystander.ping()
  const fresh = await connectAs(t, gw, 'u-3')
  await fresh.ping()
  await fresh.subscribe('wallet')
  const id2 = await publish(gw, 'wallet', 'wallet.updated', 'u-2')
  const id3 = await publish(gw, 'wallet', 'wallet.updated', 'u-3')
  await bystander.event(id2)
  await fresh.event(id3)
  t.same(ids(bystander), [id2])
  t.same(ids(fresh), [id3])
  t.same((await call(`${gw.url}/health`)).status, 200, 'HTTP is served too')
})

t.test('the event message: type, id (as POST /admin/events returned), channel, event, subject, data, ts', async (t) => {
  const gw = await gateway(t)
  const client = await connectAs(t, gw, 'u-42')
  await client.subscribe('claim')
  const data = { claimId: 'c-1', amount: 125.5, lines: [{ code: 'A1', qty: 2 }], approved: true, note: null }
  const before = Date.now()
  const id = await publish(gw, 'claim', 'claim.approved', 'u-42', data)
  const message = await client.event(id)
  t.same(Object.keys(message).sort(), ['channel', 'data', 'event', 'id', 'subject', 'ts', 'type'], 'exactly these fields')
  t.same(message, { type: 'event', id, channel: 'claim', event: 'claim.approved', subject: 'u-42', data, ts: tsOf(id) })
  t.match(id, /^\d+-\d+$/)
  t.match(message.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ts is ISO 8601')
  const ms = Date.parse(message.ts)
  t.ok(ms >= before - 1000 && ms <= Date.now() + 1000, 'ts is the publication time')

  const noData = await publish(gw, 'claim', 'claim.submitted', 'u-42')
  t.same((await client.event(noData)).data, {}, 'data defaults to {}')
  const nullData = await publish(gw, 'claim', 'claim.submitted', 'u-42', null)
  t.same((await client.event(nullData)).data, null, 'null data stays null')
})

t.test('with Redis: the same subject delivery', async (t) => {
  const keyPrefix = uniquePrefix()
  const redis = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    await redis.del(`${keyPrefix}events`)
    await redis.quit()
  })
  const gw = await gateway(t, { redis: { url: SHARED_REDIS, keyPrefix } })
  const u1 = await connectAs(t, gw, 'u-1')
  const u2 = await connectAs(t, gw, 'u-2')
  const adminClient = await connectAs(t, gw, 'ops-admin', ['admin'])
  for (const c of [u1, u2, adminClient]) await c.subscribe('wallet')

  const a = await publish(gw, 'wallet', 'wallet.updated', 'u-2', { n: 1 })
  const b = await publish(gw, 'wallet', 'wallet.updated', 'u-1', { n: 2 })
  const c = await publish(gw, 'wallet', 'wallet.updated', 'u-2', { n: 3 })
  t.match(await u1.event(b), { type: 'event', id: b, channel: 'wallet', subject: 'u-1', data: { n: 2 } })
  await u2.event(c)
  await adminClient.event(c)
  t.same(ids(u2), [a, c], 'u-2: its own only')
  t.same(ids(adminClient), [a, b, c], 'admin: all')
  const marker = await publish(gw, 'wallet', 'wallet.updated', 'u-1')
  await u1.event(marker)
  t.same(ids(u1), [b, marker], 'u-1: its own only')
  t.same((await redis.xrange(`${keyPrefix}events`, '-', '+')).map(([id]) => id), [a, b, c, marker], 'the events are the stream entries')
})

t.test('two instances on one Redis: an event published on A, or XADDed by a backend, reaches subscribers on both with the same id', async (t) => {
  const keyPrefix = uniquePrefix()
  const key = `${keyPrefix}events`
  const redis = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    await redis.del(key)
    await redis.quit()
  })
  const a = await gateway(t, { redis: { url: SHARED_REDIS, keyPrefix } })
  const b = await gateway(t, { redis: { url: SHARED_REDIS, keyPrefix } })
  const onA = await connect(t, a, { headers: { authorization: `Bearer ${signToken({ sub: 'u-1' })}` }, name: 'u-1 on A' })
  const onB = await connect(t, b, { headers: { authorization: `Bearer ${signToken({ sub: 'u-1' })}` }, name: 'u-1 on B' })
  const otherOnB = await connect(t, b, { headers: { authorization: `Bearer ${signToken({ sub: 'u-2' })}` }, name: 'u-2 on B' })
  const adminOnB = await connect(t, b, { headers: { 'x-api-key': ALICE_KEY }, name: 'alice on B' })
  for (const c of [onA, onB, otherOnB]) await c.subscribe('wallet')
  await adminOnB.subscribe('payment')

  const published = await publish(a, 'wallet', 'wallet.updated', 'u-1', { balance: 10 })
  const fromA = await onA.event(published)
  const fromB = await onB.event(published)
  t.same(fromB, fromA, 'the same message on both instances')
  t.same(fromB, { type: 'event', id: published, channel: 'wallet', event: 'wallet.updated', subject: 'u-1', data: { balance: 10 }, ts: tsOf(published) })

  // a backend writes to the stream itself
  const xadded = await redis.xadd(key, '*', 'channel', 'wallet', 'event', 'wallet.debited', 'subject', 'u-1', 'data', JSON.stringify({ amount: 5 }))
  t.ok(xadded)
  const xa = await onA.event(xadded!)
  const xb = await onB.event(xadded!)
  t.same(xa, { type: 'event', id: xadded, channel: 'wallet', event: 'wallet.debited', subject: 'u-1', data: { amount: 5 }, ts: tsOf(xadded!) })
  t.same(xb, xa, 'the same on B')

  // published through B, seen on A; and subject rules hold on every instance
  const viaB = await publish(b, 'wallet', 'wallet.credited', 'u-1')
  const forU2 = await publish(a, 'wallet', 'wallet.credited', 'u-2')
  const forAlice = await publish(a, 'payment', 'payment.settled', 'alice')
  await onA.event(viaB)
  await onB.event(viaB)
  await otherOnB.event(forU2)
  await adminOnB.event(forAlice)
  t.same(ids(onA), [published, xadded, viaB], 'A: u-1 gets its events from every source, in stream order')
  t.same(ids(onB), [published, xadded, viaB], 'B: the same ids in the same order')
  t.same(ids(otherOnB), [forU2], 'u-2 on B: only its own')
  t.same(ids(adminOnB), [forAlice], 'the API-key consumer on B: its own payment event')
})
