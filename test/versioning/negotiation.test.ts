// Version negotiation through the gateway, on real sockets: each path to a
// version, the conflict rules, the default, the headers every response carries,
// and the 400 for unknown or malformed versions.
import t from 'tap'
import { startGateway, startUpstream, servicesFor, call, echo, type StartedGateway, type Upstream } from '../helpers.js'

const vendor = (v: string) => `application/vnd.healthpay.${v}+json`

async function setup (t: Parameters<typeof startGateway>[0], versioning: Record<string, unknown> = {}): Promise<{ gw: StartedGateway, up: Upstream }> {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, { services: servicesFor(up.url), versioning })
  return { gw, up }
}

t.test('each way of asking for a version reaches /v{N} upstream and is stated back', async (t) => {
  const { gw, up } = await setup(t)
  const cases: Array<[string, string, Record<string, string>, string, boolean]> = [
    // [what, path, headers, expected version, negotiated (so Vary)]
    ['path segment', '/v2/api/wallets/w1', {}, '2', false],
    ['X-API-Version header', '/api/wallets/w1', { 'x-api-version': '2' }, '2', true],
    ['X-API-Version with a v', '/api/wallets/w1', { 'x-api-version': 'v2' }, '2', true],
    ['Accept media type', '/api/wallets/w1', { accept: vendor('v2') }, '2', true],
    ['default version', '/api/wallets/w1', {}, '1', true]
  ]
  for (const [what, path, headers, version, negotiated] of cases) {
    const res = await call(gw.url + path + '?limit=5', { headers })
    t.equal(res.status, 200, what)
    t.equal(res.json().url, `/v${version}/api/wallets/w1?limit=5`, `${what}: the upstream sees the versioned path and the query`)
    t.equal(res.json().headers['x-api-version'], version, `${what}: the upstream hears the resolved version`)
    t.equal(res.headers['x-api-version'], version, `${what}: X-API-Version on the response`)
    t.equal(res.headers.vary, negotiated ? 'X-API-Version, Accept' : undefined, `${what}: Vary only when request headers chose the version`)
  }
  t.equal(up.requests.length, cases.length)
})

t.test('a path version wins over a conflicting header or media type; the header wins over Accept', async (t) => {
  const { gw } = await setup(t)
  let res = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-version': '2', accept: vendor('v2') } })
  t.equal(res.status, 200)
  t.equal(res.json().url, '/v1/api/wallets/w1')
  t.equal(res.json().headers['x-api-version'], '1', 'the client\'s conflicting header is replaced, not forwarded')
  t.equal(res.headers['x-api-version'], '1')
  res = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-version': 'abc' } })
  t.equal(res.status, 200, 'with a version in the path the header is not read, even a malformed one')
  res = await call(`${gw.url}/api/wallets/w1`, { headers: { 'x-api-version': '1', accept: vendor('v2') } })
  t.equal(res.json().url, '/v1/api/wallets/w1', 'X-API-Version before Accept')
  res = await call(`${gw.url}/api/wallets/w1`, { headers: { accept: `${vendor('v1')};q=0.2, ${vendor('v2')}` } })
  t.equal(res.json().url, '/v2/api/wallets/w1', 'the most preferred vendor range decides')
})

t.test('API_DEFAULT_VERSION picks the version of a request that names none', async (t) => {
  const { gw } = await setup(t, { versions: [1, 2, 3], defaultVersion: 3 })
  const res = await call(`${gw.url}/graphql`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(res.json().url, '/v3/graphql')
  t.equal(res.headers['x-api-version'], '3')
})

t.test('unknown and malformed versions are 400 problems listing the supported versions', async (t) => {
  const { gw, up } = await setup(t)
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    ['/api/wallets/w1', { 'x-api-version': 'abc' }, 'GW_VERSION_INVALID', /^The X-API-Version header "abc" is not an API version; send one of the supported versions: 1, 2$/],
    ['/api/wallets/w1', { 'x-api-version': 'v0' }, 'GW_VERSION_UNSUPPORTED', /^The X-API-Version header "0" is not a supported API version; supported: 1, 2$/],
    ['/api/wallets/w1', { 'x-api-version': '99999999999' }, 'GW_VERSION_UNSUPPORTED', /"99999999999" is not a supported API version/],
    ['/api/wallets/w1', { 'x-api-version': '1.5' }, 'GW_VERSION_INVALID', /"1\.5" is not an API version/],
    ['/api/wallets/w1', { accept: vendor('v7') }, 'GW_VERSION_UNSUPPORTED', /^The Accept media type "7" is not a supported API version/],
    ['/api/wallets/w1', { accept: vendor('vnext') }, 'GW_VERSION_INVALID', /^The Accept media type "vnext" is not an API version/],
    ['/v3/api/wallets/w1', {}, 'GW_VERSION_UNSUPPORTED', /^The path segment v3 is not a supported API version; supported: 1, 2$/],
    ['/v0/api/wallets/w1', {}, 'GW_VERSION_UNSUPPORTED', /path segment v0/],
    ['/v01/api/wallets/w1', {}, 'GW_VERSION_UNSUPPORTED', /path segment v01/],
    ['/v99999999999/anything', {}, 'GW_VERSION_UNSUPPORTED', /path segment v99999999999/]
  ]
  for (const [path, headers, code, detail] of cases) {
    const res = await call(gw.url + path + '?token=secret', { headers: { 'x-request-id': 'req-1', ...headers } })
    const what = `${path} ${JSON.stringify(headers)}`
    t.equal(res.status, 400, what)
    t.match(res.headers['content-type'], /^application\/problem\+json/, what)
    const body = res.json()
    t.match(body, { status: 400, code, title: 'Bad Request', instance: path, requestId: 'req-1', supportedVersions: [1, 2] }, what)
    t.match(body.detail, detail, what)
    t.equal(res.headers['x-api-version'], undefined, `${what}: no version was resolved`)
    t.equal(res.headers.vary, path.startsWith('/v') ? undefined : 'X-API-Version, Accept', `${what}: Vary when headers were read`)
  }
  t.equal(up.requests.length, 0, 'the upstream never sees a request with a bad version')
})

t.test('with CORS, Vary keeps Origin in front of the version headers, on answers and on errors', async (t) => {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { corsOrigins: ['https://a.example', 'https://b.example'] } })
  const origin = { origin: 'https://a.example' }
  let res = await call(`${gw.url}/api/wallets`, { headers: origin })
  t.equal(res.headers['access-control-allow-origin'], 'https://a.example')
  t.equal(res.headers.vary, 'Origin, X-API-Version, Accept')
  res = await call(`${gw.url}/api/wallets`, { headers: { ...origin, 'x-api-version': 'x' } })
  t.equal(res.status, 400)
  t.equal(res.headers.vary, 'Origin, X-API-Version, Accept', 'the 400 too')
  res = await call(`${gw.url}/v1/api/wallets`, { headers: origin })
  t.equal(res.headers.vary, 'Origin', 'a path version: only what CORS varies on')
})

t.test('the client cannot send the upstream a second version under another spelling', async (t) => {
  const { gw } = await setup(t)
  const res = await call(`${gw.url}/api/x`, { headers: { x_api_version: '2' } })
  t.equal(res.json().headers['x-api-version'], '1')
  t.equal(res.json().headers.x_api_version, undefined, 'CGI, WSGI, Rack and PHP read X_API_Version as X-API-Version')
})

t.test('the detail shows a long or hostile header shortened, never raw', async (t) => {
  const { gw } = await setup(t)
  const res = await call(`${gw.url}/api/x`, { headers: { 'x-api-version': 'a'.repeat(200) } })
  t.equal(res.status, 400)
  t.ok(res.json().detail.length < 200)
  t.match(res.json().detail, /"a{24}…"/)
  const repeated = await call(`${gw.url}/api/x`, { headers: { 'x-api-version': ['1', '2'] as unknown as string } })
  t.equal(repeated.status, 400, 'two X-API-Version headers are ambiguous')
  t.match(repeated.json().detail, /"1, 2" is not an API version/)
  const longPath = await call(`${gw.url}/v${'9'.repeat(5000)}/api`)
  t.equal(longPath.status, 400)
  t.ok(longPath.json().detail.length < 200, 'a huge path version is not echoed whole in the detail')
})

t.test('paths outside the versioned routes are never rewritten; case and prefixes are respected', async (t) => {
  const { gw, up } = await setup(t)
  let res = await call(`${gw.url}/health`, { headers: { 'x-api-version': '2' } })
  t.equal(res.status, 200, '/health is not versioned')
  t.equal(res.headers['x-api-version'], undefined)
  res = await call(`${gw.url}/apix/wallets`, { headers: { 'x-api-version': 'abc' } })
  t.equal(res.status, 404, 'a path merely starting like a route is not negotiated')
  t.equal(res.json().code, 'GW_ROUTE_NOT_FOUND')
  t.equal(res.json().instance, '/apix/wallets')
  res = await call(`${gw.url}/API/Wallets/w1`, { headers: { 'x-api-version': '2' } })
  t.equal(res.status, 200, 'routing is case-insensitive, so is negotiation')
  t.equal(up.requests.at(-1)!.url, '/v2/API/Wallets/w1')
  res = await call(`${gw.url}/V2/api/wallets/w1`)
  t.equal(res.status, 200)
  t.equal(res.headers['x-api-version'], '2')
  res = await call(`${gw.url}/api`, { headers: { 'x-api-version': '2' } })
  t.equal(up.requests.at(-1)!.url, '/v2/api', 'the bare prefix too')
  res = await call(`${gw.url}/v1/nothing`, { headers: { 'x-api-version': '2' } })
  t.equal(res.status, 404)
  t.equal(res.json().code, 'GW_ROUTE_NOT_FOUND', 'a versioned path outside every route is a plain 404')
})

t.test('gateway errors on a versioned route carry the version too (401 before any upstream)', async (t) => {
  const up = await startUpstream(t, echo('query'))
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: [{ name: 'api', prefix: '/api', service: 'query' }] })
  const res = await call(`${gw.url}/api/wallets`, { headers: { 'x-api-version': '2' } })
  t.equal(res.status, 401)
  t.equal(res.headers['x-api-version'], '2')
  t.equal(res.headers.vary, 'X-API-Version, Accept')
  t.equal(res.json().instance, '/api/wallets', 'the problem names the path the client sent')
})

t.test('an upstream Vary is kept after the gateway\'s; an upstream X-API-Version cannot contradict the gateway', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    res.setHeader('vary', 'Accept-Encoding')
    res.setHeader('x-api-version', '7')
    res.end('ok')
  })
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  let res = await call(`${gw.url}/api/x`)
  t.equal(res.headers.vary, 'X-API-Version, Accept, Accept-Encoding')
  t.equal(res.headers['x-api-version'], '1')
  res = await call(`${gw.url}/v2/api/x`)
  t.equal(res.headers.vary, 'Accept-Encoding', 'no negotiation: only the upstream\'s Vary')
  t.equal(res.headers['x-api-version'], '2')
})
