// GET /admin/routes: the effective route table, as registered.
import t from 'tap'
import { startGateway, servicesFor, specRoutes, call } from '../helpers.js'

const TOKEN = 'test-admin-token-0123456789'
const admin = { authorization: `Bearer ${TOKEN}` }

const routes = () => [
  ...specRoutes(),
  {
    name: 'reports',
    prefix: '/reports',
    service: 'query',
    // v1 only: /v2/reports is absent
    versions: { 2: false },
    rateLimit: { max: 5, premium: 20, windowMs: 10_000 },
    timeoutMs: 1234,
    stripPrefix: true,
    preserveHost: true,
    headers: { request: { add: { authorization: 'Bearer upstream-secret-XYZ', 'x-tenant': 'acme' }, remove: ['cookie'] } },
    fallback: { status: 200, body: { reports: [] } }
  },
  { name: 'unlimited', prefix: '/v2/unlimited', service: 'command', rateLimit: { enabled: false }, auth: 'public' }
]

async function gateway (t: Parameters<typeof startGateway>[0], overrides: Record<string, unknown> = {}) {
  return startGateway(t, {
    services: { ...servicesFor('http://127.0.0.1:1'), query: { targets: ['http://127.0.0.1:1'], timeoutMs: 2500 } },
    routes: routes(),
    server: { adminToken: TOKEN },
    rateLimit: { enabled: true, anonymous: 50, windowMs: 30_000 },
    versioning: { deprecated: [{ version: 1, sunset: '2099-01-01' }] },
    ...overrides
  })
}

t.test('every route in every version, with the policies that apply to it', async (t) => {
  const gw = await gateway(t)
  const res = await call(`${gw.adminUrl}/admin/routes`, { headers: admin })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const { routes: table, absent } = res.json()

  t.same(table.map((r: any) => `${r.prefix}@${r.version}`), [
    '/v1/auth@1', '/v2/auth@2', '/v1/commands@1', '/v2/commands@2', '/v1/api/analytics@1', '/v2/api/analytics@2',
    '/v1/api@1', '/v2/api@2', '/v1/graphql@1', '/v2/graphql@2', '/v1/reports@1', '/v2/unlimited@2'
  ], 'in registration order: each route, then its versions')
  for (const name of ['auth', 'commands', 'analytics', 'api', 'graphql']) {
    t.same(table.filter((r: any) => r.name === name).map((r: any) => r.version), [1, 2], `${name} exists in versions 1 and 2`)
  }

  const analytics = table.find((r: any) => r.prefix === '/v2/api/analytics')
  t.same(analytics, {
    prefix: '/v2/api/analytics',
    version: 2,
    family: '/api/analytics',
    name: 'analytics',
    service: 'query',
    auth: 'authenticated',
    roles: ['analyst', 'admin'],
    validate: false,
    websocket: false,
    stripPrefix: false,
    preserveHost: false,
    hideCredentials: false,
    timeoutMs: 2500,
    rateLimit: { enabled: true, source: 'global', windowMs: 30_000, limits: { anonymous: 50, authenticated: 1000, premium: 10_000 } },
    headers: { request: { add: { 'x-api-version': '2' }, remove: [] }, response: { add: { 'x-api-version': '2' }, remove: [] } },
    fallback: false,
    deprecation: null
  }, 'the analytics route: its roles, the service timeout, the global limits')
  t.match(table.find((r: any) => r.prefix === '/v1/commands'), { auth: 'authenticated', roles: [], validate: true, timeoutMs: 5000, service: 'command' })
  t.match(table.find((r: any) => r.prefix === '/v1/graphql'), { websocket: true })
  t.match(table.find((r: any) => r.prefix === '/v1/auth'), { auth: 'public' })

  const reports = table.find((r: any) => r.prefix === '/v1/reports')
  t.match(reports, {
    family: '/reports',
    timeoutMs: 1234,
    stripPrefix: true,
    preserveHost: true,
    fallback: true,
    rateLimit: { enabled: true, source: 'route', windowMs: 10_000, limits: { anonymous: 5, authenticated: 5, premium: 20 } }
  }, 'a route with its own limits, timeout and fallback')
  t.same(reports.headers.request, { add: { authorization: '[redacted]', 'x-tenant': 'acme', 'x-api-version': '1' }, remove: ['cookie'] }, 'header values of sensitive names redacted')
  t.notOk(res.text.includes('upstream-secret-XYZ'), 'the upstream credential is nowhere in the answer')
  t.same(table.find((r: any) => r.prefix === '/v2/unlimited').rateLimit, { enabled: false, source: 'route' })

  t.same(reports.deprecation, { since: null, sunset: '2099-01-01', successor: null }, 'version 1 is deprecated; reports has no later version')
  t.same(table.find((r: any) => r.prefix === '/v1/api').deprecation, { since: null, sunset: '2099-01-01', successor: 2 })

  t.same(absent, [
    { prefix: '/v2/reports', version: 2, versions: [1] },
    { prefix: '/v1/unlimited', version: 1, versions: [2] }
  ], 'families missing from a version')
})

t.test('with rate limiting off, every route says so', async (t) => {
  const gw = await gateway(t, { rateLimit: { enabled: false } })
  const { routes: table } = (await call(`${gw.adminUrl}/admin/routes`, { headers: admin })).json()
  t.ok(table.length > 0)
  t.ok(table.every((r: any) => r.rateLimit.enabled === false && r.rateLimit.source === 'global'))
})

t.test('without the admin token: 401', async (t) => {
  const gw = await gateway(t)
  const res = await call(`${gw.adminUrl}/admin/routes`)
  t.equal(res.status, 401)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
  t.equal((await call(`${gw.url}/admin/routes`, { headers: admin })).status, 404, 'not on the public port')
})
