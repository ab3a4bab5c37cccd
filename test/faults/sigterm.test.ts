// Fault injection (issue 11): SIGTERM to the built gateway (`node dist/src/server.js`,
// what the container runs) while it carries HTTP requests to a slow upstream and /ws
// subscribers. Every request in flight completes, every subscriber gets a 1001 close,
// whatever arrives during the drain is refused or answered 503, and the process exits
// 0 within its drain bound, even when a WebSocket client never answers the close frame.
// (test/gateway/graceful-shutdown.test.ts covers plain HTTP requests through src/server.ts.)
//
// `npm test` builds first; alone: `npm run build && npx tap test/faults/sigterm.test.ts`.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import net from 'node:net'
import type http from 'node:http'
import { WebSocket } from 'ws'
import { startUpstream, call, freePort, until, signToken, bearer, TEST_SECRET, type Upstream } from '../helpers.js'

const SERVER = fileURLToPath(new URL('../../dist/src/server.js', import.meta.url))
const ADMIN_TOKEN = 'fault-suite-admin-token-0123456789'
const SUBJECT = 'u-fault'
const TOKEN = signToken({ sub: SUBJECT })
const auth = bearer(TOKEN)
/** plugins/websocket/hub.ts CLOSE_GRACE_MS: how long a client may take to answer a close frame */
const CLOSE_GRACE_MS = 5000

interface Gateway {
  child: ChildProcess
  url: string
  wsUrl: string
  adminUrl: string
  /** stdout and stderr so far */
  output: () => string
  /** resolves with [code, signal] */
  exited: Promise<[number | null, NodeJS.Signals | null]>
}

/** Starts dist/src/server.js with only the environment given (plus PATH), and waits until it answers. */
async function startServer (t: Test, env: Record<string, string>): Promise<Gateway> {
  const port = await freePort()
  const adminPort = await freePort()
  const child = spawn(process.execPath, [SERVER], {
    // not process.env: no REDIS_URL, GATEWAY_CONFIG or test-runner options may leak in
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      JWT_SECRET: TEST_SECRET,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  // LOG_LEVEL=warn hides the "listening" line: poll /health instead
  await until(async () => {
    if (child.exitCode !== null) return true
    try { return (await call(`${url}/health`)).status === 200 } catch { return false }
  }, 30_000, 'the gateway to answer /health')
  if (child.exitCode !== null) throw new Error(`the gateway exited at start-up (${child.exitCode}): ${output}`)
  return { child, url, wsUrl: `ws://127.0.0.1:${port}/ws`, adminUrl: `http://127.0.0.1:${adminPort}`, output: () => output, exited }
}

interface Subscriber {
  ws: WebSocket
  events: string[]
  /** code and reason of the close, and when it came */
  closed: Promise<{ code: number, reason: string, at: number }>
}

async function subscriber (t: Test, wsUrl: string): Promise<Subscriber> {
  const ws = new WebSocket(wsUrl, { headers: auth })
  t.teardown(() => ws.terminate())
  const events: string[] = []
  const messages: Array<Record<string, unknown>> = []
  const closed = new Promise<{ code: number, reason: string, at: number }>((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString(), at: Date.now() }))
  })
  // a write to a socket the server already cut: expected in these tests
  ws.on('error', () => {})
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as Record<string, unknown>
    messages.push(m)
    if (m.type === 'event') events.push(String(m.id))
  })
  await once(ws, 'open')
  ws.send(JSON.stringify({ type: 'subscribe', channel: 'wallet' }))
  await until(() => messages.some((m) => m.type === 'subscribed' && m.channel === 'wallet'), 5000, 'subscribed to wallet')
  return { ws, events, closed }
}

/** POST /admin/events: resolves with the event id */
async function publish (adminUrl: string, data: unknown): Promise<string> {
  const res = await call(`${adminUrl}/admin/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'wallet', event: 'wallet.updated', subject: SUBJECT, data })
  })
  if (res.status !== 202) throw new Error(`POST /admin/events answered ${res.status}: ${res.text}`)
  return res.json().id
}

/** A connection attempt during or after the drain: refused, or a 503 GW_SHUTTING_DOWN; never served. */
async function turnedAway (t: Test, url: string, what: string): Promise<void> {
  let res
  try {
    res = await call(url, { headers: auth })
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED', `${what}: refused`)
    return
  }
  t.equal(res.status, 503, `${what}: 503`)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { code: 'GW_SHUTTING_DOWN', status: 503 })
  t.equal(res.headers.connection, 'close', `${what}: the connection is not kept`)
}

/** A WebSocket upgrade during or after the drain: refused, or a 503 instead of the 101. */
async function upgradeTurnedAway (t: Test, wsUrl: string, what: string): Promise<void> {
  const ws = new WebSocket(wsUrl, { headers: auth })
  t.teardown(() => ws.terminate())
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req: unknown, res: http.IncomingMessage) => resolve(`status ${res.statusCode}`))
    ws.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
  t.ok(outcome === 'ECONNREFUSED' || outcome === 'status 503', `${what}: ${outcome}`)
}

const logLines = (output: string): Array<Record<string, any>> => output.split('\n').filter((l) => l.startsWith('{')).map((l) => { try { return JSON.parse(l) } catch { return {} } })

/** The tests run the build: without it they fail at once with what to do. */
function built (t: Test): boolean {
  if (existsSync(SERVER)) return true
  t.fail(`${SERVER} is missing: run npm run build (npm test does)`)
  return false
}

t.test('SIGTERM with 10 requests in flight and 3 subscribers: all 10 complete, 1001 for each subscriber, nothing new admitted, exit 0', async (t) => {
  if (!built(t)) return
  const SHUTDOWN_TIMEOUT_MS = 5000
  const held: Array<{ req: http.IncomingMessage, res: http.ServerResponse }> = []
  const up: Upstream = await startUpstream(t, (req, res) => { held.push({ req, res }) })
  const gw = await startServer(t, { QUERY_SERVICE_URL: up.url, COMMAND_SERVICE_URL: up.url, SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) })

  const subs = [await subscriber(t, gw.wsUrl), await subscriber(t, gw.wsUrl), await subscriber(t, gw.wsUrl)]
  const id = await publish(gw.adminUrl, { balance: 1250 })
  await until(() => subs.every((s) => s.events.includes(id)), 5000, 'the event on the 3 subscribers')
  t.pass('3 subscribers, each got a live event')

  // a connection whose request has begun before the signal (headers not finished) and ends during the drain
  const kept = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
  t.teardown(() => kept.destroy())
  kept.on('error', () => {})
  let keptData = ''
  kept.on('data', (d: Buffer) => { keptData += d.toString('latin1') })
  const keptClosed = new Promise((resolve) => kept.once('close', resolve))
  await once(kept, 'connect')
  kept.write(`GET /v1/api/wallets/partial HTTP/1.1\r\nHost: gw\r\nAuthorization: ${auth.authorization}\r\n`)

  const inflight = Array.from({ length: 10 }, (_, i) => call(`${gw.url}/v1/api/wallets/w${i}`, { headers: auth }))
  let settled = 0
  for (const p of inflight) p.then(() => settled++, () => settled++)
  await until(() => held.length === 10, 10_000, 'the 10 requests to reach the upstream')
  // a slow upstream: it answers ~500 ms later, and never before the drain has begun
  const slow = new Promise((resolve) => setTimeout(resolve, 500))

  const signalledAt = Date.now()
  gw.child.kill('SIGTERM')
  // the hub sends its 1001 close frames as the drain begins
  const closes = await Promise.all(subs.map((s) => s.closed))
  const drainSeenAt = Date.now()
  for (const [i, { code, reason }] of closes.entries()) t.equal(code, 1001, `subscriber ${i}: 1001 going away (${reason})`)

  // the drain has begun, the 10 requests are still at the upstream: nothing new gets in
  t.equal(settled, 0, 'the 10 requests are still in flight')
  await turnedAway(t, `${gw.url}/v1/api/wallets/late`, 'a new connection during the drain')
  await upgradeTurnedAway(t, gw.wsUrl, 'a new /ws upgrade during the drain')
  // the request begun before the signal ends now, on its open connection
  kept.write('\r\n')
  await keptClosed
  t.match(keptData, /^HTTP\/1\.1 503 /, 'a request finished during the drain on an open connection: 503')
  t.match(keptData, /"code":"GW_SHUTTING_DOWN"/)
  t.match(keptData, /\r\nconnection: close\r\n/i, 'with Connection: close')

  await slow
  for (const { req, res } of held) {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ url: req.url }))
  }
  const results = await Promise.all(inflight)
  t.same(results.map((r) => r.status), Array(10).fill(200), 'all 10 in-flight requests completed with 200')
  t.same(results.map((r) => r.json().url), Array.from({ length: 10 }, (_, i) => `/v1/api/wallets/w${i}`), 'each with its own answer')

  const [code, signal] = await gw.exited
  const exitedAfter = Date.now() - signalledAt
  t.equal(code, 0, 'exit code 0')
  t.equal(signal, null)
  t.ok(exitedAfter < SHUTDOWN_TIMEOUT_MS, `exited ${exitedAfter} ms after SIGTERM, within SHUTDOWN_TIMEOUT_MS (${SHUTDOWN_TIMEOUT_MS})`)
  t.ok(drainSeenAt - signalledAt < 3000, `the drain began ${drainSeenAt - signalledAt} ms after the signal`)
  t.notOk(/drain timeout reached/.test(gw.output()), 'drained, not cut at the timeout')
  t.same(logLines(gw.output()).filter((l) => l.level >= 50), [], 'nothing logged at error level')

  await turnedAway(t, `${gw.url}/health`, 'after exit')
  await t.rejects(call(`${gw.adminUrl}/health`), { code: 'ECONNREFUSED' }, 'the admin port is closed too')
})

/**
 * A subscriber whose socket is paused: the close frame reaches its kernel buffer but
 * the client never reads it, so it never answers.
 */
async function muteSubscriber (t: Test, wsUrl: string): Promise<Subscriber & { resume: () => void }> {
  const sub = await subscriber(t, wsUrl)
  const socket = (sub.ws as unknown as { _socket: net.Socket })._socket
  socket.pause()
  return { ...sub, resume: () => socket.resume() }
}

interface MuteRun {
  shutdownTimeoutMs: number
  politeClose: { code: number, reason: string, at: number }
  muteClose: { code: number, reason: string, at: number }
  code: number | null
  signal: NodeJS.Signals | null
  /** ms from SIGTERM to exit */
  exitedAfter: number
  output: string
}

/** One gateway with a polite and a mute subscriber: SIGTERM, then what happened. */
async function muteRun (t: Test, shutdownTimeoutMs: number): Promise<MuteRun> {
  const up = await startUpstream(t)
  const gw = await startServer(t, { QUERY_SERVICE_URL: up.url, COMMAND_SERVICE_URL: up.url, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) })
  const polite = await subscriber(t, gw.wsUrl)
  const mute = await muteSubscriber(t, gw.wsUrl)
  const signalledAt = Date.now()
  gw.child.kill('SIGTERM')
  const politeClose = await polite.closed
  const [code, signal] = await gw.exited
  const exitedAfter = Date.now() - signalledAt
  // reading again, the mute client finds what it was sent before being cut
  mute.resume()
  const muteClose = await mute.closed
  return { shutdownTimeoutMs, politeClose: { ...politeClose, at: politeClose.at - signalledAt }, muteClose, code, signal, exitedAfter, output: gw.output() }
}

t.test('a subscriber that never answers the close frame does not hold the process past its drain bound', async (t) => {
  if (!built(t)) return
  // both gateways at once (each takes seconds to start): one whose SHUTDOWN_TIMEOUT_MS is
  // shorter than the hub's close grace, one whose is longer
  const [short, long] = await Promise.all([muteRun(t, 1500), muteRun(t, 15_000)])

  for (const run of [short, long]) {
    const what = `SHUTDOWN_TIMEOUT_MS ${run.shutdownTimeoutMs}`
    t.equal(run.politeClose.code, 1001, `${what}: the polite subscriber got 1001`)
    t.ok(run.politeClose.at < 2000, `${what}: at once (${run.politeClose.at} ms), not held up by the mute one`)
    t.equal(run.code, 0, `${what}: exit code 0`)
    t.equal(run.signal, null)
    t.equal(run.muteClose.code, 1001, `${what}: the mute subscriber had been sent 1001 before being cut`)
    t.same(logLines(run.output).filter((l) => l.level >= 50), [], `${what}: nothing logged at error level`)
  }

  // shorter than the grace: the drain bound decides, the remaining sockets are cut then
  // (the upper bound leaves a loaded machine 3.5 s; the hub's own cut would come at 5 s)
  t.ok(short.exitedAfter >= short.shutdownTimeoutMs - 50 && short.exitedAfter < CLOSE_GRACE_MS,
    `SHUTDOWN_TIMEOUT_MS 1500: exited ${short.exitedAfter} ms after SIGTERM, at the drain bound (not at the hub's ${CLOSE_GRACE_MS} ms grace)`)
  t.match(short.output, /drain timeout reached/, 'SHUTDOWN_TIMEOUT_MS 1500: the drain timed out on the mute subscriber, and said so')

  // longer than the grace: the hub cuts the mute client after its grace, the drain completes there
  t.ok(long.exitedAfter >= CLOSE_GRACE_MS - 500 && long.exitedAfter < CLOSE_GRACE_MS + 3000,
    `SHUTDOWN_TIMEOUT_MS 15000: exited ${long.exitedAfter} ms after SIGTERM: the mute client had its ${CLOSE_GRACE_MS} ms grace, no more`)
  t.notMatch(long.output, /drain timeout reached/, 'SHUTDOWN_TIMEOUT_MS 15000: the drain completed, no timeout')
})
