// Every error the gateway itself answers with is RFC 9457 problem+json.
import t from 'tap'
import { startUpstream, startGateway, servicesFor, call, rawExchange } from '../helpers.js'

const PROBLEM = 'application/problem+json; charset=utf-8'

t.test('an unknown route is a 404 problem with code and requestId', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const res = await call(`${gw.url}/v1/nothing/here?token=secret`, { headers: { 'x-request-id': 'trace-me' } })
  t.equal(res.status, 404)
  t.equal(res.headers['content-type'], PROBLEM)
  t.same(res.json(), {
    type: 'https://healthpay.dev/problems/gw-route-not-found',
    title: 'Not Found',
    status: 404,
    detail: 'No route matches GET /v1/nothing/here; see /openapi.json for the published API',
    instance: '/v1/nothing/here',
    requestId: 'trace-me',
    code: 'GW_ROUTE_NOT_FOUND'
  })
  t.notMatch(res.text, /secret/, 'the query string (which may carry a token) is not echoed')
})

t.test('malformed requests get 4xx problems, never a 500 or a stack', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const health = await call(`${gw.url}/health`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad json' })
  t.equal(health.status, 400, 'invalid JSON to a gateway endpoint')
  t.match(health.json(), { code: 'GW_REQUEST_INVALID_JSON' })
  const bad = await call(`${gw.url}/v1/api/%`)
  t.equal(bad.status, 400, 'bad percent-encoding')
  t.match(bad.json(), { code: 'GW_REQUEST_BAD_URL', status: 400 })
  t.equal(bad.headers['content-type'], PROBLEM)
  t.notMatch(bad.text, /at .*\.(ts|js):\d+/, 'no stack trace')
  t.equal(up.requests.length, 0)
})

t.test('a gateway bug answers 500 GW_INTERNAL without internals, and logs the error', async (t) => {
  // nothing in the gateway throws on purpose: exercise the root handler on a route that does
  const { problemErrorHandler } = await import('../../src/errors.js')
  const Fastify = (await import('fastify')).default
  const app = Fastify()
  app.setErrorHandler(problemErrorHandler)
  app.get('/boom', async () => { throw new Error('database password is hunter2 at /srv/app.js:12') })
  const res = await app.inject('/boom')
  t.equal(res.statusCode, 500)
  t.match(res.json(), { code: 'GW_INTERNAL', detail: 'The gateway failed to handle this request; quote the requestId when reporting it' })
  t.notMatch(res.body, /hunter2|app\.js/)
})

t.test('garbage on the socket gets a 400 and the connection closes', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const raw = await rawExchange(gw.url, 'THIS IS NOT HTTP\r\n\r\n')
  t.match(raw, /^HTTP\/1\.1 400/)
  t.match(raw, /content-type: application\/problem\+json/)
  t.match(raw, /"code":"GW_REQUEST_MALFORMED"/)
})

t.test('oversized headers get a 431 problem', async (t) => {
  const gw = await startGateway(t, { services: servicesFor('http://127.0.0.1:1') })
  const raw = await rawExchange(gw.url, `GET /v1/api/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(raw, /^HTTP\/1\.1 431/)
  t.match(raw, /"code":"GW_REQUEST_HEADERS_TOO_LARGE"/)
})

t.test('security headers are set on gateway answers and proxied answers', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  for (const path of ['/nope', '/v1/api/x', '/health']) {
    const res = await call(`${gw.url}${path}`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', path)
    t.ok(res.headers['strict-transport-security'], path)
    t.ok(res.headers['x-request-id'], path)
  }
})

t.test('CORS_ORIGINS: allowed origins get CORS headers and preflights, others do not', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), server: { corsOrigins: ['https://app.healthpay.example'] } })
  const ok = await call(`${gw.url}/v1/api/x`, { headers: { origin: 'https://app.healthpay.example' } })
  t.equal(ok.headers['access-control-allow-origin'], 'https://app.healthpay.example')
  t.match(ok.headers['access-control-expose-headers'], /X-Request-Id/)
  const other = await call(`${gw.url}/v1/api/x`, { headers: { origin: 'https://evil.example' } })
  t.equal(other.headers['access-control-allow-origin'], undefined)
  const preflight = await call(`${gw.url}/v1/api/x`, { method: 'OPTIONS', headers: { origin: 'https://app.healthpay.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204)
  t.equal(up.requests.filter((r) => r.method === 'OPTIONS').length, 0, 'preflight answered by the gateway')
})
