// What reaches the upstream and what comes back: path, query, body, headers.
import t from 'tap'
import { startUpstream, startGateway, servicesFor, call, rawExchange } from '../helpers.js'

t.test('path, query, method, body and end-to-end headers reach the upstream unchanged', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const res = await call(`${gw.url}/v1/api/wallets/w1?limit=5&cursor=a%20b`, { headers: { 'x-custom': 'kept', authorization: 'Bearer abc', accept: 'application/json' } })
  t.equal(res.status, 200)
  const seen = up.requests[0]!
  t.equal(seen.url, '/v1/api/wallets/w1?limit=5&cursor=a%20b', 'full original path and raw query')
  t.equal(seen.headers['x-custom'], 'kept')
  t.equal(seen.headers.authorization, 'Bearer abc')
  t.equal(seen.headers.host, up.url.slice('http://'.length), 'Host is the target by default')

  const post = await call(`${gw.url}/v1/commands/wallets/w1/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"amount":10}' })
  t.equal(post.status, 200)
  t.match(up.requests[1], { method: 'POST', url: '/v1/commands/wallets/w1/deposit', body: '{"amount":10}' })
  t.equal(up.requests[1]!.headers['content-length'], '13')
  t.equal(up.requests[1]!.headers['content-type'], 'application/json')
})

t.test('the prefix route itself and a trailing slash are proxied too', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  t.equal((await call(`${gw.url}/v1/graphql`, { method: 'POST', body: '{}' })).status, 200)
  t.equal((await call(`${gw.url}/v1/api/`)).status, 200)
  t.same(up.requests.map((r) => r.url), ['/v1/graphql', '/v1/api/'])
})

t.test('stripPrefix removes the route prefix; preserveHost keeps the client Host', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: [
      { prefix: '/v1/legacy', service: 'command', auth: 'public', stripPrefix: true },
      { prefix: '/v1/keep', service: 'command', auth: 'public', preserveHost: true }
    ]
  })
  await call(`${gw.url}/v1/legacy/items/7?x=1`)
  await call(`${gw.url}/v1/legacy?y=2`)
  await call(`${gw.url}/v1/keep/a`, { headers: { host: 'api.healthpay.example' } })
  t.same(up.requests.map((r) => r.url), ['/items/7?x=1', '/?y=2', '/v1/keep/a'])
  t.equal(up.requests[2]!.headers.host, 'api.healthpay.example')
})

t.test('a target URL with a path prefixes every upstream path', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(`${up.url}/internal/`) })
  await call(`${gw.url}/v1/api/x?q=1`)
  t.equal(up.requests[0]!.url, '/internal/v1/api/x?q=1')
})

t.test('X-Request-Id: a well-formed one is kept, anything else replaced; echoed and sent upstream', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const kept = await call(`${gw.url}/v1/api/a`, { headers: { 'x-request-id': 'req-42.abc' } })
  t.equal(kept.headers['x-request-id'], 'req-42.abc')
  t.equal(up.requests[0]!.headers['x-request-id'], 'req-42.abc')

  const bad = await call(`${gw.url}/v1/api/b`, { headers: { 'x-request-id': 'bad id\twith spaces' } })
  const generated = bad.headers['x-request-id'] as string
  t.match(generated, /^[0-9a-f-]{36}$/, 'a UUID replaces a malformed id')
  t.equal(up.requests[1]!.headers['x-request-id'], generated)

  const none = await call(`${gw.url}/v1/api/c`)
  t.match(none.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  t.not(none.headers['x-request-id'], generated)
  const long = await call(`${gw.url}/v1/api/d`, { headers: { 'x-request-id': 'a'.repeat(200) } })
  t.not(long.headers['x-request-id'], 'a'.repeat(200), 'over-long ids are replaced')
})

t.test('X-Forwarded-* are set; client copies are replaced unless the peer is a trusted proxy', async (t) => {
  const up = await startUpstream(t)
  const spoof = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=6.6.6.6' }
  const untrusted = await startGateway(t, { services: servicesFor(up.url) })
  await call(`${untrusted.url}/v1/api/a`, { headers: { ...spoof, host: 'api.example' } })
  t.match(up.requests[0]!.headers, { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'api.example' })
  t.equal(up.requests[0]!.headers.forwarded, undefined)

  const trusted = await startGateway(t, { services: servicesFor(up.url), server: { trustProxy: ['127.0.0.1'] } })
  await call(`${trusted.url}/v1/api/a`, { headers: spoof })
  t.match(up.requests[1]!.headers, { 'x-forwarded-for': '6.6.6.6, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=6.6.6.6' })
})

t.test('other client-address and original-URL headers (X-Real-IP, X-Original-URL...) pass only from a trusted proxy', async (t) => {
  const up = await startUpstream(t)
  const aliases = { 'x-real-ip': '6.6.6.6', 'x-client-ip': '6.6.6.6', 'true-client-ip': '6.6.6.6', 'cf-connecting-ip': '6.6.6.6', 'x-forwarded-port': '443', 'x-forwarded-prefix': '/admin', 'x-original-url': '/admin/config', 'x-rewrite-url': '/admin/config' }
  const untrusted = await startGateway(t, { services: servicesFor(up.url) })
  await call(`${untrusted.url}/v1/api/a`, { headers: { ...aliases, 'x-kept': 'yes' } })
  t.same(Object.keys(aliases).filter((name) => up.requests[0]!.headers[name] !== undefined), [], 'none reaches the upstream from an untrusted peer')
  t.equal(up.requests[0]!.headers['x-kept'], 'yes', 'other end-to-end headers still do')

  const trusted = await startGateway(t, { services: servicesFor(up.url), server: { trustProxy: ['127.0.0.1'] } })
  await call(`${trusted.url}/v1/api/a`, { headers: aliases })
  t.match(up.requests[1]!.headers, aliases, 'a trusted proxy\'s copies are passed on')
})

t.test('client-sent consumer headers never reach the upstream (public route: the gateway says anonymous)', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  await call(`${gw.url}/v1/api/a`, { headers: { 'x-consumer-id': 'admin', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'admin' } })
  const h = up.requests[0]!.headers
  t.equal(h['x-consumer-id'], undefined)
  t.equal(h['x-consumer-tier'], 'anonymous')
  t.equal(h['x-consumer-roles'], undefined)
})

t.test('hop-by-hop headers are removed in both directions, including those named in Connection', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    res.setHeader('connection', 'keep-alive, x-upstream-private')
    res.setHeader('x-upstream-private', 'secret')
    res.setHeader('keep-alive', 'timeout=5')
    res.setHeader('x-end-to-end', 'yes')
    res.end('ok')
  })
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  // raw bytes: undici would refuse to send some of these. The gateway still
  // closes afterwards because of the final `Connection: close` line.
  const raw = await rawExchange(gw.url, 'GET /v1/api/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-client-private\r\nX-Client-Private: 1\r\nKeep-Alive: timeout=1\r\nProxy-Authorization: Basic Zm9v\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Fine: 1\r\nConnection: close\r\n\r\n')
  const seen = up.requests[0]!.headers
  for (const h of ['x-client-private', 'keep-alive', 'proxy-authorization', 'te', 'upgrade']) t.equal(seen[h], undefined, `${h} not forwarded`)
  t.equal(seen['x-fine'], '1')
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase()
  t.notMatch(head, /x-upstream-private/, 'header named in the upstream Connection dropped')
  t.notMatch(head, /keep-alive: timeout=5/, 'upstream keep-alive dropped')
  t.match(head, /x-end-to-end: yes/)
})

t.test('route header transforms add and remove headers on the request and the response', async (t) => {
  const up = await startUpstream(t, (_req, res) => {
    res.setHeader('server', 'internal/1.2.3')
    res.setHeader('x-powered-by', 'secret-stack')
    res.end('ok')
  })
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: [{
      prefix: '/v1/api', service: 'query', auth: 'public',
      headers: { request: { add: { 'X-Gateway': 'healthpay' }, remove: ['Cookie'] }, response: { add: { 'Cache-Control': 'no-store' }, remove: ['Server', 'x-powered-by'] } }
    }]
  })
  const res = await call(`${gw.url}/v1/api/a`, { headers: { cookie: 'session=1' } })
  t.equal(up.requests[0]!.headers['x-gateway'], 'healthpay')
  t.equal(up.requests[0]!.headers.cookie, undefined)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.server, undefined)
  t.equal(res.headers['x-powered-by'], undefined)
})

t.test('status, headers and body of the upstream answer come back; 204 and HEAD work', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    if (req.url!.endsWith('/empty')) { res.statusCode = 204; res.end(); return }
    res.statusCode = 409
    res.setHeader('content-type', 'application/problem+json')
    res.setHeader('set-cookie', ['a=1', 'b=2'])
    res.setHeader('content-length', '17')
    res.end(req.method === 'HEAD' ? undefined : '{"title":"clash"}')
  })
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const res = await call(`${gw.url}/v1/api/x`)
  t.equal(res.status, 409)
  t.equal(res.text, '{"title":"clash"}')
  t.same(res.headers['set-cookie'], ['a=1', 'b=2'])
  t.equal(res.headers['content-type'], 'application/problem+json')
  const empty = await call(`${gw.url}/v1/api/empty`, { method: 'DELETE' })
  t.equal(empty.status, 204)
  t.equal(empty.text, '')
  const head = await call(`${gw.url}/v1/api/x`, { method: 'HEAD' })
  t.equal(head.status, 409)
  t.equal(head.headers['content-length'], '17', 'HEAD keeps the upstream length')
  // the pools are not stuck: a later request still works
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 409)
})

t.test('a large and a chunked body stream through intact', async (t) => {
  const up = await startUpstream(t, (_req, res, body) => res.end(String(body.length)))
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const big = 'x'.repeat(900_000)
  t.equal((await call(`${gw.url}/v1/commands/bulk`, { method: 'PUT', body: big })).text, '900000')
  // chunked: a raw request without Content-Length
  const raw = await rawExchange(gw.url, 'POST /v1/commands/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
  t.match(raw, /^HTTP\/1\.1 200/)
  t.equal(up.requests.at(-1)!.body, 'hello world')
})

t.test('a body over BODY_LIMIT_BYTES is refused with 413 and never reaches the upstream', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { bodyLimitBytes: 1000 } })
  const res = await call(`${gw.url}/v1/commands/x`, { method: 'POST', body: 'x'.repeat(1001) })
  t.equal(res.status, 413)
  t.match(res.json(), { code: 'GW_REQUEST_BODY_TOO_LARGE', status: 413 })
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(up.requests.length, 0)
  t.equal((await call(`${gw.url}/v1/commands/x`, { method: 'POST', body: 'x'.repeat(1000) })).status, 200, 'at the limit is fine')
})

t.test('dot-segments, plain or encoded, and "#" are refused before any upstream sees them', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  for (const path of ['/v1/api/../admin', '/v1/api/%2e%2e/admin', '/v1/api/.%2E/x', '/v1/api/./x', '/v1/api/a/..', '/v1/api/%2e%2e%2fadmin', '/v1/api/..%5cadmin', '/v1/commands/wallets/w-1#/deposit',
    // read as /v1/api/analytics/x by a server that trims trailing dots and spaces or stops at NUL
    '/v1/api/analytics./x', '/v1/api/analytics%2e/x', '/v1/api/analytics%20/x', '/v1/api/analytics%00/x', '/v1/api/a%0a/x', '/v1/api/x.']) {
    const raw = await rawExchange(gw.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.match(raw, /^HTTP\/1\.1 400/, `${path} → 400`)
    t.match(raw, /GW_REQUEST_BAD_PATH/)
  }
  t.equal(up.requests.length, 0)
  t.equal((await call(`${gw.url}/v1/api/files/report.v2.pdf`)).status, 200, 'dots inside a segment are fine')
})
