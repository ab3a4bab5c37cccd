// GET /metrics on the admin listener after known traffic: each metric's name,
// labels and value, the route label a pattern and never the raw URL, and the
// output accepted by `promtool check metrics` where promtool is installed.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, freePort } from '../helpers.js'
import { scrape, parseExposition } from './scrape.js'
import { LATENCY_BUCKETS } from '../../plugins/metrics/metrics.js'
import { createRequire } from 'node:module'

const ADMIN = 'metrics-test-admin-token'

async function trafficGateway (t: Test) {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    server: { adminToken: ADMIN },
    rateLimit: { enabled: true, anonymous: 2 }
  })
  return { up, gw }
}

t.test('request, auth, rate-limit, upstream and version metrics count exactly the traffic sent', async (t) => {
  const { up, gw } = await trafficGateway(t)
  const alice = bearer(signToken({ sub: 'u-alice' }))
  const expired = bearer(signToken({ sub: 'u-alice', exp: Math.floor(Date.now() / 1000) - 3600 }))
  const statuses: number[] = []
  const send = async (path: string, headers: Record<string, string> = {}, method = 'GET') => statuses.push((await call(`${gw.url}${path}`, { method, headers })).status)
  for (let i = 0; i < 3; i++) await send(`/v1/api/wallets/w${i}?page=${i}`, alice)
  await send('/api/wallets/w9', { ...alice, 'x-api-version': '2' })
  await send('/v1/api/wallets/w1')
  await send('/v1/api/wallets/w1')
  await send('/v1/api/wallets/w1', expired)
  await send('/v1/api/wallets/w1', bearer('not.a.jwt'))
  await send('/nowhere/at/all')
  for (let i = 0; i < 3; i++) await send('/v1/auth/login', {}, 'POST')
  await send('/health')
  t.same(statuses, [200, 200, 200, 200, 401, 401, 401, 401, 404, 200, 200, 429, 200])

  const m = await scrape(gw.adminUrl)
  t.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8')
  // requests: by route pattern, method and status
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/api/*', method: 'GET', status: '200' }), 3)
  t.equal(m.value('gateway_http_requests_total', { route: '/v2/api/*', method: 'GET', status: '200' }), 1, 'a negotiated version counts under its versioned route')
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/api/*', method: 'GET', status: '401' }), 4)
  t.equal(m.value('gateway_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1)
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/auth/*', method: 'POST', status: '200' }), 2)
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/auth/*', method: 'POST', status: '429' }), 1)
  t.equal(m.value('gateway_http_requests_total', { route: '/health', method: 'GET', status: '200' }), 1)
  t.notOk(m.samples.some((s) => Object.values(s.labels).some((v) => /w\d|nowhere|login|page=/.test(v))), 'no label holds a raw URL')
  // the latency histogram agrees with the counter, bucket by bucket
  const labels = { route: '/v1/api/*', method: 'GET', status: '200' }
  t.equal(m.value('gateway_http_request_duration_seconds_count', labels), 3)
  const buckets = m.find('gateway_http_request_duration_seconds_bucket', labels)
  t.equal(buckets.length, LATENCY_BUCKETS.length + 1, 'every bound and +Inf')
  t.equal(buckets.at(-1)!.labels.le, '+Inf')
  t.equal(buckets.at(-1)!.value, 3)
  t.ok(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1]!.value), 'buckets are cumulative')
  const sum = m.value('gateway_http_request_duration_seconds_sum', labels)!
  t.ok(sum > 0 && sum < 5, `duration sum ${sum} s`)
  // auth failures by reason
  t.equal(m.value('gateway_auth_failures_total', { reason: 'missing' }), 2)
  t.equal(m.value('gateway_auth_failures_total', { reason: 'expired' }), 1)
  t.equal(m.value('gateway_auth_failures_total', { reason: 'malformed' }), 1)
  t.equal(m.value('gateway_auth_failures_total', { reason: 'forbidden' }), 0, 'every reason is exported from the start, at 0')
  // rate limiting by tier
  t.equal(m.value('gateway_rate_limit_requests_total', { tier: 'authenticated', decision: 'allowed' }), 4)
  t.equal(m.value('gateway_rate_limit_requests_total', { tier: 'anonymous', decision: 'allowed' }), 2)
  t.equal(m.value('gateway_rate_limit_requests_total', { tier: 'anonymous', decision: 'rejected' }), 1)
  t.equal(m.value('gateway_rate_limit_requests_total', { tier: 'premium', decision: 'allowed' }), 0)
  t.equal(m.value('gateway_rate_limit_redis_fail_open_total'), 0)
  // upstream: every proxied request reached the one target
  const target = { service: 'query', target: up.url }
  t.equal(m.value('gateway_upstream_response_seconds_count', target), 4)
  t.equal(m.value('gateway_upstream_response_seconds_count', { service: 'command', target: up.url }), 2)
  t.equal(m.value('gateway_upstream_errors_total', { ...target, kind: 'refused' }), 0)
  t.equal(m.value('gateway_upstream_target_up', target), 1)
  // breakers, versions, WebSockets, process
  t.equal(m.value('gateway_circuit_breaker_state', { service: 'query' }), 0)
  t.equal(m.value('gateway_circuit_breaker_transitions_total', { service: 'query', from: 'closed', to: 'open' }), 0, 'transitions exported at 0 before the first')
  t.equal(m.value('gateway_build_info', { version: createRequire(import.meta.url)('../../package.json').version, node: process.versions.node }), 1)
  t.equal(m.value('gateway_circuit_breaker_rejected_total', { service: 'query' }), 0)
  t.equal(m.value('gateway_api_version_requests_total', { version: '1' }), 10)
  t.equal(m.value('gateway_api_version_requests_total', { version: '2' }), 1)
  t.equal(m.value('gateway_websocket_connections'), 0)
  t.equal(m.value('gateway_websocket_messages_sent_total'), 0)
  t.equal(m.value('gateway_websocket_slow_consumer_closes_total'), 0)
  t.equal(m.value('gateway_websocket_event_lag_seconds_count'), 0)
  t.equal(m.value('gateway_websocket_proxied_connections'), 0)
  t.ok(m.value('process_cpu_user_seconds_total')! > 0, 'process metrics')
  t.ok(m.value('process_resident_memory_bytes')! > 0)
  t.ok(m.value('nodejs_eventloop_lag_p99_seconds') !== undefined)
  const types = Object.fromEntries([...m.types].filter(([name]) => name.startsWith('gateway_')))
  t.match(types, {
    gateway_http_requests_total: 'counter',
    gateway_http_request_duration_seconds: 'histogram',
    gateway_upstream_response_seconds: 'histogram',
    gateway_upstream_errors_total: 'counter',
    gateway_circuit_breaker_state: 'gauge',
    gateway_circuit_breaker_transitions_total: 'counter',
    gateway_rate_limit_requests_total: 'counter',
    gateway_rate_limit_redis_fail_open_total: 'counter',
    gateway_auth_failures_total: 'counter',
    gateway_websocket_connections: 'gauge',
    gateway_websocket_event_lag_seconds: 'histogram'
  })
})

t.test('/metrics is on the admin listener only, open without the admin token', async (t) => {
  const { gw } = await trafficGateway(t)
  t.equal((await call(`${gw.adminUrl}/metrics`)).status, 200, 'no token needed (SPEC.md §6)')
  const pub = await call(`${gw.url}/metrics`)
  t.equal(pub.status, 404)
  t.notOk(pub.text.includes('gateway_http_requests_total'))
})

t.test('upstream errors by kind and target: a refused target and a 5xx answer', async (t) => {
  const broken = await startUpstream(t, (_req, res) => { res.statusCode = 503; res.end('{}') })
  const dead = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, {
    services: servicesFor(dead, broken.url),
    retry: { attempts: 0 }
  })
  t.equal((await call(`${gw.url}/v1/commands/x`, { method: 'POST' })).status, 502)
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 503)
  const m = await scrape(gw.adminUrl)
  t.equal(m.value('gateway_upstream_errors_total', { service: 'command', target: dead, kind: 'refused' }), 1)
  t.equal(m.value('gateway_upstream_response_seconds_count', { service: 'command', target: dead }), 0, 'no answer, no latency sample')
  t.equal(m.value('gateway_upstream_errors_total', { service: 'query', target: broken.url, kind: 'http_5xx' }), 1)
  t.equal(m.value('gateway_upstream_response_seconds_count', { service: 'query', target: broken.url }), 1)
  t.equal(m.value('gateway_upstream_target_up', { service: 'command', target: dead }), 0, 'the refused target is ejected')
  t.equal(m.value('gateway_http_requests_total', { route: '/v1/commands/*', method: 'POST', status: '502' }), 1)
})

t.test('breaker state gauge and transitions follow the breaker, half-open included', async (t) => {
  const failing = await startUpstream(t, (_req, res) => { res.statusCode = 500; res.end('{}') })
  const clock = { now: Date.now() }
  const gw = await startGateway(t, {
    services: servicesFor(failing.url, failing.url, { passiveHealth: { enabled: false } }),
    breaker: { minRequests: 3, resetMs: 30_000 },
    retry: { attempts: 0 }
  }, { now: () => clock.now })
  for (let i = 0; i < 3; i++) t.equal((await call(`${gw.url}/v1/api/x`)).status, 500)
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 503, 'open: the fallback')
  let m = await scrape(gw.adminUrl)
  t.equal(m.value('gateway_circuit_breaker_state', { service: 'query' }), 2, 'open = 2')
  t.equal(m.value('gateway_circuit_breaker_state', { service: 'command' }), 0)
  t.equal(m.value('gateway_circuit_breaker_transitions_total', { service: 'query', from: 'closed', to: 'open' }), 1)
  t.equal(m.value('gateway_circuit_breaker_rejected_total', { service: 'query' }), 1)
  clock.now += 30_000
  m = await scrape(gw.adminUrl)
  t.equal(m.value('gateway_circuit_breaker_state', { service: 'query' }), 1, 'half-open = 1, once the reset time has passed, without waiting for a request')
  t.equal(m.value('gateway_circuit_breaker_transitions_total', { service: 'query', from: 'open', to: 'half-open' }), 1)
})

t.test('the Redis fail-open counter counts requests limited locally while Redis is unreachable', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    redis: { url: `redis://127.0.0.1:${await freePort()}` },
    rateLimit: { enabled: true }
  })
  for (let i = 0; i < 3; i++) t.equal((await call(`${gw.url}/v1/api/x`)).status, 200)
  const m = await scrape(gw.adminUrl)
  t.equal(m.value('gateway_rate_limit_redis_fail_open_total'), 3)
  t.equal(m.value('gateway_rate_limit_redis_outages_total'), 1)
  t.equal(m.value('gateway_rate_limit_requests_total', { tier: 'anonymous', decision: 'allowed' }), 3)
})

t.test('two gateways in one process keep separate metrics', async (t) => {
  const a = await trafficGateway(t)
  const b = await trafficGateway(t)
  await call(`${a.gw.url}/health`)
  t.equal((await scrape(a.gw.adminUrl)).value('gateway_http_requests_total', { route: '/health', method: 'GET', status: '200' }), 1)
  t.equal((await scrape(b.gw.adminUrl)).value('gateway_http_requests_total', { route: '/health', method: 'GET', status: '200' }), undefined)
})

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
t.test('promtool check metrics accepts the exposition', { skip: promtool.error ? 'promtool not installed (Debian package "prometheus"): exposition not linted' : false }, async (t) => {
  const { gw } = await trafficGateway(t)
  await call(`${gw.url}/v1/api/wallets/w1`)
  await call(`${gw.url}/v1/auth/login`, { method: 'POST' })
  const text = (await scrape(gw.adminUrl)).text
  t.ok(parseExposition(text).samples.length > 100)
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  t.equal(check.status, 0, `promtool exit status (${check.stderr.trim()})`)
  t.equal(check.stdout.trim() + check.stderr.trim(), '', 'no lint findings')
})
