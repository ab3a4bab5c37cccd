// The non-auth Kong plugins, end to end: a Kong file with rate-limiting, cors,
// request-size-limiting, request-/response-transformer, ip-restriction and
// prometheus, loaded as `npm start` would, in front of real upstreams (and a real
// redis-server of the test's own where counters are shared).
import t, { type Test } from 'tap'
import { startUpstream, echo, call, until, startRedisServer, type SimpleResponse } from '../helpers.js'
import { startKongGateway } from './helpers.js'

const PROBLEM = /^application\/problem\+json/

/** the problem document of a refusal, checked for its status and code */
function problem (t: Test, res: SimpleResponse, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: status`)
  t.match(String(res.headers['content-type']), PROBLEM, `${what}: problem+json`)
  const body = res.status === status ? res.json() : {}
  t.equal(body.code, code, `${what}: code`)
  t.equal(body.status, status, `${what}: status in the body`)
}

const header = (res: SimpleResponse, name: string): string | undefined => {
  const v = res.headers[name]
  return Array.isArray(v) ? v.join(', ') : v
}

/** a JSON body of exactly `n` bytes */
const jsonOfSize = (n: number): string => JSON.stringify({ pad: 'x'.repeat(n - 10) })
const json = { 'content-type': 'application/json' }

t.test('rate-limiting second + minute: per-unit headers, 429 problem+json with Retry-After', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: limited
        paths: [/limited]
    plugins:
      - name: rate-limiting
        config: { second: 3, minute: 5, policy: local, limit_by: ip }
`)
  t.same(gw.warnings, [])
  const hit = () => call(`${gw.url}/limited/x`)
  // a burst of three fits the second window; the fourth does not
  const burst = [await hit(), await hit(), await hit()]
  burst.forEach((res, i) => {
    t.equal(res.status, 200, `request ${i + 1} passes`)
    t.equal(header(res, 'x-ratelimit-limit-second'), '3')
    t.equal(header(res, 'x-ratelimit-limit-minute'), '5')
    t.equal(header(res, 'x-ratelimit-remaining-second'), String(2 - i), `remaining second after ${i + 1}`)
    t.equal(header(res, 'x-ratelimit-remaining-minute'), String(4 - i), `remaining minute after ${i + 1}`)
  })
  t.equal(up.requests.length, 3)
  const fourth = await hit()
  problem(t, fourth, 429, 'GW_RATE_LIMITED', 'the fourth request in one second')
  // 1 s, or 2 s when the burst crossed a second boundary: the sliding window still weighs the previous second
  t.ok(['1', '2'].includes(String(header(fourth, 'retry-after'))), `the second window frees up within a second or two (retry-after ${String(header(fourth, 'retry-after'))})`)
  t.equal(header(fourth, 'x-ratelimit-remaining-second'), '0')
  t.equal(header(fourth, 'x-ratelimit-limit-second'), '3')
  t.equal(up.requests.length, 3, 'a refused request never reaches the upstream')

  // two seconds on, the burst's second window no longer weighs anything
  const burstSecond = Math.floor(Date.now() / 1000)
  await until(() => Math.floor(Date.now() / 1000) >= burstSecond + 2, 3000, 'the second window to pass')
  const fifth = await hit()
  t.equal(fifth.status, 200, 'the fifth request fits both windows again')
  // Kong counts a request only when it is let through: the refused fourth one used
  // none of the minute's five (kong/plugins/rate-limiting/handler.lua returns the
  // 429 before the increment timer is set)
  t.equal(header(fifth, 'x-ratelimit-remaining-minute'), '1', 'the refused request did not count in the minute window')
  const sixth = await hit()
  t.equal(sixth.status, 200, 'four requests let through: the fifth of the minute still fits')
  const seventh = await hit()
  problem(t, seventh, 429, 'GW_RATE_LIMITED', 'over the minute limit')
  t.equal(header(seventh, 'x-ratelimit-remaining-minute'), '0')
  const retry = Number(header(seventh, 'retry-after'))
  // a sliding window: the previous minute's count still weighs early in the next one, so
  // the wait can pass the end of the current minute (never two whole minutes)
  t.ok(retry > 1 && retry <= 120, `the minute window decides the Retry-After (got ${retry})`)
})

t.test('rate-limiting limit_by: consumer (key-auth consumers counted apart), ip, header, service', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const other = await startUpstream(t, echo('other'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: by-consumer
        paths: [/by-consumer]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: { minute: 2, limit_by: consumer }
      - name: by-ip
        paths: [/by-ip]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: { minute: 2, limit_by: ip }
      - name: by-header
        paths: [/by-header]
        plugins:
          - name: rate-limiting
            config: { minute: 2, limit_by: header, header_name: X-Tenant }
      - name: by-service
        paths: [/by-service]
  - name: other
    url: ${other.url}
    routes:
      - name: other-route
        paths: [/other]
plugins:
  - name: rate-limiting
    config: { minute: 2, limit_by: service }
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key-0123456789 }]
  - username: bob
    keyauth_credentials: [{ key: bob-key-0123456789 }]
`, { TRUST_PROXY: '127.0.0.1' })
  t.same(gw.warnings, [])
  const alice = { apikey: 'alice-key-0123456789' }
  const bob = { apikey: 'bob-key-0123456789' }

  // consumer: each consumer has its own count
  for (let i = 0; i < 2; i++) t.equal((await call(`${gw.url}/by-consumer`, { headers: alice })).status, 200, `alice ${i + 1}`)
  problem(t, await call(`${gw.url}/by-consumer`, { headers: alice }), 429, 'GW_RATE_LIMITED', 'alice over her limit')
  const bobFirst = await call(`${gw.url}/by-consumer`, { headers: bob })
  t.equal(bobFirst.status, 200, 'bob is counted apart from alice')
  t.equal(header(bobFirst, 'x-ratelimit-remaining-minute'), '1')
  t.equal((await call(`${gw.url}/by-consumer`, { headers: bob })).status, 200)
  problem(t, await call(`${gw.url}/by-consumer`, { headers: bob }), 429, 'GW_RATE_LIMITED', 'bob over his limit')
  t.equal((await call(`${gw.url}/by-consumer`)).status, 401, 'key-auth still runs first')

  // ip: two consumers from one address share a count; another address has its own
  const from = (ip: string, who: Record<string, string>) => call(`${gw.url}/by-ip`, { headers: { ...who, 'x-forwarded-for': ip } })
  t.equal((await from('10.0.0.1', alice)).status, 200)
  t.equal((await from('10.0.0.1', bob)).status, 200)
  problem(t, await from('10.0.0.1', alice), 429, 'GW_RATE_LIMITED', 'limit_by ip: both consumers used the address\'s two')
  const elsewhere = await from('10.0.0.2', alice)
  t.equal(elsewhere.status, 200, 'another client address is counted apart')
  t.equal(header(elsewhere, 'x-ratelimit-remaining-minute'), '1')

  // header: each X-Tenant value has its own count; without it, the client address counts
  const tenant = (name?: string) => call(`${gw.url}/by-header`, { headers: name === undefined ? {} : { 'x-tenant': name } })
  t.equal((await tenant('acme')).status, 200)
  t.equal((await tenant('acme')).status, 200)
  problem(t, await tenant('acme'), 429, 'GW_RATE_LIMITED', 'limit_by header: tenant acme')
  t.equal((await tenant('globex')).status, 200, 'another header value is counted apart')
  t.equal((await tenant()).status, 200, 'no header: the client address is counted')
  t.equal((await tenant()).status, 200)
  problem(t, await tenant(), 429, 'GW_RATE_LIMITED', 'no header, the address over its limit')

  // service (global plugin): every client of a service shares its count, each service its own (Kong keys by the service's id)
  t.equal((await call(`${gw.url}/by-service`, { headers: { 'x-forwarded-for': '10.1.0.1' } })).status, 200)
  t.equal((await call(`${gw.url}/by-service`, { headers: { 'x-forwarded-for': '10.1.0.2' } })).status, 200)
  problem(t, await call(`${gw.url}/by-service`, { headers: { 'x-forwarded-for': '10.1.0.3' } }), 429, 'GW_RATE_LIMITED', 'limit_by service: clients of svc share a count')
  const otherService = await call(`${gw.url}/other`, { headers: { 'x-forwarded-for': '10.1.0.4' } })
  t.equal(otherService.status, 200, 'limit_by service: another service has its own count')
  if (otherService.status === 200) t.equal(otherService.json().upstream, 'other')
})

t.test('rate-limiting scope: global shared across routes, route plugin counts alone and overrides, service scope, unlimited routes', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: alpha
        paths: [/alpha]
      - name: beta
        paths: [/beta]
      - name: gamma
        paths: [/gamma]
        plugins:
          - name: rate-limiting
            config: { minute: 2, limit_by: ip }
  - name: metered
    url: ${up.url}
    plugins:
      - name: rate-limiting
        config: { minute: 4, limit_by: ip }
    routes:
      - name: m1
        paths: [/m1]
      - name: m2
        paths: [/m2]
plugins:
  - name: rate-limiting
    config: { minute: 3, limit_by: ip }
`)
  t.same(gw.warnings, [])
  const get = (path: string) => call(`${gw.url}${path}`)

  // the route plugin: its own limit, its own count
  const g1 = await get('/gamma')
  t.equal(g1.status, 200)
  t.equal(header(g1, 'x-ratelimit-limit-minute'), '2', 'the route plugin overrides the global one on its route')
  t.equal((await get('/gamma')).status, 200)
  problem(t, await get('/gamma'), 429, 'GW_RATE_LIMITED', 'gamma over its own limit')

  // the global plugin: alpha and beta count together, untouched by gamma's requests
  const a1 = await get('/alpha')
  t.equal(a1.status, 200)
  t.equal(header(a1, 'x-ratelimit-limit-minute'), '3')
  t.equal(header(a1, 'x-ratelimit-remaining-minute'), '2', 'gamma\'s requests are not in the global count')
  t.equal((await get('/alpha')).status, 200)
  const b1 = await get('/beta')
  t.equal(b1.status, 200)
  t.equal(header(b1, 'x-ratelimit-remaining-minute'), '0', 'beta shares alpha\'s count (one global plugin)')
  problem(t, await get('/alpha'), 429, 'GW_RATE_LIMITED', 'alpha after beta used the last one')
  problem(t, await get('/beta'), 429, 'GW_RATE_LIMITED', 'beta')

  // the service plugin: its two routes count together, apart from the global count
  const m1 = await get('/m1')
  t.equal(m1.status, 200, 'the service plugin overrides the exhausted global one')
  t.equal(header(m1, 'x-ratelimit-limit-minute'), '4')
  t.equal(header(m1, 'x-ratelimit-remaining-minute'), '3')
  t.equal((await get('/m2')).status, 200)
  t.equal((await get('/m1')).status, 200)
  const m2 = await get('/m2')
  t.equal(m2.status, 200)
  t.equal(header(m2, 'x-ratelimit-remaining-minute'), '0', 'm1 and m2 share the service\'s count')
  problem(t, await get('/m1'), 429, 'GW_RATE_LIMITED', 'the service\'s count used up')
})

t.test('rate-limiting: a route no rate-limiting plugin covers is not limited; hide_client_headers', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: free
        paths: [/free]
      - name: quiet
        paths: [/quiet]
        plugins:
          - name: rate-limiting
            config: { minute: 1, hide_client_headers: true }
`)
  t.same(gw.warnings, [])
  // more than the gateway's own default anonymous limit (100 a minute)
  for (let batch = 0; batch < 11; batch++) {
    const answers = await Promise.all(Array.from({ length: 10 }, () => call(`${gw.url}/free`)))
    for (const res of answers) {
      if (res.status !== 200 || header(res, 'x-ratelimit-limit') !== undefined) {
        t.fail(`a request to an unlimited route got ${res.status} with x-ratelimit-limit ${String(header(res, 'x-ratelimit-limit'))}`)
        return
      }
    }
  }
  t.pass('110 requests to a route without rate-limiting all pass, without rate-limit headers')

  const first = await call(`${gw.url}/quiet`)
  t.equal(first.status, 200)
  const shown = Object.keys(first.headers).filter((h) => /^(x-)?ratelimit/.test(h))
  t.same(shown, [], 'hide_client_headers: no rate-limit headers')
  const refused = await call(`${gw.url}/quiet`)
  problem(t, refused, 429, 'GW_RATE_LIMITED', 'hide_client_headers still limits')
  t.ok(Number(header(refused, 'retry-after')) >= 1, 'a 429 keeps Retry-After')
  t.same(Object.keys(refused.headers).filter((h) => /^(x-)?ratelimit/.test(h)), [], 'nor on the 429')
})

t.test('rate-limiting policy redis: two instances share the count; fail open by default', async (t) => {
  const redis = await startRedisServer(t)
  const up = await startUpstream(t, echo('up'))
  const yaml = `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: shared
        paths: [/shared]
        plugins:
          - name: rate-limiting
            config: { minute: 3, limit_by: ip, policy: redis, redis_host: 127.0.0.1, redis_port: ${redis.port} }
`
  const one = await startKongGateway(t, yaml)
  const two = await startKongGateway(t, yaml)
  t.same(one.warnings, [])
  t.equal((await call(`${one.url}/shared`)).status, 200)
  t.equal((await call(`${one.url}/shared`)).status, 200)
  const third = await call(`${two.url}/shared`)
  t.equal(third.status, 200)
  t.equal(header(third, 'x-ratelimit-remaining-minute'), '0', 'the second instance sees the first one\'s two requests')
  problem(t, await call(`${two.url}/shared`), 429, 'GW_RATE_LIMITED', 'the second instance, over the shared limit')
  problem(t, await call(`${one.url}/shared`), 429, 'GW_RATE_LIMITED', 'the first instance, over the shared limit')

  // fault_tolerant (the default): with Redis gone, each instance limits on its own
  await redis.kill()
  const alone = await call(`${one.url}/shared`)
  t.equal(alone.status, 200, 'fault_tolerant: Redis down, requests still pass (limited per instance)')
})

t.test('rate-limiting policy local counts per instance even when REDIS_URL is set', async (t) => {
  const redis = await startRedisServer(t)
  const up = await startUpstream(t, echo('up'))
  const yaml = `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: mine
        paths: [/mine]
        plugins:
          - name: rate-limiting
            config: { minute: 2, limit_by: ip, policy: local }
`
  const one = await startKongGateway(t, yaml, { REDIS_URL: redis.url })
  const two = await startKongGateway(t, yaml, { REDIS_URL: redis.url })
  t.equal((await call(`${one.url}/mine`)).status, 200)
  t.equal((await call(`${one.url}/mine`)).status, 200)
  problem(t, await call(`${one.url}/mine`), 429, 'GW_RATE_LIMITED', 'the first instance over its own limit')
  const elsewhere = await call(`${two.url}/mine`)
  t.equal(elsewhere.status, 200, 'the second instance has its own count')
  t.equal(header(elsewhere, 'x-ratelimit-remaining-minute'), '1')
  t.equal((await call(`${two.url}/mine`)).status, 200)
  problem(t, await call(`${two.url}/mine`), 429, 'GW_RATE_LIMITED', 'the second instance over its own limit')
})

t.test('rate-limiting fault_tolerant: false → 503 GW_RATE_LIMIT_UNAVAILABLE while Redis is down, then back', async (t) => {
  const redis = await startRedisServer(t)
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: strict
        paths: [/strict]
      - name: free
        paths: [/free]
        plugins:
          - name: rate-limiting
            enabled: false
plugins:
  - name: rate-limiting
    config:
      minute: 100
      policy: redis
      fault_tolerant: false
      redis: { host: 127.0.0.1, port: ${redis.port} }
`)
  t.equal((await call(`${gw.url}/strict`)).status, 200, 'Redis up: limited and passed')
  await redis.kill()
  const refused = await call(`${gw.url}/strict`)
  problem(t, refused, 503, 'GW_RATE_LIMIT_UNAVAILABLE', 'Redis down, fail closed')
  t.ok(Number(header(refused, 'retry-after')) >= 1, 'with Retry-After')
  t.equal((await call(`${gw.url}/free`)).status, 503, 'a disabled route plugin leaves the global one in force (Kong ignores enabled: false instances)')
  await redis.restart()
  await until(async () => (await call(`${gw.url}/strict`)).status === 200, 5000, 'the limiter to use Redis again')
  t.pass('Redis back: requests pass again')
})

t.test('cors on one route: preflights, credentials, max_age, exposed_headers, regex origins', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: web
        paths: [/web]
        plugins:
          - name: cors
            config:
              origins: ["https://app.example", "https://[a-z0-9-]+\\\\.partner\\\\.example"]
              methods: [GET, POST]
              headers: [Authorization, X-Custom]
              exposed_headers: [X-Trace-Id]
              credentials: true
              max_age: 120
      - name: open
        paths: [/open]
        plugins:
          - name: cors
            config:
              origins: ["https://app.example"]
      - name: plain
        paths: [/plain]
`)
  t.same(gw.warnings, [])
  const preflight = (path: string, origin: string) => call(`${gw.url}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-custom' } })

  const ok = await preflight('/web/orders', 'https://app.example')
  t.equal(ok.status, 204, 'the cors route answers a preflight itself')
  t.equal(header(ok, 'access-control-allow-origin'), 'https://app.example')
  t.equal(header(ok, 'access-control-allow-credentials'), 'true')
  t.equal(header(ok, 'access-control-max-age'), '120')
  t.match(header(ok, 'access-control-allow-methods') ?? '', /POST/)
  t.match(header(ok, 'access-control-allow-headers') ?? '', /X-Custom/i)
  const before = up.requests.length

  const partner = await preflight('/web/orders', 'https://eu-1.partner.example')
  t.equal(partner.status, 204)
  t.equal(header(partner, 'access-control-allow-origin'), 'https://eu-1.partner.example', 'a regex origin entry matches')
  t.equal(header(partner, 'access-control-allow-credentials'), 'true')
  for (const stranger of ['https://evil.example', 'https://eu-1.partner.example.evil.example', 'http://app.example']) {
    const res = await preflight('/web/orders', stranger)
    t.not(header(res, 'access-control-allow-origin'), stranger, `${stranger} is not allowed`)
    t.not(header(res, 'access-control-allow-credentials'), 'true', `${stranger} gets no credentials`)
  }
  t.equal(up.requests.length, before, 'preflights on the cors route never reach the upstream')

  const simple = await call(`${gw.url}/web/orders`, { headers: { origin: 'https://app.example' } })
  t.equal(simple.status, 200)
  t.equal(header(simple, 'access-control-allow-origin'), 'https://app.example')
  t.equal(header(simple, 'access-control-allow-credentials'), 'true')
  t.match(header(simple, 'access-control-expose-headers') ?? '', /X-Trace-Id/i, 'exposed_headers')

  // credentials default to false in Kong
  const open = await preflight('/open', 'https://app.example')
  t.equal(open.status, 204)
  t.equal(header(open, 'access-control-allow-origin'), 'https://app.example')
  t.equal(header(open, 'access-control-allow-credentials'), undefined, 'no credentials unless the plugin says so')

  // the route without cors: no CORS answer, the OPTIONS goes to the upstream
  const plain = await preflight('/plain', 'https://app.example')
  t.equal(header(plain, 'access-control-allow-origin'), undefined, 'a route without the cors plugin does not answer preflights')
  t.equal(up.requests.at(-1)?.method, 'OPTIONS', 'the OPTIONS request was proxied, as Kong does without cors')
  const plainGet = await call(`${gw.url}/plain`, { headers: { origin: 'https://app.example' } })
  t.equal(plainGet.status, 200)
  t.equal(header(plainGet, 'access-control-allow-origin'), undefined)
})

t.test('request-size-limiting: 1 kilobyte on one route, the default limit on another', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: small
        paths: [/small]
        plugins:
          - name: request-size-limiting
            config: { allowed_payload_size: 1, size_unit: kilobytes }
      - name: big
        paths: [/big]
`)
  t.same(gw.warnings, [])
  const post = (path: string, size: number) => call(`${gw.url}${path}`, { method: 'POST', headers: json, body: jsonOfSize(size) })

  const small = await post('/small', 500)
  t.equal(small.status, 200, 'a 500-byte body passes')
  t.equal(up.requests.at(-1)!.body.length, 500, 'and reaches the upstream whole')
  t.equal((await post('/small', 1024)).status, 200, 'exactly 1 KiB passes (Kong: over, not at, the limit)')
  const before = up.requests.length
  problem(t, await post('/small', 2048), 413, 'GW_REQUEST_BODY_TOO_LARGE', 'a 2 KB body')
  problem(t, await post('/small', 1025), 413, 'GW_REQUEST_BODY_TOO_LARGE', 'one byte over')
  t.equal(up.requests.length, before, 'refused bodies never reach the upstream')

  t.equal((await post('/big', 2048)).status, 200, 'a route without the plugin takes 2 KB')
  t.equal((await post('/big', 512 * 1024)).status, 200, 'and 512 KiB')
  problem(t, await post('/big', 1_048_576 + 1), 413, 'GW_REQUEST_BODY_TOO_LARGE', 'the default limit (1 MiB) still applies there')
})

t.test('request-transformer and response-transformer: add, remove, rename headers', async (t) => {
  const up = await startUpstream(t, (req, res, body) => {
    res.setHeader('x-powered-by', 'express')
    res.setHeader('x-internal-id', 'i-42')
    res.setHeader('x-kept', 'yes')
    echo('up')(req, res, body)
  })
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: shaped
        paths: [/shaped]
        plugins:
          - name: request-transformer
            config:
              remove: { headers: [X-Debug, Cookie] }
              rename: { headers: ["X-Old-Name:X-New-Name"] }
              add: { headers: ["X-Gateway:healthpay", "X-Callback:http://cb.example:8080/x"] }
          - name: response-transformer
            config:
              remove: { headers: [X-Powered-By] }
              rename: { headers: ["X-Internal-Id:X-Public-Id"] }
              add: { headers: ["Cache-Control:no-store", "X-Served-By:gateway"] }
      - name: untouched
        paths: [/untouched]
`)
  t.same(gw.warnings, [])
  const sent = { 'x-debug': '1', cookie: 'session=abc', 'x-old-name': 'value-1', 'x-other': 'kept' }

  const res = await call(`${gw.url}/shaped`, { headers: sent })
  t.equal(res.status, 200)
  const seen = up.requests.at(-1)!.headers
  t.equal(seen['x-debug'], undefined, 'remove: X-Debug')
  t.equal(seen.cookie, undefined, 'remove: Cookie')
  t.equal(seen['x-old-name'], undefined, 'rename: the old name is gone')
  t.equal(seen['x-new-name'], 'value-1', 'rename: the value under the new name')
  t.equal(seen['x-gateway'], 'healthpay', 'add')
  t.equal(seen['x-callback'], 'http://cb.example:8080/x', 'add: a value with colons in it')
  t.equal(seen['x-other'], 'kept', 'other headers pass')

  t.equal(header(res, 'x-powered-by'), undefined, 'response remove')
  t.equal(header(res, 'x-internal-id'), undefined, 'response rename: the old name is gone')
  t.equal(header(res, 'x-public-id'), 'i-42', 'response rename')
  t.equal(header(res, 'cache-control'), 'no-store', 'response add')
  t.equal(header(res, 'x-served-by'), 'gateway', 'response add')
  t.equal(header(res, 'x-kept'), 'yes')

  // rename only when present: nothing is made up
  await call(`${gw.url}/shaped`)
  t.equal(up.requests.at(-1)!.headers['x-new-name'], undefined, 'rename of an absent header adds nothing')

  // the route without transformers
  const plain = await call(`${gw.url}/untouched`, { headers: sent })
  const plainSeen = up.requests.at(-1)!.headers
  t.equal(plainSeen['x-debug'], '1')
  t.equal(plainSeen['x-old-name'], 'value-1')
  t.equal(plainSeen['x-gateway'], undefined)
  t.equal(header(plain, 'x-internal-id'), 'i-42')
  t.equal(header(plain, 'x-served-by'), undefined)
})

t.test('ip-restriction: allow, deny, both, custom status, behind a trusted proxy', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const yaml = `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: allow-only
        paths: [/allow]
        plugins:
          - name: ip-restriction
            config: { allow: [10.0.0.0/8, 192.0.2.7] }
      - name: deny-only
        paths: [/deny]
        plugins:
          - name: ip-restriction
            config: { deny: [192.168.0.0/16, "2001:db8::/32"] }
      - name: both
        paths: [/both]
        plugins:
          - name: ip-restriction
            config: { allow: [10.0.0.0/8], deny: [10.9.0.0/16], status: 451, message: "not from there" }
      - name: anyone
        paths: [/anyone]
`
  const gw = await startKongGateway(t, yaml, { TRUST_PROXY: '127.0.0.1' })
  t.same(gw.warnings, [])
  const from = (path: string, xff: string) => call(`${gw.url}${path}`, { headers: { 'x-forwarded-for': xff } })

  t.equal((await from('/allow', '10.1.2.3')).status, 200, 'allow: inside the CIDR')
  t.equal((await from('/allow', '192.0.2.7')).status, 200, 'allow: the single address')
  const before = up.requests.length
  problem(t, await from('/allow', '192.0.2.8'), 403, 'GW_IP_FORBIDDEN', 'allow: outside')
  problem(t, await from('/allow', '10.1.2.3, 203.0.113.9'), 403, 'GW_IP_FORBIDDEN', 'allow: a client cannot prepend an allowed address (the last untrusted hop counts)')
  t.equal(up.requests.length, before, 'refused requests never reach the upstream')

  problem(t, await from('/deny', '192.168.4.4'), 403, 'GW_IP_FORBIDDEN', 'deny: inside the v4 CIDR')
  problem(t, await from('/deny', '2001:db8::1'), 403, 'GW_IP_FORBIDDEN', 'deny: inside the v6 CIDR')
  t.equal((await from('/deny', '203.0.113.9')).status, 200, 'deny: outside')
  t.equal((await call(`${gw.url}/deny`)).status, 200, 'deny: the proxy itself (no X-Forwarded-For)')

  t.equal((await from('/both', '10.1.1.1')).status, 200, 'allowed and not denied')
  problem(t, await from('/both', '10.9.1.1'), 451, 'GW_IP_FORBIDDEN', 'deny wins over allow, with the custom status')
  problem(t, await from('/both', '172.16.0.1'), 451, 'GW_IP_FORBIDDEN', 'not allowed, with the custom status')

  t.equal((await from('/anyone', '192.168.4.4')).status, 200, 'a route without the plugin')

  // without a trusted proxy, X-Forwarded-For is the client's say and is not believed
  const direct = await startKongGateway(t, yaml)
  problem(t, await call(`${direct.url}/allow`, { headers: { 'x-forwarded-for': '10.1.2.3' } }), 403, 'GW_IP_FORBIDDEN', 'untrusted X-Forwarded-For is ignored: the peer 127.0.0.1 is not allowed')
  t.equal((await call(`${direct.url}/deny`, { headers: { 'x-forwarded-for': '192.168.4.4' } })).status, 200, 'nor can it get a client denied')
})

t.test('prometheus is accepted and GET /metrics on the admin listener works', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
services:
  - name: svc
    url: ${up.url}
    routes:
      - name: metered
        paths: [/metered]
        plugins:
          - name: prometheus
            config: { per_consumer: true, status_code_metrics: true, latency_metrics: true }
plugins:
  - name: prometheus
`)
  t.same(gw.warnings, [])
  t.equal((await call(`${gw.url}/metered/x`)).status, 200)
  const metrics = await call(`${gw.adminUrl}/metrics`)
  t.equal(metrics.status, 200)
  t.match(String(metrics.headers['content-type']), /^text\/plain/)
  t.match(metrics.text, /gateway_http_requests_total\{[^}]*status="200"[^}]*\} 1/, 'the proxied request is counted')
  t.match(metrics.text, /metered/, 'under its route')
  t.equal((await call(`${gw.url}/metrics`)).status, 404, 'not on the public listener')
})
