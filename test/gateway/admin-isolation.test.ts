// The admin API and /metrics live on the admin listener only: no spelling of an
// admin path on the public port reaches them, whether by dot segments (plain or
// percent-encoded), doubled slashes, case, encoded letters, backslashes, path
// parameters or an absolute-form request target naming the admin port. Requests
// are written as raw bytes: an HTTP client would normalise the paths first.
import t from 'tap'
import { startUpstream, startGateway, servicesFor, rawExchange } from '../helpers.js'

const TOKEN = 'isolation-test-admin-token'

t.test('admin paths are unreachable from the public port, whatever the encoding', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { adminToken: TOKEN } })
  const adminPort = new URL(gw.adminUrl).port
  const targets = [
    '/admin/upstreams', '/ADMIN/config', '/%61dmin/routes', '/admin%2fconfig', '/metrics',
    '/v1/api/../../admin/upstreams', '/v1/api/%2e%2e/%2e%2e/admin/config', '/v1/api/%2E%2E/%2E%2E/admin/routes',
    '/api/..%2f..%2fadmin/config', '/v1/api/.%2e/.%2e/admin/api-keys', '/./admin/config', '/v1/api/./../../metrics',
    '//admin/upstreams', '/v1/api//admin/config', '///admin/config', '/v1/api/..;/..;/admin/config',
    '/v1/api\\..\\..\\admin\\config', '/v1/api/%5c..%5cadmin', '/%2e%2e/admin/config', '/admin;x/config',
    `http://127.0.0.1:${adminPort}/admin/config`, `http://localhost:${adminPort}/admin/upstreams`
  ]
  for (const target of targets) {
    const raw = await rawExchange(gw.url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`)
    const status = Number(raw.slice(9, 12))
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4)
    t.notOk(/"services"|"apiKeys"|"routes"|gateway_http_requests_total|"adminToken"/.test(body), `${target}: no admin content`)
    if (status === 200) {
      // proxied: then the upstream got a path under a public route, never an admin one
      const seen = up.requests.at(-1)!
      t.match(seen.url, /^\/v\d+\/api\//, `${target}: forwarded under /vN/api only`)
      t.notOk(/admin|metrics/i.test(decodeURIComponent(seen.url.replace(/^\/v\d+\/api\/?/, ''))) && /\.\./.test(seen.url), `${target}: no traversal forwarded`)
    } else {
      t.ok(status === 400 || status === 404, `${target}: ${status}`)
    }
  }
  t.equal(up.requests.filter((r) => /admin|metrics/i.test(r.url)).length, 0, 'the upstream never saw an admin path')
})
