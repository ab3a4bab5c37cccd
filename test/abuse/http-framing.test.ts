// Issue 11, abuse suite: HTTP/1.1 framing on the public listener, written as exact
// bytes on raw sockets (an HTTP client would refuse to send most of this).
//
//   - request smuggling: Content-Length with Transfer-Encoding, two Content-Lengths,
//     odd Transfer-Encodings (`chunked, identity`, `xchunked`, folded, repeated, with
//     whitespace before the colon). Each request carries a second, smuggled request in
//     its body and is followed by a legitimate pipelined one: the gateway refuses it
//     (400 problem+json, connection closed) or takes it as exactly one well-formed
//     request, and the upstream never gets the smuggled one, whatever the reading
//   - header syntax: obs-fold, a bare CR or LF inside a header line, NUL, a request line
//     ended by a bare LF, a missing or a doubled Host
//   - oversized headers (431) and bodies (413, by Content-Length or chunked): the
//     upstream never sees the request
//   - slow-loris: headers trickled a byte at a time are cut off by a headers timeout
//
// test/gateway/problem-json.test.ts covers one 20 KB header and plain garbage; test/proxy/
// forwarding.test.ts one body over the limit by Content-Length. Nothing here sleeps to
// wait for a condition: every wait is for an answer, a close, or a deadline that fails.
import t, { type Test } from 'tap'
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { startUpstream, startGateway, servicesFor, call, until, rawSocketExchange, type StartedGateway, type Upstream } from '../helpers.js'

const PROBLEM = 'application/problem+json; charset=utf-8'
/** an exchange with neither an answer nor a close by then has hung: the test fails */
const DEADLINE_MS = 5000
/** every status line any exchange in this file got back: none may be a 5xx */
const statusesSeen: number[] = []
/** what the gateways logged at error level (an "unhandled error" is a bug even when answered) */
const errorLogs: string[] = []

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

interface Exchange {
  /** the responses, in order (interim 1xx included) */
  responses: RawResponse[]
  /** the gateway closed the connection before the deadline */
  closed: boolean
  raw: string
}

/** Splits what came back on one connection into responses (each has a Content-Length, or is the last). */
function parseResponses (raw: string): RawResponse[] {
  const out: RawResponse[] = []
  let rest = raw
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) break
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const status = Number(statusLine!.slice(9, 12))
    const length = status < 200 || status === 204 || status === 304 ? 0 : headers['content-length'] === undefined ? rest.length : Number(headers['content-length'])
    const body = rest.slice(end + 4, end + 4 + length)
    out.push({ status, headers, body })
    rest = rest.slice(end + 4 + body.length)
  }
  return out
}

/** between two writes: resolves when the next part may go */
type Gate = () => Promise<unknown>

/** Writes `parts` and parses what came back until the gateway closed the connection (or the deadline). */
async function exchange (url: string, parts: Array<string | Buffer | Gate>, deadlineMs = DEADLINE_MS): Promise<Exchange> {
  const { raw, closed } = await rawSocketExchange(url, parts, deadlineMs)
  const responses = parseResponses(raw)
  for (const r of responses) statusesSeen.push(r.status)
  return { responses, closed, raw }
}

/** One request the upstream's HTTP server started to handle, and whether its body arrived whole. */
interface Started { method: string, url: string, complete: boolean | null, body: string }

async function setup (t: Test, server: Record<string, unknown> = {}): Promise<{ gw: StartedGateway, up: Upstream, started: Started[] }> {
  const up = await startUpstream(t)
  // startUpstream records finished requests only: this sees every request the upstream's
  // parser got, finished or cut off
  const started: Started[] = []
  up.server.prependListener('request', (req: IncomingMessage) => {
    const entry: Started = { method: req.method!, url: req.url!, complete: null, body: '' }
    if (req.url === '/health') return
    started.push(entry)
    req.on('data', (c: Buffer) => { entry.body += c.toString('latin1') })
    req.on('close', () => { entry.complete = req.complete })
  })
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { logLevel: 'error', ...server } }, {
    logStream: { write: (line: string) => { errorLogs.push(line) } }
  })
  return { gw, up, started }
}

/**
 * A normal request through the gateway to the upstream and back. Also orders the test:
 * bytes the gateway wrote to the upstream before answering an earlier exchange have
 * reached the upstream's parser by the time this round trip is over.
 */
async function stillServes (t: Test, gw: StartedGateway, up: Upstream, what: string): Promise<void> {
  const before = up.requests.length
  const res = await call(`${gw.url}/v1/api/still-works`)
  statusesSeen.push(res.status)
  t.equal(res.status, 200, `after ${what}: a normal request still works`)
  t.equal(up.requests.length, before + 1)
  up.requests.pop()
}

/** The gateway's 400 for bytes that are not HTTP/1.1, and the connection closed after it. */
function assertRefused (t: Test, ex: Exchange, what: string): void {
  t.equal(ex.responses.length, 1, `${what}: one answer`)
  const [res] = ex.responses
  t.equal(res?.status, 400, `${what}: 400`)
  t.equal(res?.headers['content-type'], PROBLEM, `${what}: problem+json`)
  t.match(res && JSON.parse(res.body), { status: 400, code: 'GW_REQUEST_MALFORMED' }, `${what}: GW_REQUEST_MALFORMED`)
  t.ok(ex.closed, `${what}: the connection is closed`)
}

// ---------------------------------------------------------------------------------
// smuggling

/** the request hidden in a body: if the upstream ever gets it, the gateway was smuggled past */
const SMUGGLED = 'GET /v1/api/smuggled HTTP/1.1\r\nHost: x\r\nX-Smuggled: yes\r\n\r\n'
/** a legitimate request pipelined after each attempt: it ends the connection either way */
const SENTINEL = 'GET /v1/api/sentinel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
const hex = (s: string) => Buffer.byteLength(s).toString(16)
/** a chunked body whose only chunk is the smuggled request: safe under chunked framing */
const CHUNKED_SMUGGLED = `${hex(SMUGGLED)}\r\n${SMUGGLED}\r\n0\r\n\r\n`
/** a chunked body that ends at once: the smuggled request follows it */
const EMPTY_THEN_SMUGGLED = `0\r\n\r\n${SMUGGLED}`
const len = (s: string) => Buffer.byteLength(s)
const POST = 'POST /v1/api/a HTTP/1.1\r\nHost: x\r\n'

interface FramingCase {
  name: string
  bytes: string
  /**
   * RFC 9112 requires a 400 and a close (an invalid Content-Length §6.3, chunked not the
   * final coding §6.3, whitespace before the colon §5.1); otherwise refusing and reading
   * it as one request are both allowed, but never as two
   */
  mustRefuse: boolean
}

const FRAMING: FramingCase[] = [
  // CL.TE: a server going by Content-Length forwards the smuggled request as body; one
  // going by Transfer-Encoding (and keeping the connection) serves it as a second request
  { name: 'Content-Length and Transfer-Encoding: chunked (CL.TE)', mustRefuse: false, bytes: `${POST}Content-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\nTransfer-Encoding: chunked\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked and Content-Length: 4 (TE.CL)', mustRefuse: false, bytes: `${POST}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${CHUNKED_SMUGGLED}` },
  { name: 'two different Content-Length headers', mustRefuse: true, bytes: `${POST}Content-Length: 0\r\nContent-Length: ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'two different Content-Length headers, the longer first', mustRefuse: true, bytes: `${POST}Content-Length: ${len(SMUGGLED)}\r\nContent-Length: 0\r\n\r\n${SMUGGLED}` },
  { name: 'a Content-Length list of different values', mustRefuse: true, bytes: `${POST}Content-Length: 0, ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'two identical Content-Length headers', mustRefuse: false, bytes: `${POST}Content-Length: ${len(SMUGGLED)}\r\nContent-Length: ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a signed Content-Length (+N)', mustRefuse: true, bytes: `${POST}Content-Length: +${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a negative Content-Length', mustRefuse: true, bytes: `${POST}Content-Length: -1\r\n\r\n${SMUGGLED}` },
  { name: 'a Content-Length with a space inside the number', mustRefuse: true, bytes: `${POST}Content-Length: 1 ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked, identity', mustRefuse: true, bytes: `${POST}Transfer-Encoding: chunked, identity\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'Transfer-Encoding: xchunked', mustRefuse: true, bytes: `${POST}Transfer-Encoding: xchunked\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'Transfer-Encoding: xchunked with a Content-Length', mustRefuse: true, bytes: `${POST}Transfer-Encoding: xchunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'Transfer-Encoding: chunked then Transfer-Encoding: identity', mustRefuse: true, bytes: `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  // a proxy that unfolds reads chunked, one that does not reads an empty coding: refused outright
  { name: 'Transfer-Encoding continued on an obs-fold line', mustRefuse: true, bytes: `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'Transfer-Encoding folded, with a Content-Length', mustRefuse: true, bytes: `${POST}Content-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'whitespace before the colon: "Transfer-Encoding : chunked"', mustRefuse: true, bytes: `${POST}Content-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\nTransfer-Encoding : chunked\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'whitespace before the colon: "Content-Length : N"', mustRefuse: true, bytes: `${POST}Content-Length : ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a vertical tab before "chunked"', mustRefuse: false, bytes: `${POST}Transfer-Encoding:\x0bchunked\r\n\r\n${CHUNKED_SMUGGLED}` },
  { name: 'HTTP/1.0 with Transfer-Encoding and Content-Length', mustRefuse: false, bytes: `POST /v1/api/a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  // controls: valid spellings the gateway must read as one chunked request
  { name: 'Transfer-Encoding: CHUNKED (codings are case-insensitive)', mustRefuse: false, bytes: `${POST}Transfer-Encoding: CHUNKED\r\n\r\n${CHUNKED_SMUGGLED}` },
  { name: 'Transfer-Encoding: identity, chunked (chunked is the final coding)', mustRefuse: false, bytes: `${POST}Transfer-Encoding: identity, chunked\r\n\r\n${CHUNKED_SMUGGLED}` },
  { name: 'Transfer-Encoding with a tab before "chunked" (optional whitespace)', mustRefuse: false, bytes: `${POST}Transfer-Encoding:\tchunked\r\n\r\n${CHUNKED_SMUGGLED}` }
]

// Header syntax: each malformed line hides a "Transfer-Encoding: chunked" that a lenient
// parser splitting there would see, beside a Content-Length that makes the smuggled
// request body: CL+TE on one reading, a plain body on the other.
const HEADERS: FramingCase[] = [
  { name: 'obs-fold: a header continued on the next line', mustRefuse: false, bytes: `${POST}X-Note: one\r\n Transfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'obs-fold with a tab', mustRefuse: false, bytes: `${POST}X-Note: one\r\n\tTransfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a bare CR inside a header line', mustRefuse: false, bytes: `${POST}X-Note: one\rTransfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a bare LF inside a header line', mustRefuse: false, bytes: `${POST}X-Note: one\nTransfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a bare CR ending a header line', mustRefuse: false, bytes: `${POST}Transfer-Encoding: chunked\rContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a NUL in a header value', mustRefuse: false, bytes: `${POST}X-Note: one\0Transfer-Encoding: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a NUL in a header name', mustRefuse: false, bytes: `${POST}Transfer-Encoding\0: chunked\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a DEL in a header value', mustRefuse: false, bytes: `${POST}X-Note: one\x7ftwo\r\nContent-Length: ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a space inside a header name', mustRefuse: false, bytes: `${POST}Transfer Encoding: chunked\r\nContent-Length: ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a request line ended by a bare LF', mustRefuse: false, bytes: `POST /v1/api/a HTTP/1.1\nHost: x\r\nContent-Length: ${len(SMUGGLED)}\r\n\r\n${SMUGGLED}` },
  { name: 'a request line ended by a bare CR', mustRefuse: false, bytes: `POST /v1/api/a HTTP/1.1\rTransfer-Encoding: chunked\r\nHost: x\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` },
  { name: 'a header block ended by bare LFs', mustRefuse: false, bytes: `${POST}Content-Length: ${len(SMUGGLED)}\n\n${SMUGGLED}` },
  { name: 'whitespace before the first header line', mustRefuse: false, bytes: `POST /v1/api/a HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: x\r\nContent-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\n\r\n${EMPTY_THEN_SMUGGLED}` }
]

/**
 * Sends one attempt followed by the sentinel and checks: no 5xx; refused (400
 * problem+json, closed, nothing upstream) or read as exactly one well-formed POST
 * /v1/api/a; the smuggled request never reaches the upstream.
 */
async function attempt (t: Test, gw: StartedGateway, up: Upstream, started: Started[], c: FramingCase): Promise<void> {
  started.length = 0
  const ex = await exchange(gw.url, [c.bytes + SENTINEL])
  await stillServes(t, gw, up, c.name)
  const mine = started.filter((s) => s.url !== '/v1/api/still-works')
  started.length = 0
  started.push(...mine)
  t.ok(ex.closed, `${c.name}: the exchange ends (no hang)`)
  t.ok(ex.responses.length >= 1 || ex.raw === '', `${c.name}: an answer or a plain close`)
  for (const r of ex.responses) t.ok(r.status < 500, `${c.name}: ${r.status}, never a 5xx`)
  const first = ex.responses[0]
  const refused = first === undefined || first.status === 400
  if (c.mustRefuse || refused) {
    if (c.mustRefuse) t.ok(first !== undefined, `${c.name}: refused with an answer`)
    if (first) assertRefused(t, ex, c.name)
    t.same(started.map((s) => s.url), [], `${c.name}: refused, the upstream saw nothing`)
  } else {
    // read as one request: exactly one POST /v1/api/a upstream, whole
    t.equal(first.status, 200, `${c.name}: proxied`)
    const posts = started.filter((s) => s.url === '/v1/api/a')
    t.equal(posts.length, 1, `${c.name}: exactly one request for /v1/api/a upstream`)
    t.match(posts[0], { method: 'POST', complete: true }, `${c.name}: a whole, well-formed request`)
  }
  t.notOk(started.some((s) => s.url.includes('smuggled')), `${c.name}: the smuggled request never reached the upstream as a request`)
  t.same(started.filter((s) => s.url !== '/v1/api/a' && s.url !== '/v1/api/sentinel').map((s) => s.url), [], `${c.name}: nothing but the request and the sentinel upstream`)
}

t.test('request smuggling: CL+TE, duplicate Content-Length, odd Transfer-Encodings', async (t) => {
  const { gw, up, started } = await setup(t)
  for (const c of FRAMING) await attempt(t, gw, up, started, c)
})

t.test('header syntax: obs-fold, bare CR, bare LF, NUL in header lines and the request line', async (t) => {
  const { gw, up, started } = await setup(t)
  for (const c of HEADERS) await attempt(t, gw, up, started, c)
})

t.test('broken chunked framing is refused; the upstream never gets a whole request', async (t) => {
  const { gw, up, started } = await setup(t)
  const cases: Array<[string, string[]]> = [
    ['a chunk size with trailing whitespace', [`${POST}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`]],
    ['a chunk size in 0x notation', [`${POST}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`]],
    ['a chunk size that overflows 64 bits', [`${POST}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nhello\r\n0\r\n\r\n`]],
    ['a negative chunk size', [`${POST}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n`]],
    ['chunk lines ended by bare LFs', [`${POST}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n`]],
    ['chunk data longer than its size', [`${POST}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`]],
    // the first chunk is fine and may already be on its way upstream: the upstream must
    // then see that request cut off, never completed (nor the smuggled one after it)
    ['a valid chunk, then garbage and a smuggled request', [`${POST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`, `zz\r\n${SMUGGLED}`]]
  ]
  for (const [name, parts] of cases) {
    started.length = 0
    const before = up.requests.length
    const ex = await exchange(gw.url, parts)
    assertRefused(t, ex, name)
    await stillServes(t, gw, up, name)
    t.equal(up.requests.length, before, `${name}: the upstream finished no request`)
    t.notOk(started.some((s) => s.url.includes('smuggled')), `${name}: never the smuggled request`)
    t.ok(started.filter((s) => s.url === '/v1/api/a').every((s) => s.complete === false), `${name}: anything started upstream was cut off`)
  }
})

t.test('Host: a request without one, or with two, is a 400 problem (RFC 9112 §3.2)', async (t) => {
  const { gw, up, started } = await setup(t)
  const cases: Array<[string, string]> = [
    ['no Host header', 'GET /v1/api/a HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['two Host headers', 'GET /v1/api/a HTTP/1.1\r\nHost: api.healthpay.example\r\nHost: evil.example\r\nConnection: close\r\n\r\n']
  ]
  for (const [name, bytes] of cases) {
    started.length = 0
    const ex = await exchange(gw.url, [bytes])
    const [res] = ex.responses
    t.equal(res?.status, 400, `${name}: 400`)
    t.equal(res?.headers['content-type'], PROBLEM, `${name}: problem+json, like every error the gateway produces`)
    t.same(started.map((s) => s.url), [], `${name}: nothing upstream`)
  }
  // HTTP/1.0 needs no Host
  const old = await exchange(gw.url, ['GET /v1/api/a HTTP/1.0\r\n\r\n'])
  t.equal(old.responses[0]?.status, 200, 'HTTP/1.0 without Host is fine')
  await stillServes(t, gw, up, 'the Host checks')
})

// ---------------------------------------------------------------------------------
// oversized headers

t.test('oversized headers: 431 problem+json however they are made up, the upstream untouched', async (t) => {
  const { gw, up, started } = await setup(t)
  const many = Array.from({ length: 700 }, (_, i) => `X-Filler-${i}: 0123456789abcdef\r\n`).join('')
  const cases: Array<[string, string[]]> = [
    ['700 small headers', [`GET /v1/api/a HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n`]],
    ['one 17 KB header name', [`GET /v1/api/a HTTP/1.1\r\nHost: x\r\n${'X'.repeat(17_000)}: 1\r\nConnection: close\r\n\r\n`]],
    ['a 32 KB cookie', [`GET /v1/api/a HTTP/1.1\r\nHost: x\r\nCookie: ${'session=abc; '.repeat(2600)}\r\nConnection: close\r\n\r\n`]],
    ['20 KB of headers in 2 KB writes', Array.from({ length: 10 }, (_, i) => (i === 0 ? 'GET /v1/api/a HTTP/1.1\r\nHost: x\r\n' : '') + `X-Part-${i}: ${'p'.repeat(2000)}\r\n`)],
    // Node counts the bytes of names and values (not ": " nor CRLF) against its 16 KiB
    ['headers that never end (no blank line)', [`GET /v1/api/a HTTP/1.1\r\nHost: x\r\n${'X-More: more\r\n'.repeat(2000)}`]]
  ]
  for (const [name, parts] of cases) {
    started.length = 0
    const ex = await exchange(gw.url, parts)
    t.equal(ex.responses.length, 1, `${name}: one answer`)
    t.equal(ex.responses[0]?.status, 431, `${name}: 431`)
    t.equal(ex.responses[0]?.headers['content-type'], PROBLEM, `${name}: problem+json`)
    t.match(JSON.parse(ex.responses[0]?.body ?? '{}'), { status: 431, code: 'GW_REQUEST_HEADERS_TOO_LARGE' })
    t.ok(ex.closed, `${name}: the connection is closed`)
    t.same(started, [], `${name}: the upstream saw nothing`)
  }


  // just under Node's 16 KiB limit: proxied intact
  started.length = 0
  const value = 'u'.repeat(15_000)
  const under = await exchange(gw.url, [`GET /v1/api/under HTTP/1.1\r\nHost: x\r\nX-Large: ${value}\r\nConnection: close\r\n\r\n`])
  t.equal(under.responses[0]?.status, 200, '15 KB of headers are proxied')
  t.equal(up.requests.at(-1)?.headers['x-large'], value, 'intact')
  await stillServes(t, gw, up, 'the oversized headers')
})

t.test('pipelined: a good request followed by a bad one gets its own answer first (RFC 9112 §9.3.2)', async (t) => {
  const { gw, up, started } = await setup(t)
  // the bad request is parsed while the good one is still with the upstream: its error
  // must not take the good one's place in the answer order (the client would read the
  // 431/400 as the answer to a request the upstream did carry out)
  const bad: Array<[string, string, number]> = [
    ['oversized headers', `GET /v1/api/second HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431],
    ['not HTTP', 'THIS IS NOT HTTP\r\n\r\n', 400],
    ['Content-Length with Transfer-Encoding', `${POST}Content-Length: ${len(EMPTY_THEN_SMUGGLED)}\r\nTransfer-Encoding: chunked\r\n\r\n${EMPTY_THEN_SMUGGLED}`, 400]
  ]
  for (const [name, bytes, status] of bad) {
    started.length = 0
    const ex = await exchange(gw.url, ['GET /v1/api/first HTTP/1.1\r\nHost: x\r\n\r\n' + bytes + SENTINEL])
    await stillServes(t, gw, up, name)
    const firsts = started.filter((s) => s.url === '/v1/api/first')
    t.ok(ex.closed, `${name}: the connection is closed after the bad request`)
    t.same(started.filter((s) => s.url !== '/v1/api/first' && s.url !== '/v1/api/still-works').map((s) => s.url), [], `${name}: only the good request reached the upstream`)
    if (firsts.length > 0) {
      // the upstream carried out the first request: its answer comes first
      t.equal(ex.responses[0]?.status, 200, `${name}: the first answer is the good request's own (got ${ex.responses.map((r) => r.status).join(', ')})`)
    }
    for (const r of ex.responses.slice(1)) t.equal(r.status, status, `${name}: then ${status}`)
    for (const r of ex.responses) if (r.status !== 200) t.equal(r.headers['content-type'], PROBLEM)
  }
})

// ---------------------------------------------------------------------------------
// oversized bodies (BODY_LIMIT_BYTES)

const LIMIT = 1024

function assertTooLarge (t: Test, res: RawResponse | undefined, what: string): void {
  t.equal(res?.status, 413, `${what}: 413`)
  t.equal(res?.headers['content-type'], PROBLEM, `${what}: problem+json`)
  t.match(res && JSON.parse(res.body), { status: 413, code: 'GW_REQUEST_BODY_TOO_LARGE' }, `${what}: GW_REQUEST_BODY_TOO_LARGE`)
}

t.test('a body over the limit by Content-Length: 413 before reading it, nothing upstream, nothing smuggled', async (t) => {
  const { gw, up, started } = await setup(t, { bodyLimitBytes: LIMIT })
  // the body carries a request: whatever the gateway does with the unread body, it is never a request
  const body = SMUGGLED + 'x'.repeat(2000 - len(SMUGGLED))
  const ex = await exchange(gw.url, [`${POST}Content-Length: ${len(body)}\r\n\r\n${body}${SENTINEL}`])
  assertTooLarge(t, ex.responses[0], 'Content-Length 2000')
  t.ok(ex.closed)
  for (const r of ex.responses.slice(1)) t.equal(r.status, 200, 'at most the pipelined sentinel is served after it')
  await stillServes(t, gw, up, 'Content-Length over the limit')
  t.same(started.map((s) => s.url).filter((u) => u !== '/v1/api/sentinel' && !u.startsWith('/v1/api/still-works')), [], 'neither the POST nor the smuggled request reached the upstream')

  // Expect: 100-continue with a declared length over the limit: refused without the body
  // (an interim 100 Continue before it is tolerated: Node sends it by itself)
  started.length = 0
  const expect = await exchange(gw.url, [`${POST}Content-Length: 50000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`])
  const final = expect.responses.filter((r) => r.status >= 200)
  t.equal(final.length, 1, 'Expect: 100-continue: one final answer')
  assertTooLarge(t, final[0], 'Expect: 100-continue with 50 MB declared')
  t.ok(expect.closed, 'and the connection closes without waiting for the 50 MB')
  // a length beyond 2^53: still a 413 (or a 400), never a 500
  const huge = await exchange(gw.url, [`${POST}Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n`])
  t.ok([400, 413].includes(huge.responses[0]?.status ?? 0), `Content-Length 99999999999999999999: ${huge.responses[0]?.status}`)
  t.equal(huge.responses[0]?.headers['content-type'], PROBLEM)
  await stillServes(t, gw, up, 'Expect: 100-continue')
  t.same(started.filter((s) => s.url === '/v1/api/a'), [], 'the upstream never saw those POSTs')
})

t.test('a chunked body over the limit: 413, and the upstream never gets a complete request', async (t) => {
  const { gw, up, started } = await setup(t, { bodyLimitBytes: LIMIT })
  const head = `${POST}Transfer-Encoding: chunked\r\n\r\n`
  const pause: Gate = () => until(() => started.some((s) => s.url === '/v1/api/a'), 1000).catch(() => {})
  const cases: Array<[string, Array<string | Gate>]> = [
    ['one 2000-byte chunk', [`${head}7d0\r\n${'x'.repeat(2000)}\r\n0\r\n\r\n`]],
    ['eight 256-byte chunks in one write', [head + `100\r\n${'x'.repeat(256)}\r\n`.repeat(8) + '0\r\n\r\n']],
    // the client pauses after 512 bytes: until the upstream has the request, or for a
    // second (a gateway that holds the body back until it knows the size gives it nothing
    // to wait for), then sends 1024 more
    ['512 bytes, a pause, then 1024 more', [`${head}200\r\n${'x'.repeat(512)}\r\n`, pause, `400\r\n${'y'.repeat(1024)}\r\n0\r\n\r\n`]]
  ]
  for (const [name, parts] of cases) {
    started.length = 0
    const before = up.requests.length
    const ex = await exchange(gw.url, [...parts, SENTINEL])
    assertTooLarge(t, ex.responses[0], name)
    t.ok(ex.closed, `${name}: the exchange ends`)
    // the upstream's side of a cut-off request lands a moment after the 413: this round trip waits for it
    await stillServes(t, gw, up, name)
    const posts = started.filter((s) => s.url === '/v1/api/a')
    t.equal(up.requests.length - before, ex.responses.length - 1, `${name}: the upstream finished no request but the sentinel`)
    // README: a chunked body streams; past the limit the upstream request is aborted, so an
    // upstream may see the start of it (at most the limit's bytes), never a complete one
    t.ok(posts.every((s) => s.complete === false), `${name}: a request that did start upstream was cut off, never completed`)
    t.ok(posts.every((s) => s.body.length <= LIMIT), `${name}: and it got at most ${LIMIT} body bytes`)
  }
  // at the limit exactly: proxied whole
  const exact = await exchange(gw.url, [`${head}400\r\n${'z'.repeat(LIMIT)}\r\n0\r\n\r\n${SENTINEL}`])
  t.equal(exact.responses[0]?.status, 200, `${LIMIT} bytes chunked: proxied`)
  t.equal(up.requests.find((r) => r.url === '/v1/api/a')?.body.length, LIMIT, 'whole')
})

// ---------------------------------------------------------------------------------
// slow-loris

t.test('slow-loris: headers trickled a byte at a time are cut off by the headers timeout', async (t) => {
  // Node's own headers timeout is 60 s, checked every 30 s: far too long for a test and for
  // an edge. The gateway must make it configurable; server.headersTimeoutMs is that key.
  const HEADERS_TIMEOUT_MS = 500
  let ctx: Awaited<ReturnType<typeof setup>>
  try {
    ctx = await setup(t, { headersTimeoutMs: HEADERS_TIMEOUT_MS })
  } catch (err) {
    t.fail(`the gateway has no configurable headers timeout (server.headersTimeoutMs): ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`)
    return
  }
  const { gw, up, started } = ctx
  /** trickles an endless header block one byte per 50 ms until the gateway closes; resolves with what came back */
  const slowLoris = async (trickle: boolean) => {
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
    const closed = once(socket, 'close')
    socket.on('error', () => {})
    let raw = ''
    socket.setEncoding('latin1')
    socket.on('data', (c: string) => { raw += c })
    await once(socket, 'connect')
    const t0 = performance.now()
    const text = `GET /v1/api/a HTTP/1.1\r\nHost: x\r\nX-Slow: ${'z'.repeat(5000)}`
    let i = 0
    const drip = trickle ? setInterval(() => { if (!socket.destroyed) socket.write(text[i++]!) }, 50) : undefined
    // a deadline that fails the test, not a wait: the close must come well before it
    let timedOut = false
    const deadline = setTimeout(() => { timedOut = true; socket.destroy() }, 10 * HEADERS_TIMEOUT_MS + 2000)
    await closed
    clearInterval(drip)
    clearTimeout(deadline)
    const responses = parseResponses(raw)
    for (const r of responses) statusesSeen.push(r.status)
    return { timedOut, ms: performance.now() - t0, bytes: i, responses }
  }
  for (const trickle of [true, false]) {
    const what = trickle ? 'a byte every 50 ms' : 'a connection that sends nothing'
    const other = call(`${gw.url}/v1/api/meanwhile`)
    const loris = await slowLoris(trickle)
    t.notOk(loris.timedOut, `${what}: the gateway closed the connection (${Math.round(loris.ms)} ms, ${loris.bytes} bytes sent)`)
    for (const r of loris.responses) {
      t.equal(r.status, 408, `${what}: 408`)
      t.equal(r.headers['content-type'], PROBLEM)
      t.match(JSON.parse(r.body), { code: 'GW_REQUEST_TIMEOUT' })
    }
    t.equal((await other).status, 200, `${what}: other clients are served meanwhile`)
  }
  // fifty at once, then a normal request
  const many = await Promise.all(Array.from({ length: 50 }, () => slowLoris(true)))
  t.equal(many.filter((l) => l.timedOut).length, 0, '50 slow-loris connections: all closed by the gateway')
  t.same(started.filter((s) => s.url === '/v1/api/a'), [], 'none of them reached the upstream')
  await stillServes(t, gw, up, 'the slow-loris connections')
})

// ---------------------------------------------------------------------------------

t.test('no exchange in this file got a 5xx, and the gateways logged no error', async (t) => {
  t.ok(statusesSeen.length > 80, `${statusesSeen.length} answers checked`)
  t.same(statusesSeen.filter((s) => s >= 500), [], 'never a 5xx')
  t.same(errorLogs, [], 'nothing logged at error level')
})
