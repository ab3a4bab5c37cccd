// The life of a /ws connection (SPEC.md §5), with real ws clients against a real
// gateway: heartbeat, the slow-consumer bound (1013), shutdown (1001), the WS_PORT
// listener, the connection and message metrics, and an abrupt disconnect.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { WebSocket, type ClientOptions } from 'ws'
import { buildGateway } from '../../src/gateway.js'
import { startGateway, testConfig, servicesFor, call, until, freePort, signToken, TEST_SECRET, refusedUpgrade, type StartedGateway } from '../helpers.js'
import { compareEventIds, parseEventId } from '../../plugins/websocket/event-log.js'
import { scrape } from '../metrics/scrape.js'

const ADMIN_TOKEN = 'test-admin-token-0123456789'
const PROBLEM = /^application\/problem\+json/
const SUBJECT = 'u-1'
const TOKEN = signToken({ sub: SUBJECT })

const base = (overrides: Record<string, unknown> = {}) => ({
  services: servicesFor('http://127.0.0.1:1'),
  server: { adminToken: ADMIN_TOKEN },
  jwt: { secret: TEST_SECRET },
  ...overrides
})

const gateway = (t: Test, overrides: Record<string, unknown> = {}): Promise<StartedGateway> => startGateway(t, base(overrides))

const wsBase = (httpUrl: string) => httpUrl.replace(/^http/, 'ws')

interface CloseInfo { code: number, reason: string }

interface Client {
  ws: WebSocket
  /** every message received, parsed (events without their data, to keep memory small) */
  messages: Array<Record<string, any>>
  /** the ids of the events received, in order */
  eventIds: string[]
  errors: Error[]
  /** set once 'close' came */
  closeInfo?: CloseInfo
  closed: Promise<CloseInfo>
}

/** Opens an authenticated client; it is terminated at teardown. */
async function connect (t: Test, url: string, opts: ClientOptions = {}, token = TOKEN): Promise<Client> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ...opts })
  t.teardown(() => ws.terminate())
  const client: Client = {
    ws,
    messages: [],
    eventIds: [],
    errors: [],
    closed: new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        client.closeInfo = { code, reason: reason.toString() }
        resolve(client.closeInfo)
      })
    })
  }
  ws.on('error', (err) => client.errors.push(err))
  ws.on('message', (raw) => {
    const message = JSON.parse(String(raw)) as Record<string, any>
    if (message.type === 'event') {
      client.eventIds.push(message.id)
      delete message.data
    }
    client.messages.push(message)
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return client
}

async function subscribe (client: Client, channel = 'wallet'): Promise<void> {
  client.ws.send(JSON.stringify({ type: 'subscribe', channel }))
  await until(() => client.messages.some((m) => m.type === 'subscribed' && m.channel === channel), 5000, `subscribed to ${channel}`)
}

/** POST /admin/events; resolves with the event id */
async function publish (gw: { adminUrl: string }, data: unknown = {}, channel = 'wallet'): Promise<string> {
  const res = await call(`${gw.adminUrl}/admin/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, event: 'wallet.updated', subject: SUBJECT, data })
  })
  if (res.status !== 202) throw new Error(`POST /admin/events answered ${res.status}: ${res.text}`)
  return res.json().id
}

const metric = async (gw: { adminUrl: string }, name: string): Promise<number | undefined> => (await scrape(gw.adminUrl)).value(name)
const CONNECTIONS = 'gateway_websocket_connections'
const SENT = 'gateway_websocket_messages_sent_total'
const SLOW_CLOSES = 'gateway_websocket_slow_consumer_closes_total'

const metricIs = (gw: { adminUrl: string }, name: string, value: number) =>
  until(async () => (await metric(gw, name)) === value, 5000, `${name} == ${value}`)

/** the client's TCP socket (not part of ws's typed API) */
const socketOf = (ws: WebSocket): net.Socket => (ws as unknown as { _socket: net.Socket })._socket

const inStreamOrder = (ids: readonly string[]) => ids.every((id, i) => i === 0 || compareEventIds(parseEventId(ids[i - 1]!)!, parseEventId(id)!) < 0)

t.test('heartbeat: a client that answers pings stays; one that does not is terminated', async (t) => {
  const gw = await gateway(t, { websocket: { heartbeatMs: 50 } })
  const url = `${wsBase(gw.url)}/ws`
  const answering = await connect(t, url)
  const silent = await connect(t, url, { autoPong: false })
  let pings = 0
  answering.ws.on('ping', () => { pings++ })
  let silentPings = 0
  silent.ws.on('ping', () => { silentPings++ })
  await subscribe(answering)
  await metricIs(gw, CONNECTIONS, 2)

  const { code } = await silent.closed
  t.equal(code, 1006, 'the silent client is cut (terminated: no close frame)')
  t.ok(silentPings >= 2, `it was pinged at least twice before being cut (${silentPings})`)
  t.equal(answering.ws.readyState, WebSocket.OPEN, 'the answering client is still open')

  await until(() => pings >= 10, 5000, '10 pings on the answering client')
  t.equal(answering.ws.readyState, WebSocket.OPEN, 'still open after 10 heartbeats')
  t.equal(answering.closeInfo, undefined, 'never closed')
  await metricIs(gw, CONNECTIONS, 1)
  t.equal(gw.hub.size, 1, 'the hub forgot the terminated client')

  // and it is still served
  const id = await publish(gw, { n: 1 })
  await until(() => answering.eventIds.includes(id), 5000, 'the event on the answering client')
  t.same(answering.errors, [])
})

t.test('slow consumer: closed with 1013 once its unsent data passes maxBufferBytes; others get every event', async (t) => {
  const gw = await gateway(t, { websocket: { maxBufferBytes: 65536 } })
  const url = `${wsBase(gw.url)}/ws`
  const normal = await connect(t, url)
  const slow = await connect(t, url)
  await subscribe(normal)
  await subscribe(slow)
  t.equal(await metric(gw, SLOW_CLOSES), 0)

  // the slow client stops reading: what the gateway sends piles up in the kernel, then in ws
  socketOf(slow.ws).pause()
  const blob = 'x'.repeat(16 * 1024)
  const published: string[] = []
  let n = 0
  const batch = async (size: number) => {
    const ids = await Promise.all(Array.from({ length: size }, () => publish(gw, { n: n++, blob })))
    published.push(...ids)
  }
  await batch(200)
  // the kernel's socket buffers may take several MB before the gateway's own buffer grows: publish until it trips
  await until(async () => {
    if ((await metric(gw, SLOW_CLOSES)) === 1) return true
    await batch(50)
    return false
  }, 60_000, `${SLOW_CLOSES} == 1`)
  t.ok(published.length >= 200, `${published.length} events published`)

  // the normal client got every event, in stream order
  await until(() => normal.eventIds.length >= published.length, 30_000, `all ${published.length} events on the normal client`)
  t.equal(normal.eventIds.length, published.length, 'no duplicates')
  t.same([...normal.eventIds].sort(), [...published].sort(), 'every event published')
  t.ok(inStreamOrder(normal.eventIds), 'in stream order')
  t.equal(normal.ws.readyState, WebSocket.OPEN)

  // the slow one reads again: it finds what was sent before the bound tripped, then the 1013 close frame
  // (until then it still counts as a connection: its close frame waits behind the unsent data, cut after a grace period)
  socketOf(slow.ws).resume()
  const { code, reason } = await slow.closed
  t.equal(code, 1013, `closed with 1013 (${reason})`)
  t.ok(slow.eventIds.length < published.length, `it got only a part of the events (${slow.eventIds.length})`)
  t.same(slow.eventIds, normal.eventIds.slice(0, slow.eventIds.length), 'a prefix of the stream: in order, without gaps')
  t.equal(await metric(gw, SLOW_CLOSES), 1, 'counted once')
  await metricIs(gw, CONNECTIONS, 1)
  t.equal(gw.hub.size, 1, 'the slow client is gone from the hub')

  // the normal client is still served
  const id = await publish(gw, { after: true })
  await until(() => normal.eventIds.includes(id), 5000, 'a later event on the normal client')
  t.same(normal.errors, [])
})

t.test('shutdown: subscribers get 1001, close() resolves, later upgrades are refused', async (t) => {
  const gw = await gateway(t)
  const url = `${wsBase(gw.url)}/ws`
  const a = await connect(t, url)
  const b = await connect(t, url)
  const idle = await connect(t, url)
  await subscribe(a)
  await subscribe(b, 'payment')
  await metricIs(gw, CONNECTIONS, 3)

  // an upgrade whose request has begun before the shutdown and ends during it
  const port = Number(new URL(gw.url).port)
  const raw = net.connect(port, '127.0.0.1')
  t.teardown(() => raw.destroy())
  await once(raw, 'connect')
  raw.on('error', () => {})
  let answer = ''
  raw.on('data', (chunk: Buffer) => { answer += chunk })
  const rawClosed = once(raw, 'close')
  raw.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  // a round trip through the same event loop: the partial request has been read by then
  await call(`${gw.url}/health`)

  const closing = gw.close()
  raw.write(`Authorization: Bearer ${TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`)

  const closes = await Promise.all([a.closed, b.closed, idle.closed])
  for (const [i, { code }] of closes.entries()) t.equal(code, 1001, `client ${i} got 1001 (going away)`)
  await closing
  t.pass('close() resolved')
  t.equal(gw.hub.size, 0)

  await rawClosed
  t.notMatch(answer, /^HTTP\/1\.1 101/, 'the upgrade during shutdown was not accepted')
  t.match(answer, /^HTTP\/1\.1 503 /, 'it was answered 503')
  t.match(answer, /content-type: application\/problem\+json/i)
  t.match(answer, /"code":"GW_SHUTTING_DOWN"/)

  // after shutdown nothing listens: the attempt fails cleanly
  const late = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.teardown(() => late.terminate())
  const [err] = await once(late, 'error') as [NodeJS.ErrnoException]
  t.equal(err.code, 'ECONNREFUSED', 'refused after shutdown')
  t.not(late.readyState, WebSocket.OPEN)
  t.same([...a.errors, ...b.errors, ...idle.errors], [], 'no client saw an error')
})

t.test('WS_PORT: /ws on a listener of its own (auth and events work), 404 for anything else there; /ws still on the main port', async (t) => {
  const wsPort = await freePort()
  const gw = await buildGateway(testConfig(base({ websocket: { port: wsPort } })))
  t.teardown(() => gw.close())
  const { publicUrl, adminUrl, wsUrl } = await gw.listen()
  t.equal(wsUrl, `ws://127.0.0.1:${wsPort}/ws`, 'listen() returns wsUrl')

  const onWsPort = await connect(t, wsUrl!)
  const onMain = await connect(t, `${wsBase(publicUrl)}/ws`)
  const byQuery = await connect(t, `${wsUrl!}?token=${TOKEN}`, { headers: {} })
  for (const c of [onWsPort, onMain, byQuery]) await subscribe(c)
  await metricIs({ adminUrl }, CONNECTIONS, 3)

  const id = await publish({ adminUrl }, { where: 'both' })
  for (const c of [onWsPort, onMain, byQuery]) await until(() => c.eventIds.includes(id), 5000, 'the event')
  t.pass('the event reached the clients on both ports')

  const unauthenticated = await refusedUpgrade(wsUrl!)
  t.equal(unauthenticated.status, 401, 'no credentials on the WS_PORT: 401')
  t.match(unauthenticated.headers['content-type'], PROBLEM)
  const badToken = await refusedUpgrade(wsUrl!, { headers: { authorization: `Bearer ${signToken({ sub: SUBJECT }, { key: 'another-secret-of-at-least-32-characters' })}` } })
  t.equal(badToken.status, 401, 'a bad token on the WS_PORT: 401')

  const plain = await call(`http://127.0.0.1:${wsPort}/v1/api/wallets/w1`)
  t.equal(plain.status, 404, 'another path on the WS_PORT: 404')
  t.match(plain.headers['content-type'], PROBLEM)
  t.match(plain.json(), { status: 404, code: 'GW_ROUTE_NOT_FOUND', instance: '/v1/api/wallets/w1' })
  const health = await call(`http://127.0.0.1:${wsPort}/health`)
  t.equal(health.status, 404, '/health is not served on the WS_PORT')

  const otherUpgrade = await refusedUpgrade(`ws://127.0.0.1:${wsPort}/v1/graphql`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(otherUpgrade.status, 404, 'an upgrade to another path on the WS_PORT: 404')
  t.match(otherUpgrade.headers['content-type'], PROBLEM)
  t.match(JSON.parse(otherUpgrade.body), { status: 404, code: 'GW_ROUTE_NOT_FOUND' })

  const plainWs = await call(`http://127.0.0.1:${wsPort}/ws`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(plainWs.status, 426, 'a plain GET /ws on the WS_PORT: 426 Upgrade Required')
  t.match(plainWs.headers['content-type'], PROBLEM)

  // the WS_PORT listener goes with the gateway: its client gets 1001 too
  await gw.close()
  t.equal((await onWsPort.closed).code, 1001)
  t.equal((await onMain.closed).code, 1001)
})

t.test('metrics: gateway_websocket_connections follows the open clients; messages_sent_total counts what is sent', async (t) => {
  const gw = await gateway(t)
  const url = `${wsBase(gw.url)}/ws`
  t.equal(await metric(gw, CONNECTIONS), 0)
  const clients: Client[] = []
  for (let i = 1; i <= 3; i++) {
    clients.push(await connect(t, url))
    await metricIs(gw, CONNECTIONS, i)
    t.pass(`${i} open: gauge ${i}`)
  }
  const [a, b, bystander] = clients as [Client, Client, Client]
  await subscribe(a)
  await subscribe(b)
  const before = (await metric(gw, SENT)) ?? 0
  t.ok(before >= 2, 'the two acks were counted')

  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push(await publish(gw, { i }))
  await until(() => a.eventIds.length === 5 && b.eventIds.length === 5, 5000, '5 events on each subscriber')
  await until(async () => (await metric(gw, SENT)) === before + 10, 5000, `${SENT} == ${before + 10}`)
  t.pass('5 events × 2 subscribers: +10')
  t.same(a.eventIds, ids)
  t.same(b.eventIds, ids)
  t.same(bystander.eventIds, [], 'the client without a subscription got nothing')

  // an event nobody may see (another subject, no privileged role) sends nothing
  const other = await call(`${gw.adminUrl}/admin/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'wallet', event: 'wallet.updated', subject: 'u-2' })
  })
  t.equal(other.status, 202)
  const marker = await publish(gw, { marker: true })
  await until(() => a.eventIds.includes(marker) && b.eventIds.includes(marker), 5000, 'the marker event')
  t.equal(await metric(gw, SENT), before + 12, 'only the marker was sent (twice)')

  a.ws.close()
  await a.closed
  await metricIs(gw, CONNECTIONS, 2)
  b.ws.terminate()
  await b.closed
  await metricIs(gw, CONNECTIONS, 1)
  bystander.ws.close()
  await bystander.closed
  await metricIs(gw, CONNECTIONS, 0)
  t.equal(gw.hub.size, 0)
})

t.test('a client disconnecting abruptly mid-stream does not disturb the others', async (t) => {
  const gw = await gateway(t)
  const url = `${wsBase(gw.url)}/ws`
  const a = await connect(t, url)
  const b = await connect(t, url)
  const victim = await connect(t, url)
  for (const c of [a, b, victim]) await subscribe(c)
  await metricIs(gw, CONNECTIONS, 3)

  const total = 200
  const published: string[] = []
  const publishing = (async () => {
    for (let i = 0; i < total; i++) published.push(await publish(gw, { i, pad: 'y'.repeat(1024) }))
  })()
  await until(() => victim.eventIds.length >= 20, 10_000, 'the victim in the middle of the stream')
  victim.ws.terminate()
  const { code } = await victim.closed
  t.equal(code, 1006)
  await publishing
  t.ok(published.length === total)

  await until(() => a.eventIds.length >= total && b.eventIds.length >= total, 10_000, `all ${total} events on the others`)
  t.same(a.eventIds, published, 'a: every event, in order, once')
  t.same(b.eventIds, published, 'b: every event, in order, once')
  t.ok(victim.eventIds.length < total, `the victim stopped at ${victim.eventIds.length}`)
  await metricIs(gw, CONNECTIONS, 2)
  t.equal(gw.hub.size, 2)
  t.equal(a.ws.readyState, WebSocket.OPEN)
  t.equal(b.ws.readyState, WebSocket.OPEN)
  t.same([...a.errors, ...b.errors], [])

  // and the gateway takes new subscribers
  const late = await connect(t, url)
  await subscribe(late)
  const id = await publish(gw, { late: true })
  await until(() => late.eventIds.includes(id) && a.eventIds.includes(id), 5000, 'an event after the disconnect')
  t.pass('still serving')
})
