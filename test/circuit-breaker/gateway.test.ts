// The circuit breaker in the running gateway: real upstreams, a fake clock for the
// breaker (deps.now), one target per service and passive ejection off, so the
// breaker alone decides who reaches the upstream.
import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { ConfigError } from '../../src/config/index.js'
import { testConfig, startWsUpstream, startUpstream, startGateway, servicesFor, call, until, freePort, echo, rawExchange, type UpstreamHandler, type SimpleResponse } from '../helpers.js'

const RESET_MS = 30_000
const ADMIN_TOKEN = 'breaker-test-admin-token'
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
const NO_EJECTION = { passiveHealth: { enabled: false } }
const PROBLEM_JSON = 'application/problem+json; charset=utf-8'

const failing: UpstreamHandler = (_req, res) => {
  res.statusCode = 500
  res.setHeader('content-type', 'application/json')
  res.end('{"upstream":"failing"}')
}

/**
 * A query upstream whose behaviour the test switches, a command upstream that echoes,
 * and a gateway whose breakers run on a clock the test moves.
 */
async function setup (t: Test, overrides: Record<string, any> = {}, logStream?: { write: (line: string) => unknown }) {
  let handler: UpstreamHandler = failing
  const query = await startUpstream(t, (req, res, body) => handler(req, res, body))
  const command = await startUpstream(t, echo('command'))
  const clock = { now: Date.now() }
  const gw = await startGateway(t, {
    services: servicesFor(command.url, query.url, NO_EJECTION),
    ...overrides,
    breaker: { minRequests: 3, ...overrides.breaker }
  }, { now: () => clock.now, ...(logStream ? { logStream } : {}) })
  const breaker = gw.context.breakers.get('query')!
  return {
    gw,
    query,
    command,
    clock,
    breaker,
    setHandler: (next: UpstreamHandler) => { handler = next },
    /** sends failing requests until the query breaker opens; returns how many it took */
    async open (path = '/v1/api/wallets'): Promise<number> {
      let n = 0
      while (breaker.snapshot().state !== 'open') {
        if (++n > 50) throw new Error('the breaker did not open')
        const res = await call(`${gw.url}${path}`)
        if (res.status < 500) throw new Error(`expected a failure, got ${res.status}`)
      }
      return n
    }
  }
}

function assertBreakerOpen (t: Test, res: SimpleResponse, retryAfter = '30', instance?: string): void {
  t.equal(res.status, 503)
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.equal(res.headers['retry-after'], retryAfter)
  t.match(res.json(), { code: 'GW_BREAKER_OPEN', status: 503, detail: /Service "query" is failing/, ...(instance ? { instance } : {}) })
}

t.test('opens at the threshold, never before BREAKER_MIN_REQUESTS, then answers 503 GW_BREAKER_OPEN without the upstream', async (t) => {
  const { gw, query, breaker } = await setup(t, { breaker: { minRequests: 5 } })
  for (let i = 1; i <= 4; i++) {
    const res = await call(`${gw.url}/v1/api/wallets`)
    t.equal(res.status, 500, `request ${i}: the upstream's 500 is relayed`)
    t.same(res.json(), { upstream: 'failing' })
    t.equal(query.requests.length, i, `request ${i} reached the upstream`)
    t.equal(breaker.snapshot().state, 'closed', `still closed after ${i} failures (< minRequests)`)
  }
  const fifth = await call(`${gw.url}/v1/api/wallets`)
  t.equal(fifth.status, 500, 'the 5th still reaches the upstream and gets its answer')
  t.equal(query.requests.length, 5)
  t.equal(breaker.snapshot().state, 'open', 'the 5th failure opens it')
  for (let i = 6; i <= 10; i++) {
    const res = await call(`${gw.url}/v1/api/wallets?n=${i}`)
    assertBreakerOpen(t, res, '30', '/v1/api/wallets')
    t.ok(res.headers['x-request-id'], 'the fallback still carries the request id')
  }
  t.equal(query.requests.length, 5, 'no request got past the open breaker')
  t.match(breaker.snapshot(), { state: 'open', opened: 1, rejected: 5 })
})

t.test('4xx answers are successes: the breaker stays closed', async (t) => {
  const { gw, query, breaker, setHandler } = await setup(t, { breaker: { minRequests: 5 } })
  setHandler((_req, res) => { res.statusCode = 404; res.end('{"error":"not found"}') })
  for (let i = 0; i < 30; i++) t.equal((await call(`${gw.url}/v1/api/wallets/${i}`)).status, 404)
  t.equal(query.requests.length, 30, 'every request reached the upstream')
  t.match(breaker.snapshot(), { state: 'closed', window: { requests: 30, failures: 0, failureRate: 0 }, opened: 0, rejected: 0 })
})

t.test('timeouts and connection errors are failures', async (t) => {
  t.test('an upstream that never answers: 504s, then GW_BREAKER_OPEN', async (t) => {
    const { gw, query, breaker, setHandler } = await setup(t, { breaker: { timeoutMs: 100, minRequests: 3 } })
    setHandler(() => {}) // never answers
    for (let i = 1; i <= 3; i++) {
      const res = await call(`${gw.url}/v1/api/slow`)
      t.equal(res.status, 504)
      t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_TIMEOUT' })
    }
    t.equal(query.requests.length, 3)
    t.match(breaker.snapshot(), { state: 'open', opened: 1 })
    assertBreakerOpen(t, await call(`${gw.url}/v1/api/slow`))
    t.equal(query.requests.length, 3, 'the open breaker sent nothing more')
  })

  t.test('a dead target: 502 then 503 (ejected, no healthy target), then GW_BREAKER_OPEN', async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`
    const command = await startUpstream(t, echo('command'))
    const clock = { now: Date.now() }
    // passive health left on here: the refused connection ejects the only target,
    // so the "no healthy target" 503 is exercised as a failure too
    const gw = await startGateway(t, { services: servicesFor(command.url, dead), breaker: { minRequests: 3 } }, { now: () => clock.now })
    const first = await call(`${gw.url}/v1/api/x`)
    t.equal(first.status, 502)
    t.match(first.json(), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE' })
    for (let i = 0; i < 2; i++) {
      const res = await call(`${gw.url}/v1/api/x`)
      t.equal(res.status, 503)
      t.match(res.json(), { code: 'GW_PROXY_NO_HEALTHY_TARGET' })
    }
    t.match(gw.context.breakers.get('query')!.snapshot(), { state: 'open', opened: 1, window: { requests: 3, failures: 3 } })
    assertBreakerOpen(t, await call(`${gw.url}/v1/api/x`))
  })

  t.test('a dead target without ejection: 502s, then GW_BREAKER_OPEN', async (t) => {
    const dead = `http://127.0.0.1:${await freePort()}`
    const gw = await startGateway(t, { services: servicesFor(dead, dead, NO_EJECTION), breaker: { minRequests: 3 } })
    for (let i = 0; i < 3; i++) {
      const res = await call(`${gw.url}/v1/api/x`)
      t.equal(res.status, 502)
      t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE' })
    }
    const res = await call(`${gw.url}/v1/api/x`)
    t.equal(res.status, 503)
    t.match(res.json(), { code: 'GW_BREAKER_OPEN' })
    t.equal(gw.context.breakers.get('command')!.snapshot().state, 'closed', 'the command service (same dead URL) is untouched')
  })
})

t.test('while open the fallback comes back at once, without touching a slow upstream', async (t) => {
  const { gw, query, setHandler, open } = await setup(t)
  await open()
  const seen = query.requests.length
  const SLOW_MS = 2000
  setHandler((_req, res) => { setTimeout(() => res.end('late'), SLOW_MS).unref() })
  const started = Date.now()
  const res = await call(`${gw.url}/v1/api/wallets`)
  const elapsed = Date.now() - started
  assertBreakerOpen(t, res)
  t.ok(elapsed < SLOW_MS / 2, `answered in ${elapsed} ms, well under the upstream's ${SLOW_MS} ms`)
  t.equal(query.requests.length, seen, 'the upstream saw nothing new')
  // a POST with a body is refused the same way, and its body never travels
  const post = await call(`${gw.url}/v1/api/wallets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' })
  assertBreakerOpen(t, post)
  t.equal(query.requests.length, seen)
})

t.test('a route\'s configured fallback is answered while open', async (t) => {
  const routes = [
    { prefix: '/v1/api', service: 'query', auth: 'public', fallback: { status: 200, body: { wallets: [], degraded: true }, headers: { 'x-degraded': 'yes' } } },
    { prefix: '/v1/busy', service: 'query', auth: 'public', fallback: { status: 503, body: { message: 'try later' } } },
    { prefix: '/v1/own', service: 'query', auth: 'public', fallback: { status: 503, body: { message: 'later' }, headers: { 'Retry-After': '120', 'Content-Type': 'application/vnd.degraded+json' } } },
    { prefix: '/v1/empty', service: 'query', auth: 'public', fallback: { status: 204 } },
    { prefix: '/v1/graphql', service: 'query', auth: 'public', websocket: true }
  ]
  const { gw, query, open } = await setup(t, { routes })
  await open()
  const seen = query.requests.length

  const degraded = await call(`${gw.url}/v1/api/wallets`)
  t.equal(degraded.status, 200)
  t.same(degraded.json(), { wallets: [], degraded: true })
  t.equal(degraded.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(degraded.headers['x-degraded'], 'yes')
  t.equal(degraded.headers['retry-after'], undefined, 'a 200 fallback gets no Retry-After')

  const busy = await call(`${gw.url}/v1/busy/x`)
  t.equal(busy.status, 503)
  t.same(busy.json(), { message: 'try later' })
  t.equal(busy.headers['retry-after'], '30', 'a configured 503 without its own Retry-After gets one')

  const own = await call(`${gw.url}/v1/own/x`)
  t.equal(own.status, 503)
  t.equal(own.headers['retry-after'], '120', 'a configured Retry-After is kept')
  t.match(own.headers['content-type'], /^application\/vnd\.degraded\+json/, 'a configured Content-Type wins')
  t.same(own.json(), { message: 'later' })

  const empty = await call(`${gw.url}/v1/empty/x`)
  t.equal(empty.status, 204, 'a fallback without a body: just the status')
  t.equal(empty.text, '')

  const plain = await call(`${gw.url}/v1/graphql`)
  assertBreakerOpen(t, plain, '30', '/v1/graphql')

  t.equal(query.requests.length, seen, 'none of the fallbacks touched the upstream')
})

t.test('half-open admits exactly halfOpenRequests (3) of 10 concurrent requests; their success closes it', async (t) => {
  const { gw, query, clock, breaker, setHandler, open } = await setup(t)
  await open()
  const held: http.ServerResponse[] = []
  setHandler((_req, res) => { held.push(res) })
  const before = query.requests.length
  clock.now += RESET_MS

  const settled: SimpleResponse[] = []
  const pending = Array.from({ length: 10 }, (_, i) => call(`${gw.url}/v1/api/wallets?i=${i}`).then((res) => { settled.push(res); return res }))
  await until(() => held.length === 3 && settled.length === 7, 5000, '3 trials held upstream and 7 refusals back')
  t.equal(held.length, 3, 'exactly three trials reached the upstream')
  t.equal(query.requests.length, before + 3)
  for (const res of settled) assertBreakerOpen(t, res, '1')
  t.match(breaker.snapshot(), { state: 'half-open', stateCode: 1, trials: { admitted: 3, succeeded: 0, of: 3 }, rejected: 7 })

  for (const res of held) { res.setHeader('content-type', 'application/json'); res.end('{"upstream":"recovered"}') }
  const all = await Promise.all(pending)
  const trials = all.filter((res) => res.status !== 503)
  t.equal(trials.length, 3)
  for (const res of trials) {
    t.equal(res.status, 200)
    t.same(res.json(), { upstream: 'recovered' })
  }
  t.match(breaker.snapshot(), { state: 'closed', stateCode: 0, window: { requests: 0, failures: 0 } })

  setHandler(echo('query'))
  const next = await call(`${gw.url}/v1/api/after`)
  t.equal(next.status, 200)
  t.equal(next.json().upstream, 'query', 'the next request reaches the upstream')
  t.equal(query.requests.length, before + 4)
})

t.test('a failed trial reopens the breaker for another resetMs', async (t) => {
  const { gw, query, clock, breaker, open } = await setup(t)
  await open()
  clock.now += RESET_MS
  const seen = query.requests.length
  const trial = await call(`${gw.url}/v1/api/wallets`)
  t.equal(trial.status, 500, 'the trial gets the upstream\'s 500')
  t.same(trial.json(), { upstream: 'failing' })
  t.equal(query.requests.length, seen + 1)
  t.match(breaker.snapshot(), { state: 'open', opened: 2 })
  assertBreakerOpen(t, await call(`${gw.url}/v1/api/wallets`), '30')
  t.equal(query.requests.length, seen + 1)
  // part of the way through the new reset period, Retry-After counts down
  clock.now += 12_500
  assertBreakerOpen(t, await call(`${gw.url}/v1/api/wallets`), '18')
})

t.test('visibility: one log line per transition, /admin/breakers and /admin/upstreams', async (t) => {
  const lines: Array<Record<string, any>> = []
  const logStream = {
    write: (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line))
    }
  }
  const { gw, clock, setHandler, open } = await setup(t, { server: { logLevel: 'info', adminToken: ADMIN_TOKEN } }, logStream)
  const breakers = async () => {
    const res = await call(`${gw.adminUrl}/admin/breakers`, { headers: admin })
    t.equal(res.status, 200)
    return res.json()
  }

  const fresh = await breakers()
  t.match(fresh, { settings: { errorThreshold: 0.5, minRequests: 3, resetMs: RESET_MS, halfOpenRequests: 3 }, services: { query: { state: 'closed', stateCode: 0, opened: 0, rejected: 0 }, command: { state: 'closed' } } })

  await open()
  for (let i = 0; i < 2; i++) assertBreakerOpen(t, await call(`${gw.url}/v1/api/wallets`))
  const whileOpen = await breakers()
  t.match(whileOpen.services.query, { state: 'open', stateCode: 2, opened: 1, window: { requests: 3, failures: 3, failureRate: 1 } })
  t.ok(whileOpen.services.query.rejected > 0, `rejected ${whileOpen.services.query.rejected}`)
  t.equal(whileOpen.services.query.halfOpenAt, new Date(clock.now + RESET_MS).toISOString())
  t.equal(whileOpen.services.command.state, 'closed')

  const upstreams = await call(`${gw.adminUrl}/admin/upstreams`, { headers: admin })
  t.equal(upstreams.status, 200)
  t.match(upstreams.json(), { services: { query: { breaker: { state: 'open', opened: 1 }, retries: {} }, command: { breaker: { state: 'closed' } } } })

  t.equal((await call(`${gw.adminUrl}/admin/breakers`)).status, 401, 'the admin API still wants its token')

  setHandler(echo('query'))
  clock.now += RESET_MS
  for (let i = 0; i < 3; i++) t.equal((await call(`${gw.url}/v1/api/wallets`)).status, 200)
  const recovered = await breakers()
  t.match(recovered.services.query, { state: 'closed', stateCode: 0, opened: 1 })
  t.notOk('halfOpenAt' in recovered.services.query)

  const about = (prefix: string) => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(prefix))
  const opened = about('circuit breaker opened:')
  const halfOpen = about('circuit breaker half-open:')
  const closed = about('circuit breaker closed:')
  t.equal(opened.length, 1, 'one "opened" line')
  t.equal(halfOpen.length, 1, 'one "half-open" line')
  t.equal(closed.length, 1, 'one "closed" line')
  t.match(opened[0], { level: 40, service: 'query', breaker: 'open', from: 'closed', failures: 3, requests: 3, msg: /3 of 3 requests failed/ })
  t.match(halfOpen[0], { level: 30, service: 'query', breaker: 'half-open', from: 'open' })
  t.match(closed[0], { level: 30, service: 'query', breaker: 'closed', from: 'half-open' })
  t.equal(lines.filter((l) => l.breaker !== undefined && l.service !== 'query').length, 0, 'nothing about the command service')
})

t.test('one breaker per service: the query breaker open does not touch /v1/commands', async (t) => {
  const { gw, command, open } = await setup(t)
  await open()
  assertBreakerOpen(t, await call(`${gw.url}/v1/api/wallets`))
  for (let i = 0; i < 5; i++) {
    const res = await call(`${gw.url}/v1/commands/status`)
    t.equal(res.status, 200)
    t.equal(res.json().upstream, 'command')
  }
  t.equal(command.requests.length, 5)
  t.match(gw.context.breakers.get('command')!.snapshot(), { state: 'closed', window: { requests: 5, failures: 0 }, opened: 0, rejected: 0 })
  t.match(gw.context.breakers.get('query')!.snapshot(), { state: 'open', window: { requests: 3, failures: 3 } })
})

t.test('a WebSocket upgrade on /v1/graphql while the query breaker is open gets the 503 fallback, not a tunnel', async (t) => {
  const { gw, query, open } = await setup(t)
  let upgrades = 0
  query.server.on('upgrade', (_req, socket) => { upgrades++; socket.destroy() })
  await open()
  const seen = query.requests.length
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws')
  ws.on('error', () => {}) // the refused handshake also emits an error: expected here
  const [, res] = await once(ws, 'unexpected-response') as [unknown, http.IncomingMessage]
  let body = ''
  for await (const chunk of res) body += chunk
  ws.terminate()
  t.equal(res.statusCode, 503, 'an HTTP answer instead of 101')
  t.equal(res.headers['content-type'], PROBLEM_JSON)
  t.equal(res.headers['retry-after'], '30')
  t.match(JSON.parse(body), { code: 'GW_BREAKER_OPEN', status: 503 })
  t.equal(upgrades, 0, 'the upstream saw no upgrade')
  t.equal(query.requests.length, seen)
  t.equal(gw.context.tunnels.size, 0)
})

t.test('a trial that decides nothing frees its slot: the client left, or its body was over the limit', async (t) => {
  const { gw, query, clock, breaker, setHandler, open } = await setup(t, { breaker: { halfOpenRequests: 1 }, server: { bodyLimitBytes: 1024 } })
  await open()
  const held: http.ServerResponse[] = []
  setHandler((_req, res) => { held.push(res) })
  clock.now += RESET_MS

  // the client gives up while its trial is held upstream
  const controller = new AbortController()
  const gone = fetch(`${gw.url}/v1/api/slow`, { signal: controller.signal }).catch((e: Error) => e)
  await until(() => held.length === 1, 5000, 'the trial to reach the upstream')
  t.match(breaker.snapshot(), { state: 'half-open', trials: { admitted: 1, succeeded: 0, of: 1 } })
  assertBreakerOpen(t, await call(`${gw.url}/v1/api/wallets`), '1', '/v1/api/wallets')
  controller.abort()
  await gone
  await until(() => breaker.snapshot().trials?.admitted === 0, 5000, 'the abandoned trial to free its slot')
  t.equal(breaker.snapshot().state, 'half-open', 'an abandoned trial neither closes nor reopens it')

  // a chunked body over the limit: the client's fault, not the service's
  const chunk = 'x'.repeat(2048)
  const tooLarge = await rawExchange(gw.url, 'PUT /v1/api/upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`)
  t.match(tooLarge, /^HTTP\/1\.1 413 /)
  t.match(tooLarge, /"code":"GW_REQUEST_BODY_TOO_LARGE"/)
  await until(() => breaker.snapshot().trials?.admitted === 0, 5000, 'the oversized trial to free its slot')
  t.equal(breaker.snapshot().state, 'half-open')

  // the slot goes to the next request, whose success closes the breaker
  setHandler(echo('query'))
  const next = await call(`${gw.url}/v1/api/wallets`)
  t.equal(next.status, 200)
  t.equal(breaker.snapshot().state, 'closed')
  t.ok(query.requests.length > 0)
})

t.test('a service may set its own breaker settings over the global ones', async (t) => {
  const dead = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, {
    services: {
      query: { targets: [dead], ...NO_EJECTION, breaker: { minRequests: 2, resetMs: 5000 } },
      command: { targets: [dead], ...NO_EJECTION }
    },
    breaker: { minRequests: 10 },
    server: { adminToken: ADMIN_TOKEN }
  })
  for (let i = 0; i < 2; i++) {
    t.equal((await call(`${gw.url}/v1/api/x`)).status, 502)
    t.equal((await call(`${gw.url}/v1/commands/x`)).status, 502)
  }
  const res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '5', 'the service\'s own resetMs')
  t.equal((await call(`${gw.url}/v1/commands/x`)).status, 502, 'the command service still uses the global minRequests (10)')
  const view = await call(`${gw.adminUrl}/admin/breakers`, { headers: admin })
  t.match(view.json(), {
    settings: { minRequests: 10, resetMs: 30_000 },
    services: {
      query: { state: 'open', settings: { minRequests: 2, resetMs: 5000, errorThreshold: 0.5, halfOpenRequests: 3 } },
      command: { state: 'closed', settings: { minRequests: 10, resetMs: 30_000 } }
    }
  })
  let problems: readonly string[] = []
  try {
    testConfig({ services: { query: { targets: [dead], breaker: { minRequests: 0, timeoutMs: 5 } } } })
  } catch (err) {
    problems = (err as ConfigError).problems
  }
  t.same([...problems].sort(), [
    'services.query.breaker.minRequests: got 0, expected an integer ≥ 1 and ≤ 2147483647',
    'services.query.breaker.timeoutMs: unknown key, expected one of: errorThreshold, windowMs, minRequests, resetMs, halfOpenRequests'
  ].sort())
})

t.test('WebSocket upgrades are breaker requests too: no target counts as a failure; a trial upgrade that succeeds closes it', async (t) => {
  const ws = await startWsUpstream(t)
  const clock = { now: Date.now() }
  const gw = await startGateway(t, {
    services: { query: { targets: [ws.url] }, command: { targets: [ws.url] } },
    breaker: { minRequests: 2, halfOpenRequests: 1 }
  }, { now: () => clock.now })
  const breaker = gw.context.breakers.get('query')!
  // the only target ejected (as passive health would after a refusal)
  const target = gw.context.services.get('query')!.targets[0]!
  target.ejectedUntil = Date.now() + 3_600_000
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 503, 'no healthy target')
  const refused = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws')
  refused.on('error', () => {})
  const [, res] = await once(refused, 'unexpected-response') as [unknown, http.IncomingMessage]
  res.resume()
  refused.terminate()
  t.equal(res.statusCode, 503, 'no healthy target for the upgrade either')
  t.equal(breaker.snapshot().state, 'open', 'which counted as the second failure')

  // the target is back; after the reset the one trial is a WebSocket upgrade
  target.ejectedUntil = 0
  clock.now += 30_000
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws')
  await once(client, 'open')
  t.equal(breaker.snapshot().state, 'closed', 'the 101 of the trial upgrade closed the breaker')
  client.send('hi')
  const [reply] = await once(client, 'message') as [Buffer]
  t.equal(reply.toString(), 'echo:hi')
  client.close()
})

t.test('an upstream status Node cannot relay (700) is a 502 and a failure of the service', async (t) => {
  const weird = net.createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 700 Weird\r\ncontent-length: 2\r\n\r\nok'))
  })
  weird.listen(0, '127.0.0.1')
  await once(weird, 'listening')
  t.teardown(() => new Promise((resolve) => weird.close(resolve)))
  const url = `http://127.0.0.1:${(weird.address() as net.AddressInfo).port}`
  const gw = await startGateway(t, { services: { query: { targets: [url], ...NO_EJECTION }, command: { targets: [url] } }, breaker: { minRequests: 2 } })
  for (let i = 0; i < 2; i++) {
    const res = await call(`${gw.url}/v1/api/x`)
    t.equal(res.status, 502)
    t.match(res.json(), { code: 'GW_PROXY_BAD_UPSTREAM_RESPONSE' })
  }
  t.equal(gw.context.breakers.get('query')!.snapshot().state, 'open')
})
