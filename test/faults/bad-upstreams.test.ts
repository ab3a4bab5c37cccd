// Fault injection (issue 11): upstreams that misbehave at the byte level. Each one is
// a raw `net` server, so the test decides every byte the gateway reads: a reset in the
// middle of a response, garbage instead of HTTP, broken header bytes, absurd status
// codes, silence, a body that never ends. Whatever the upstream does, the client gets
// a well-formed answer (a 502/504 problem+json while no header has been sent, a cut
// response after that), never a hang and never a 500; the upstream connection is
// closed by the gateway; the next request is served.
//
// Passive ejection and the circuit breaker are set out of reach here: they would turn
// later requests into fast 503s (that is tested in test/proxy/ and
// test/circuit-breaker/); these tests want every request to meet the fault itself.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { request } from 'undici'
import { startGateway, servicesFor, until, type StartedGateway } from '../helpers.js'

const TIMEOUT_MS = 300
const PROBLEM = /^application\/problem\+json/
const OK_BODY = '{"ok":true}'

/** What the raw upstream does with one connection once it has read a request head. */
type Behaviour = (socket: net.Socket, upstream: RawUpstream) => void

interface RawUpstream {
  url: string
  port: number
  /** connections open right now */
  open: Set<net.Socket>
  /** of those, the ones that carried a request (the others are idle: opened ahead by the pool) */
  busy: Set<net.Socket>
  /** connections accepted so far */
  accepted: () => number
  /** most connections open at the same time */
  maxOpen: () => number
  /** the path of each request head read, in order */
  paths: string[]
  /** each connection's 'close', by the request path it carried */
  closed: Map<string, Array<Promise<unknown>>>
}

/**
 * A TCP server that reads one request head per connection and hands the socket to
 * the behaviour named by the path's last segment (/v1/api/<name>); `ok` answers a
 * small JSON body and closes. It never closes a connection unless told to.
 */
async function rawUpstream (t: Test, behaviours: Record<string, Behaviour>): Promise<RawUpstream> {
  let accepted = 0
  let maxOpen = 0
  const open = new Set<net.Socket>()
  const busy = new Set<net.Socket>()
  const paths: string[] = []
  const closed = new Map<string, Array<Promise<unknown>>>()
  const all: Record<string, Behaviour> = {
    ok: (s) => { s.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${OK_BODY.length}\r\nconnection: close\r\n\r\n${OK_BODY}`) },
    ...behaviours
  }
  const server = net.createServer((socket) => {
    accepted++
    open.add(socket)
    maxOpen = Math.max(maxOpen, open.size)
    // (not events.once: it would reject on the 'error' a reset connection emits first)
    const gone = new Promise((resolve) => socket.once('close', resolve))
    socket.on('close', () => { open.delete(socket); busy.delete(socket) })
    // the gateway resets connections it gives up on: expected
    socket.on('error', () => {})
    let head = ''
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      busy.add(socket)
      const path = /^[A-Z]+ (\S+) HTTP\/1\.1\r\n/.exec(head)?.[1] ?? '?'
      paths.push(path)
      const name = path.split('?')[0]!.split('/').pop()!
      closed.set(name, [...(closed.get(name) ?? []), gone])
      const behaviour = all[name]
      if (behaviour === undefined) throw new Error(`no behaviour named ${name}`)
      behaviour(socket, upstream)
    }
    socket.on('data', onData)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  t.teardown(async () => {
    for (const socket of open) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  const upstream: RawUpstream = { url: `http://127.0.0.1:${port}`, port, open, busy, accepted: () => accepted, maxOpen: () => maxOpen, paths, closed }
  return upstream
}

/** A gateway in front of the raw upstream: 300 ms timeout, no ejection, no breaker trips. */
function gatewayFor (t: Test, upstream: RawUpstream): Promise<StartedGateway> {
  const query = { targets: [upstream.url], passiveHealth: { consecutiveFailures: 1000, consecutive5xx: 1000 } }
  return startGateway(t, { services: { ...servicesFor(upstream.url), query }, breaker: { timeoutMs: TIMEOUT_MS, minRequests: 1000 } })
}

interface Outcome {
  /** undefined when the request failed before the status line */
  status?: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** how reading the answer failed (a cut response), if it did */
  error?: NodeJS.ErrnoException
  ms: number
}

/**
 * One GET on a fresh connection. The client's own timeouts are far above the
 * gateway's: if the gateway hangs, the error says so instead of the test hanging.
 */
async function get (url: string, statuses: number[]): Promise<Outcome> {
  const started = Date.now()
  let status: number | undefined
  let headers: Outcome['headers'] = {}
  let text = ''
  try {
    const res = await request(url, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 })
    status = res.statusCode
    statuses.push(status)
    headers = res.headers
    for await (const chunk of res.body) text += chunk
  } catch (err) {
    return { status, headers, text, error: err as NodeJS.ErrnoException, ms: Date.now() - started }
  }
  return { status, headers, text, ms: Date.now() - started }
}

/** What a problem body must not carry: anything the upstream sent or said about itself. */
function noInternals (t: Test, res: Outcome, upstream: RawUpstream, what: string): void {
  t.notMatch(res.text, /hunter2|SSH-|HPE_|UND_ERR|ECONN|EPIPE|other side closed|Parse Error|HTTP\/1\.1 protocol|Invalid|Expected|127\.0\.0\.1/, `${what}: no upstream internals in the answer`)
  t.notOk(res.text.includes(String(upstream.port)), `${what}: the upstream's port is not in the answer`)
}

/** A 502/504 problem+json with a GW_PROXY_* code, answered without a hang. */
function isGatewayProblem (t: Test, res: Outcome, upstream: RawUpstream, what: string, statuses = [502]): void {
  t.ok(res.status !== undefined && statuses.includes(res.status), `${what}: answered ${statuses.join(' or ')} (got ${res.status ?? res.error?.code})`)
  t.equal(res.error, undefined, `${what}: a complete answer`)
  t.match(res.headers['content-type'], PROBLEM, `${what}: problem+json`)
  let body: Record<string, unknown> = {}
  try { body = JSON.parse(res.text) } catch { t.fail(`${what}: the body is JSON (${res.text.slice(0, 80)})`) }
  t.match(body, { status: res.status, code: /^GW_PROXY_/, instance: /^\/v1\/api\// }, `${what}: a GW_PROXY_* problem`)
  noInternals(t, res, upstream, what)
}

/** The gateway still serves a well-behaved request, and never answered 500. */
async function stillServing (t: Test, gw: StartedGateway, statuses: number[]): Promise<void> {
  const ok = await get(`${gw.url}/v1/api/ok`, statuses)
  t.equal(ok.status, 200, 'the next request is served')
  t.equal(ok.text, OK_BODY)
  t.equal((await get(`${gw.url}/health`, statuses)).status, 200, 'the gateway is up')
  t.notOk(statuses.includes(500), `no answer was a 500 (${statuses.join(',')})`)
  await until(() => gw.context.services.get('query')!.targets.every((x) => x.inflight === 0), 5000, 'no upstream request left in flight')
}

const HEAD_1000 = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n'
// over the size the gateway relays whole (16 KB): streamed, so the client has the headers before the body breaks
const HEAD_BIG = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n'

t.test('(a) an upstream that resets the connection mid-response (a streamed body): a cut response or a 502, never a hang', async (t) => {
  let held: net.Socket | undefined
  const up = await rawUpstream(t, {
    // status line, headers, 100 of the 1000 bytes announced, then a TCP reset at once
    resetMidBody: (s) => { s.write(HEAD_BIG + 'x'.repeat(100)); s.resetAndDestroy() },
    // the same, but the reset waits for the test: the client has the headers by then
    holdMidBody: (s) => { s.write(HEAD_BIG + 'x'.repeat(100)); held = s },
    // the same with an orderly close (FIN) instead of a reset
    finMidBody: (s) => { s.end(HEAD_BIG + 'x'.repeat(100)) },
    // reset in the middle of the header section: nothing can have been sent to the client
    resetMidHead: (s) => { s.write('HTTP/1.1 200 OK\r\ncontent-type: applic'); s.resetAndDestroy() }
  })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []

  // the race between the relayed bytes and the reset goes either way: both outcomes are fine
  const seen = { cut: 0, problem: 0 }
  for (let i = 0; i < 6; i++) {
    const res = await get(`${gw.url}/v1/api/resetMidBody`, statuses)
    t.ok(res.ms < 5000, `answered or cut after ${res.ms} ms`)
    if (res.status === 200) {
      seen.cut++
      t.ok(res.error !== undefined, `a 200 whose body was cut (${res.error?.code})`)
      t.ok(res.text.length < 100_000, `only part of the body arrived (${res.text.length} bytes)`)
    } else {
      seen.problem++
      isGatewayProblem(t, res, up, 'reset before the client got the headers')
    }
    const ok = await get(`${gw.url}/v1/api/ok`, statuses)
    t.equal(ok.status, 200, 'the next request is served')
  }
  t.equal(seen.cut + seen.problem, 6, `6 resets: ${seen.cut} cut responses, ${seen.problem} 502s`)

  // deterministic: the client has status and headers, then the upstream resets
  const started = Date.now()
  const res = await request(`${gw.url}/v1/api/holdMidBody`, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 })
  statuses.push(res.statusCode)
  t.equal(res.statusCode, 200, 'the upstream status was relayed')
  t.equal(res.headers['content-length'], '100000')
  await until(() => held !== undefined, 5000, 'the upstream to hold the connection')
  held!.resetAndDestroy()
  let received = 0
  const cut = await (async () => { for await (const chunk of res.body) received += (chunk as Buffer).length })().then(() => undefined, (err: NodeJS.ErrnoException) => err)
  t.ok(cut instanceof Error, `the client sees the response cut (${cut?.code}), not a complete one`)
  t.ok(received < 100_000, `${received} of 100000 bytes`)
  t.ok(Date.now() - started < 5000, 'and at once, not after a timeout')

  const fin = await get(`${gw.url}/v1/api/finMidBody`, statuses)
  t.equal(fin.status, 200)
  t.ok(fin.error !== undefined, `an upstream that closes (FIN) mid-body: the response is cut too (${fin.error?.code})`)
  t.ok(fin.text.length < 100_000)

  const midHead = await get(`${gw.url}/v1/api/resetMidHead`, statuses)
  isGatewayProblem(t, midHead, up, 'reset in the middle of the headers')

  await stillServing(t, gw, statuses)
  await until(() => up.busy.size === 0, 5000, 'every upstream connection that carried a request closed')
})

t.test('(a) the headers arrived, the body broke before its first byte: 502/504 problem+json, not a 500', async (t) => {
  const up = await rawUpstream(t, {
    headThenReset: (s) => { s.write(HEAD_1000); setImmediate(() => s.resetAndDestroy()) },
    headThenFin: (s) => { s.end(HEAD_1000) },
    badChunkSize: (s) => { s.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n') },
    // then silence: the body idle timeout runs out before a byte of it came
    headThenSilence: (s) => { s.write(HEAD_1000) }
  })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []
  for (const name of ['headThenReset', 'headThenFin', 'badChunkSize', 'headThenSilence']) {
    const res = await get(`${gw.url}/v1/api/${name}`, statuses)
    isGatewayProblem(t, res, up, name, name === 'headThenSilence' ? [502, 504] : [502])
    t.ok(res.ms < 5000, `${name}: answered after ${res.ms} ms`)
  }
  await until(() => up.busy.size === 0, 5000, 'every upstream connection that carried a request closed')
  await stillServing(t, gw, statuses)
})

t.test('(b) an upstream that answers garbage: 502 problem+json, nothing of the upstream in it', async (t) => {
  const garbage: Record<string, Buffer | string> = {
    // a service on the wrong port: an SSH banner carrying something secret
    sshBanner: 'SSH-2.0-OpenSSH_9.6 db-password=hunter2\r\n',
    // a TLS server configured as http://: a ServerHello record
    tlsRecord: Buffer.from([0x16, 0x03, 0x03, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26, 0x03, 0x03, ...Array(32).fill(7)]),
    // an h2-only server: its SETTINGS frame then GOAWAY
    http2Frames: Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    // binary noise with NULs
    binary: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 31 + 7) % 256)),
    // text that is not a status line (an HTTP/0.9-style answer)
    plainText: 'hunter2 says hello\n'
  }
  const behaviours: Record<string, Behaviour> = {}
  // the garbage is sent and the connection left open: the gateway must not wait for the timeout
  for (const [name, bytes] of Object.entries(garbage)) behaviours[name] = (s) => { s.write(bytes) }
  const up = await rawUpstream(t, behaviours)
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []
  for (const name of Object.keys(garbage)) {
    const res = await get(`${gw.url}/v1/api/${name}`, statuses)
    isGatewayProblem(t, res, up, name)
    t.match(JSON.parse(res.text), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE', title: 'Bad Gateway', detail: 'Service "query" could not be reached (connection refused or reset); retry shortly' })
    // the garbage connection stays open on our side: only the gateway can close it
    await Promise.all(up.closed.get(name)!)
    t.pass(`${name}: the gateway closed the connection it could not parse`)
  }
  t.equal(up.paths.length, Object.keys(garbage).length, 'each sent once: an unparseable answer is not retried on the same target')
  await stillServing(t, gw, statuses)
})

t.test('(c) invalid header bytes, an absurd status code, broken framing: 502', async (t) => {
  const answers: Record<string, string> = {
    nulInHeaderName: 'HTTP/1.1 200 OK\r\nX-Bad\x00Name: v\r\ncontent-length: 2\r\n\r\nok',
    controlCharInValue: 'HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\ncontent-length: 2\r\n\r\nok',
    bareCrInValue: 'HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\ncontent-length: 2\r\n\r\nok',
    delInValue: 'HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\r\ncontent-length: 2\r\n\r\nok',
    spaceInHeaderName: 'HTTP/1.1 200 OK\r\nX Bad: v\r\ncontent-length: 2\r\n\r\nok',
    status999: 'HTTP/1.1 999 Whatever\r\ncontent-length: 2\r\n\r\nok',
    status600: 'HTTP/1.1 600 Whatever\r\ncontent-length: 2\r\n\r\nok',
    status099: 'HTTP/1.1 099 Whatever\r\ncontent-length: 2\r\n\r\nok',
    status2Digits: 'HTTP/1.1 20 OK\r\ncontent-length: 2\r\n\r\nok',
    statusLetters: 'HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok',
    // an unsolicited protocol switch on a plain GET
    switching101: 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n',
    // request-smuggling shapes
    lengthAndChunked: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    twoLengths: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok',
    // a header section far over the parser's limit
    hugeHeader: 'HTTP/1.1 200 OK\r\nx-big: ' + 'a'.repeat(100_000) + '\r\ncontent-length: 2\r\n\r\nok'
  }
  const behaviours: Record<string, Behaviour> = {}
  for (const [name, bytes] of Object.entries(answers)) behaviours[name] = (s) => { s.write(Buffer.from(bytes, 'latin1')) }
  const up = await rawUpstream(t, behaviours)
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []
  for (const name of Object.keys(answers)) {
    const res = await get(`${gw.url}/v1/api/${name}`, statuses)
    isGatewayProblem(t, res, up, name)
    t.notOk('x-bad' in res.headers, `${name}: no upstream header relayed`)
    await Promise.all(up.closed.get(name)!)
  }
  t.pass('the gateway closed every connection with a broken answer')
  await stillServing(t, gw, statuses)
})

t.test('(d) an upstream that never answers: 504 at the timeout, and the gateway closes the connection', async (t) => {
  const up = await rawUpstream(t, { silent: () => {} })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []

  const res = await get(`${gw.url}/v1/api/silent`, statuses)
  isGatewayProblem(t, res, up, 'silent upstream', [504])
  t.match(JSON.parse(res.text), { code: 'GW_PROXY_UPSTREAM_TIMEOUT', detail: `Service "query" did not answer within ${TIMEOUT_MS} ms` })
  t.ok(res.ms >= TIMEOUT_MS - 5 && res.ms < TIMEOUT_MS + 1500, `answered after ${res.ms} ms (timeout ${TIMEOUT_MS} ms)`)
  await Promise.all(up.closed.get('silent')!)
  t.pass('the silent upstream saw its connection closed (it never closes one itself)')

  // 8 in a row: each connection is given up and closed, none piles up
  for (let i = 0; i < 8; i++) {
    const next = await get(`${gw.url}/v1/api/silent`, statuses)
    t.equal(next.status, 504, `request ${i + 1}: 504 after ${next.ms} ms`)
    // the connection that carried it is closed at the deadline (the raw server never closes one)
    await Promise.all(up.closed.get('silent')!)
  }
  t.equal(up.paths.length, 9, 'a timed-out GET is never retried')
  // undici opens a fresh (idle) connection after each aborted one: one, reused by the next request
  t.ok(up.maxOpen() <= 3, `at most ${up.maxOpen()} upstream connections open at once, not 8`)
  t.equal(up.busy.size, 0, 'no connection that carried a request is left open')

  // 20 at once: 20 connections, every one closed at the deadline
  const burst = await Promise.all(Array.from({ length: 20 }, () => get(`${gw.url}/v1/api/silent`, statuses)))
  t.same(burst.map((r) => r.status), Array(20).fill(504), '20 concurrent: all 504')
  t.equal(up.paths.length, 29, 'each of the 20 reached the upstream once')
  await Promise.all(up.closed.get('silent')!)
  t.equal(up.busy.size, 0, 'the 20 connections that carried them were closed with the 504s')
  // the idle connections undici opened after the aborts go at its keep-alive timeout (4 s): bounded, not leaked
  await until(() => up.open.size === 0, 10_000, 'the idle upstream connections to close')
  t.pass('no upstream connection left open')
  await stillServing(t, gw, statuses)
})

t.test('(e) a never-ending chunked body: the client can go away, and the upstream connection is closed', async (t) => {
  let chunksWritten = 0
  const streaming = (s: net.Socket) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n')
    // one small chunk every 20 ms, for ever: the body's idle timeout (300 ms) never runs out
    const tick = setInterval(() => {
      const line = `tick ${++chunksWritten}\n`
      s.write(`${line.length.toString(16)}\r\n${line}\r\n`)
    }, 20)
    s.once('close', () => clearInterval(tick))
  }
  const up = await rawUpstream(t, { endless: streaming, endlessRaw: streaming })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []

  const res = await request(`${gw.url}/v1/api/endless`, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 })
  statuses.push(res.statusCode)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['transfer-encoding'], 'chunked')
  let text = ''
  // streamed as it comes, not buffered; 40 ticks take ~800 ms, well past the 300 ms timeout:
  // the timeout bounds each gap in the body, not the whole of a body that keeps flowing
  const started = Date.now()
  for await (const chunk of res.body) {
    text += chunk
    if ((text.match(/tick/g) ?? []).length >= 40) break // leaving the loop destroys the body: the client goes away
  }
  t.match(text, /^tick 1\ntick 2\ntick 3\n/, 'the chunks arrive in order')
  t.ok(Date.now() - started > TIMEOUT_MS, `a flowing body is not cut at the timeout (${Date.now() - started} ms of it)`)
  await Promise.all(up.closed.get('endless')!)
  t.pass('the upstream connection was closed after the client left')
  const writtenThen = chunksWritten
  await until(() => gw.context.services.get('query')!.targets[0]!.inflight === 0, 5000, 'the upstream request released')

  // the same with a raw client that reads the head and a few chunks, then destroys its socket
  const client = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
  client.on('error', () => {})
  let raw = ''
  client.on('data', (d: Buffer) => { raw += d.toString('latin1') })
  await once(client, 'connect')
  client.write('GET /v1/api/endlessRaw HTTP/1.1\r\nHost: gw\r\n\r\n')
  await until(() => (raw.match(/tick/g) ?? []).length >= 3, 5000, 'a few chunks on the raw client')
    .catch((err: Error) => { throw new Error(`${err.message}: got ${JSON.stringify(raw.slice(0, 300))}`) })
  client.destroy()
  await Promise.all(up.closed.get('endlessRaw')!)
  t.pass('a raw client that vanishes frees the upstream connection too')
  t.match(raw, /^HTTP\/1\.1 200 /)
  t.ok(chunksWritten > writtenThen, 'the second stream flowed')

  await until(() => up.busy.size === 0, 5000, 'no upstream connection that carried a request left open')
  await stillServing(t, gw, statuses)
})

t.test('a small body (a declared length up to 16 KB) is relayed whole: if it breaks mid-way the client gets a clean 502/504, never part of a 200', async (t) => {
  const up = await rawUpstream(t, {
    resetMidBody: (s) => { s.write(HEAD_1000 + 'x'.repeat(100)); s.resetAndDestroy() },
    finMidBody: (s) => { s.end(HEAD_1000 + 'x'.repeat(100)) },
    stallMidBody: (s) => { s.write(HEAD_1000 + 'x'.repeat(10)) },
    // the whole body in two writes: relayed in one piece, byte for byte
    twoWrites: (s) => { s.write(HEAD_1000 + 'a'.repeat(500)); setTimeout(() => s.write('b'.repeat(500)), 20) }
  })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []
  for (const [name, allowed] of [['resetMidBody', [502]], ['finMidBody', [502]], ['stallMidBody', [504]]] as const) {
    const res = await get(`${gw.url}/v1/api/${name}`, statuses)
    isGatewayProblem(t, res, up, name, [...allowed])
    t.ok(res.ms < 5000, `${name}: answered after ${res.ms} ms`)
  }
  const whole = await get(`${gw.url}/v1/api/twoWrites`, statuses)
  t.equal(whole.status, 200)
  t.equal(whole.text, 'a'.repeat(500) + 'b'.repeat(500), 'the body, complete and in order')
  t.equal(whole.headers['content-length'], '1000')
  t.equal(whole.headers['content-type'], 'application/json', "the upstream's content type")
  await until(() => up.busy.size === 0, 5000, 'every upstream connection that carried a request closed')
  await stillServing(t, gw, statuses)
})

t.test('(e) a streamed body that stalls after its first bytes: the response is cut at the idle timeout and the upstream connection closed', async (t) => {
  const up = await rawUpstream(t, { stall: (s) => { s.write(HEAD_BIG + 'x'.repeat(10)) } })
  const gw = await gatewayFor(t, up)
  const statuses: number[] = []
  const res = await get(`${gw.url}/v1/api/stall`, statuses)
  t.equal(res.status, 200, 'the headers were relayed before the stall')
  t.ok(res.error !== undefined, `then the response was cut (${res.error?.code}), not left hanging`)
  t.equal(res.text, 'x'.repeat(10), 'what came before the stall was relayed')
  // undici times body gaps on a coarse (~1 s) timer: the bound leaves room for that and a loaded machine
  t.ok(res.ms >= TIMEOUT_MS - 5 && res.ms < 4000, `cut after ${res.ms} ms`)
  await Promise.all(up.closed.get('stall')!)
  t.pass('the stalled upstream connection was closed by the gateway')
  await stillServing(t, gw, statuses)
})
