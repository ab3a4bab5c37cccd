// The limiter in the gateway: tiers, keys, headers, per-route limits, Redis sharing
// across instances, Redis failures (fail open / closed).
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, startRedisServer, uniquePrefix, until } from '../helpers.js'
import { sha256Hex } from '../../plugins/auth/api-keys.js'
import { PROBE_INTERVAL_MS } from '../../plugins/rate-limit/limiter.js'

const W = 60_000
const KEY = 'hpk_rate-limit-test-key-0123456789'
const limits = { enabled: true, anonymous: 3, authenticated: 5, premium: 7, windowMs: W }

/** a clock frozen 15 s into a window, so Reset is 45 s */
const frozen = () => { const clock = { now: 1000 * W + 15_000 }; return { clock, now: () => clock.now } }

async function gateway (t: Test, extra: Record<string, unknown> = {}, now?: () => number) {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    consumers: [{ id: 'u-alice', tier: 'authenticated', apiKeys: [sha256Hex(KEY)] }],
    rateLimit: limits,
    ...extra
  }, now ? { now } : {})
  return { up, gw }
}

t.test('tiers and exact headers; 429 problem with Retry-After once the window is full', async (t) => {
  const { now } = frozen()
  const { up, gw } = await gateway(t, {}, now)
  for (let i = 0; i < 3; i++) {
    const res = await call(`${gw.url}/v1/auth/login`)
    t.equal(res.status, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], String(2 - i))
    t.equal(res.headers['x-ratelimit-reset'], '45')
    t.equal(res.headers['ratelimit-policy'], '"anonymous";q=3;w=60')
    t.equal(res.headers.ratelimit, `"anonymous";r=${2 - i};t=45`)
  }
  const refused = await call(`${gw.url}/v1/auth/login`)
  t.equal(refused.status, 429)
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  // the current window alone is full: the next window, and then 1 − 2/3 of it for the weight to drain
  const retry = Math.ceil((45_000 + W * (1 - 2 / 3)) / 1000)
  t.equal(refused.headers['retry-after'], String(retry))
  t.equal(refused.headers['x-ratelimit-remaining'], '0')
  t.equal(refused.headers['x-ratelimit-reset'], String(retry))
  t.equal(refused.headers.ratelimit, `"anonymous";r=0;t=${retry}`)
  t.match(refused.json(), { status: 429, code: 'GW_RATE_LIMITED', detail: `Rate limit of 3 requests per 60 s exceeded; retry in ${retry} s` })
  t.equal(up.requests.length, 3, 'the refused request never reached the upstream')

  const user = bearer(signToken({ sub: 'u-bob' }))
  const premium = bearer(signToken({ sub: 'u-carol', tier: 'premium' }))
  const statuses = async (headers: Record<string, string>, n: number) => {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push((await call(`${gw.url}/v1/api/wallets/w1`, { headers })).status)
    return out
  }
  t.same(await statuses(user, 6), [200, 200, 200, 200, 200, 429], 'authenticated: 5')
  t.same(await statuses(premium, 8), [200, 200, 200, 200, 200, 200, 200, 429], 'premium: 7')
  const res = await call(`${gw.url}/v1/api/wallets/w1`, { headers: premium })
  t.equal(res.headers['ratelimit-policy'], '"premium";q=7;w=60')
})

t.test('keys: per consumer id (JWT and API key of one consumer share it), per client address when anonymous', async (t) => {
  const { now } = frozen()
  const { gw } = await gateway(t, { server: { trustProxy: ['127.0.0.1'] } }, now)
  const alice = bearer(signToken({ sub: 'u-alice' }))
  for (let i = 0; i < 3; i++) t.equal((await call(`${gw.url}/v1/api/a`, { headers: alice })).status, 200)
  for (let i = 0; i < 2; i++) t.equal((await call(`${gw.url}/v1/api/a`, { headers: { 'x-api-key': KEY } })).status, 200)
  t.equal((await call(`${gw.url}/v1/api/a`, { headers: { 'x-api-key': KEY } })).status, 429, 'the key counts against u-alice too')
  t.equal((await call(`${gw.url}/v1/api/a`, { headers: bearer(signToken({ sub: 'u-bob' })) })).status, 200, 'another consumer has its own window')
  // anonymous: the client address, taken from X-Forwarded-For because 127.0.0.1 is a trusted proxy
  const from = (ip: string) => call(`${gw.url}/v1/auth/login`, { headers: { 'x-forwarded-for': ip } })
  const a = []
  for (let i = 0; i < 4; i++) a.push((await from('203.0.113.7')).status)
  t.same(a, [200, 200, 200, 429])
  t.equal((await from('203.0.113.8')).status, 200, 'another client address')
})

t.test('a route with its own limits counts apart; a route can opt out', async (t) => {
  const { now } = frozen()
  const routes = [
    { name: 'commands', prefix: '/v1/commands', service: 'command', rateLimit: { max: 2, premium: 4, windowMs: 10_000 } },
    { prefix: '/v1/api', service: 'query' },
    { prefix: '/v1/auth', service: 'command', auth: 'public', rateLimit: { enabled: false } }
  ]
  const { gw } = await gateway(t, { routes }, now)
  const user = bearer(signToken({ sub: 'u-bob' }))
  const post = () => call(`${gw.url}/v1/commands/x`, { method: 'POST', headers: user })
  const first = await post()
  t.equal(first.headers['ratelimit-policy'], '"commands-authenticated";q=2;w=10')
  t.equal(first.headers['x-ratelimit-reset'], '5', 'its own window length: 10 s, 5 s left')
  t.equal((await post()).status, 200)
  t.equal((await post()).status, 429)
  t.equal((await call(`${gw.url}/v1/api/x`, { headers: user })).headers['x-ratelimit-remaining'], '4', 'the global window was not touched')
  const premium = bearer(signToken({ sub: 'u-carol', tier: 'premium' }))
  t.equal((await call(`${gw.url}/v1/commands/x`, { method: 'POST', headers: premium })).headers['x-ratelimit-limit'], '4', 'a tier value wins over max')
  for (let i = 0; i < 5; i++) {
    const res = await call(`${gw.url}/v1/auth/login`)
    t.equal(res.status, 200)
    t.equal(res.headers['x-ratelimit-limit'], undefined, 'no limit, no headers')
  }
})

t.test('one instance, in memory: 200 concurrent requests against a limit of 50 → exactly 50 allowed', async (t) => {
  const { up, gw } = await gateway(t, { rateLimit: { ...limits, authenticated: 50 } })
  const user = bearer(signToken({ sub: 'u-burst' }))
  const results = await Promise.all(Array.from({ length: 200 }, () => call(`${gw.url}/v1/api/w`, { headers: user })))
  t.equal(results.filter((r) => r.status === 200).length, 50)
  t.equal(results.filter((r) => r.status === 429).length, 150)
  t.equal(up.requests.length, 50)
})

t.test('GET /admin/rate-limit shows the mode and the fail-open count', async (t) => {
  const server = await startRedisServer(t)
  const { gw } = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() }, server: { adminToken: 'admin-token-0123456789' } })
  const state = async () => (await call(`${gw.adminUrl}/admin/rate-limit`, { headers: { authorization: 'Bearer admin-token-0123456789' } })).json()
  t.match(await state(), { enabled: true, mode: 'redis', failMode: 'open', windowMs: W, limits: { anonymous: 3, authenticated: 5, premium: 7 }, stats: { failOpen: 0, outages: 0 } })
  await server.kill()
  await call(`${gw.url}/v1/auth/login`)
  t.match(await state(), { mode: 'fallback', stats: { failOpen: 1, outages: 1 } })
})

t.test('RATE_LIMIT_ENABLED=false: no limiting, no headers', async (t) => {
  const { gw } = await gateway(t, { rateLimit: { ...limits, enabled: false } })
  for (let i = 0; i < 5; i++) {
    const res = await call(`${gw.url}/v1/auth/login`)
    t.equal(res.status, 200)
    t.equal(res.headers['x-ratelimit-limit'], undefined)
  }
})

t.test('two gateway instances on one Redis enforce one limit: 2×L concurrent requests → exactly L allowed', async (t) => {
  const keyPrefix = uniquePrefix()
  const redis = { url: 'redis://127.0.0.1:6379', keyPrefix }
  const L = 25
  const a = await gateway(t, { redis, rateLimit: { ...limits, authenticated: L } })
  const b = await gateway(t, { redis, rateLimit: { ...limits, authenticated: L } })
  const user = bearer(signToken({ sub: `u-shared-${Math.random()}` }))
  const results = await Promise.all(Array.from({ length: 2 * L }, (_, i) => call(`${(i % 2 ? a : b).gw.url}/v1/api/w`, { headers: user })))
  t.equal(results.filter((r) => r.status === 200).length, L, 'exactly L allowed')
  t.equal(results.filter((r) => r.status === 429).length, L, 'the rest refused')
  t.ok(a.up.requests.length > 0 && b.up.requests.length > 0, 'both instances served some')
  t.equal(a.gw.context.rateLimiter!.mode, 'redis')
  const check = new Redis('redis://127.0.0.1:6379')
  t.teardown(() => check.disconnect())
  const keys = await check.keys(`${keyPrefix}rl:*`)
  t.ok(keys.length === 1 && keys[0]!.startsWith(`${keyPrefix}rl:{`), `one counter key under the prefix: ${keys[0]}`)
  t.ok(await check.pttl(keys[0]!) > W, 'it expires after two windows')
})

t.test('the script survives SCRIPT FLUSH (NOSCRIPT → reloaded)', async (t) => {
  const server = await startRedisServer(t)
  const { gw } = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() } })
  const user = bearer(signToken({ sub: 'u-flush' }))
  t.equal((await call(`${gw.url}/v1/api/w`, { headers: user })).headers['x-ratelimit-remaining'], '4')
  const admin = new Redis(server.url)
  // the test's server may stop before this client does: its reconnect errors are expected
  admin.on('error', () => {})
  t.teardown(() => admin.disconnect())
  await admin.script('FLUSH')
  const res = await call(`${gw.url}/v1/api/w`, { headers: user })
  t.equal(res.headers['x-ratelimit-remaining'], '3', 'still counted in Redis')
  t.equal(gw.context.rateLimiter!.stats.failOpen, 0, 'no fallback was needed')
})

t.test('Redis killed mid-run: no request fails or waits beyond the timeout, local limits apply; restarted: shared again', async (t) => {
  const server = await startRedisServer(t)
  const lines: string[] = []
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET },
    redis: { url: server.url, keyPrefix: uniquePrefix() }, rateLimit: { ...limits, authenticated: 1000 }, server: { logLevel: 'info' }
  }, { logStream: { write: (l: string) => lines.push(l) } })
  const user = bearer(signToken({ sub: 'u-outage' }))
  const timed = async () => { const started = Date.now(); const res = await call(`${gw.url}/v1/api/w`, { headers: user }); return { status: res.status, ms: Date.now() - started, remaining: Number(res.headers['x-ratelimit-remaining']) } }
  for (let i = 0; i < 5; i++) t.equal((await timed()).status, 200)
  t.equal(gw.context.rateLimiter!.mode, 'redis')

  await server.kill()
  const during = []
  for (let i = 0; i < 30; i++) during.push(await timed())
  t.ok(during.every((r) => r.status === 200), 'no request failed while Redis was down (fail open)')
  const slowest = Math.max(...during.map((r) => r.ms))
  t.ok(slowest < 400, `slowest request ${slowest} ms (command timeout 200 ms)`)
  t.ok(during.every((r) => r.remaining < 1000), 'limits still applied, locally')
  t.equal(gw.context.rateLimiter!.mode, 'fallback')
  // the first few may still be spent from the key's lease, counted in Redis before it went
  // down: at most 10 of them (1 % of the limit), the rest decided by the local limiter
  t.ok(gw.context.rateLimiter!.stats.failOpen >= 20, `${gw.context.rateLimiter!.stats.failOpen} requests decided locally`)
  t.equal(lines.filter((l) => l.includes('rate limiter: Redis unreachable')).length, 1, 'logged once for the outage')

  await server.restart()
  await until(async () => { await timed(); return gw.context.rateLimiter!.mode === 'redis' }, 5000 + PROBE_INTERVAL_MS, 'shared limiting to resume')
  t.ok(lines.some((l) => l.includes('Redis answers again')), 'the recovery is logged')
  t.equal(gw.context.rateLimiter!.stats.outages, 1)
})

t.test('RATE_LIMIT_FAIL_MODE=closed: Redis down → 503 problem, never a 500 or a hang', async (t) => {
  const server = await startRedisServer(t)
  const { up, gw } = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() }, rateLimit: { ...limits, failMode: 'closed' } })
  const user = bearer(signToken({ sub: 'u-closed' }))
  t.equal((await call(`${gw.url}/v1/api/w`, { headers: user })).status, 200)
  await server.kill()
  for (let i = 0; i < 3; i++) {
    const started = Date.now()
    const res = await call(`${gw.url}/v1/api/w`, { headers: user })
    t.equal(res.status, 503)
    t.match(res.json(), { code: 'GW_RATE_LIMIT_UNAVAILABLE' })
    t.equal(res.headers['retry-after'], '1')
    t.ok(Date.now() - started < 400, 'answered within the timeout')
  }
  t.equal(up.requests.length, 1, 'the upstream saw only the request made while Redis was up')
  t.ok(gw.context.rateLimiter!.stats.failClosed >= 3)
})

t.test('a hung Redis: one slow request to find out, then one probe at a time; fail-closed /ready turns 503', async (t) => {
  const server = await startRedisServer(t)
  const { gw } = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() }, rateLimit: { ...limits, authenticated: 1000 } })
  const user = bearer(signToken({ sub: 'u-hung' }))
  const timed = async () => { const started = Date.now(); const res = await call(`${gw.url}/v1/api/w`, { headers: user }); return { status: res.status, ms: Date.now() - started } }
  t.equal((await timed()).status, 200)
  // which requests asked Redis: counted on the limiter's real store (timings alone
  // flake on a loaded CI machine, where 20 concurrent requests can take 150 ms anyway)
  const store = (gw.context.rateLimiter as unknown as { shared: { hit: (...args: unknown[]) => unknown } }).shared
  const realHit = store.hit.bind(store)
  let asked = 0
  store.hit = (...args: unknown[]) => { asked++; return realHit(...args) }
  server.pause()
  const pausedAt = Date.now()
  const sequential: Array<{ status: number, ms: number }> = []
  for (let i = 0; i < 10; i++) sequential.push(await timed())
  const sequentialMs = Date.now() - pausedAt
  t.ok(sequential.every((r) => r.status === 200), 'all served')
  t.ok(sequential[0]!.ms >= 150, `the first waited for the command timeout: ${sequential[0]!.ms} ms`)
  t.ok(asked === 1 || (asked === 2 && sequentialMs > PROBE_INTERVAL_MS), `only the first asked Redis (and a probe, if the loop outlasted the probe interval): ${asked} in ${sequentialMs} ms`)
  // past the probe interval, a burst: one request probes (and waits), the others stay local
  // the failure was seen after the 200 ms command timeout; the probe is due a second later
  await until(() => Date.now() - pausedAt > 200 + PROBE_INTERVAL_MS + 50, 3000, 'the probe interval')
  asked = 0
  const burst = await Promise.all(Array.from({ length: 20 }, () => timed()))
  t.ok(burst.every((r) => r.status === 200))
  t.ok(asked <= 1, `at most one request of the burst asked Redis: ${asked}`)
  server.resume()
  await until(async () => { await timed(); return gw.context.rateLimiter!.mode === 'redis' }, 5000, 'Redis to be used again')
})

t.test('fail closed and a hung Redis: /ready says not ready, even though the connection looks up', async (t) => {
  const server = await startRedisServer(t)
  const { gw } = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() }, rateLimit: { ...limits, failMode: 'closed' } })
  t.equal((await call(`${gw.url}/ready`)).status, 200)
  server.pause()
  t.equal((await call(`${gw.url}/v1/api/w`, { headers: bearer(signToken({ sub: 'u-r' })) })).status, 503)
  const ready = await call(`${gw.url}/ready`)
  t.equal(ready.status, 503)
  t.match(ready.json(), { code: 'GW_NOT_READY' })
  server.resume()
})

t.test('an error reply about one key is not an outage: that request is decided locally', async (t) => {
  const keyPrefix = uniquePrefix()
  const { gw } = await gateway(t, { redis: { url: 'redis://127.0.0.1:6379', keyPrefix } })
  const user = bearer(signToken({ sub: 'u-wrongtype' }))
  t.equal((await call(`${gw.url}/v1/api/w`, { headers: user })).status, 200)
  const admin = new Redis('redis://127.0.0.1:6379')
  t.teardown(() => admin.disconnect())
  const [key] = await admin.keys(`${keyPrefix}rl:*`)
  t.match(key, /rl:\{g:id:u-wrongtype\}:60000:\d+$/, 'key: prefix, global scope, namespaced consumer id, window length, window index')
  await admin.del(key!)
  await admin.hset(key!, 'x', '1')
  const res = await call(`${gw.url}/v1/api/w`, { headers: user })
  t.equal(res.status, 200)
  t.match(gw.context.rateLimiter!.stats, { replyErrors: 1, outages: 0 })
  t.equal(gw.context.rateLimiter!.mode, 'redis', 'still shared for everyone else')
})

t.test('namespaces: a JWT sub that looks like a client address or a route key has its own count', async (t) => {
  const { gw } = await gateway(t, { server: { trustProxy: ['127.0.0.1'] } }, frozen().now)
  for (let i = 0; i < 3; i++) await call(`${gw.url}/v1/auth/login`, { headers: { 'x-forwarded-for': '203.0.113.5' } })
  t.equal((await call(`${gw.url}/v1/auth/login`, { headers: { 'x-forwarded-for': '203.0.113.5' } })).status, 429)
  const impostor = bearer(signToken({ sub: 'ip:203.0.113.5' }))
  t.equal((await call(`${gw.url}/v1/auth/login`, { headers: impostor })).status, 200, 'not the anonymous client\'s window')
})

t.test('a rateLimit block with no limit of its own keeps the global count', async (t) => {
  const routes = [{ prefix: '/v1/api', service: 'query', rateLimit: { enabled: true } }, { prefix: '/v1/commands', service: 'command' }]
  const { gw } = await gateway(t, { routes }, frozen().now)
  const user = bearer(signToken({ sub: 'u-one-count' }))
  await call(`${gw.url}/v1/api/a`, { headers: user })
  const res = await call(`${gw.url}/v1/commands/a`, { method: 'POST', headers: user })
  t.equal(res.headers['x-ratelimit-remaining'], '3', 'one window across both routes')
  t.equal(res.headers['ratelimit-policy'], '"authenticated";q=5;w=60')
})
