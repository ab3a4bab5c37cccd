// Deprecated versions: the exact Deprecation / Sunset / Link headers, 410 once the
// sunset has passed (on a moved clock), the "serve" override, and the per-version
// call counts SREs read before a sunset.
import t from 'tap'
import { startGateway, startUpstream, servicesFor, call, echo, signToken, bearer, rawExchange, TEST_SECRET, type StartedGateway, type Upstream } from '../helpers.js'
import { loadConfig } from '../../src/config/index.js'

const SUNSET_HEADER = 'Wed, 30 Jun 2027 00:00:00 GMT'
const SUNSET_MS = Date.UTC(2027, 5, 30)
const ADMIN_TOKEN = 'versioning-test-admin-token'
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }

async function setup (t: Parameters<typeof startGateway>[0], versioning: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const clock = { now: Date.UTC(2026, 10, 30) }
  const up: Upstream = await startUpstream(t, echo('query'))
  const gw: StartedGateway = await startGateway(t, { services: servicesFor(up.url), versioning, server: { adminToken: ADMIN_TOKEN }, ...extra }, { now: () => clock.now })
  return { gw, up, clock }
}

t.test('API_DEPRECATED=1=2027-06-30: Deprecation: true, the RFC 8594 Sunset date, a successor-version Link', async (t) => {
  // the variable as an SRE sets it
  t.same(loadConfig({ API_DEPRECATED: '1=2027-06-30' }).config.versioning.deprecated, [{ version: 1, sunset: '2027-06-30' }])
  const { gw } = await setup(t, { deprecated: [{ version: 1, sunset: '2027-06-30' }] })
  for (const [path, headers] of [['/v1/api/wallets/w1?limit=2', {}], ['/api/wallets/w1?limit=2', {}], ['/api/wallets/w1', { 'x-api-version': '1' }]] as const) {
    const res = await call(gw.url + path, { headers })
    t.equal(res.status, 200, path)
    t.equal(res.headers['x-api-version'], '1')
    t.equal(res.headers.deprecation, 'true', 'no deprecation date configured: the boolean form')
    t.equal(res.headers.sunset, SUNSET_HEADER, 'an IMF-fixdate at 00:00 GMT of the sunset day')
    t.equal(res.headers.link, '</v2/api/wallets/w1>; rel="successor-version"', 'the same resource in the successor version, without the query')
  }
  const current = await call(`${gw.url}/v2/api/wallets/w1`)
  t.equal(current.status, 200)
  for (const h of ['deprecation', 'sunset', 'link']) t.equal(current.headers[h], undefined, `no ${h} on the current version`)
})

t.test('with a deprecation date (1=2026-12-01/2027-06-30) Deprecation takes the RFC 9745 form @<epoch seconds>', async (t) => {
  t.same(loadConfig({ API_DEPRECATED: '1=2026-12-01/2027-06-30' }).config.versioning.deprecated, [{ version: 1, since: '2026-12-01', sunset: '2027-06-30' }])
  const { gw } = await setup(t, { deprecated: [{ version: 1, since: '2026-12-01', sunset: '2027-06-30' }] })
  const res = await call(`${gw.url}/v1/graphql`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(res.headers.deprecation, '@1796083200')
  t.equal(res.headers.sunset, SUNSET_HEADER)
  t.equal(res.headers.link, '</v2/graphql>; rel="successor-version"')
})

t.test('after the sunset the version answers 410 problem+json; before it, it is served', async (t) => {
  const { gw, up, clock } = await setup(t, { deprecated: [{ version: 1, sunset: '2027-06-30' }] })
  clock.now = SUNSET_MS - 1
  t.equal((await call(`${gw.url}/v1/api/wallets/w1`)).status, 200, 'the last millisecond before the sunset is still served')
  const served = up.requests.length
  clock.now = SUNSET_MS
  for (const path of ['/v1/api/wallets/w1?token=x', '/api/wallets/w1']) {
    const res = await call(gw.url + path, { headers: { 'x-request-id': 'gone-1' } })
    t.equal(res.status, 410, path)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.same(res.json(), {
      type: 'https://healthpay.dev/problems/gw-version-sunset',
      title: 'Gone',
      status: 410,
      detail: 'API version 1 was retired on 2027-06-30 (its sunset date); use /v2/api/wallets/w1',
      instance: path.split('?')[0],
      requestId: 'gone-1',
      code: 'GW_VERSION_SUNSET',
      sunset: '2027-06-30',
      successor: '/v2/api/wallets/w1'
    })
    t.equal(res.headers.sunset, SUNSET_HEADER, 'the Sunset header still says when')
    t.equal(res.headers.link, '</v2/api/wallets/w1>; rel="successor-version"')
  }
  t.equal(up.requests.length, served, 'a retired version never reaches the upstream')
  const v2 = await call(`${gw.url}/api/wallets/w1`, { headers: { 'x-api-version': '2' } })
  t.equal(v2.status, 200, 'the successor is unaffected')
})

t.test('afterSunset: serve keeps a retired version answering, with its headers', async (t) => {
  t.equal(loadConfig({ API_AFTER_SUNSET: 'serve' }).config.versioning.afterSunset, 'serve')
  const { gw, clock } = await setup(t, { deprecated: [{ version: 1, sunset: '2027-06-30' }], afterSunset: 'serve' })
  clock.now = SUNSET_MS + 86_400_000
  const res = await call(`${gw.url}/v1/api/wallets/w1`)
  t.equal(res.status, 200)
  t.equal(res.headers.sunset, SUNSET_HEADER)
  t.equal(res.headers.deprecation, 'true')
})

t.test('several deprecated versions: the Link names the next version that is not deprecated, where the route exists', async (t) => {
  const { gw } = await setup(t, {
    versions: [1, 2, 3],
    deprecated: [{ version: 1, sunset: '2027-06-30' }, { version: 2, sunset: '2027-12-31' }]
  }, {
    routes: [
      { name: 'api', prefix: '/api', service: 'query', auth: 'public' },
      { name: 'legacy', prefix: '/legacy', service: 'query', auth: 'public', versions: { 3: false } }
    ]
  })
  let res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.headers.link, '</v3/api/x>; rel="successor-version"', 'v1 → v3, past the deprecated v2')
  res = await call(`${gw.url}/v2/api/x`)
  t.equal(res.headers.link, '</v3/api/x>; rel="successor-version"')
  t.equal(res.headers.sunset, 'Fri, 31 Dec 2027 00:00:00 GMT')
  res = await call(`${gw.url}/v1/legacy/x`)
  t.equal(res.headers.link, '</v2/legacy/x>; rel="successor-version"', 'the route is gone from v3: its successor is v2, deprecated or not')
  res = await call(`${gw.url}/v2/legacy/x`)
  t.equal(res.status, 200)
  t.equal(res.headers.link, undefined, 'no later version has the route: no Link')
  t.equal(res.headers.deprecation, 'true')
  const versions = (await call(`${gw.adminUrl}/admin/versions`, { headers: admin })).json().versions
  t.same(versions.map((v: { successor?: number | null }) => v.successor), [3, 3, undefined], '/admin/versions names the same successor as the Link')
})

t.test('a percent-encoded version segment still links to the right successor', async (t) => {
  const { gw } = await setup(t, { deprecated: [{ version: 1, sunset: '2027-06-30' }] })
  const res = await call(`${gw.url}/%761/api/wallets`)
  t.equal(res.status, 200)
  t.equal(res.headers['x-api-version'], '1')
  t.equal(res.headers.link, '</v2/api/wallets>; rel="successor-version"')
})

t.test('a deprecated default version is warned about at start-up: its sunset would 410 every unversioned request', async (t) => {
  const lines: string[] = []
  const up = await startUpstream(t, echo('query'))
  await startGateway(t, { services: servicesFor(up.url), server: { logLevel: 'warn' }, versioning: { deprecated: [{ version: 1, sunset: '2027-06-30' }] } }, { logStream: { write: (l: string) => lines.push(l) } })
  const about = (all: string[]) => all.map((l) => JSON.parse(l)).filter((l) => /API version/.test(l.msg))
  t.match(about(lines), [{ level: 40, defaultVersion: 1, sunset: '2027-06-30', msg: /^the default API version 1 is deprecated: from its sunset \(2027-06-30\) every request that names no version gets 410/ }])
  lines.length = 0
  await startGateway(t, { services: servicesFor(up.url), server: { logLevel: 'warn' }, versioning: { deprecated: [{ version: 1, sunset: '2027-06-30' }], afterSunset: 'serve' } }, { logStream: { write: (l: string) => lines.push(l) } })
  t.same(about(lines), [], 'not when a retired version keeps being served')
})

t.test('an upstream Link is kept after the gateway\'s successor-version Link', async (t) => {
  const up = await startUpstream(t, (_req, res) => { res.setHeader('link', '</v1/api/x?page=2>; rel="next"'); res.end('[]') })
  const gw = await startGateway(t, { services: servicesFor(up.url), versioning: { deprecated: [{ version: 1, sunset: '2027-06-30' }] } }, { now: () => Date.UTC(2026, 10, 30) })
  const res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.headers.link, '</v2/api/x>; rel="successor-version", </v1/api/x?page=2>; rel="next"')
})

t.test('/admin/versions: status, routes, calls per version and who still calls a deprecated one', async (t) => {
  const { gw, clock } = await setup(t, { deprecated: [{ version: 1, since: '2026-12-01', sunset: '2027-06-30' }] }, {
    jwt: { secret: TEST_SECRET },
    routes: [
      { name: 'api', prefix: '/api', service: 'query' },
      { name: 'auth', prefix: '/auth', service: 'command', auth: 'public' }
    ]
  })
  const partner = bearer(signToken({ sub: 'partner-7' }))
  for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/api/wallets`, { headers: partner })
  await call(`${gw.url}/api/wallets`, { headers: bearer(signToken({ sub: 'app-2' })) })
  await call(`${gw.url}/v1/auth/login`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  await call(`${gw.url}/v1/api/wallets`) // 401: counted as a call, no consumer
  await call(`${gw.url}/v2/api/wallets`, { headers: partner })

  const res = await call(`${gw.adminUrl}/admin/versions`, { headers: admin })
  t.equal(res.status, 200)
  const body = res.json()
  t.same(body.defaultVersion, 1)
  t.same(body.afterSunset, 'gone')
  t.match(body.versions[0], {
    version: 1, status: 'deprecated', deprecatedSince: '2026-12-01', sunset: '2027-06-30', successor: 2, calls: 6,
    consumers: { 'partner-7': 3, 'app-2': 1, anonymous: 1 }
  })
  t.same(Object.keys(body.versions[0].consumers), ['partner-7', 'app-2', 'anonymous'], 'most calls first')
  t.same(body.versions[0].routes, [{ name: 'api', prefix: '/v1/api', service: 'query' }, { name: 'auth', prefix: '/v1/auth', service: 'command' }])
  t.match(body.versions[1], { version: 2, status: 'current', calls: 1 })
  t.equal(body.versions[1].consumers, undefined, 'consumers are tracked for deprecated versions only')
  clock.now = SUNSET_MS
  t.equal((await call(`${gw.adminUrl}/admin/versions`, { headers: admin })).json().versions[0].status, 'sunset')
  t.equal((await call(`${gw.adminUrl}/admin/versions`)).status, 401, 'admin auth as everywhere')
})

t.test('characters a Link target cannot hold are percent-encoded: <, >, " and the like cannot break out of <…>', async (t) => {
  const { gw } = await setup(t, { deprecated: [{ version: 1, sunset: '2027-06-30' }] })
  for (const [path, link] of [['/v1/api/a<b>', '/v2/api/a%3Cb%3E'], ['/v1/api/a"b', '/v2/api/a%22b'], ['/v1/api/a{b}|c^d`e', '/v2/api/a%7Bb%7D%7Cc%5Ed%60e']]) {
    const answer = await rawExchange(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.match(answer, /^HTTP\/1\.1 200 /, path)
    t.ok(answer.includes(`\r\nlink: <${link}>; rel="successor-version"\r\n`), `${path} → ${link}`)
  }
})
