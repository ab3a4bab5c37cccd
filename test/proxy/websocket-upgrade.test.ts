// WebSocket upgrades on /v1/graphql are tunnelled to the query service with the
// graphql-transport-ws sub-protocol intact; the gateway's own /ws is never proxied.
import t from 'tap'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { startGateway, servicesFor, call, startWsUpstream, refusedUpgrade } from '../helpers.js'

t.test('graphql-transport-ws is proxied: sub-protocol negotiated by the upstream, frames both ways', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql?x=1`, 'graphql-transport-ws', { headers: { 'x-request-id': 'ws-req-1' } })
  await once(ws, 'open')
  t.equal(ws.protocol, 'graphql-transport-ws')
  ws.send(JSON.stringify({ type: 'connection_init' }))
  const [reply] = await once(ws, 'message')
  t.equal(String(reply), 'echo:{"type":"connection_init"}')
  const seen = up.upgrades[0]!
  t.equal(seen.url, '/v1/graphql?x=1')
  t.equal(seen.headers['sec-websocket-protocol'], 'graphql-transport-ws')
  t.equal(seen.headers['x-request-id'], 'ws-req-1')
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  t.equal(gw.context.tunnels.size, 1)
  ws.close()
  await once(ws, 'close')
  await new Promise((r) => setImmediate(r))
  // plain HTTP on the same route still works alongside
  t.same((await call(`${gw.url}/v1/graphql`)).json(), { plain: '/v1/graphql' })
})

t.test('the gateway\'s own /ws route is not stolen by the proxy', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const res = await refusedUpgrade(`${gw.url.replace('http', 'ws')}/ws`)
  t.equal(res.status, 401, '/ws is the gateway\'s own event stream: it asks for credentials, it is not tunnelled')
  t.match(JSON.parse(res.body), { code: 'GW_AUTH_MISSING_CREDENTIALS' })
  t.equal(up.upgrades.length, 0, 'the upstream never saw it')
})

t.test('upgrades on a route without websocket: true are not tunnelled', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const res = await refusedUpgrade(`${gw.url.replace('http', 'ws')}/v1/api/stream`)
  t.equal(res.status, 200, 'answered as plain HTTP by the upstream')
  t.same(JSON.parse(res.body), { plain: '/v1/api/stream' })
  t.equal(up.upgrades.length, 0)
})

t.test('an upstream that refuses the upgrade has its answer relayed; a dead one gives 502 problem+json', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: [{ prefix: '/v1/other', service: 'query', auth: 'public', websocket: true }] })
  const refused = await refusedUpgrade(`${gw.url.replace('http', 'ws')}/v1/other`)
  t.equal(refused.status, 404)
  t.equal(up.upgrades.length, 1, 'the upstream saw and refused it')

  const dead = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const bad = await refusedUpgrade(`${dead.url.replace('http', 'ws')}/v1/graphql`, { protocol: 'graphql-transport-ws' })
  t.equal(bad.status, 502)
  t.equal(bad.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(JSON.parse(bad.body), { code: 'GW_PROXY_UPSTREAM_UNREACHABLE', status: 502 })
})

t.test('shutdown closes open tunnels', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws')
  await once(ws, 'open')
  const closed = once(ws, 'close')
  await gw.close()
  await closed
  t.equal(gw.context.tunnels.size, 0)
})
