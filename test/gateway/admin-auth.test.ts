import t from 'tap'
import { startUpstream, startGateway, servicesFor, call } from '../helpers.js'

const TOKEN = 'test-admin-token-0123456789'

t.test('without ADMIN_TOKEN the admin API refuses everything', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const res = await call(`${gw.adminUrl}/admin/upstreams`, { headers: { authorization: 'Bearer anything' } })
  t.equal(res.status, 403)
  t.match(res.json(), { code: 'GW_ADMIN_DISABLED' })
})

t.test('with ADMIN_TOKEN: missing or wrong token → 401, right token → upstream health', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { adminToken: TOKEN } })
  const none = await call(`${gw.adminUrl}/admin/upstreams`)
  t.equal(none.status, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="healthpay-admin"')
  t.match(none.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
  t.equal((await call(`${gw.adminUrl}/admin/upstreams`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401)
  t.equal((await call(`${gw.adminUrl}/admin/upstreams`, { headers: { authorization: TOKEN } })).status, 401, 'the Bearer scheme is required')
  const ok = await call(`${gw.adminUrl}/admin/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(ok.status, 200)
  t.match(ok.json(), { services: { query: { loadBalancing: 'round-robin', timeoutMs: 5000, targets: [{ origin: up.url, state: 'healthy', inflight: 0, weight: 1 }] } } })
})

t.test('admin paths are not served on the public port', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1'), server: { adminToken: TOKEN } })
  for (const path of ['/admin/upstreams', '/ADMIN/upstreams', '/%61dmin/upstreams']) {
    const res = await call(`${gw.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.status, 404, path)
  }
})
