// Fault injection: the rate limiter's Redis killed, restarted and paused (SIGSTOP)
// while autocannon drives the gateway (in-process, loopback, keep-alive connections).
// test/rate-limit/gateway.test.ts covers the same faults one request at a time; here
// the faults land on requests in flight and on batched EVALSHAs, and every answer of
// the run is checked: fail open → all 2xx; fail closed → 2xx or 503
// GW_RATE_LIMIT_UNAVAILABLE, then 2xx again; never a hang (README "Rate limiting",
// "When Redis fails").
import t, { type Test } from 'tap'
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Redis } from 'ioredis'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, startRedisServer, uniquePrefix, until, type StartedGateway, type Upstream } from '../helpers.js'
import { scrape } from '../metrics/scrape.js'
import { PROBE_INTERVAL_MS, type RateLimiter } from '../../plugins/rate-limit/limiter.js'

// autocannon 9 ships no types: the part of its API used here
interface LoadResult { errors: number, timeouts: number, non2xx: number, '2xx': number, statusCodeStats: Record<string, { count: number }> }
interface AutocannonClient { on: (event: 'request', fn: () => void) => void }
interface AutocannonInstance extends PromiseLike<LoadResult> {
  stop: () => void
  on: (event: 'response', fn: (client: AutocannonClient, status: number, bytes: number, ms: number) => void) => void
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: object) => AutocannonInstance

/** One answer the load generator got; the body and headers are kept for non-2xx only. */
interface Answer { status: number, body?: string, headers?: Record<string, string> }

interface Load {
  /** answers in arrival order */
  answers: Answer[]
  /** requests written by the load generator */
  sent: () => number
  ok: () => number
  /** the slowest answer since the fault was injected, ms */
  slowest: () => number
  /** the longest the event loop stalled since the fault was injected, ms (a starved CI machine's share of any answer's time) */
  stall: () => number
  /** the fault is injected now: answers from here on are the ones timed (not the warm-up's, slow on a busy CI machine) */
  fault: () => void
  /** stops the load and resolves with autocannon's result */
  finish: () => Promise<LoadResult>
}

const CONNECTIONS = 10
/** the load's own bound: the scenario stops it long before (a stuck scenario fails its `until`) */
const MAX_SECONDS = 15
/** answers to see before the fault, and in each phase after it: enough to matter, few enough for a crawling CI machine */
const WARM = 100
const STEP = 100
/** a request unanswered this long counts as an autocannon timeout */
const CLIENT_TIMEOUT_S = 3
/** README "When Redis fails": commands time out after 200 ms, "so a dead or hung Redis never holds a request longer than that" */
const COMMAND_TIMEOUT_MS = 200
/** a dead Redis refuses at once: the command timeout, and as much again for a loaded machine */
const DEAD_BOUND_MS = 2 * COMMAND_TIMEOUT_MS
/** a hung Redis: never more than ~1 s (and the paused test holds the README's tighter promise) */
const HUNG_BOUND_MS = 1000

function startLoad (t: Test, url: string, headers: Record<string, string>): Load {
  const answers: Answer[] = []
  let sent = 0
  let ok = 0
  let slowest = 0
  const { origin, pathname } = new URL(url)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const instance = autocannon({
    url: origin,
    connections: CONNECTIONS,
    duration: MAX_SECONDS,
    timeout: CLIENT_TIMEOUT_S,
    requests: [{
      method: 'GET',
      path: pathname,
      headers,
      onResponse: (status: number, body: string, _context: unknown, raw: Record<string, string>) => {
        if (status >= 200 && status < 300) {
          ok++
          answers.push({ status })
          return
        }
        const lower: Record<string, string> = {}
        for (const [k, v] of Object.entries(raw)) lower[k.toLowerCase()] = v
        answers.push({ status, body, headers: lower })
      }
    }],
    setupClient: (client: AutocannonClient) => { client.on('request', () => { sent++ }) }
  })
  instance.on('response', (_client, _status, _bytes, ms) => { if (ms > slowest) slowest = ms })
  let result: Promise<LoadResult> | undefined
  const finish = () => {
    if (result === undefined) {
      loop.disable()
      instance.stop()
      result = Promise.resolve(instance)
    }
    return result
  }
  t.teardown(finish)
  return { answers, sent: () => sent, ok: () => ok, slowest: () => slowest, stall: () => loop.max / 1e6, fault: () => { slowest = 0; loop.reset() }, finish }
}

/**
 * No answer from the fault on took longer than the bound, plus however long this
 * process could not run at all (a starved CI machine stalls every answer alike;
 * the gateway's promise is about waiting on Redis).
 */
function assertBounded (t: Test, load: Load, boundMs: number, what = '', extra: object = {}): void {
  t.ok(load.slowest() < boundMs + load.stall(), `slowest answer from the fault on: ${Math.round(load.slowest())} ms (< ${boundMs} ms + ${Math.round(load.stall())} ms of event-loop stall)${what}`, extra)
}

/** every request written was answered or failed: none vanished (at most the ones in flight when the load stopped) */
function assertNoneLost (t: Test, load: Load, result: LoadResult): void {
  const unanswered = load.sent() - load.answers.length - result.errors
  t.ok(unanswered >= 0 && unanswered <= CONNECTIONS, `${load.sent()} sent, ${load.answers.length} answered, ${result.errors} errors: ${unanswered} in flight at the stop (≤ ${CONNECTIONS})`)
}

/** the keys of one consumer's global window in a Redis, with their counts */
async function counters (url: string, keyPrefix: string, sub: string): Promise<Map<string, number>> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    const keys = await redis.keys(`${keyPrefix}rl:{g:id:${sub}}:*`)
    const out = new Map<string, number>()
    for (const key of keys) out.set(key, Number(await redis.get(key)))
    return out
  } finally {
    redis.disconnect()
  }
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)

// a day-long window: a run never crosses its boundary in practice, and if it did the
// previous window would still weigh ~100 %: counts read back are (nearly) exact
const W = 86_400_000
const LIMIT = 100_000_000

async function gateway (t: Test, redisUrl: string, keyPrefix: string, failMode: 'open' | 'closed', up?: Upstream): Promise<{ up: Upstream, gw: StartedGateway }> {
  up ??= await startUpstream(t, (_req, res) => { res.setHeader('content-type', 'application/json'); res.end('{"ok":true}') })
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    redis: { url: redisUrl, keyPrefix },
    rateLimit: { enabled: true, anonymous: 100, authenticated: LIMIT, premium: LIMIT, windowMs: W, failMode }
  })
  return { up, gw }
}

const PATH = '/v1/api/wallets/w1'

/** the load is going and decisions are shared (a starved CI machine may time a command out while warming up) */
async function warm (load: Load, limiter: RateLimiter): Promise<void> {
  await until(() => load.ok() >= WARM && limiter.mode === 'redis', 10_000, 'the load to get going, limits shared in Redis')
}

t.test('fail open under load: Redis killed then restarted mid-run → every answer 2xx, then limits are shared in Redis again', async (t) => {
  const server = await startRedisServer(t)
  const keyPrefix = uniquePrefix()
  const sub = 'u-load-open'
  const { up, gw } = await gateway(t, server.url, keyPrefix, 'open')
  const limiter = gw.context.rateLimiter!
  const load = startLoad(t, gw.url + PATH, bearer(signToken({ sub })))
  let okAfterRecovery = 0
  let result: LoadResult
  try {
    await warm(load, limiter)
    t.ok(sum(await counters(server.url, keyPrefix, sub)) > 0, 'counted in Redis before the fault')

    load.fault()
    await server.kill()
    const okAtKill = load.ok()
    await until(() => limiter.stats.failOpen >= STEP && load.ok() >= okAtKill + STEP, 10_000, 'requests decided locally while Redis is dead')
    t.equal(limiter.mode, 'fallback', 'limiting locally during the outage')

    await server.restart()
    // ioredis reconnects (backoff ≤ 2 s), then the next probe (every PROBE_INTERVAL_MS) finds Redis
    await until(() => limiter.mode === 'redis', 2000 + PROBE_INTERVAL_MS + 5000, 'shared limiting to resume under load')
    const okAtRecovery = load.ok()
    await until(() => load.ok() >= okAtRecovery + STEP, 10_000, 'answers after the recovery')
    okAfterRecovery = load.ok() - okAtRecovery
  } finally {
    result = await load.finish()
  }

  t.same(load.answers.filter((a) => a.status < 200 || a.status > 299), [], 'no answer but 2xx: fail open')
  t.equal(result.errors, 0, 'no connection errors')
  t.equal(result.timeouts, 0, 'no timeouts')
  assertBounded(t, load, DEAD_BOUND_MS)
  assertNoneLost(t, load, result)
  t.ok(up.requests.length >= load.ok(), 'every 2xx came from the upstream')

  // limits are shared again: the restarted (empty) Redis holds what was counted since
  const after = await counters(server.url, keyPrefix, sub)
  t.ok(after.size > 0, `the rate-limit keys are back in the restarted Redis: ${[...after.keys()].join(', ')}`)
  t.ok(sum(after) >= okAfterRecovery - CONNECTIONS, `counted in Redis after the restart: ${sum(after)} (≥ ${okAfterRecovery} answers since the recovery, less those in flight then)`)
  t.ok(sum(after) <= load.sent(), 'and no more than was sent')
  // …and a second instance on that Redis sees that count
  const { gw: other } = await gateway(t, server.url, keyPrefix, 'open', up)
  const res = await call(other.url + PATH, { headers: bearer(signToken({ sub })) })
  t.equal(res.status, 200)
  t.equal(other.context.rateLimiter!.mode, 'redis')
  const seenByOther = LIMIT - 1 - Number(res.headers['x-ratelimit-remaining'])
  t.ok(seenByOther >= okAfterRecovery - CONNECTIONS - 1, `a second instance sees the first one's count: ${seenByOther} used`)

  // the fallback shows in the stats and the metrics
  const stats = limiter.stats
  t.ok(stats.outages >= 1, `the outage was seen (${stats.outages}: one per kill, more only if this starved process timed out a command on its own)`)
  t.ok(stats.failOpen >= STEP && stats.failOpen < load.sent(), `${stats.failOpen} of ${load.sent()} requests decided locally`)
  t.equal(stats.failClosed, 0)
  const metrics = await scrape(gw.adminUrl)
  t.equal(metrics.value('gateway_rate_limit_redis_fail_open_total'), stats.failOpen, 'gateway_rate_limit_redis_fail_open_total')
  t.equal(metrics.value('gateway_rate_limit_redis_outages_total'), stats.outages, 'gateway_rate_limit_redis_outages_total')
  t.equal(metrics.value('gateway_rate_limit_redis_fail_closed_total'), 0)
  t.equal(metrics.value('gateway_rate_limit_requests_total', { tier: 'authenticated', decision: 'rejected' }), 0, 'nothing refused')
  t.ok(metrics.value('gateway_rate_limit_requests_total', { tier: 'authenticated', decision: 'allowed' })! >= load.ok(), 'every answer counted as allowed')
})

t.test('fail closed under load: Redis killed → 503 GW_RATE_LIMIT_UNAVAILABLE with Retry-After, at once; restarted → 2xx again', async (t) => {
  const server = await startRedisServer(t)
  const keyPrefix = uniquePrefix()
  const { up, gw } = await gateway(t, server.url, keyPrefix, 'closed')
  const limiter = gw.context.rateLimiter!
  const load = startLoad(t, gw.url + PATH, bearer(signToken({ sub: 'u-load-closed' })))
  let recoveredAt = 0
  let result: LoadResult
  try {
    await warm(load, limiter)
    load.fault()
    await server.kill()
    await until(() => load.answers.length - load.ok() >= STEP, 10_000, 'requests refused while Redis is dead')
    t.equal(limiter.mode, 'fallback')
    await server.restart()
    await until(() => limiter.mode === 'redis', 2000 + PROBE_INTERVAL_MS + 5000, 'Redis to be used again')
    recoveredAt = load.answers.length
    await until(() => load.answers.length >= recoveredAt + CONNECTIONS + STEP, 10_000, 'answers after the recovery')
  } finally {
    result = await load.finish()
  }

  const refused = load.answers.filter((a) => a.status !== 200)
  t.ok(refused.length >= STEP, `${refused.length} requests refused during the outage`)
  const wrong = refused.filter((a) => {
    if (a.status !== 503 || a.headers!['retry-after'] !== '1' || !/^application\/problem\+json/.test(a.headers!['content-type'] ?? '')) return true
    const problem = JSON.parse(a.body!) as { code?: string, status?: number }
    return problem.code !== 'GW_RATE_LIMIT_UNAVAILABLE' || problem.status !== 503
  })
  t.same(wrong.slice(0, 3), [], 'each refusal: 503 problem+json GW_RATE_LIMIT_UNAVAILABLE, Retry-After: 1')
  // at most one request per connection was in flight when Redis came back; every later answer is a 2xx
  const late = load.answers.slice(recoveredAt + CONNECTIONS)
  t.ok(late.length >= STEP && late.every((a) => a.status === 200), `after the recovery: ${late.length} answers, ${late.filter((a) => a.status !== 200).length} not 2xx`)
  t.equal(result.errors, 0, 'no connection errors')
  t.equal(result.timeouts, 0, 'no timeouts')
  assertBounded(t, load, DEAD_BOUND_MS, ': never a hang')
  assertNoneLost(t, load, result)
  t.equal(limiter.stats.failClosed, refused.length, 'every refusal counted, and every counted refusal answered')
  t.equal(limiter.stats.failOpen, 0)
  t.ok(limiter.stats.outages >= 1, `the outage was seen (${limiter.stats.outages})`)
  t.ok(up.requests.length <= load.ok() + CONNECTIONS, 'the refused requests never reached the upstream')
  const metrics = await scrape(gw.adminUrl)
  t.equal(metrics.value('gateway_rate_limit_redis_fail_closed_total'), refused.length, 'gateway_rate_limit_redis_fail_closed_total')
  t.equal(metrics.value('gateway_rate_limit_redis_outages_total'), limiter.stats.outages)
})

for (const failMode of ['open', 'closed'] as const) {
  t.test(`fail ${failMode} under load: a paused (SIGSTOP) Redis never holds a request more than ~1 s; resumed → shared again`, async (t) => {
    const server = await startRedisServer(t)
    const { gw } = await gateway(t, server.url, uniquePrefix(), failMode)
    const limiter = gw.context.rateLimiter!
    const load = startLoad(t, gw.url + PATH, bearer(signToken({ sub: `u-load-paused-${failMode}` })))
    let result: LoadResult
    let resumedAt = 0
    try {
      await warm(load, limiter)
      load.fault()
      server.pause()
      const pausedAt = Date.now()
      // the first failure is seen after the 200 ms command timeout; then a probe every
      // PROBE_INTERVAL_MS: stay paused long enough for a probe to hit the hung Redis under load
      await until(() => Date.now() - pausedAt > 200 + 1.5 * PROBE_INTERVAL_MS && limiter.mode === 'fallback', 10_000, 'a probe interval with Redis hung')
      server.resume()
      await until(() => limiter.mode === 'redis', 5000 + PROBE_INTERVAL_MS, 'Redis to be used again')
      resumedAt = load.answers.length
      await until(() => load.answers.length >= resumedAt + CONNECTIONS + STEP, 10_000, 'answers after the resume')
    } finally {
      server.resume()
      result = await load.finish()
    }
    t.equal(result.errors, 0, 'no connection errors')
    t.equal(result.timeouts, 0, 'no timeouts')
    assertBounded(t, load, HUNG_BOUND_MS)
    // README: "a dead or hung Redis never holds a request longer than" the 200 ms command
    // timeout. Under load it holds some for two: the limiter's client auto-pipelines,
    // ioredis runs one auto-pipeline at a time, and a command's timeout starts only when
    // its pipeline is sent, so the EVALSHAs of the requests that arrive while the first
    // one hangs wait 200 ms for it, then 200 ms for themselves (~400 ms measured).
    // each turn's decisions have one deadline from the turn's end (plugins/rate-limit/stores.ts):
    // a command queued behind a hung auto-pipeline does not wait twice
    assertBounded(t, load, COMMAND_TIMEOUT_MS + 100, ' (README: the command timeout)')
    assertNoneLost(t, load, result)
    t.ok(limiter.stats.outages >= 1, `the outage was seen (${limiter.stats.outages})`)
    const notOk = load.answers.filter((a) => a.status !== 200)
    if (failMode === 'open') {
      t.same(notOk, [], 'every answer 2xx')
      t.ok(limiter.stats.failOpen > 0, `${limiter.stats.failOpen} decided locally`)
    } else {
      t.ok(notOk.length > 0 && notOk.every((a) => a.status === 503 && JSON.parse(a.body!).code === 'GW_RATE_LIMIT_UNAVAILABLE'), `${notOk.length} refused, each with 503 GW_RATE_LIMIT_UNAVAILABLE`)
      t.equal(limiter.stats.failClosed, notOk.length)
    }
    t.ok(load.answers.slice(resumedAt + CONNECTIONS).every((a) => a.status === 200), 'all 2xx once Redis answers again')
  })
}
