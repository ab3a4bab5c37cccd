// Targets that die, refuse, come back: passive ejection, retries, active checks.
import t from 'tap'
import type http from 'node:http'
import { startUpstream, startGateway, echo, call, freePort, until, answeredBy } from '../helpers.js'

t.test('a killed target costs no failed request: refused connections are retried on the other target', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url] } } })
  const statuses: number[] = []
  for (let i = 0; i < 10; i++) statuses.push((await call(`${gw.url}/v1/api/x`)).status)
  await a.close()
  const after: string[] = []
  for (let i = 0; i < 20; i++) {
    const res = await call(`${gw.url}/v1/api/x`)
    statuses.push(res.status)
    after.push(answeredBy(res))
  }
  t.same(statuses.filter((s) => s !== 200), [], 'every request succeeded')
  t.same(new Set(after), new Set(['b']), 'the dead target gets nothing more')
  const query = gw.context.services.get('query')!.summary()
  t.equal(query.find((x) => x.origin === a.url)!.state, 'ejected')
  t.equal(query.find((x) => x.origin === b.url)!.state, 'healthy')
})

t.test('a POST whose connection is refused is sent to another target with its body intact', async (t) => {
  const dead = `http://127.0.0.1:${await freePort()}`
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { command: { targets: [dead, b.url] } } })
  for (let i = 0; i < 2; i++) {
    const res = await call(`${gw.url}/v1/commands/wallets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"n":${i}}` })
    t.equal(res.status, 200)
    t.equal(res.json().body, `{"n":${i}}`)
  }
  t.equal(b.requests.length, 2)
})

t.test('requests in flight when a target dies: idempotent ones are retried, a POST fails once with 502', async (t) => {
  const held: http.ServerResponse[] = []
  const a = await startUpstream(t, (_req, res) => { held.push(res) })
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { command: { targets: [a.url, b.url] } }, breaker: { timeoutMs: 10_000 } })
  // round-robin: requests 1 and 3 go to a (held there), 2 and 4 to b
  const get = call(`${gw.url}/v1/commands/status`)
  await until(() => held.length === 1)
  const first = await call(`${gw.url}/v1/commands/noop`)
  const post = call(`${gw.url}/v1/commands/wallets`, { method: 'POST', body: '{"x":1}' })
  await until(() => held.length === 2)
  t.equal(answeredBy(first), 'b')
  await a.close() // resets the two held connections
  const [getRes, postRes] = await Promise.all([get, post])
  t.equal(getRes.status, 200, 'the GET was retried on the other target')
  t.equal(answeredBy(getRes), 'b')
  t.equal(postRes.status, 502, 'the POST was already sent: not retried')
  t.match(postRes.json(), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE', status: 502 })
  t.notMatch(postRes.text, /ECONNRESET|socket|127\.0\.0\.1/, 'no upstream internals in the answer')
})

t.test('all targets dead: problem+json at once, never a hang', async (t) => {
  const gw = await startGateway(t, { services: { query: { targets: [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`] } } })
  const started = Date.now()
  const first = await call(`${gw.url}/v1/api/x`)
  t.equal(first.status, 502)
  t.match(first.json(), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE', type: 'https://healthpay.dev/problems/gw-proxy-upstream-unreachable', title: 'Bad Gateway', instance: '/v1/api/x' })
  const next = await call(`${gw.url}/v1/api/x`)
  t.equal(next.status, 503)
  t.match(next.json(), { code: 'GW_PROXY_NO_HEALTHY_TARGET', detail: 'Service "query" has no healthy target right now; retry shortly' })
  t.ok(Date.now() - started < 1000, `answered in ${Date.now() - started} ms`)
  t.equal(next.headers['content-type'], 'application/problem+json; charset=utf-8')
})

t.test('an ejected target is re-admitted once its ejection ends and it answers again', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], passiveHealth: { ejectMs: 200 } } } })
  const port = a.port
  await a.close()
  for (let i = 0; i < 4; i++) t.equal((await call(`${gw.url}/v1/api/x`)).status, 200)
  const revived = await startUpstream(t, echo('a-again'), { port })
  const seen = new Set<string>()
  await until(async () => { seen.add(answeredBy(await call(`${gw.url}/v1/api/x`))); return seen.has('a-again') }, 5000, 'the revived target to get traffic')
  t.ok(revived.requests.length > 0)
})

t.test('a streak of 5xx answers ejects a target', async (t) => {
  const bad = await startUpstream(t, (_req, res) => { res.statusCode = 500; res.end('{"upstream":"bad"}') })
  const good = await startUpstream(t, echo('good'))
  const gw = await startGateway(t, { services: { query: { targets: [bad.url, good.url], passiveHealth: { consecutive5xx: 3 } } } })
  const seen: string[] = []
  for (let i = 0; i < 12; i++) seen.push(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.equal(seen.filter((s) => s === 'bad').length, 3, 'three 500s, then no more traffic')
})

t.test('active health checks take an unhealthy target out and bring it back', async (t) => {
  let status = 200
  const a = await startUpstream(t, echo('a'), { health: () => status })
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url], healthCheck: { enabled: true, intervalMs: 50, healthyThreshold: 2, unhealthyThreshold: 2 } } } })
  const service = gw.context.services.get('query')!
  status = 503
  await until(() => service.summary()[0]!.state === 'unhealthy', 5000, 'a to be marked unhealthy')
  const seen = new Set<string>()
  for (let i = 0; i < 6; i++) seen.add(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.same([...seen], ['b'])
  status = 200
  await until(() => service.summary()[0]!.state === 'healthy', 5000, 'a to be healthy again')
  const back = new Set<string>()
  for (let i = 0; i < 4; i++) back.add(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.ok(back.has('a'))
})
