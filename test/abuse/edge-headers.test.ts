// Abuse suite (issue 11), the edge's own headers: helmet's security headers and
// X-Request-Id on every kind of response the public listener can give — proxied
// answers (2xx, and the upstream's own 4xx/5xx), every problem the gateway produces
// itself (400, 401, 403, 404, 413, 429, 502/503 of a dead service, the breaker's 503
// and a configured fallback), the docs and the spec, the probes; and CORS: the exact
// allow-list, lookalike origins, preflights answered by the gateway (never proxied,
// never rate limited, never versioned), credentials only for listed origins, `*`.
// test/gateway/problem-json.test.ts checks nosniff/HSTS on three paths and one
// allowed/one foreign origin; this file checks the whole helmet set, exactly, everywhere.
import t, { type Test } from 'tap'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, rawExchange, echo, type SimpleResponse, type StartedGateway, type Upstream } from '../helpers.js'

// helmet 8's defaults, as src/security-headers.ts computes them once at start-up. Written
// out here (not recomputed with helmet) so that a change of options or version shows.
const CSP = "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
const HELMET: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0'
}
// /docs and /openapi.* drop upgrade-insecure-requests for plain-HTTP requests
// (plugins/openapi/index.ts: the page would otherwise ask for its assets over https)
const CSP_DOCS_OVER_HTTP = CSP.replace(';upgrade-insecure-requests', '')

const PROBLEM = 'application/problem+json; charset=utf-8'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const W = 60_000
/** a clock frozen 15 s into a rate-limit window: no window boundary can fall inside a test */
const frozen = () => 1000 * W + 15_000

/** Every helmet header with its exact value, no X-Powered-By, and the X-Request-Id expected. */
function assertEdgeHeaders (t: Test, res: SimpleResponse, what: string, requestId: string | RegExp, opts: { docs?: boolean } = {}): void {
  const expected = opts.docs ? { ...HELMET, 'content-security-policy': CSP_DOCS_OVER_HTTP } : HELMET
  const got: Record<string, unknown> = {}
  for (const name of Object.keys(expected)) got[name] = res.headers[name]
  t.same(got, expected, `${what} (${res.status}): helmet's headers, exactly`)
  t.equal(res.headers['x-powered-by'], undefined, `${what}: no X-Powered-By`)
  if (typeof requestId === 'string') t.equal(res.headers['x-request-id'], requestId, `${what}: X-Request-Id echoed`)
  else t.match(res.headers['x-request-id'], requestId, `${what}: X-Request-Id generated`)
}

/** A raw HTTP/1.1 answer (from rawExchange) as a SimpleResponse; repeated headers become arrays. */
function parseRaw (raw: string): SimpleResponse {
  const end = raw.indexOf('\r\n\r\n')
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n')
  const headers: Record<string, string | string[]> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const prior = headers[name]
    headers[name] = prior === undefined ? value : [...(Array.isArray(prior) ? prior : [prior]), value]
  }
  const text = raw.slice(end + 4)
  return { status: Number(statusLine!.split(' ')[1]), headers, text, json: () => JSON.parse(text) }
}

/** Upstream: /…/status/NNN answers NNN with a JSON body of its own; anything else echoes. */
async function statusUpstream (t: Test): Promise<Upstream> {
  const echoing = echo('upstream')
  return startUpstream(t, (req, res, body) => {
    const m = /\/status\/(\d{3})/.exec(req.url ?? '')
    if (m) {
      res.statusCode = Number(m[1])
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ upstream: 'own answer', status: res.statusCode }))
      return
    }
    echoing(req, res, body)
  })
}

t.test('helmet headers and X-Request-Id on every kind of response', async (t) => {
  const up = await statusUpstream(t)
  const dead = 'http://127.0.0.1:1'
  const deadService = { targets: [dead], breaker: { minRequests: 2 } }
  const gw = await startGateway(t, {
    services: { ...servicesFor(up.url), dead: deadService, dead2: deadService },
    routes: [
      ...specRoutes(),
      { name: 'limited', prefix: '/limited', service: 'query', auth: 'public', rateLimit: { max: 1, windowMs: W } },
      { name: 'dead', prefix: '/dead', service: 'dead', auth: 'public' },
      { name: 'degraded', prefix: '/degraded', service: 'dead2', auth: 'public', fallback: { status: 200, body: { degraded: true } } }
    ],
    jwt: { secret: TEST_SECRET },
    server: { bodyLimitBytes: 1024 },
    rateLimit: { enabled: true, anonymous: 10_000, authenticated: 10_000, premium: 10_000, windowMs: W }
  }, { now: frozen })
  let n = 0
  /** one request with an X-Request-Id of its own; returns the response and that id */
  const send = async (path: string, opts: { method?: string, headers?: Record<string, string>, body?: string } = {}) => {
    const id = `edge-${++n}`
    const res = await call(`${gw.url}${path}`, { ...opts, headers: { 'x-request-id': id, ...opts.headers } })
    return { res, id }
  }
  const check = async (what: string, path: string, expect: { status: number, code?: string, type?: RegExp, docs?: boolean }, opts: Parameters<typeof send>[1] = {}) => {
    const { res, id } = await send(path, opts)
    t.equal(res.status, expect.status, `${what}: ${expect.status}`)
    if (expect.code !== undefined) {
      t.equal(res.headers['content-type'], PROBLEM, `${what}: problem+json`)
      t.equal(res.json().code, expect.code, `${what}: ${expect.code}`)
      t.equal(res.json().requestId, id, `${what}: the problem names the request id`)
    }
    if (expect.type !== undefined) t.match(res.headers['content-type'], expect.type, `${what}: content type`)
    assertEdgeHeaders(t, res, what, id, { docs: expect.docs })
    return res
  }
  const user = bearer(signToken({ sub: 'u-edge' }))

  // proxied answers: the upstream's status and body, the gateway's headers
  await check('proxied 200', '/v1/auth/login', { status: 200, type: /^application\/json/ })
  const own500 = await check('proxied upstream 500', '/v1/auth/status/500', { status: 500, type: /^application\/json/ })
  t.same(own500.json(), { upstream: 'own answer', status: 500 }, 'the upstream 500 is relayed, not replaced')
  await check('proxied upstream 404', '/v1/api/status/404', { status: 404, type: /^application\/json/ }, { headers: user })
  await check('proxied, unversioned path', '/api/wallets/w1', { status: 200 }, { headers: user })
  await check('proxied HEAD', '/v1/auth/login', { status: 200 }, { method: 'HEAD' })

  // the gateway's own problems
  await check('401 no credentials', '/v1/api/wallets/w1', { status: 401, code: 'GW_AUTH_MISSING_CREDENTIALS' })
  await check('401 bad token', '/v1/api/wallets/w1', { status: 401, code: 'GW_AUTH_INVALID_TOKEN' }, { headers: bearer('not.a.jwt') })
  await check('403 missing role', '/v1/api/analytics/summary', { status: 403, code: 'GW_AUTH_FORBIDDEN' }, { headers: user })
  await check('404 no route', '/nothing/here', { status: 404, code: 'GW_ROUTE_NOT_FOUND' })
  await check('413 body too large', '/v1/auth/login', { status: 413, code: 'GW_REQUEST_BODY_TOO_LARGE' }, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(4096) }) })
  await check('400 malformed URL', '/v1/api/%', { status: 400, code: 'GW_REQUEST_BAD_URL' })
  // (sent raw: a client library would resolve the encoded dot segment itself)
  const badPath = parseRaw(await rawExchange(gw.url, 'GET /v1/api/a/%2e%2e/analytics/x HTTP/1.1\r\nHost: x\r\nX-Request-Id: edge-raw-1\r\nConnection: close\r\n\r\n'))
  t.equal(badPath.status, 400, '400 path not in normal form')
  t.equal(badPath.json().code, 'GW_REQUEST_BAD_PATH')
  assertEdgeHeaders(t, badPath, '400 path not in normal form', 'edge-raw-1')
  await check('400 invalid version', '/api/wallets/w1', { status: 400, code: 'GW_VERSION_INVALID' }, { headers: { 'x-api-version': 'abc' } })
  await check('400 unsupported version', '/v9/api/wallets/w1', { status: 400, code: 'GW_VERSION_UNSUPPORTED' })
  await check('429 first is allowed', '/v1/limited/x', { status: 200 })
  const limited = await check('429 over the route limit', '/v1/limited/x', { status: 429, code: 'GW_RATE_LIMITED' })
  t.ok(limited.headers['retry-after'], '429: Retry-After')

  // a dead service: 502/503 while the gateway finds out, then the open breaker's 503
  const seen = new Set<string>()
  for (let i = 0; i < 10 && !seen.has('GW_BREAKER_OPEN'); i++) {
    const { res, id } = await send('/v1/dead/x')
    t.ok(res.status === 502 || res.status === 503, `dead service, request ${i + 1}: ${res.status} ${res.json().code}`)
    t.equal(res.headers['content-type'], PROBLEM)
    seen.add(res.json().code)
    assertEdgeHeaders(t, res, `dead service: ${res.json().code}`, id)
  }
  t.ok(seen.has('GW_BREAKER_OPEN'), `the breaker opened (codes seen: ${[...seen].join(', ')})`)
  const open = await check('503 breaker open', '/v1/dead/x', { status: 503, code: 'GW_BREAKER_OPEN' })
  t.ok(open.headers['retry-after'], 'breaker open: Retry-After')
  // the configured fallback of a route whose breaker is open: the gateway's answer, not the upstream's
  let fallback: SimpleResponse | undefined
  for (let i = 0; i < 10; i++) {
    const { res, id } = await send('/v1/degraded/x')
    assertEdgeHeaders(t, res, `degraded service, request ${i + 1}`, id)
    if (res.status === 200) { fallback = res; break }
  }
  t.same(fallback?.json(), { degraded: true }, 'the configured fallback answered')

  // the gateway's own endpoints
  const docs = await check('/docs', '/docs', { status: 200, type: /^text\/html/, docs: true })
  t.match(docs.text, /<html/i)
  await check('/docs static asset', '/docs/static/index.css', { status: 200, type: /^text\/css/, docs: true })
  await check('/openapi.json', '/openapi.json', { status: 200, type: /^application\/json/, docs: true })
  await check('/openapi.yaml', '/openapi.yaml', { status: 200, type: /^application\/yaml/, docs: true })
  await check('/health', '/health', { status: 200 })
  await check('HEAD /health', '/health', { status: 200 }, { method: 'HEAD' })
  await check('/ready', '/ready', { status: 200 })
  await check('400 bad JSON to a gateway endpoint', '/health', { status: 400, code: 'GW_REQUEST_INVALID_JSON' }, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' })

  // without a client X-Request-Id (or with a malformed one) the gateway makes one up, on every kind too
  for (const path of ['/v1/auth/login', '/v1/api/wallets/w1', '/nothing', '/docs', '/health']) {
    const plain = await call(`${gw.url}${path}`)
    assertEdgeHeaders(t, plain, `${path} without X-Request-Id`, UUID, { docs: path === '/docs' })
    const bad = await call(`${gw.url}${path}`, { headers: { 'x-request-id': 'spaces are\tnot allowed' } })
    t.match(bad.headers['x-request-id'], UUID, `${path}: a malformed X-Request-Id is replaced`)
  }
  // none of the gateway's own refusals reached the upstream
  t.notOk(up.requests.some((r) => r.url.includes('/analytics/')), 'the 403 never reached the upstream')
  t.equal(up.requests.filter((r) => r.url.startsWith('/v1/limited/')).length, 1, 'the 429 never reached the upstream')
  t.equal(up.requests.filter((r) => r.method === 'POST').length, 0, 'the 413 body never reached the upstream')
})

t.test('answers written on the raw socket (not HTTP, headers too large) still carry an X-Request-Id and problem+json', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const garbage = await rawExchange(gw.url, 'NOT HTTP AT ALL\r\n\r\n')
  t.match(garbage, /^HTTP\/1\.1 400 /)
  t.match(garbage, /\r\nx-request-id: [0-9a-f-]{36}\r\n/i)
  t.match(garbage, /\r\ncontent-type: application\/problem\+json/i)
  const big = await rawExchange(gw.url, `GET /v1/api/x HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 431 /)
  t.match(big, /\r\nx-request-id: [0-9a-f-]{36}\r\n/i)
  t.match(big, /"code":"GW_REQUEST_HEADERS_TOO_LARGE"/)
})

t.test('the upstream cannot replace the gateway\'s X-Request-Id on a proxied answer', async (t) => {
  // README "Headers": the id is echoed on every response and is in every log line; an
  // upstream that sets its own X-Request-Id must not break the client's correlation
  const up = await startUpstream(t, (_req, res) => {
    res.setHeader('x-request-id', 'chosen-by-the-upstream')
    res.setHeader('content-type', 'application/json')
    res.end('{}')
  })
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const res = await call(`${gw.url}/v1/api/x`, { headers: { 'x-request-id': 'client-id-1' } })
  t.equal(res.status, 200)
  t.equal(up.requests[0]!.headers['x-request-id'], 'client-id-1', 'the upstream was told the id')
  t.equal(res.headers['x-request-id'], 'client-id-1', 'the client gets back the id the gateway logged')
})

// ---------------------------------------------------------------------------
// CORS

const APP = 'https://app.example'
const LOOKALIKES = [
  'https://app.example.evil', // suffix
  'https://evil.app.example', // subdomain
  'https://xapp.example', // prefix
  'https://app.exampl', // truncated
  'null', // sandboxed iframes, file:, redirects
  'http://app.example', // another scheme
  'https://app.example:8443', // another port
  'https://app.example:443', // the default port spelled out: not the serialisation browsers send
  'https://APP.EXAMPLE', // browsers serialise lower case; the list is matched exactly
  'https://app.example/', // not an origin serialisation
  'https://app.example, https://evil.example', // a list smuggled into one header
  'https://app.example.', // trailing-dot FQDN
  '*'
]

async function corsGateway (t: Test, corsOrigins: string[], extra: Record<string, any> = {}): Promise<{ up: Upstream, gw: StartedGateway }> {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET }, server: { corsOrigins }, ...extra })
  return { up, gw }
}

const preflight = (gw: StartedGateway, path: string, origin: string, method = 'POST', requestHeaders = 'authorization, content-type, x-api-version') =>
  call(`${gw.url}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': requestHeaders } })

t.test('CORS: a listed origin gets itself back with credentials, on proxied answers and on the gateway\'s problems', async (t) => {
  const { gw } = await corsGateway(t, [APP, 'https://admin.example'])
  const user = bearer(signToken({ sub: 'u-cors' }))
  const cases: Array<[string, string, Record<string, string>, number]> = [
    ['proxied 200', '/v1/api/wallets/w1', user, 200],
    ['public route', '/v1/auth/login', {}, 200],
    ['401 problem (the browser app must be able to read it)', '/v1/api/wallets/w1', {}, 401],
    ['404 problem', '/nothing', {}, 404],
    ['/docs', '/docs', {}, 200]
  ]
  for (const [what, path, headers, status] of cases) {
    for (const origin of [APP, 'https://admin.example']) {
      const res = await call(`${gw.url}${path}`, { headers: { ...headers, origin } })
      t.equal(res.status, status, `${what} from ${origin}: ${status}`)
      t.equal(res.headers['access-control-allow-origin'], origin, `${what} from ${origin}: ACAO is that origin, not *`)
      t.equal(res.headers['access-control-allow-credentials'], 'true', `${what} from ${origin}: credentials allowed`)
      t.match(res.headers.vary, /\bOrigin\b/, `${what}: Vary: Origin (the answer depends on it)`)
      t.match(res.headers['access-control-expose-headers'], /X-Request-Id/)
      assertEdgeHeaders(t, res, `${what} with CORS`, UUID, { docs: path === '/docs' })
    }
  }
})

t.test('CORS: /openapi.json and /openapi.yaml keep Vary: Origin beside their own Vary', async (t) => {
  // Their answer depends on Host/X-Forwarded-* (the servers entry) and, with CORS on, on
  // Origin (ACAO reflects it): a shared cache must key on all of them, or it hands the
  // answer made for one origin (with its ACAO, or without any) to another.
  const { gw } = await corsGateway(t, [APP])
  for (const path of ['/openapi.json', '/openapi.yaml']) {
    const res = await call(`${gw.url}${path}`, { headers: { origin: APP } })
    t.equal(res.status, 200)
    t.equal(res.headers['access-control-allow-origin'], APP, `${path}: ACAO`)
    const vary = String(res.headers.vary).split(/\s*,\s*/).map((v) => v.toLowerCase())
    t.ok(vary.includes('host'), `${path}: Vary names Host (${res.headers.vary})`)
    t.ok(vary.includes('origin'), `${path}: Vary names Origin (${res.headers.vary})`)
  }
})

t.test('CORS: lookalike origins get no Access-Control-Allow-Origin', async (t) => {
  const { gw } = await corsGateway(t, [APP])
  for (const origin of LOOKALIKES) {
    for (const [path, status] of [['/v1/auth/login', 200], ['/v1/api/wallets/w1', 401]] as const) {
      const res = await call(`${gw.url}${path}`, { headers: { origin } })
      t.equal(res.status, status, `${JSON.stringify(origin)} ${path}: served as usual (CORS is the browser's to enforce)`)
      t.equal(res.headers['access-control-allow-origin'], undefined, `${JSON.stringify(origin)} ${path}: no ACAO`)
      t.match(res.headers.vary, /\bOrigin\b/, `${JSON.stringify(origin)}: Vary: Origin, so a cache cannot hand this answer to ${APP}`)
    }
    const pre = await preflight(gw, '/v1/api/wallets/w1', origin)
    t.equal(pre.headers['access-control-allow-origin'], undefined, `${JSON.stringify(origin)}: preflight without ACAO`)
  }
})

t.test('CORS: Access-Control-Allow-Credentials only for listed origins', async (t) => {
  // A browser ignores ACAC without a matching ACAO, so this is defence in depth, but the
  // issue asks for credentials "only for listed origins"
  const { gw } = await corsGateway(t, [APP])
  for (const origin of ['https://app.example.evil', 'null', 'http://app.example']) {
    const res = await call(`${gw.url}/v1/auth/login`, { headers: { origin } })
    t.equal(res.headers['access-control-allow-credentials'], undefined, `${origin}: no Allow-Credentials`)
    const pre = await preflight(gw, '/v1/api/wallets/w1', origin)
    t.equal(pre.headers['access-control-allow-credentials'], undefined, `${origin}: preflight without Allow-Credentials`)
  }
})

t.test('CORS: preflights are answered by the gateway — before auth, routing, versioning and rate limits', async (t) => {
  const { up, gw } = await corsGateway(t, [APP], { rateLimit: { enabled: true, anonymous: 2, authenticated: 2, premium: 2, windowMs: W } })
  const paths = ['/v1/api/wallets/w1', '/v1/api/analytics/summary', '/v1/commands/wallets/w1/deposit', '/api/wallets/w1', '/v2/graphql', '/nothing/at/all']
  for (const path of paths) {
    const res = await preflight(gw, path, APP)
    t.equal(res.status, 204, `${path}: 204, although the route needs credentials the browser does not send on a preflight`)
    t.equal(res.text, '')
    t.equal(res.headers['access-control-allow-origin'], APP, `${path}: ACAO`)
    t.equal(res.headers['access-control-allow-credentials'], 'true', `${path}: credentials`)
    const methods = String(res.headers['access-control-allow-methods']).split(/\s*,\s*/)
    t.ok(methods.includes('GET') && methods.includes('POST'), `${path}: Allow-Methods covers the API's GET and POST (${methods.join(',')})`)
    t.same(String(res.headers['access-control-allow-headers']).split(/\s*,\s*/).sort(), ['authorization', 'content-type', 'x-api-version'], `${path}: the requested headers are allowed`)
    t.equal(res.headers['access-control-max-age'], '600', `${path}: cached by the browser for 10 minutes`)
    t.equal(res.headers['x-api-version'], undefined, `${path}: preflights carry no version`)
    t.equal(res.headers['x-ratelimit-limit'], undefined, `${path}: nor rate-limit headers`)
    assertEdgeHeaders(t, res, `${path} preflight`, UUID)
  }
  const foreign = await preflight(gw, '/v1/api/wallets/w1', 'https://evil.example', 'DELETE')
  t.equal(foreign.status, 204, 'a foreign origin\'s preflight is answered too (without ACAO: the browser refuses)')
  t.equal(up.requests.length, 0, 'the upstream saw no preflight')
  // ten preflights above, and the anonymous budget of 2 is untouched
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await call(`${gw.url}/v1/auth/login`, { headers: { origin: APP } })).status)
  t.same(statuses, [200, 200, 429], 'preflights did not spend the client\'s rate-limit budget')
})

t.test('CORS on: an OPTIONS request that is not a preflight is still proxied, as without CORS', async (t) => {
  // A preflight is OPTIONS + Origin + Access-Control-Request-Method (Fetch standard);
  // any other OPTIONS (no Origin, or a cross-origin OPTIONS the browser already
  // preflighted) is an ordinary request for the upstream. Without CORS_ORIGINS the
  // gateway proxies it; turning CORS on must not change that.
  const without = await corsGateway(t, [])
  const plain = await call(`${without.gw.url}/v1/auth/login`, { method: 'OPTIONS' })
  t.equal(plain.status, 200, 'CORS off: OPTIONS is proxied')
  t.equal(without.up.requests.length, 1)

  const { up, gw } = await corsGateway(t, [APP])
  for (const headers of [{}, { origin: APP }] as Array<Record<string, string>>) {
    const res = await call(`${gw.url}/v1/auth/login`, { method: 'OPTIONS', headers })
    const what = `OPTIONS ${'origin' in headers ? 'with Origin' : 'without Origin'}, no Access-Control-Request-Method`
    t.not(res.headers['content-type'], 'text/plain', `${what}: not @fastify/cors's text/plain "Invalid Preflight Request"`)
    t.equal(res.status, 200, `${what}: the upstream's answer`)
  }
  t.equal(up.requests.filter((r) => r.method === 'OPTIONS').length, 2, 'both reached the upstream')
})

t.test('CORS_ORIGINS=*: any origin may read, never with credentials', async (t) => {
  const { up, gw } = await corsGateway(t, ['*'])
  for (const origin of [APP, 'https://anyone.example', 'http://localhost:3000']) {
    const res = await call(`${gw.url}/v1/auth/login`, { headers: { origin } })
    t.ok(res.headers['access-control-allow-origin'] === '*' || res.headers['access-control-allow-origin'] === origin, `${origin}: readable (${res.headers['access-control-allow-origin']})`)
    t.equal(res.headers['access-control-allow-credentials'], undefined, `${origin}: no Allow-Credentials`)
    const problem = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { origin } })
    t.equal(problem.status, 401)
    t.equal(problem.headers['access-control-allow-credentials'], undefined, `${origin}: no Allow-Credentials on a problem either`)
    const pre = await preflight(gw, '/v1/api/wallets/w1', origin, 'GET', 'authorization')
    t.equal(pre.status, 204)
    t.ok(pre.headers['access-control-allow-origin'] === '*' || pre.headers['access-control-allow-origin'] === origin, `${origin}: preflight allowed`)
    t.equal(pre.headers['access-control-allow-credentials'], undefined, `${origin}: preflight without Allow-Credentials`)
  }
  t.equal(up.requests.filter((r) => r.method === 'OPTIONS').length, 0, 'no preflight proxied')
})

t.test('CORS off (default): no CORS headers at all, whatever the Origin', async (t) => {
  const { gw } = await corsGateway(t, [])
  const res = await call(`${gw.url}/v1/auth/login`, { headers: { origin: APP } })
  for (const name of Object.keys(res.headers)) t.notMatch(name, /^access-control-/, `no ${name}`)
  t.equal(res.status, 200)
})
