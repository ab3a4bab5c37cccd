// Route policies (public / authenticated / any-of roles), the X-Consumer-* headers
// the upstream gets, 401 vs 403, and the same checks on WebSocket upgrades.
import t, { type Test } from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, configProblems, rawExchange, startWsUpstream } from '../helpers.js'
import { sha256Hex } from '../../plugins/auth/api-keys.js'

const ANALYST_KEY = 'hpk_test-analyst-key-0123456789'
const consumers = [{ id: 'svc-reports', tier: 'premium', roles: ['analyst'], apiKeys: [sha256Hex(ANALYST_KEY)] }]

async function gateway (t: Test, extra: Record<string, unknown> = {}) {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET }, consumers, ...extra })
  return { up, gw }
}

t.test('default policies: /v1/auth public, /v1/api and /v1/commands authenticated, analytics needs analyst or admin', async (t) => {
  const { up, gw } = await gateway(t)
  const user = bearer(signToken({ sub: 'u-alice', roles: ['user'] }))
  const analyst = bearer(signToken({ sub: 'u-carol', roles: ['analyst'] }))
  const admin = bearer(signToken({ sub: 'u-admin', scope: 'admin' }))
  const cases: Array<[string, Record<string, string>, number, string?]> = [
    ['/v1/auth/login', {}, 200],
    ['/v1/api/wallets/w1', {}, 401, 'GW_AUTH_MISSING_CREDENTIALS'],
    ['/v1/commands/wallets', {}, 401, 'GW_AUTH_MISSING_CREDENTIALS'],
    ['/v1/graphql', {}, 401, 'GW_AUTH_MISSING_CREDENTIALS'],
    ['/v1/api/wallets/w1', user, 200],
    ['/v1/api/analytics/summary', user, 403, 'GW_AUTH_FORBIDDEN'],
    ['/v1/api/analytics/summary', analyst, 200],
    ['/v1/api/analytics/summary', admin, 200],
    ['/v1/api/analytics/summary', { 'x-api-key': ANALYST_KEY }, 200]
  ]
  for (const [path, headers, status, code] of cases) {
    const res = await call(`${gw.url}${path}`, { headers })
    t.equal(res.status, status, `${path} ${Object.keys(headers)[0] ?? 'no credentials'} → ${status}`)
    if (code) t.match(res.json(), { code, status }, code)
  }
  t.same(up.requests.map((r) => r.url), ['/v1/auth/login', '/v1/api/wallets/w1', '/v1/api/analytics/summary', '/v1/api/analytics/summary', '/v1/api/analytics/summary'], 'refused requests never reach the upstream')
})

t.test('401 carries both challenges; 403 says which roles were needed', async (t) => {
  const { gw } = await gateway(t)
  const missing = await call(`${gw.url}/v1/api/wallets/w1`)
  t.same(missing.headers['www-authenticate'], ['Bearer realm="healthpay"', 'Key realm="healthpay"'], 'one challenge per scheme')
  t.match(missing.json(), { detail: /Authorization: Bearer <JWT> or X-API-Key/ })
  const denied = await call(`${gw.url}/v1/api/analytics/x`, { headers: bearer(signToken({ roles: ['user'] })) })
  t.equal(denied.status, 403)
  t.match(denied.json(), { code: 'GW_AUTH_FORBIDDEN', detail: /one of the roles analyst, admin/ })
  t.equal(denied.headers['www-authenticate'], 'Bearer realm="healthpay", error="insufficient_scope", scope="analyst admin"')
  const badKey = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-key': 'hpk_nope' } })
  t.equal(badKey.status, 401)
  t.match(badKey.headers['www-authenticate'], /^Key realm="healthpay", error="invalid_key"/)
  t.match(badKey.json(), { code: 'GW_AUTH_INVALID_API_KEY', detail: /unknown or revoked/ })
})

t.test('a public route serves anyone: valid credentials identify the consumer, invalid ones leave it anonymous', async (t) => {
  const { up, gw } = await gateway(t)
  await call(`${gw.url}/v1/auth/login`, { headers: { 'x-consumer-id': 'u-admin', 'x-consumer-roles': 'admin', 'x-consumer-tier': 'premium' } })
  await call(`${gw.url}/v1/auth/refresh`, { headers: bearer('expired.or.garbage') })
  await call(`${gw.url}/v1/auth/me`, { headers: bearer(signToken({ sub: 'u-bob', tier: 'premium' })) })
  const [spoofed, garbage, known] = up.requests.map((r) => r.headers)
  t.match(spoofed, { 'x-consumer-tier': 'anonymous' }, 'client-sent consumer headers are replaced')
  t.equal(spoofed!['x-consumer-id'], undefined)
  t.equal(spoofed!['x-consumer-roles'], undefined)
  t.equal(garbage!['x-consumer-tier'], 'anonymous')
  t.equal(garbage!['x-consumer-id'], undefined)
  t.match(known, { 'x-consumer-id': 'u-bob', 'x-consumer-tier': 'premium' })
})

t.test('client-sent X-Consumer-* never reach the upstream on authenticated routes either', async (t) => {
  const { up, gw } = await gateway(t)
  await call(`${gw.url}/v1/api/wallets/w1`, {
    headers: { ...bearer(signToken({ sub: 'u-alice' })), 'x-consumer-id': 'u-admin', 'x-consumer-roles': 'admin', 'x-consumer-tier': 'premium', 'X-Consumer-Roles': 'support' }
  })
  const h = up.requests[0]!.headers
  t.equal(h['x-consumer-id'], 'u-alice')
  t.equal(h['x-consumer-tier'], 'authenticated')
  t.equal(h['x-consumer-roles'], undefined)
  // the analytics role check reads the verified roles, not headers
  const res = await call(`${gw.url}/v1/api/analytics/x`, { headers: { ...bearer(signToken({ sub: 'u-alice' })), 'x-consumer-roles': 'admin' } })
  t.equal(res.status, 403)
})

t.test('hideCredentials strips Authorization and X-API-Key before proxying', async (t) => {
  const routes = [{ prefix: '/v1/api', service: 'query', hideCredentials: true }, { prefix: '/v1/commands', service: 'command' }]
  const { up, gw } = await gateway(t, { routes })
  const token = signToken({ sub: 'u-alice' })
  await call(`${gw.url}/v1/api/a`, { headers: bearer(token) })
  await call(`${gw.url}/v1/api/b`, { headers: { 'x-api-key': ANALYST_KEY } })
  await call(`${gw.url}/v1/commands/c`, { headers: { 'x-api-key': ANALYST_KEY } })
  const [a, b, c] = up.requests.map((r) => r.headers)
  t.equal(a!.authorization, undefined)
  t.equal(a!['x-consumer-id'], 'u-alice')
  t.equal(b!['x-api-key'], undefined)
  t.equal(b!['x-consumer-id'], 'svc-reports')
  t.equal(c!['x-api-key'], ANALYST_KEY, 'routes without hideCredentials forward the key')
})

t.test('config: alg none cannot be allowed; a public route cannot require roles; a PEM is no HMAC secret', async (t) => {
  const { resolveConfig } = await import('../../src/config/index.js')
  t.match(configProblems({ JWT_ALGORITHMS: 'HS256,none' })[0], /^JWT_ALGORITHMS="HS256,none": expected one of "HS256", "HS384"/)
  t.same(configProblems({ JWT_ALGORITHMS: 'RS256', JWT_SECRET: TEST_SECRET }), [], 'a secret with no HS algorithm allowed is accepted (and unused)')
  t.throws(() => resolveConfig({ routes: [{ prefix: '/v1/x', service: 'query', auth: 'public', roles: ['admin'] }] }), { message: /routes\[0\]\.roles: got \["admin"\], expected no roles on a public route/ })
  t.throws(() => resolveConfig({ routes: [{ prefix: '/v1/x', service: 'query', roles: ['ad min'] }] }), { message: /routes\[0\]\.roles\[0\]: got "ad min", expected a role name/ })
  t.throws(() => resolveConfig({ jwt: { secret: '-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----' } }), { message: /jwt\.secret: got \[redacted\], expected a random HS\* secret, not a PEM key/ })
})

t.test('WebSocket upgrades on /v1/graphql: refused with an HTTP 401 problem, or tunnelled with the consumer headers', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET } })
  const url = `${gw.url.replace('http', 'ws')}/v1/graphql`

  const ws = new WebSocket(url, { headers: { 'x-consumer-id': 'u-admin' } })
  ws.on('error', () => {})
  const [, res] = await once(ws, 'unexpected-response') as [unknown, http.IncomingMessage]
  let body = ''
  for await (const chunk of res) body += chunk
  t.equal(res.statusCode, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(JSON.parse(body), { code: 'GW_AUTH_MISSING_CREDENTIALS' })
  t.equal(up.upgrades.length, 0, 'the upstream never saw the refused upgrade')

  const ok = new WebSocket(url, { headers: { ...bearer(signToken({ sub: 'u-alice', roles: ['user'] })), 'x-consumer-roles': 'admin' } })
  await once(ok, 'open')
  ok.send('hi')
  const [reply] = await once(ok, 'message')
  t.equal(String(reply), 'echo:hi')
  t.equal(up.upgrades[0]!.headers['x-consumer-id'], 'u-alice')
  t.equal(up.upgrades[0]!.headers['x-consumer-roles'], 'user')
  ok.close()
  await once(ok, 'close')
})

t.test('non-canonical paths cannot slip past a role-protected prefix', async (t) => {
  const { up, gw } = await gateway(t)
  const user = bearer(signToken({ sub: 'u-alice', roles: ['user'] }))
  const attempts: Array<[string, number]> = [
    ['/v1/api/analytics/summary', 403],
    ['/v1/api/Analytics/summary', 403], // the router ignores case: the analytics policy applies
    ['/V1/API/ANALYTICS/summary', 403],
    ['/v1/api//analytics/summary', 400], // nginx would merge the slashes
    ['/v1/api/analytics;x/summary', 400], // servlet containers strip path parameters
    ['/v1/api/analytics%3bx/summary', 400],
    ['/v1/api/analytics%2Fsummary', 400],
    ['/v1/api/analytics%5csummary', 400],
    ['/v1/api/%61nalytics/summary', 403],
    ['/v1/api/./analytics/summary', 400]
  ]
  for (const [path, status] of attempts) {
    const raw = await rawExchange(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${user.authorization}\r\nConnection: close\r\n\r\n`)
    t.match(raw, new RegExp(`^HTTP/1\\.1 ${status} `), `${path} → ${status}`)
  }
  const backslash = await rawExchange(gw.url, `GET /v1/api\\analytics/summary HTTP/1.1\r\nHost: x\r\nAuthorization: ${user.authorization}\r\nConnection: close\r\n\r\n`)
  t.match(backslash, /^HTTP\/1\.1 400 /, 'a raw backslash → 400')
  t.equal(up.requests.length, 0, 'none reached the upstream')
  t.equal((await call(`${gw.url}/v1/api/wallets/w1;v=2`, { headers: user })).status, 400, '";" anywhere in the path is refused')
  t.equal((await call(`${gw.url}/v1/api/wallets/w1?filter=a;b&next=%2F`, { headers: user })).status, 200, 'the query string may hold them')
})

t.test('underscore spellings of the gateway\'s headers are dropped too (CGI/WSGI/Rack read them as the same variable)', async (t) => {
  const { up, gw } = await gateway(t)
  await call(`${gw.url}/v1/auth/login`, { headers: { X_Consumer_Id: 'u-admin', x_consumer_roles: 'admin', X_Forwarded_For: '10.0.0.1', 'x-custom_header': 'kept' } })
  const h = up.requests[0]!.headers
  t.equal(h.x_consumer_id, undefined)
  t.equal(h.x_consumer_roles, undefined)
  t.equal(h.x_forwarded_for, undefined)
  t.equal(h['x-custom_header'], 'kept', 'other underscore headers pass')
})

t.test('on a WebSocket route only WebSocket upgrades are tunnelled (no h2c or other protocols)', async (t) => {
  const { up, gw } = await gateway(t)
  const token = signToken({ sub: 'u-alice' })
  // the connection stays open (no close asked): read the one response, not until the idle timeout
  const raw = await rawExchange(gw.url, `GET /v1/graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`, { oneResponse: true })
  t.match(raw, /^HTTP\/1\.1 200 /, 'answered as plain HTTP, no 101')
  t.equal(up.requests.length, 1)
  t.equal(up.requests[0]!.headers.upgrade, undefined, 'the upgrade is not passed on')
  t.equal(up.requests[0]!.headers['http2-settings'], undefined)
})

t.test('anonymous clients are keyed per IPv4 address, or per IPv6 /64', async (t) => {
  const { addressKey, anonymousConsumer, makeConsumer } = await import('../../plugins/auth/consumer.js')
  t.equal(addressKey('203.0.113.5'), '203.0.113.5')
  t.equal(addressKey('::ffff:203.0.113.5'), '203.0.113.5', 'IPv4-mapped')
  t.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(addressKey('2001:db8:1:2::99'), '2001:db8:1:2::/64', 'the same /64')
  t.equal(addressKey('2001:0DB8::1%eth0'), '2001:db8:0:0::/64', 'zeros expanded, zone dropped')
  t.equal(addressKey('::1'), '0:0:0:0::/64')
  t.equal(anonymousConsumer('2001:db8:1:2::99').key, 'ip:2001:db8:1:2::/64')
  t.equal(makeConsumer('ip:1.2.3.4', 'authenticated', [], 'jwt').key, 'id:ip:1.2.3.4', 'consumer ids live in their own namespace')
})

t.test('config: route names are safe tokens and unique (they key rate-limit counters and headers)', async (t) => {
  const { resolveConfig } = await import('../../src/config/index.js')
  t.throws(() => resolveConfig({ routes: [{ name: '分析', prefix: '/v1/x', service: 'query' }] }), { message: /routes\[0\]\.name: got "分析", expected a route name: letters, digits/ })
  t.throws(() => resolveConfig({ routes: [{ prefix: '/v1/a.b', service: 'query' }, { prefix: '/v1/a-b', service: 'query' }] }), { message: /routes\[1\]\.name: got "v1-a-b", expected a name not already used by routes\[0\]/ })
  t.throws(() => resolveConfig({ routes: [{ name: 'x', prefix: '/v1/a', service: 'query' }, { name: 'x', prefix: '/v1/b', service: 'query' }] }), { message: /routes\[1\]\.name/ })
})
