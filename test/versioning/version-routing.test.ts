// Version routing: one route scope per route and version, a version mapped to
// another service, a route absent in a version (404 naming where it exists), the
// config checks on versioned prefixes, and WebSocket upgrades on unversioned paths.
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { WebSocket } from 'ws'
import { startGateway, startUpstream, startWsUpstream, servicesFor, call, echo, answeredBy, configProblems, testConfig } from '../helpers.js'
import { buildRouteTable } from '../../plugins/versioning/routes.js'
import { resolveConfig } from '../../src/config/index.js'

t.test('a version mapped to another service goes there, with its own breaker; the others stay', async (t) => {
  const v1 = await startUpstream(t, echo('query-v1'))
  const v2 = await startUpstream(t, echo('query-v2'))
  const gw = await startGateway(t, {
    services: { ...servicesFor(v1.url), 'query-v2': { targets: [v2.url] } },
    routes: [
      { name: 'api', prefix: '/api', service: 'query', auth: 'public', versions: { 2: { service: 'query-v2' } } },
      { name: 'commands', prefix: '/commands', service: 'command', auth: 'public' }
    ]
  })
  t.equal(answeredBy(await call(`${gw.url}/v1/api/wallets/w1`)), 'query-v1')
  t.equal(answeredBy(await call(`${gw.url}/v2/api/wallets/w1`)), 'query-v2')
  t.equal(answeredBy(await call(`${gw.url}/api/wallets/w1`, { headers: { 'x-api-version': '2' } })), 'query-v2', 'negotiated requests follow the mapping too')
  t.equal(answeredBy(await call(`${gw.url}/api/wallets/w1`, { headers: { accept: 'application/vnd.healthpay.v2+json' } })), 'query-v2')
  t.equal(answeredBy(await call(`${gw.url}/api/wallets/w1`)), 'query-v1', 'the default version keeps the old service')
  t.equal(answeredBy(await call(`${gw.url}/v2/commands/x`)), 'query-v1', 'unmapped routes keep their service in every version')
  t.equal(v2.requests[0]!.url, '/v2/api/wallets/w1', 'the new service sees the versioned path')
  t.ok(gw.context.breakers.has('query-v2'), 'each service has its own breaker')
})

t.test('a route absent in a version is a 404 problem naming the versions where it exists', async (t) => {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    versioning: { versions: [1, 2, 3] },
    routes: [
      { name: 'api', prefix: '/api', service: 'query', auth: 'public' },
      { name: 'reports', prefix: '/api/reports', service: 'query', auth: 'public', versions: { 2: false, 3: false } },
      { name: 'beta', prefix: '/v3/beta', service: 'query', auth: 'public' }
    ]
  })
  let res = await call(`${gw.url}/v2/api/reports/daily?token=x`, { headers: { 'x-request-id': 'absent-1' } })
  t.equal(res.status, 404)
  t.same(res.json(), {
    type: 'https://healthpay.dev/problems/gw-version-route-absent',
    title: 'Not Found',
    status: 404,
    detail: '/v2/api/reports/daily does not exist in API version 2; it exists in version(s) 1',
    instance: '/v2/api/reports/daily',
    requestId: 'absent-1',
    code: 'GW_VERSION_ROUTE_ABSENT',
    versions: [1]
  })
  t.equal(res.headers['x-api-version'], '2')
  t.equal(res.headers.vary, undefined)
  res = await call(`${gw.url}/api/reports`, { headers: { 'x-api-version': '3' } })
  t.equal(res.status, 404)
  t.match(res.json(), { code: 'GW_VERSION_ROUTE_ABSENT', detail: '/api/reports does not exist in API version 3; it exists in version(s) 1', instance: '/api/reports', versions: [1] })
  t.equal(res.headers.vary, 'X-API-Version, Accept', 'the answer depended on the header')
  res = await call(`${gw.url}/beta/x`)
  t.match(res.json(), { code: 'GW_VERSION_ROUTE_ABSENT', versions: [3] }, 'a route declared for one version only')
  t.equal((await call(`${gw.url}/v3/beta/x`)).status, 200)
  t.equal((await call(`${gw.url}/v1/api/reports/daily`)).status, 200, 'still there in v1')
  t.equal(up.requests.length, 2)
  res = await call(`${gw.url}/v2/api/other`)
  t.equal(res.status, 200, '/api itself exists in v2: only the longer prefix is absent')
})

t.test('a role-protected route absent in a version never falls through to a shorter, open prefix', async (t) => {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: [
      { name: 'api', prefix: '/api', service: 'query', auth: 'public' },
      { name: 'analytics', prefix: '/api/analytics', service: 'query', roles: ['analyst'], versions: { 2: false } }
    ]
  })
  for (const [path, headers] of [['/v2/api/analytics/summary', {}], ['/api/analytics/summary', { 'x-api-version': '2' }], ['/v2/API/Analytics', {}]] as const) {
    const res = await call(gw.url + path, { method: 'POST', headers })
    t.equal(res.status, 404, path)
    t.equal(res.json().code, 'GW_VERSION_ROUTE_ABSENT', path)
  }
  t.equal((await call(`${gw.url}/v1/api/analytics/summary`)).status, 401, 'v1 still demands credentials')
  t.equal(up.requests.length, 0)
})

t.test('the route table: one entry per route and version, versioned prefixes, successors', async (t) => {
  const config = testConfig({
    versioning: { versions: [1, 2], deprecated: [{ version: 1, sunset: '2027-06-30' }] },
    routes: [
      { name: 'api', prefix: '/api', service: 'query', auth: 'public', versions: { 2: { service: 'command' } } },
      { name: 'old', prefix: '/v1/old', service: 'query', auth: 'public' }
    ]
  })
  const { table, problems } = buildRouteTable(config.routes, config.versioning)
  t.same(problems, [])
  t.same(table.routes.map((r) => [r.route.prefix, r.route.service, r.version, r.family, r.successor]), [
    ['/v1/api', 'query', 1, '/api', 2],
    ['/v2/api', 'command', 2, '/api', undefined],
    ['/v1/old', 'query', 1, '/old', undefined]
  ])
  t.same(Object.fromEntries(table.families), { '/api': [1, 2], '/old': [1] })
  t.same(table.absent, [{ prefix: '/v2/old', version: 2, versions: [1] }], 'answered with 404, not left to a shorter prefix')
  t.same(table.routes[0]!.route.headers, { request: { add: { 'x-api-version': '1' } }, response: { add: { 'x-api-version': '1' } } })
  t.equal((table.routes[0]!.route as { versions?: unknown }).versions, undefined)
})

t.test('config: versioned prefixes and version maps are checked at start-up', async (t) => {
  const problems = (routes: unknown[], versioning: Record<string, unknown> = {}) => {
    try {
      resolveConfig({ routes, versioning })
      return []
    } catch (err) {
      return (err as { problems: string[] }).problems
    }
  }
  t.same(problems([{ prefix: '/v3/api', service: 'query' }]), ['routes[0].prefix: got "/v3/api", expected a version segment naming one of the supported versions 1, 2 (or no version segment: the route then exists in every version)'])
  t.same(problems([{ prefix: '/v1/api', service: 'query', versions: { 2: false } }]), ['routes[0].versions: got {"2":false}, expected no versions map on a prefix that names its version (use the unversioned prefix "/api" with a versions map)'])
  t.same(problems([{ prefix: '/api', service: 'query', versions: { 5: false } }]), ['routes[0].versions[5]: got false, expected a key naming one of the supported versions 1, 2'])
  t.same(problems([{ prefix: '/api', service: 'query', versions: { 2: { service: 'nowhere' } } }]), ['routes[0].versions[2].service: got "nowhere", expected one of the configured services: command, query'])
  t.same(problems([{ prefix: '/api', service: 'query', versions: { v2: false } }]).length, 1, 'keys are plain version numbers')
  t.same(problems([{ prefix: '/api', service: 'query', versions: { 2: true } }]).length, 1, 'true is not a setting')
  t.same(problems([{ name: 'a', prefix: '/api', service: 'query' }, { name: 'b', prefix: '/v2/api', service: 'query' }]), [
    'routes[1].prefix: got "/v2/api", expected a route not also served by routes[0] at /v2/api (mark version 2 absent on the unversioned one: versions: { "2": false })'
  ])
  t.same(problems([{ name: 'a', prefix: '/api', service: 'query', versions: { 2: false } }, { name: 'b', prefix: '/v2/api', service: 'query' }]), [], 'marked absent: the pinned route takes v2')
  t.same(problems([{ prefix: '/api', service: 'query', versions: { '02': false } }]).length, 1, 'a key with a leading zero is refused, not ignored')
  t.same(problems([{ prefix: '/api', service: 'query', versions: { '02': null } }]).length, 1, 'a bad value under a bad key is a config error, not a crash')
  t.same(problems([{ prefix: '/api', service: 'query', versions: { ' 2': false } }]).length, 1)
  for (const shadow of ['/v1/ws', '/v2/health', '/v1/admin', '/v1/openapi.json', '/health/deep', '/v1/ready/x', '/docs/api', '/WS/x']) {
    t.match(problems([{ prefix: shadow, service: 'query' }])[0], /expected a prefix that does not shadow the gateway's own endpoints/, `${shadow}: its unversioned form would capture the gateway's own path`)
  }
  t.same(configProblems({ API_VERSIONS: '1' }).filter((p) => p.includes('routes')), [], 'the default routes fit any version set')
})

t.test('WebSocket upgrades on an unversioned path are negotiated and tunnelled to /v{N}', async (t) => {
  const up = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), versioning: { deprecated: [{ version: 1, sunset: '2099-12-31' }] } })
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/graphql?x=1`, 'graphql-transport-ws', { headers: { 'x-api-version': '1' } })
  const opened = once(ws, 'open')
  const [handshake] = await once(ws, 'upgrade') as [http.IncomingMessage]
  t.match(handshake.headers, {
    'x-api-version': '1',
    vary: 'X-API-Version, Accept',
    deprecation: 'true',
    sunset: 'Thu, 31 Dec 2099 00:00:00 GMT',
    link: '</v2/graphql>; rel="successor-version"'
  }, 'the 101 states the version and its deprecation like any response')
  t.ok(handshake.headers['x-request-id'])
  await opened
  ws.send('hi')
  const [reply] = await once(ws, 'message')
  t.equal(String(reply), 'echo:hi')
  t.equal(up.upgrades[0]!.url, '/v1/graphql?x=1')
  t.equal(up.upgrades[0]!.headers['x-api-version'], '1')
  ws.close()
  await once(ws, 'close')

  const bad = new WebSocket(`${gw.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { headers: { 'x-api-version': 'nine' } })
  bad.on('error', () => {})
  const [, res] = await once(bad, 'unexpected-response') as [unknown, http.IncomingMessage]
  let body = ''
  for await (const chunk of res) body += chunk
  t.equal(res.statusCode, 400)
  t.match(JSON.parse(body), { code: 'GW_VERSION_INVALID', supportedVersions: [1, 2] })
  t.equal(up.upgrades.length, 1, 'the refused upgrade never reached the upstream')
})

t.test('a route\'s own rate limit counts its versions together: a new version is no way around it', async (t) => {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    rateLimit: { enabled: true },
    routes: [{ name: 'api', prefix: '/api', service: 'query', auth: 'public', rateLimit: { max: 2 } }]
  })
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 200)
  t.equal((await call(`${gw.url}/api/x`, { headers: { 'x-api-version': '2' } })).status, 200)
  const third = await call(`${gw.url}/v2/api/x`)
  t.equal(third.status, 429)
  t.equal(third.headers['x-api-version'], '2')
})
