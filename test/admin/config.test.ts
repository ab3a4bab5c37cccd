// GET /admin/config: the effective configuration, with no secret in it.
import t from 'tap'
import { startGateway, startUpstream, specRoutes, call, freePort } from '../helpers.js'

const TOKEN = 'admin-token-secret-0123456789'
const JWT_SECRET = 'jwt-secret-of-at-least-32-characters-XYZ'
const REDIS_PASSWORD = 'redis-password-XYZ'
const TARGET_PASSWORD = 'target-password-XYZ'
const JWKS_PASSWORD = 'jwks-password-XYZ'
const UPSTREAM_SECRET = 'upstream-secret-XYZ'
const admin = { authorization: `Bearer ${TOKEN}` }

t.test('the effective config as JSON: secrets redacted, the rest as configured', async (t) => {
  const up = await startUpstream(t)
  const upPort = new URL(up.url).port
  // nothing listens there: the gateway starts without Redis (after a 1 s wait), which is all this needs
  const redisPort = await freePort()
  const routes = specRoutes().map((r: any) => (r.name === 'api' ? { ...r, headers: { request: { add: { authorization: `Bearer ${UPSTREAM_SECRET}`, 'x-tenant': 'acme' } } } } : r))
  const gw = await startGateway(t, {
    server: { adminToken: TOKEN, bodyLimitBytes: 4321 },
    jwt: { secret: JWT_SECRET, jwksUrl: `http://jwks-user:${JWKS_PASSWORD}@127.0.0.1:${upPort}/jwks.json` },
    redis: { url: `redis://gw:${REDIS_PASSWORD}@127.0.0.1:${redisPort}`, keyPrefix: 'hp-config-test:' },
    rateLimit: { enabled: true, anonymous: 42, windowMs: 12_345 },
    services: {
      command: { targets: [`http://svc:${TARGET_PASSWORD}@127.0.0.1:${upPort}`] },
      query: { targets: [up.url], timeoutMs: 2222 }
    },
    routes
  })
  const res = await call(`${gw.adminUrl}/admin/config`, { headers: admin })
  t.equal(res.status, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['content-type'], /^application\/json/)

  for (const secret of [TOKEN, JWT_SECRET, REDIS_PASSWORD, TARGET_PASSWORD, JWKS_PASSWORD, UPSTREAM_SECRET]) {
    t.notOk(res.text.includes(secret), `${secret.slice(0, 12)}… is nowhere in the body`)
  }
  const body = res.json()
  t.equal(body.server.adminToken, '[redacted]')
  t.equal(body.jwt.secret, '[redacted]')
  t.equal(body.redis.url, `redis://[redacted]@127.0.0.1:${redisPort}`)
  t.equal(body.jwt.jwksUrl, `http://[redacted]@127.0.0.1:${upPort}/jwks.json`)
  t.same(body.services.command.targets, [{ url: `http://[redacted]@127.0.0.1:${upPort}`, weight: 1 }])
  t.same(body.routes.find((r: any) => r.name === 'api').headers.request.add, { authorization: '[redacted]', 'x-tenant': 'acme' })

  // what is not secret is there as configured
  t.match(body.server, { host: '127.0.0.1', port: 0, adminPort: 0, bodyLimitBytes: 4321 })
  t.match(body.rateLimit, { enabled: true, anonymous: 42, authenticated: 1000, windowMs: 12_345 })
  t.equal(body.redis.keyPrefix, 'hp-config-test:')
  t.same(body.services.query.targets, [{ url: up.url, weight: 1 }])
  t.equal(body.services.query.timeoutMs, 2222)
  t.same(body.routes.map((r: any) => r.prefix), ['/auth', '/commands', '/api/analytics', '/api', '/graphql'])
  t.same(body.routes.find((r: any) => r.name === 'analytics').roles, ['analyst', 'admin'])
  t.equal(body.websocket.streamMaxLen, 100_000)

  // the running gateway still has the real values: the redaction made a copy
  t.equal(gw.context.config.jwt.secret, JWT_SECRET)
  t.equal(gw.context.config.server.adminToken, TOKEN)
})

t.test('without the admin token: 401, and nothing of the config', async (t) => {
  const gw = await startGateway(t, { server: { adminToken: TOKEN }, jwt: { secret: JWT_SECRET }, services: { command: { targets: ['http://127.0.0.1:1'] }, query: { targets: ['http://127.0.0.1:1'] } } })
  const res = await call(`${gw.adminUrl}/admin/config`)
  t.equal(res.status, 401)
  t.match(res.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
  t.notOk(res.text.includes('jwt'))
  const wrong = await call(`${gw.adminUrl}/admin/config`, { headers: { authorization: `Bearer ${JWT_SECRET}` } })
  t.equal(wrong.status, 401, 'another secret is not the admin token')
})
