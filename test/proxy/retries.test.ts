// Retries: which requests, where to, how many, and never past the deadline.
import t from 'tap'
import type http from 'node:http'
import { startUpstream, startGateway, echo, call, until, type UpstreamHandler } from '../helpers.js'

const refuse = (status: number): UpstreamHandler => (_req, res) => {
  res.statusCode = status
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ upstream: `refused-${status}` }))
}
// these tests look at retries alone: no ejection, no breaker opening under them
const quiet = { passiveHealth: { enabled: false } }
const noBreaker = { minRequests: 100_000 }

for (const status of [502, 503]) {
  t.test(`an idempotent request answered ${status} is retried on another target`, async (t) => {
    const bad = await startUpstream(t, refuse(status))
    const good = await startUpstream(t, echo('good'))
    const gw = await startGateway(t, { services: { query: { targets: [bad.url, good.url], ...quiet } }, breaker: noBreaker })
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) {
      bad.requests.length = 0
      good.requests.length = 0
      for (let i = 0; i < 2; i++) t.equal((await call(`${gw.url}/v1/api/x`, { method })).status, 200, `${method} #${i + 1}`)
      t.ok(bad.requests.length >= 1, `${method}: the bad target was tried`)
      t.equal(good.requests.length, 2, `${method}: the good one answered both, once each`)
    }
  })
}

t.test('a POST or PATCH answered 503 is never retried: the upstream may have acted on it', async (t) => {
  const bad = await startUpstream(t, refuse(503))
  const good = await startUpstream(t, echo('good'))
  const gw = await startGateway(t, { services: { command: { targets: [bad.url, good.url], ...quiet } }, breaker: noBreaker })
  const statuses: number[] = []
  for (const method of ['POST', 'POST', 'PATCH', 'PATCH']) {
    statuses.push((await call(`${gw.url}/v1/commands/wallets`, { method, headers: { 'content-type': 'application/json' }, body: '{"amount":10}' })).status)
  }
  t.same(statuses.sort(), [200, 200, 503, 503], 'the 503s are relayed as they came')
  t.equal(bad.requests.length + good.requests.length, 4, 'one attempt per request')
})

t.test('a PUT whose body was already sent is not retried on a 503 (the body cannot be replayed)', async (t) => {
  const bad = await startUpstream(t, refuse(503))
  const good = await startUpstream(t, echo('good'))
  const gw = await startGateway(t, { services: { query: { targets: [bad.url, good.url], ...quiet } }, breaker: noBreaker })
  const statuses: number[] = []
  for (let i = 0; i < 2; i++) statuses.push((await call(`${gw.url}/v1/api/wallets/w1`, { method: 'PUT', body: '{"name":"x"}' })).status)
  t.same(statuses.sort(), [200, 503])
  t.equal(bad.requests.length, 1)
  t.equal(good.requests.length, 1)
})

t.test('retries stop at RETRY_ATTEMPTS, each on a target not tried yet', async (t) => {
  const reset: UpstreamHandler = (_req, res) => { res.socket!.destroy() }
  const ups = await Promise.all([1, 2, 3, 4].map(() => startUpstream(t, reset)))
  const gw = await startGateway(t, { services: { query: { targets: ups.map((u) => u.url), ...quiet } }, breaker: noBreaker })
  const res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.status, 502)
  t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE' })
  t.same(ups.map((u) => u.requests.length).sort(), [0, 1, 1, 1], 'the first attempt and 2 retries (the default), never the same target twice')

  const once = await startGateway(t, { services: { query: { targets: ups.map((u) => u.url), ...quiet } }, breaker: noBreaker, retry: { attempts: 1 } })
  for (const u of ups) u.requests.length = 0
  t.equal((await call(`${once.url}/v1/api/x`)).status, 502)
  t.equal(ups.reduce((n, u) => n + u.requests.length, 0), 2, 'RETRY_ATTEMPTS=1: two attempts')

  const never = await startGateway(t, { services: { query: { targets: ups.map((u) => u.url), ...quiet } }, breaker: noBreaker, retry: { attempts: 0 } })
  for (const u of ups) u.requests.length = 0
  t.equal((await call(`${never.url}/v1/api/x`)).status, 502)
  t.equal(ups.reduce((n, u) => n + u.requests.length, 0), 1, 'RETRY_ATTEMPTS=0: no retry at all')
})

t.test('the retry budget: when a whole service fails, retries add at most reserve + 20 % of the requests', async (t) => {
  const a = await startUpstream(t, refuse(503))
  const b = await startUpstream(t, refuse(503))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], ...quiet } }, breaker: noBreaker, retry: { reserve: 5 } })
  const requests = 100
  for (let i = 0; i < requests; i++) t.equal((await call(`${gw.url}/v1/api/x`)).status, 503)
  const sent = a.requests.length + b.requests.length
  const retries = sent - requests
  t.ok(retries <= 5 + 0.2 * requests, `${retries} retries for ${requests} requests`)
  t.ok(retries >= 0.2 * requests, 'the budget is used, not just the reserve')
  t.match(gw.context.services.get('query')!.retryBudget.snapshot(), { retried: retries, exhausted: requests - retries })
})

t.test('a retry gets what is left of the request timeout, not a fresh one', async (t) => {
  // a answers 503 after 300 of the 1000 ms (700 left: the retry goes out, even on a
  // loaded machine); b would answer after 800 ms: inside a fresh timeout, not in what is left
  const a = await startUpstream(t, (_req, res) => { setTimeout(() => refuse(503)(_req, res, ''), 300) })
  const b = await startUpstream(t, (req, res) => { setTimeout(() => echo('b')(req, res, ''), 800) })
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], ...quiet } }, breaker: { ...noBreaker, timeoutMs: 1000 } })
  const res = await call(`${gw.url}/v1/api/x`) // round-robin starts at a
  t.equal(a.requests.length, 1)
  t.equal(b.requests.length, 1, 'the retry went out')
  t.equal(res.status, 504, 'and ran out of the request\'s 1000 ms: b\'s answer at 300 + 800 ms is too late')
  t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_TIMEOUT', detail: 'Service "query" did not answer within 1000 ms' })
})

t.test('no retry when the deadline has passed: a timed-out request is answered 504 at once', async (t) => {
  const held: http.ServerResponse[] = []
  const a = await startUpstream(t, (_req, res) => { held.push(res) })
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], ...quiet } }, breaker: { ...noBreaker, timeoutMs: 150 } })
  const res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.status, 504)
  t.equal(b.requests.length, 0, 'the other target never saw it')
  t.equal(gw.context.services.get('query')!.retryBudget.snapshot().retried, 0, 'no retry was even scheduled')
})

t.test('no retry with too little of the deadline left: the 503 in hand is relayed, a healthy target is not blamed', async (t) => {
  // a answers 503 after 1650 of the 2000 ms: a retry would have under the 400 ms
  // (20 %) it needs; a late answer only leaves less, and 350 ms separate it from the deadline
  const a = await startUpstream(t, (req, res) => { setTimeout(() => refuse(503)(req, res, ''), 1650) })
  const b = await startUpstream(t, (req, res) => { setTimeout(() => echo('b')(req, res, ''), 20) })
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], ...quiet } }, breaker: { ...noBreaker, timeoutMs: 2000 }, retry: { backoffMs: 1, maxBackoffMs: 1 } })
  const res = await call(`${gw.url}/v1/api/x`) // round-robin starts at a
  t.equal(res.status, 503, 'the upstream\'s own answer, not a 504 from a doomed retry')
  t.same(res.json(), { upstream: 'refused-503' })
  t.equal(b.requests.length, 0)
  t.equal(gw.context.services.get('query')!.retryBudget.snapshot().retried, 0)
})

t.test('half-open trials are never retried: the service sees exactly the admitted trials', async (t) => {
  const a = await startUpstream(t, refuse(503))
  const c = await startUpstream(t, refuse(503))
  const clock = { now: Date.now() }
  const gw = await startGateway(t, {
    services: { query: { targets: [a.url, c.url], ...quiet } },
    breaker: { minRequests: 1, halfOpenRequests: 1 }
  }, { now: () => clock.now })
  const breaker = gw.context.breakers.get('query')!
  t.equal((await call(`${gw.url}/v1/api/x`, { method: 'POST', body: '{}' })).status, 503) // opens it
  clock.now += 30_000
  const seen = a.requests.length + c.requests.length
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 503, 'the trial\'s 503 is relayed')
  t.equal(a.requests.length + c.requests.length, seen + 1, 'one trial, one upstream request')
  t.equal(breaker.snapshot().state, 'open', 'and it reopened the breaker')
})

t.test('a client that leaves during the backoff ends the exchange at once: the retry is dropped, nothing counted against the service', async (t) => {
  const a = await startUpstream(t, refuse(503))
  const c = await startUpstream(t, refuse(503))
  const lines: string[] = []
  // a backoff of up to 60 s, inside a 120 s deadline: the retry waits long enough to leave
  const gw = await startGateway(t, {
    services: { query: { targets: [c.url, a.url], ...quiet } },
    breaker: { minRequests: 1, timeoutMs: 120_000 },
    retry: { backoffMs: 60_000, maxBackoffMs: 60_000 },
    server: { logLevel: 'debug' }
  }, { logStream: { write: (l: string) => lines.push(l) } })
  const breaker = gw.context.breakers.get('query')!
  const budget = gw.context.services.get('query')!.retryBudget
  // a GET to c, answered 503, to be retried on a after the backoff
  const controller = new AbortController()
  const pending = fetch(`${gw.url}/v1/api/x`, { signal: controller.signal }).catch((e: Error) => e)
  await until(() => budget.snapshot().retried === 1, 5000, 'the retry to be scheduled')
  controller.abort()
  await pending
  await until(() => lines.some((l) => l.includes('client left during the retry backoff')), 5000, 'the retry to be dropped')
  t.equal(a.requests.length, 0, 'the retry was never sent')
  t.equal(c.requests.length, 1)
  t.match(breaker.snapshot(), { state: 'closed', window: { requests: 0 } }, 'an abandoned request is neither success nor failure (minRequests 1 would have opened it)')
})
