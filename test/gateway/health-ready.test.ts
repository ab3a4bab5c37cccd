import t from 'tap'
import { startUpstream, startGateway, servicesFor, call, freePort, until } from '../helpers.js'

t.test('/health is liveness; /ready reports services and Redis', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const health = await call(`${gw.url}/health`)
  t.equal(health.status, 200)
  t.match(health.json(), { status: 'ok', uptimeSeconds: Number })
  const ready = await call(`${gw.url}/ready`)
  t.equal(ready.status, 200)
  t.same(ready.json(), { status: 'ready', shuttingDown: false, redis: 'not-configured', services: { command: { available: 1, total: 1 }, query: { available: 1, total: 1 } } })
})

t.test('a dead upstream shows in /ready but does not make the instance unready', async (t) => {
  const gw = await startGateway(t, { services: servicesFor(`http://127.0.0.1:${await freePort()}`) })
  await call(`${gw.url}/v1/api/x`)
  const ready = await call(`${gw.url}/ready`)
  t.equal(ready.status, 200)
  t.same(ready.json().services.query, { available: 0, total: 1 })
})

t.test('with the real Redis at 127.0.0.1:6379, /ready says it is up', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), redis: { url: 'redis://127.0.0.1:6379' } })
  await until(() => gw.context.redis!.status === 'ready', 3000, 'redis to connect')
  t.equal((await call(`${gw.url}/ready`)).json().redis, 'up')
})

t.test('Redis unreachable: ready when failing open, 503 problem when failing closed', async (t) => {
  const up = await startUpstream(t)
  const deadRedis = `redis://127.0.0.1:${await freePort()}`
  const open = await startGateway(t, { services: servicesFor(up.url), redis: { url: deadRedis } })
  const openReady = await call(`${open.url}/ready`)
  t.equal(openReady.status, 200)
  t.equal(openReady.json().redis, 'down')

  const closed = await startGateway(t, { services: servicesFor(up.url), redis: { url: deadRedis }, rateLimit: { failMode: 'closed' } })
  const res = await call(`${closed.url}/ready`)
  t.equal(res.status, 503)
  t.match(res.json(), { code: 'GW_NOT_READY', detail: 'Not ready: Redis is unreachable and RATE_LIMIT_FAIL_MODE=closed', checks: { redis: 'down' } })
})
