// The request line logRequest writes by hand (one template, no serializer) is the
// line pino itself writes for log.info(fields, 'request completed'): same bytes for
// ordinary values, the same JSON for strings that need escaping.
import t from 'tap'
import { pino } from 'pino'
import type { FastifyRequest } from 'fastify'
import { logRequest, RequestLogger, redactUrl } from '../../src/logging.js'

interface Case {
  name: string
  request: { id: string, method: string, originalUrl: string, consumer?: { id: string }, upstream?: string | null, trace?: { traceId: string, spanId: string }, ip?: string }
  route: string
  status: number
  durationMs: number
}

const ordinary: Case = {
  name: 'an ordinary request',
  request: { id: 'c0a8f2d4-1b2c-4d5e-8f90-123456789abc', method: 'GET', originalUrl: '/v1/api/wallets/w1?page=2', consumer: { id: 'u-alice' }, upstream: 'http://127.0.0.1:4000', trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }, ip: '127.0.0.1' },
  route: '/v1/api/*',
  status: 200,
  durationMs: 1.23456
}
const cases: Case[] = [
  ordinary,
  { name: 'no consumer, upstream, trace or address', request: { id: 'req-2', method: 'POST', originalUrl: '/v1/auth/login', upstream: null }, route: '/v1/auth/*', status: 502, durationMs: 0 },
  { name: 'a redacted credential in the query', request: { ...ordinary.request, originalUrl: '/v1/api/x?apikey=secret&a=1' }, route: '/v1/api/*', status: 401, durationMs: 12 },
  {
    name: 'strings that need escaping',
    request: { ...ordinary.request, id: 'id "quoted" \\ back', originalUrl: '/v1/api/\u00e9t\u00e9\u2028\u{1F600}?q=a"b', consumer: { id: 'tab\there\nnew line\u0001' }, upstream: 'lone \ud800 surrogate' },
    route: '/v1/api/"odd"',
    status: 200,
    durationMs: 3.333
  },
  { name: 'a duration that is not a number', request: { ...ordinary.request }, route: '/v1/api/*', status: 504, durationMs: Number.NaN }
]

function lines () {
  const out: string[] = []
  return { out, stream: { write: (line: string) => { out.push(line) } } }
}

/** what pino writes for the request's line */
function pinoLine (c: Case): string {
  const { out, stream } = lines()
  pino({ level: 'info' }, stream).child({ requestId: c.request.id }).info({
    route: c.route,
    method: c.request.method,
    url: redactUrl(c.request.originalUrl),
    status: c.status,
    durationMs: Math.round(c.durationMs * 100) / 100,
    consumer: c.request.consumer?.id,
    upstream: c.request.upstream ?? undefined,
    traceId: c.request.trace?.traceId,
    spanId: c.request.trace?.spanId,
    remoteAddress: c.request.ip
  }, 'request completed')
  return out[0]!
}

function ourLine (c: Case, lazy: boolean): string {
  const { out, stream } = lines()
  const parent = pino({ level: 'info' }, stream)
  const log = lazy ? new RequestLogger(parent as never, { requestId: c.request.id }, {}) : parent.child({ requestId: c.request.id })
  logRequest({ ...c.request, log } as unknown as FastifyRequest, c.route, c.status, c.durationMs)
  t.equal(out.length, 1, 'one line')
  return out[0]!
}

t.test('the hand-written line is the line pino writes', async (t) => {
  const now = Date.now
  Date.now = () => 1_796_000_000_123 // pino's "time" and ours: the same clock
  t.teardown(() => { Date.now = now })
  for (const c of cases) {
    for (const lazy of [true, false]) {
      const ours = ourLine(c, lazy)
      const theirs = pinoLine(c)
      const logger = lazy ? 'the lazy request logger' : 'a pino child'
      t.ok(ours.endsWith('}\n'), `${c.name}, ${logger}: one line`)
      // pino's own escaping leaves a lone surrogate unescaped; ours is JSON.stringify's
      // (valid UTF-8). Everything else is byte for byte.
      if (c.name === 'strings that need escaping') t.same(JSON.parse(ours), JSON.parse(theirs), `${c.name}, ${logger}: the same JSON`)
      else t.equal(ours, theirs, `${c.name}, ${logger}: byte for byte`)
      t.same(Object.keys(JSON.parse(ours)), Object.keys(JSON.parse(theirs)), `${c.name}, ${logger}: the same keys in the same order`)
    }
  }
  const escaped = JSON.parse(ourLine(cases[3]!, true))
  t.equal(escaped.upstream, 'lone \ud800 surrogate', 'a lone surrogate survives the round trip')
  t.equal(escaped.requestId, 'id "quoted" \\ back', 'the request id is escaped too')
  t.equal(JSON.parse(ourLine(cases[4]!, true)).durationMs, null, 'NaN is written as JSON writes it: null')
  t.match(JSON.parse(ourLine(cases[2]!, true)).url, /apikey=\[redacted\]/, 'credentials in the query are redacted')
})
