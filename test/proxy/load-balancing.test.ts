import t from 'tap'
import { startUpstream, startGateway, echo, call, answeredBy } from '../helpers.js'
import type http from 'node:http'

t.test('round-robin: two targets each get an equal share', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { targets: [a.url, b.url] } } })
  const seen: string[] = []
  for (let i = 0; i < 20; i++) seen.push(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.equal(seen.filter((s) => s === 'a').length, 10)
  t.equal(seen.filter((s) => s === 'b').length, 10)
  t.notSame(seen.slice(0, 2).sort(), ['a', 'a'], 'alternates rather than batching')
  // concurrent requests share fairly too
  const concurrent = await Promise.all(Array.from({ length: 40 }, () => call(`${gw.url}/v1/api/y`)))
  t.equal(concurrent.filter((r) => answeredBy(r) === 'a').length, 20)
})

t.test('weighted: a 3:1 weight gives a 3:1 share', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const gw = await startGateway(t, { services: { query: { loadBalancing: 'weighted', targets: [{ url: a.url, weight: 3 }, { url: b.url, weight: 1 }] } } })
  const seen: string[] = []
  for (let i = 0; i < 40; i++) seen.push(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.equal(seen.filter((s) => s === 'a').length, 30)
  t.equal(seen.filter((s) => s === 'b').length, 10)
})

t.test('least-connections: new requests go to the target that is not busy', async (t) => {
  const held: http.ServerResponse[] = []
  const slow = await startUpstream(t, (_req, res) => { held.push(res) })
  const fast = await startUpstream(t, echo('fast'))
  const gw = await startGateway(t, { services: { query: { loadBalancing: 'least-connections', targets: [slow.url, fast.url] } } })
  // the first request lands on the slow target and stays in flight there
  const pending = call(`${gw.url}/v1/api/slow`)
  const deadline = Date.now() + 5000
  while (held.length === 0 && fast.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  const firstWentSlow = held.length === 1
  const answers: string[] = []
  for (let i = 0; i < 10; i++) answers.push(answeredBy(await call(`${gw.url}/v1/api/x`)))
  t.equal(answers.filter((a) => a === 'fast').length, firstWentSlow ? 10 : 9, 'every request avoids the busy target')
  for (const res of held) res.end('{"upstream":"slow"}')
  await pending
})
