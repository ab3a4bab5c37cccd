// One JSON log line per request at info: request id, route pattern, status,
// duration, consumer, upstream target, trace id; credentials never written;
// LOG_LEVEL respected.
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { once } from 'node:events'
import { startUpstream, startWsUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, freePort } from '../helpers.js'
import { scrape } from '../metrics/scrape.js'

interface Line { level: number, msg: string, requestId?: string, [key: string]: unknown }

function capture () {
  const lines: string[] = []
  return { lines, parsed: () => lines.map((l) => JSON.parse(l) as Line), logStream: { write: (line: string) => lines.push(line) } }
}

/** the SPEC routes with their auth, a JWT secret, an echo upstream, and the log lines captured */
async function jwtGateway (t: Test, logLevel: string) {
  const log = capture()
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET }, server: { logLevel } }, { logStream: log.logStream })
  return { log, up, gw }
}

t.test('one line per request with what the request turned out to be', async (t) => {
  const { log, up, gw } = await jwtGateway(t, 'info')
  const ok = await call(`${gw.url}/api/wallets/w1?page=2`, { headers: { ...bearer(signToken({ sub: 'u-alice' })), 'x-request-id': 'req-log-1', 'x-api-version': '2' } })
  t.equal(ok.status, 200)
  const refused = await call(`${gw.url}/v1/api/wallets/w1`)
  t.equal(refused.status, 401)
  const missing = await call(`${gw.url}/no/such/route`)
  t.equal(missing.status, 404)

  const requestLines = log.parsed().filter((l) => l.msg === 'request completed')
  t.equal(requestLines.length, 3, 'exactly one line per request')
  t.notOk(log.parsed().some((l) => l.msg === 'incoming request'), 'no second line when the request arrives')
  const [first, second, third] = requestLines
  const upstreamTrace = String(up.requests[0]!.headers.traceparent).split('-')
  t.match(first, {
    level: 30,
    requestId: 'req-log-1',
    route: '/v2/api/*',
    method: 'GET',
    url: '/api/wallets/w1?page=2',
    status: 200,
    consumer: 'u-alice',
    upstream: up.url,
    traceId: upstreamTrace[1],
    spanId: upstreamTrace[2]
  })
  t.type(first!.durationMs, 'number')
  t.ok((first!.durationMs as number) > 0 && (first!.durationMs as number) < 5000)
  t.match(second, { route: '/v1/api/*', status: 401, requestId: refused.headers['x-request-id'] })
  t.notOk('consumer' in second! || 'upstream' in second!, 'a refused request has no consumer and never went upstream')
  t.match(third, { route: 'unmatched', status: 404, url: '/no/such/route' })
  t.match(third!.traceId, /^[0-9a-f]{32}$/, 'every request has a trace id, routed or not')
})

t.test('credentials are never written: headers, query tokens, cookies', async (t) => {
  const { log, gw } = await jwtGateway(t, 'trace')
  const token = signToken({ sub: 'u-bob' })
  const key = 'hpk_never-logged-key-0123456789'
  await call(`${gw.url}/v1/api/wallets/w1?access_token=${token}&page=3`, { headers: { ...bearer(token), cookie: 'session=cookie-secret-value', 'x-api-key': key } })
  await call(`${gw.url}/v1/auth/login?token=${token}`, { method: 'POST', headers: { authorization: 'Basic dXNlcjpwYXNzd29yZA==', cookie: 'sid=other-cookie-secret' } })
  const text = log.lines.join('\n')
  t.ok(log.lines.length >= 2)
  t.ok(text.includes('access_token=[redacted]'), 'the query token is shown redacted')
  t.ok(text.includes('page=3'), 'other parameters stay readable')
  for (const secret of [token.split('.')[2]!, key, 'cookie-secret-value', 'other-cookie-secret', 'dXNlcjpwYXNzd29yZA']) {
    t.notOk(text.includes(secret), `no line contains ${secret.slice(0, 10)}…`)
  }
})

t.test('LOG_LEVEL=warn: no per-request lines, warnings still written', async (t) => {
  const log = capture()
  const up = await startUpstream(t)
  const dead = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, { services: servicesFor(dead, up.url), retry: { attempts: 0 }, server: { logLevel: 'warn' } }, { logStream: log.logStream })
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 200)
  t.equal((await call(`${gw.url}/v1/commands/x`, { method: 'POST' })).status, 502)
  const lines = log.parsed()
  t.notOk(lines.some((l) => l.msg === 'request completed'), 'no info line')
  t.ok(lines.some((l) => l.level === 40 && l.msg === 'upstream request failed' && l.target === dead), 'the failed upstream request is a warning')
  t.ok(lines.every((l) => l.level >= 40))
})

t.test("a request's own lines (a warning, a retry at debug) carry its id and the process's bindings, like its request line", async (t) => {
  const log = capture()
  const up = await startUpstream(t)
  const dead = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, { services: servicesFor(dead, [dead, up.url]), retry: { attempts: 1 }, server: { logLevel: 'debug' } }, { logStream: log.logStream })
  // round robin: one of two requests meets the dead target first and is retried on the live one
  const ids = ['req-retry-1', 'req-retry-2']
  for (const id of ids) t.equal((await call(`${gw.url}/v1/api/x`, { headers: { 'x-request-id': id } })).status, 200)
  // the command service's only target is dead: a warning
  t.equal((await call(`${gw.url}/v1/commands/x`, { method: 'POST', headers: { 'x-request-id': 'req-failed' } })).status, 502)
  const lines = log.parsed()
  const retried = lines.find((l) => l.msg === 'retrying on another target')
  t.ok(retried, 'the retry is logged at debug')
  t.ok(ids.includes(retried!.requestId!), 'with the id of the request it belongs to')
  const failed = lines.find((l) => l.msg === 'upstream request failed')
  t.equal(failed?.requestId, 'req-failed', 'a warning too')
  const completed = lines.find((l) => l.msg === 'request completed' && l.requestId === retried!.requestId)
  t.ok(completed, 'and its request line')
  for (const line of [retried!, failed!, completed!]) t.match(line, { pid: process.pid, hostname: String })
  t.same(lines.filter((l) => l.msg === 'request completed').map((l) => l.requestId), [...ids, 'req-failed'], 'one request line each')
})

t.test('LOG_LEVEL=silent writes nothing at all', async (t) => {
  const log = capture()
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { logLevel: 'silent' } }, { logStream: log.logStream })
  await call(`${gw.url}/v1/api/x`)
  await call(`${gw.url}/nowhere`)
  t.same(log.lines, [])
})

t.test('a proxied WebSocket upgrade is logged and counted once, with its 101', async (t) => {
  const log = capture()
  const ws = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(ws.url), server: { logLevel: 'info' } }, { logStream: log.logStream })
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws')
  await once(client, 'open')
  const refused = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/nowhere`)
  await once(refused, 'error')
  client.close()
  await once(client, 'close')
  const lines = log.parsed().filter((l) => l.msg === 'request completed')
  t.match(lines.find((l) => l.route === '/v1/graphql/*'), { method: 'GET', status: 101, upstream: ws.url, url: '/v1/graphql' })
  t.match(lines.find((l) => l.route === 'unmatched'), { status: 404 })
  const m = await scrape(gw.adminUrl)
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/graphql/*', method: 'GET', status: '101' }), 1)
})

t.test('the per-request logger makes its pino child only when the request logs at an enabled level', async (t) => {
  const { pino } = await import('pino')
  const { RequestLogger } = await import('../../src/logging.js')
  const lines: string[] = []
  const parent = pino({ level: 'info' }, { write: (l: string) => lines.push(l) })
  let children = 0
  const counted = Object.assign(Object.create(parent), { child: (...a: Parameters<typeof parent.child>) => { children++; return parent.child(...a) } })
  const log = new RequestLogger(counted, { requestId: 'req-lazy' }, {})
  log.debug('below the level')
  t.equal(children, 0, 'a call below the level makes no child')
  t.equal(log.isLevelEnabled('info'), true)
  const { prefix } = log.linePrefix(30)
  t.match(prefix, /,"requestId":"req-lazy"$/, "the request line carries the id without a child")
  t.equal(children, 0)
  log.warn({ n: 1 }, 'logged')
  log.error('again')
  t.equal(children, 1, 'one child, made on the first line and kept')
  t.match(JSON.parse(lines[0]!), { level: 40, requestId: 'req-lazy', n: 1, msg: 'logged' })
  t.match(log.linePrefix(30).prefix, /"requestId":"req-lazy"$/, 'after that the prefix is the child bindings')
  t.notMatch(log.linePrefix(30).prefix, /requestId.*requestId/, 'the id appears once')
})
