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

t.test('every admin endpoint: 401 without or with a wrong token, 403 with no ADMIN_TOKEN configured', async (t) => {
  const open = await startGateway(t, { services: servicesFor('http://127.0.0.1:1'), server: { adminToken: TOKEN } })
  const closed = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const endpoints: Array<[string, string, string?]> = [
    ['GET', '/admin/routes'], ['GET', '/admin/upstreams'], ['GET', '/admin/config'], ['GET', '/admin/breakers'],
    ['GET', '/admin/versions'], ['GET', '/admin/rate-limit'], ['GET', '/admin/api-keys'],
    ['POST', '/admin/api-keys', '{"consumerId":"svc-1","tier":"authenticated"}'],
    ['DELETE', `/admin/api-keys/${'a'.repeat(64)}`],
    ['POST', '/admin/events', '{"channel":"wallet","event":"wallet.updated","subject":"u-1"}']
  ]
  for (const [method, path, body] of endpoints) {
    const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {}
    const none = await call(`${open.adminUrl}${path}`, { method, headers, body })
    t.equal(none.status, 401, `${method} ${path} without a token`)
    t.match(none.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
    t.equal((await call(`${open.adminUrl}${path}`, { method, headers: { ...headers, authorization: `Bearer ${TOKEN.slice(0, -1)}` }, body })).status, 401, `${method} ${path} with a wrong token`)
    const disabled = await call(`${closed.adminUrl}${path}`, { method, headers: { ...headers, authorization: `Bearer ${TOKEN}` }, body })
    t.equal(disabled.status, 403, `${method} ${path} with no ADMIN_TOKEN configured`)
    t.match(disabled.json(), { code: 'GW_ADMIN_DISABLED' })
  }
})
