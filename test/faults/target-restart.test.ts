// Fault injection: one of a service's two targets killed (server closed, its sockets
// destroyed) under autocannon load on keep-alive connections, then restarted on the
// same port. test/proxy/dead-target.test.ts covers the same faults one request at a
// time; here the kill cuts requests in flight and stale pooled connections, and every
// answer of the run is checked (README "Load balancing, health and failover" and
// "Circuit breaker, retries, timeouts"):
// - a GET cut in flight (reset) or sent to the dead target (refused) is retried on the
//   other target: no request fails;
// - a POST that already reached the dead target is not retried: at most the requests
//   in flight when it died fail, each with 502 GW_PROXY_UPSTREAM_UNREACHABLE;
// - the revived target gets traffic again: passive ejection ends (testConfig's
//   default, active checks off), or the active checks see it healthy (the production
//   default: HealthCheckSchema enabled).
import t, { type Test } from 'tap'
import type http from 'node:http'
import { createRequire } from 'node:module'
import { startUpstream, startGateway, until, type Upstream } from '../helpers.js'
import { scrape } from '../metrics/scrape.js'
import type { PooledTarget } from '../../plugins/proxy/upstream-service.js'

// autocannon 9 ships no types: the part of its API used here
interface LoadResult { errors: number, timeouts: number, non2xx: number, '2xx': number }
interface AutocannonClient { on: (event: 'request', fn: () => void) => void }
interface AutocannonInstance extends PromiseLike<LoadResult> { stop: () => void }
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: object) => AutocannonInstance

/**
 * Connections of the load, each with one request in flight at a time. The retry
 * budget holds at most `reserve` (10) retries beyond what traffic earns; ten
 * connections can need at most ten retries at the instant of the kill.
 */
const CONNECTIONS = 10
/** the load's own bound: the scenario stops it long before (a stuck scenario fails its `until`) */
const MAX_SECONDS = 15
/** answers to see in each phase: enough to matter, few enough for a crawling CI machine */
const STEP = 50

interface Answer { status: number, by?: string, code?: string, contentType?: string }

interface Load {
  answers: Answer[]
  sent: () => number
  /** answers from the upstream named `name` */
  from: (name: string) => number
  finish: () => Promise<LoadResult>
}

function startLoad (t: Test, url: string, opts: { method: 'GET' | 'POST', body?: string }): Load {
  const answers: Answer[] = []
  const byName = new Map<string, number>()
  let sent = 0
  const { origin, pathname } = new URL(url)
  const instance = autocannon({
    url: origin,
    connections: CONNECTIONS,
    duration: MAX_SECONDS,
    timeout: 3,
    requests: [{
      method: opts.method,
      path: pathname,
      ...(opts.body !== undefined ? { body: opts.body, headers: { 'content-type': 'application/json' } } : {}),
      onResponse: (status: number, body: string, _context: unknown, headers: Record<string, string>) => {
        const json = (() => { try { return JSON.parse(body) as { upstream?: string, code?: string } } catch { return {} } })()
        if (status === 200 && json.upstream !== undefined) byName.set(json.upstream, (byName.get(json.upstream) ?? 0) + 1)
        const contentType = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1]
        answers.push(status === 200 ? { status, by: json.upstream } : { status, code: json.code, contentType })
      }
    }],
    setupClient: (client: AutocannonClient) => { client.on('request', () => { sent++ }) }
  })
  let result: Promise<LoadResult> | undefined
  const finish = () => {
    if (result === undefined) {
      instance.stop()
      result = Promise.resolve(instance)
    }
    return result
  }
  t.teardown(finish)
  return { answers, sent: () => sent, from: (name) => byName.get(name) ?? 0, finish }
}

/**
 * An upstream that answers after a few ms, so requests are in flight when it dies;
 * `pending` counts the requests it received and has not answered yet (not one byte
 * of their answer written: a kill now cuts them).
 */
async function slowUpstream (t: Test, name: string, port?: number): Promise<Upstream & { pending: () => number }> {
  let pending = 0
  const up = await startUpstream(t, (_req: http.IncomingMessage, res: http.ServerResponse) => {
    pending++
    setTimeout(() => {
      if (res.destroyed) return
      pending--
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ upstream: name }))
    }, 3)
  }, port === undefined ? {} : { port })
  return Object.assign(up, { pending: () => pending })
}

/**
 * A port below the kernel's ephemeral range (32768+), so that while the target is
 * down no outgoing connection of this process is given its port, and the restart on
 * the same port cannot find it taken.
 */
async function reusablePort (t: Test, name: string): Promise<Upstream & { pending: () => number }> {
  for (let i = 0; ; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    try {
      return await slowUpstream(t, name, port)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i > 20) throw err
    }
  }
}

interface Scenario {
  method: 'GET' | 'POST'
  /** the service's health settings, over testConfig's (active checks off) */
  healthCheck?: Record<string, unknown>
  passiveHealth: Record<string, unknown>
  /** the dead target is out the way this scenario expects (ejected again, or marked unhealthy) */
  out: (a: PooledTarget, state: string) => boolean
}

async function killAndRestart (t: Test, s: Scenario) {
  const a = await reusablePort(t, 'a')
  const b = await slowUpstream(t, 'b')
  const service = { targets: [a.url, b.url], passiveHealth: s.passiveHealth, ...(s.healthCheck ? { healthCheck: s.healthCheck } : {}) }
  const gw = await startGateway(t, { services: { command: service, query: service } })
  const name = s.method === 'GET' ? 'query' : 'command'
  const upstream = gw.context.services.get(name)!
  const stateOfA = () => upstream.summary().find((x) => x.origin === a.url)!.state
  const targetA = upstream.targets.find((x) => x.origin === a.url)!
  const url = s.method === 'GET' ? `${gw.url}/v1/api/wallets/w1` : `${gw.url}/v1/commands/wallets`
  const load = startLoad(t, url, s.method === 'GET' ? { method: 'GET' } : { method: 'POST', body: '{"owner":"u-1"}' })
  let inFlightAtKill = 0
  let answersAtKill = 0
  let answersAtRestart = 0
  let stateWhileDown = ''
  let revived: Awaited<ReturnType<typeof slowUpstream>> | undefined
  let result: LoadResult
  try {
    await until(() => load.from('a') >= STEP && load.from('b') >= STEP, 10_000, 'both targets to serve the load')
    // kill A with requests in flight on it: `until` returns in a microtask, so nothing
    // is answered between the check and the close (closeAllConnections runs at once)
    await until(() => a.pending() > 0, 5000, 'requests in flight on a')
    inFlightAtKill = a.pending()
    answersAtKill = load.answers.length
    await a.close()
    const fromB = load.from('b')
    await until(() => load.from('b') >= fromB + STEP && s.out(targetA, stateOfA()), 10_000, 'b to carry the load, a taken out')
    stateWhileDown = stateOfA()
    answersAtRestart = load.answers.length
    revived = await slowUpstream(t, 'a-again', a.port)
    await until(() => load.from('a-again') >= STEP, 10_000, 'the revived target to get traffic again')
  } finally {
    result = await load.finish()
  }
  return { a, b, revived: revived!, gw, upstream, load, result, inFlightAtKill, answersAtKill, answersAtRestart, stateWhileDown, stateOfA }
}

/**
 * Passive health: ejected (by the resets of the requests it cut, or a refused
 * connection), its ejection ran out while it was still dead, a request tried it
 * again (refused: retried elsewhere) and it was ejected once more.
 */
const ejectedAgain = (a: PooledTarget, state: string) => state === 'ejected' && a.ejections >= 2 && a.lastFailure === 'refused'

/** every request written was answered or failed: none vanished (at most the ones in flight when the load stopped) */
function assertNoneLost (t: Test, load: Load, result: LoadResult): void {
  const unanswered = load.sent() - load.answers.length - result.errors
  t.ok(unanswered >= 0 && unanswered <= CONNECTIONS, `${load.sent()} sent, ${load.answers.length} answered, ${result.errors} errors: ${unanswered} in flight at the stop (≤ ${CONNECTIONS})`)
}

async function assertRevived (t: Test, r: Awaited<ReturnType<typeof killAndRestart>>): Promise<void> {
  t.ok(r.revived.requests.length >= STEP, `the revived target served ${r.revived.requests.length} requests under load`)
  t.ok(r.load.from('b') > 0)
  t.equal(r.stateOfA(), 'healthy', 'a is healthy again')
  const metrics = await scrape(r.gw.adminUrl)
  t.equal(metrics.value('gateway_upstream_target_up', { service: r.upstream.name, target: r.a.url }), 1, 'gateway_upstream_target_up is 1 again')
}

t.test('GET under load, passive health (active checks off): a target killed then restarted on its port → no request fails, it gets traffic again', async (t) => {
  const r = await killAndRestart(t, { method: 'GET', passiveHealth: { ejectMs: 200, maxEjectMs: 1000 }, out: ejectedAgain })
  t.ok(r.inFlightAtKill > 0, `${r.inFlightAtKill} requests were in flight on the target when it died`)
  t.equal(r.stateWhileDown, 'ejected', 'passive ejection took it out')
  t.same(r.load.answers.filter((x) => x.status !== 200), [], 'every answer 200: idempotent requests cut in flight or refused were retried')
  t.equal(r.result.errors, 0, 'no connection errors')
  t.equal(r.result.timeouts, 0, 'no timeouts')
  assertNoneLost(t, r.load, r.result)
  t.ok(r.load.from('a') <= r.a.requests.length - r.inFlightAtKill, 'the requests cut in flight on a were answered by b')
  const budget = r.upstream.retryBudget.snapshot()
  t.equal(budget.exhausted, 0, 'the retry budget was never spent')
  t.ok(budget.retried >= r.inFlightAtKill, `${budget.retried} retries (≥ the ${r.inFlightAtKill} cut in flight)`)
  const metrics = await scrape(r.gw.adminUrl)
  t.equal(metrics.value('gateway_upstream_retries_total', { service: 'query' }), budget.retried, 'gateway_upstream_retries_total')
  t.ok(metrics.value('gateway_upstream_errors_total', { service: 'query', target: r.a.url, kind: 'reset' })! >= 1, 'the cut requests counted as resets')
  t.ok(metrics.value('gateway_upstream_errors_total', { service: 'query', target: r.a.url, kind: 'refused' })! >= 1, 'the dead port was tried again once its ejection ended: refused, and retried')
  await assertRevived(t, r)
})

t.test('GET under load, active health checks on: the dead target is marked unhealthy, then healthy again once restarted', async (t) => {
  const r = await killAndRestart(t, {
    method: 'GET',
    healthCheck: { enabled: true, intervalMs: 100, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 },
    // a short ejection: the active checks, not the ejection's end, decide when it is back
    passiveHealth: { ejectMs: 100, maxEjectMs: 100 },
    out: (_a, state) => state === 'unhealthy'
  })
  t.ok(r.inFlightAtKill > 0, `${r.inFlightAtKill} requests were in flight on the target when it died`)
  t.equal(r.stateWhileDown, 'unhealthy', 'the active checks took it out')
  t.same(r.load.answers.filter((x) => x.status !== 200), [], 'every answer 200')
  t.equal(r.result.errors, 0, 'no connection errors')
  t.equal(r.result.timeouts, 0, 'no timeouts')
  assertNoneLost(t, r.load, r.result)
  t.equal(r.upstream.retryBudget.snapshot().exhausted, 0, 'the retry budget was never spent')
  await assertRevived(t, r)
})

t.test('POST under load: only the requests in flight on the killed target fail (502, not retried); the rest go to the other target', async (t) => {
  const r = await killAndRestart(t, { method: 'POST', passiveHealth: { ejectMs: 200, maxEjectMs: 1000 }, out: ejectedAgain })
  t.ok(r.inFlightAtKill > 0, `${r.inFlightAtKill} requests were in flight on the target when it died`)
  const failed = r.load.answers.filter((x) => x.status !== 200)
  // one request in flight per connection: whatever the kill cut was in flight then
  t.ok(failed.length <= CONNECTIONS, `${failed.length} failed (≤ ${CONNECTIONS} connections; ${r.inFlightAtKill} were on the target)`)
  t.ok(failed.length >= r.inFlightAtKill, 'each POST the target had received and not answered failed: it reached the service, so it is not retried')
  t.ok(failed.every((x) => x.status === 502 && x.code === 'GW_PROXY_UPSTREAM_UNREACHABLE' && /^application\/problem\+json/.test(x.contentType ?? '')), 'each: 502 problem+json GW_PROXY_UPSTREAM_UNREACHABLE')
  t.same(r.load.answers.slice(r.answersAtRestart).filter((x) => x.status !== 200), [], 'none fails later in the outage (refused connections are retried, any method) nor after the restart')
  const metrics = await scrape(r.gw.adminUrl)
  t.ok(metrics.value('gateway_upstream_errors_total', { service: 'command', target: r.a.url, kind: 'refused' })! >= 1, 'POSTs were sent to the dead port once its ejection ended: refused, and retried')
  t.equal(r.result.errors, 0, 'no connection errors')
  t.equal(r.result.timeouts, 0, 'no timeouts')
  assertNoneLost(t, r.load, r.result)
  await assertRevived(t, r)
})
