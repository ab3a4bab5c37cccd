// Kong upstreams + targets, end to end: a service whose host names an upstream is
// balanced over the upstream's targets (nested, or top-level and referring to the
// upstream by name or { id }), with Kong's algorithms (round-robin, weighted,
// least-connections, consistent-hashing on header / ip / consumer with a fallback),
// and Kong's active and passive health checks. A service with a plain url has no
// health checks at all, as in Kong.
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { startUpstream, echo, call, until, answeredBy, type Upstream, type UpstreamHandler } from '../helpers.js'
import { startKongGateway, kongProblems } from './helpers.js'

const ADMIN_TOKEN = 'kong-upstreams-admin-token-0123456789'
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
const HEALTH_CHECK_AGENT = 'healthpay-gateway-health-check'

type Gw = Awaited<ReturnType<typeof startKongGateway>>
interface TargetView { origin: string, host: string, weight: number, state: string, inflight: number }

async function upstreamsOf (gw: Gw): Promise<Record<string, { loadBalancing: string, targets: TargetView[] }>> {
  const res = await call(`${gw.adminUrl}/admin/upstreams`, { headers: admin })
  if (res.status !== 200) throw new Error(`GET /admin/upstreams: ${res.status} ${res.text}`)
  return res.json().services
}

async function serviceConfigOf (gw: Gw, name: string): Promise<any> {
  const res = await call(`${gw.adminUrl}/admin/config`, { headers: admin })
  if (res.status !== 200) throw new Error(`GET /admin/config: ${res.status} ${res.text}`)
  return res.json().services[name]
}

/** which upstream answered n requests in a row (sequential, one connection each) */
async function answers (url: string, n: number, headers: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await call(url, { headers })
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.text}`)
    out.push(answeredBy(res))
  }
  return out
}

const count = (list: string[], name: string) => list.filter((x) => x === name).length

/** a GET from another loopback address (127.0.0.2, ...): a different client IP */
async function callFrom (localAddress: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  const req = http.get(url, { localAddress, agent: false, headers })
  const [res] = await once(req, 'response') as [http.IncomingMessage]
  let body = ''
  for await (const chunk of res) body += chunk
  return { status: res.statusCode!, body }
}

const hostPort = (u: Upstream) => `127.0.0.1:${u.port}`

t.test('a service whose host names an upstream: targets nested or top-level (by name or { id }), Kong weights', async (t) => {
  const evenA = await startUpstream(t, echo('even-a'))
  const evenB = await startUpstream(t, echo('even-b'))
  const heavy = await startUpstream(t, echo('heavy'))
  const light = await startUpstream(t, echo('light'))
  const disabled = await startUpstream(t, echo('disabled'))
  const bigA = await startUpstream(t, echo('big-a'))
  const bigB = await startUpstream(t, echo('big-b'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: even-cluster
    targets:
      - target: ${hostPort(evenA)}
      - target: ${hostPort(evenB)}
  - name: weighted-cluster
    algorithm: round-robin
  - name: big-cluster
    id: 6b1c3f0e-8d7a-4c55-9a11-2f3e4d5c6b7a
targets:
  - target: ${hostPort(heavy)}
    upstream: weighted-cluster
    weight: 300
  - target: ${hostPort(light)}
    upstream: { name: weighted-cluster }
    weight: 100
  - target: ${hostPort(disabled)}
    upstream: weighted-cluster
    weight: 0
  - target: ${hostPort(bigA)}
    upstream: { id: 6b1c3f0e-8d7a-4c55-9a11-2f3e4d5c6b7a }
    weight: 3000
  - target: ${hostPort(bigB)}
    upstream: 6b1c3f0e-8d7a-4c55-9a11-2f3e4d5c6b7a
    weight: 1000
services:
  - name: even
    host: even-cluster
    port: 80
    path: /base
    routes: [{ name: even, paths: [/even] }]
  - name: weighted
    host: weighted-cluster
    routes: [{ name: weighted, paths: [/weighted] }]
  - name: big
    host: big-cluster
    routes: [{ name: big, paths: [/big] }]
`, { ADMIN_TOKEN })
  t.same(gw.warnings, [])

  // equal weights (Kong's default 100): strict alternation
  const even = await answers(`${gw.url}/even/things`, 8)
  for (let i = 2; i < even.length; i++) t.equal(even[i], even[i - 2], 'round-robin repeats every second request')
  t.not(even[0], even[1], 'round-robin alternates between the two targets')
  t.equal(count(even, 'even-a'), 4)
  t.equal(count(even, 'even-b'), 4)
  // the target's own host:port and the service's path, not the upstream's name or the service port
  t.equal(evenA.requests.at(-1)!.url, '/base/things', 'the service path goes in front of the stripped rest')
  t.equal(evenA.requests.at(-1)!.headers.host, hostPort(evenA), 'Host: the target (as Kong sends it), not the upstream name')
  t.equal(evenB.requests.at(-1)!.headers.host, hostPort(evenB))

  // 300 : 100 over 40 requests, and the weight-0 target never
  const weighted = await answers(`${gw.url}/weighted`, 40)
  t.ok(count(weighted, 'heavy') >= 28 && count(weighted, 'heavy') <= 32, `weight 300 takes ~3/4 (got ${count(weighted, 'heavy')} of 40)`)
  t.ok(count(weighted, 'light') >= 8 && count(weighted, 'light') <= 12, `weight 100 takes ~1/4 (got ${count(weighted, 'light')} of 40)`)
  t.equal(disabled.requests.length, 0, 'a target with weight 0 is never used')

  // 3000 : 1000, referred to by the upstream's id: scaled into the gateway's 1..1000, proportions kept
  const big = await answers(`${gw.url}/big`, 40)
  t.ok(count(big, 'big-a') >= 28 && count(big, 'big-a') <= 32, `3000:1000 still splits ~3:1 (got ${count(big, 'big-a')} of 40)`)
  t.equal(count(big, 'big-a') + count(big, 'big-b'), 40)

  const services = await upstreamsOf(gw)
  t.equal(services.even!.loadBalancing, 'round-robin')
  t.equal(services.weighted!.loadBalancing, 'weighted', 'unequal weights balance by weight')
  t.same(services.weighted!.targets.map((x) => [x.host, x.weight]), [[hostPort(heavy), 300], [hostPort(light), 100]], 'the weight-0 target is left out')
  t.same(services.big!.targets.map((x) => [x.host, x.weight]), [[hostPort(bigA), 1000], [hostPort(bigB), 333]], 'weights above 1000 are scaled down, proportions kept')
  t.same(services.even!.targets.map((x) => x.weight), [100, 100], "Kong's default weight is 100")
})

t.test('a target without a port is Kong\'s port 8000; one at 65535 next to one at 1 keeps the small one at weight 1', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: skewed
    targets:
      - { target: ${hostPort(a)}, weight: 65535 }
      - { target: 127.0.0.1, weight: 1 }
services:
  - name: skewed
    host: skewed
    routes: [{ paths: [/skewed] }]
`, { ADMIN_TOKEN })
  const services = await upstreamsOf(gw)
  t.same(services.skewed!.targets.map((x) => [x.host, x.weight]), [[hostPort(a), 1000], ['127.0.0.1:8000', 1]])
  t.equal((await call(`${gw.url}/skewed`)).status, 200)
})

t.test('least-connections: a target still busy with a request gets no more while the other is free', async (t) => {
  const held: http.ServerResponse[] = []
  const release = () => { for (const res of held.splice(0)) res.end(JSON.stringify({ upstream: 'slow' })) }
  t.teardown(release)
  const slow = await startUpstream(t, (_req, res) => { res.setHeader('content-type', 'application/json'); held.push(res) })
  const fast = await startUpstream(t, echo('fast'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: lc
    algorithm: least-connections
    targets: [{ target: ${hostPort(slow)} }, { target: ${hostPort(fast)} }]
  - name: rr
    targets: [{ target: ${hostPort(slow)} }, { target: ${hostPort(fast)} }]
services:
  - { name: lc, host: lc, routes: [{ paths: [/lc] }] }
  - { name: rr, host: rr, routes: [{ paths: [/rr] }] }
`, { ADMIN_TOKEN })
  t.equal((await upstreamsOf(gw)).lc!.loadBalancing, 'least-connections')

  // one request at a time: each either comes back (fast) or is held by the slow target
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; i < 12; i++) {
    const before = slow.requests.length
    let done = false
    pending.push(call(`${gw.url}/lc`).then((r) => { done = true; return r }))
    await until(() => done || slow.requests.length > before, 5000, `request ${i} answered or held`)
  }
  t.ok(slow.requests.length >= 1 && slow.requests.length <= 2, `the busy target got ${slow.requests.length} of 12 (round-robin would give it 6)`)
  t.equal(fast.requests.length, 12 - slow.requests.length)
  release()
  await Promise.all(pending)

  // the same two targets under round-robin: the busy one keeps getting its share
  const rrPending: Array<Promise<unknown>> = []
  const slowBefore = slow.requests.length
  const fastBefore = fast.requests.length
  for (let i = 0; i < 6; i++) {
    const seen = slow.requests.length + fast.requests.length
    rrPending.push(call(`${gw.url}/rr`))
    await until(() => slow.requests.length + fast.requests.length > seen, 5000, `round-robin request ${i} reached a target`)
  }
  t.equal(slow.requests.length - slowBefore, 3, 'round-robin, for contrast, sends the busy target every other request')
  t.equal(fast.requests.length - fastBefore, 3)
  release()
  await Promise.all(rrPending)
})

t.test('consistent-hashing on a header: a value sticks to one target, values spread over all; hash_fallback', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const targets = `[{ target: ${hostPort(a)} }, { target: ${hostPort(b)} }]`
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: by-user
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: x-user
    targets: ${targets}
  - name: by-user-or-ip
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: X-User
    hash_fallback: ip
    targets: ${targets}
services:
  - { name: by-user, host: by-user, routes: [{ paths: [/by-user] }] }
  - { name: by-user-or-ip, host: by-user-or-ip, routes: [{ paths: [/by-user-or-ip] }] }
`, { ADMIN_TOKEN })
  t.equal((await upstreamsOf(gw))['by-user']!.loadBalancing, 'consistent-hashing')

  const users = Array.from({ length: 24 }, (_, i) => `user-${i}`)
  const first = new Map<string, string>()
  for (const user of users) first.set(user, (await answers(`${gw.url}/by-user`, 1, { 'x-user': user }))[0]!)
  // again, in another order, several times each
  for (const user of [...users].reverse()) {
    const again = await answers(`${gw.url}/by-user`, 3, { 'x-user': user })
    t.same(again, [first.get(user), first.get(user), first.get(user)], `${user} stays on ${first.get(user)}`)
  }
  const onA = [...first.values()].filter((x) => x === 'a').length
  t.ok(onA > 0 && onA < users.length, `24 users spread over both targets (a: ${onA}, b: ${users.length - onA})`)

  // without the header and no fallback: no key, so requests are not pinned
  const noKey = await answers(`${gw.url}/by-user`, 6)
  t.same(new Set(noKey), new Set(['a', 'b']), 'no hash key: requests go to both targets')

  // with hash_fallback: ip, a request without the header is pinned by its client address
  const sameIp = await answers(`${gw.url}/by-user-or-ip`, 8)
  t.equal(new Set(sameIp).size, 1, `without the header: all from 127.0.0.1 go to one target (${sameIp.join(',')})`)
  // and the header still wins when present (hash_on_header is case-insensitive)
  const headerWins = new Set<string>()
  for (const user of users) headerWins.add((await answers(`${gw.url}/by-user-or-ip`, 1, { 'x-user': user }))[0]!)
  t.same(headerWins, new Set(['a', 'b']), 'with the header, users spread over both targets although they share one address')
  // the same value gives the same target on both services (the same targets, the same hash)
  for (const user of users.slice(0, 6)) t.equal((await answers(`${gw.url}/by-user-or-ip`, 1, { 'x-user': user }))[0], first.get(user))
})

t.test('consistent-hashing on ip: each client address sticks to one target, addresses spread over both', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: by-ip
    algorithm: consistent-hashing
    hash_on: ip
    targets: [{ target: ${hostPort(a)} }, { target: ${hostPort(b)} }]
services:
  - { name: by-ip, host: by-ip, routes: [{ paths: [/by-ip] }] }
`)
  const byAddress = new Map<string, Set<string>>()
  for (let round = 0; round < 3; round++) {
    for (let i = 1; i <= 20; i++) {
      const address = `127.0.0.${i}`
      const res = await callFrom(address, `${gw.url}/by-ip`, { 'x-user': `ignored-${round}` })
      t.equal(res.status, 200)
      const set = byAddress.get(address) ?? new Set()
      set.add(JSON.parse(res.body).upstream)
      byAddress.set(address, set)
    }
  }
  for (const [address, seen] of byAddress) t.equal(seen.size, 1, `${address} always reaches the same target (${[...seen].join(',')})`)
  const onA = [...byAddress.values()].filter((s) => s.has('a')).length
  t.ok(onA > 0 && onA < 20, `20 addresses spread over both targets (a: ${onA})`)
})

t.test('consistent-hashing on consumer: each key-auth consumer sticks to one target, consumers spread over both', async (t) => {
  const a = await startUpstream(t, echo('a'))
  const b = await startUpstream(t, echo('b'))
  const names = Array.from({ length: 16 }, (_, i) => `hash-consumer-${i}`)
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: by-consumer
    algorithm: consistent-hashing
    hash_on: consumer
    hash_fallback: header
    hash_fallback_header: x-user
    targets: [{ target: ${hostPort(a)} }, { target: ${hostPort(b)} }]
services:
  - name: by-consumer
    host: by-consumer
    routes:
      - paths: [/by-consumer]
        plugins: [{ name: key-auth, config: { key_names: [apikey] } }]
consumers:
${names.map((n) => `  - username: ${n}\n    keyauth_credentials: [{ key: key-of-${n} }]`).join('\n')}
`)
  t.same(gw.warnings, [])
  t.equal((await call(`${gw.url}/by-consumer`)).status, 401, 'key-auth applies')
  const placed = new Map<string, string>()
  for (const n of names) {
    // a different x-user header each time: the consumer, not the fallback, decides
    const seen = new Set<string>()
    for (let i = 0; i < 3; i++) seen.add((await answers(`${gw.url}/by-consumer`, 1, { apikey: `key-of-${n}`, 'x-user': `u-${i}` }))[0]!)
    t.equal(seen.size, 1, `${n} always reaches the same target`)
    placed.set(n, [...seen][0]!)
    t.equal((placed.get(n) === 'a' ? a : b).requests.at(-1)!.headers['x-consumer-username'], n, 'the consumer reached its target')
  }
  const onA = [...placed.values()].filter((x) => x === 'a').length
  t.ok(onA > 0 && onA < names.length, `16 consumers on one client address spread over both targets (a: ${onA})`)
})

t.test('consistent-hashing: when a target goes down its keys move to the others, the others\' keys stay; back up, they return', async (t) => {
  const names = ['a', 'b', 'c']
  const ups = new Map<string, Upstream>()
  for (const n of names) ups.set(n, await startUpstream(t, echo(n)))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: ring
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: x-user
    healthchecks:
      active:
        http_path: /health
        timeout: 1
        healthy: { interval: 0.05, successes: 1 }
        unhealthy: { interval: 0.05, tcp_failures: 1, http_failures: 1, timeouts: 1 }
    targets:
${names.map((n) => `      - target: ${hostPort(ups.get(n)!)}`).join('\n')}
services:
  - { name: ring, host: ring, routes: [{ paths: [/ring] }] }
`, { ADMIN_TOKEN })
  const keys = Array.from({ length: 45 }, (_, i) => `k${i}`)
  const where = async () => {
    const out = new Map<string, string>()
    for (const k of keys) out.set(k, (await answers(`${gw.url}/ring`, 1, { 'x-user': k }))[0]!)
    return out
  }
  const before = await where()
  const load = (m: Map<string, string>, n: string) => [...m.values()].filter((x) => x === n).length
  for (const n of names) t.ok(load(before, n) > 0, `target ${n} holds some keys (${load(before, n)})`)
  const victim = names.reduce((best, n) => (load(before, n) > load(before, best) ? n : best))
  const port = ups.get(victim)!.port
  await ups.get(victim)!.close()
  await until(async () => (await upstreamsOf(gw)).ring!.targets.find((x) => x.host === `127.0.0.1:${port}`)!.state === 'unhealthy', 5000, 'the stopped target marked unhealthy')

  const during = await where()
  for (const k of keys) {
    if (before.get(k) === victim) t.not(during.get(k), victim, `${k} moved off the stopped target ${victim}`)
    else t.equal(during.get(k), before.get(k), `${k} stays on ${before.get(k)}`)
  }
  const survivors = names.filter((n) => n !== victim)
  t.same(new Set(keys.filter((k) => before.get(k) === victim).map((k) => during.get(k))), new Set(survivors), `the keys of ${victim} spread over both remaining targets`)

  // the same address again: healthy after a successful check, and its keys come back
  const revived = await startUpstream(t, echo(victim), { port })
  await until(async () => (await upstreamsOf(gw)).ring!.targets.find((x) => x.host === `127.0.0.1:${port}`)!.state === 'healthy', 5000, 'the restarted target healthy again')
  const after = await where()
  t.same([...after], [...before], 'every key is back where it was')
  t.ok(revived.requests.length > 0)
})

t.test('active health checks: http_path, intervals and thresholds take a failing target out and bring it back; none when the intervals are 0', async (t) => {
  let flakyStatus = 200
  const checks = { flaky: 0, steady: 0, unchecked: 0 }
  const handler = (name: keyof typeof checks, status: () => number): UpstreamHandler => (req, res, body) => {
    if (req.url === '/status') {
      if (req.headers['user-agent'] === HEALTH_CHECK_AGENT) checks[name]++
      res.statusCode = status()
      res.end()
      return
    }
    echo(name)(req, res, body)
  }
  const flaky = await startUpstream(t, handler('flaky', () => flakyStatus))
  const steady = await startUpstream(t, handler('steady', () => 200))
  // its health path fails, but nothing checks it
  const unchecked = await startUpstream(t, handler('unchecked', () => 500))
  const uncheckedPeer = await startUpstream(t, echo('unchecked-peer'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: checked
    healthchecks:
      active:
        type: http
        http_path: /status
        timeout: 1
        healthy: { interval: 0.05, successes: 2 }
        unhealthy: { interval: 0.05, http_failures: 2 }
    targets: [{ target: ${hostPort(flaky)} }, { target: ${hostPort(steady)} }]
  - name: unchecked
    healthchecks:
      active:
        http_path: /status
        healthy: { interval: 0, successes: 2 }
        unhealthy: { interval: 0, http_failures: 2 }
    targets: [{ target: ${hostPort(unchecked)} }, { target: ${hostPort(uncheckedPeer)} }]
services:
  - { name: checked, host: checked, routes: [{ paths: [/checked] }] }
  - { name: unchecked, host: unchecked, routes: [{ paths: [/unchecked] }] }
`, { ADMIN_TOKEN })
  const checked = await serviceConfigOf(gw, 'checked')
  t.match(checked.healthCheck, { enabled: true, path: '/status', intervalMs: 50, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 2 })
  t.equal((await serviceConfigOf(gw, 'unchecked')).healthCheck.enabled, false)

  await until(() => checks.flaky >= 3 && checks.steady >= 3, 5000, 'active checks on /status')
  t.same(new Set(await answers(`${gw.url}/checked`, 4)), new Set(['flaky', 'steady']), 'both healthy: both serve')

  flakyStatus = 500
  await until(async () => (await answers(`${gw.url}/checked`, 4)).every((x) => x === 'steady'), 5000, 'the failing target taken out')
  t.same(await answers(`${gw.url}/checked`, 10), Array(10).fill('steady'), 'a target whose health path answers 500 gets no traffic')
  t.equal((await upstreamsOf(gw)).checked!.targets.find((x) => x.host === hostPort(flaky))!.state, 'unhealthy')

  flakyStatus = 200
  await until(async () => (await answers(`${gw.url}/checked`, 4)).includes('flaky'), 5000, 'the recovered target back in')
  t.same(new Set(await answers(`${gw.url}/checked`, 4)), new Set(['flaky', 'steady']))

  // intervals 0 (Kong's default): no check ever reaches the other upstream, whose health path fails
  const seen = checks.flaky
  await until(() => checks.flaky >= seen + 5, 5000, 'more checks on the checked upstream meanwhile')
  t.equal(checks.unchecked, 0, 'no active checks when both intervals are 0')
  t.same(new Set(await answers(`${gw.url}/unchecked`, 6)), new Set(['unchecked', 'unchecked-peer']), 'its targets both serve')
})

t.test('passive health checks: unhealthy.http_failures ejects a target answering 500s; without them (Kong\'s default) it keeps its share', async (t) => {
  const failing = await startUpstream(t, (_req, res) => { res.statusCode = 500; res.end('{"upstream":"failing"}') })
  const healthy = await startUpstream(t, echo('healthy'))
  const failing2 = await startUpstream(t, (_req, res) => { res.statusCode = 500; res.end('{"upstream":"failing2"}') })
  const healthy2 = await startUpstream(t, echo('healthy2'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: passive
    healthchecks:
      passive:
        type: http
        unhealthy: { http_failures: 3 }
    targets: [{ target: ${hostPort(failing)} }, { target: ${hostPort(healthy)} }]
  - name: no-passive
    targets: [{ target: ${hostPort(failing2)} }, { target: ${hostPort(healthy2)} }]
services:
  - { name: passive, host: passive, routes: [{ paths: [/passive] }] }
  - { name: no-passive, host: no-passive, routes: [{ paths: [/no-passive] }] }
`, { ADMIN_TOKEN, BREAKER_MIN_REQUESTS: '1000' })
  t.match((await serviceConfigOf(gw, 'passive')).passiveHealth, { enabled: true, consecutive5xx: 3 })
  t.equal((await serviceConfigOf(gw, 'no-passive')).passiveHealth.enabled, false)

  const statuses: number[] = []
  for (let i = 0; i < 16; i++) statuses.push((await call(`${gw.url}/passive`)).status)
  t.equal(failing.requests.length, 3, 'the target is ejected after its third 500 in a row')
  t.equal(healthy.requests.length, 13)
  t.same(statuses.slice(6), Array(10).fill(200), 'after the ejection every request is served by the healthy target')
  t.equal((await upstreamsOf(gw)).passive!.targets.find((x) => x.host === hostPort(failing))!.state, 'ejected')

  // no passive settings: 500s do not take the target out
  for (let i = 0; i < 16; i++) await call(`${gw.url}/no-passive`)
  t.equal(failing2.requests.length, 8, 'without passive checks the failing target keeps getting every other request')
  t.equal((await upstreamsOf(gw))['no-passive']!.targets.find((x) => x.host === hostPort(failing2))!.state, 'healthy')
})

t.test('a service with a plain url has no health checks: a backend without /health serves, and 500s do not eject it', async (t) => {
  let healthCalls = 0
  const plain = await startUpstream(t, (req, res, body) => {
    if (req.url === '/fail') { res.statusCode = 500; res.end(); return }
    echo('plain')(req, res, body)
  }, { health: () => { healthCalls++; return 404 } })
  const checkedTarget = await startUpstream(t, echo('checked'))
  const gw = await startKongGateway(t, `
_format_version: "3.0"
upstreams:
  - name: checked
    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.05 }
        unhealthy: { interval: 0.05 }
    targets: [{ target: ${hostPort(checkedTarget)} }]
services:
  - name: plain
    url: ${plain.url}
    routes: [{ paths: [/plain] }]
  - { name: checked, host: checked, routes: [{ paths: [/checked] }] }
`, { ADMIN_TOKEN })
  const config = await serviceConfigOf(gw, 'plain')
  t.equal(config.healthCheck.enabled, false)
  t.equal(config.passiveHealth.enabled, false)
  t.equal(config.targets.length, 1)

  let checkedHealth = 0
  checkedTarget.server.prependListener('request', (req: http.IncomingMessage) => { if (req.url === '/health') checkedHealth++ })
  await until(() => checkedHealth >= 3, 5000, 'the upstream service being checked meanwhile')
  t.equal(healthCalls, 0, 'no health check reaches the plain url')
  t.equal((await call(`${gw.url}/plain/x`)).status, 200, 'a backend whose /health is 404 still serves')

  for (let i = 0; i < 7; i++) t.equal((await call(`${gw.url}/plain/fail`)).status, 500)
  const res = await call(`${gw.url}/plain/ok`)
  t.equal(res.status, 200, 'seven 500s in a row do not eject the only target')
  t.equal(answeredBy(res), 'plain')
  t.equal(plain.requests.at(-1)!.url, '/ok')
})

t.test('healthchecks.active.type: tcp is not silently turned into an HTTP check of "/"', async (t) => {
  // an API whose "/" is a 404, as most are: a TCP check (Kong) only connects
  const api = await startUpstream(t, (req, res, body) => {
    if (req.url === '/') { res.statusCode = 404; res.end(); return }
    echo('api')(req, res, body)
  })
  let clockChecks = 0
  const clock = await startUpstream(t, echo('clock'), { health: () => { clockChecks++; return 200 } })
  const yaml = `
_format_version: "3.0"
upstreams:
  - name: tcp-checked
    healthchecks:
      active:
        type: tcp
        healthy: { interval: 0.05, successes: 1 }
        unhealthy: { interval: 0.05, tcp_failures: 1 }
    targets: [{ target: ${hostPort(api)} }]
  - name: clock
    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.05 }
        unhealthy: { interval: 0.05 }
    targets: [{ target: ${hostPort(clock)} }]
services:
  - { name: tcp-checked, host: tcp-checked, routes: [{ paths: [/tcp] }] }
  - { name: clock, host: clock, routes: [{ paths: [/clock] }] }
`
  // either start-up says the TCP check is not supported, or the target, which accepts
  // connections, stays in
  const problems = kongProblems(t, yaml)
  if (problems.length > 0) {
    t.match(problems.join('\n'), /upstreams\[0\]\.healthchecks\.active\.type/, 'the unsupported check type is named')
    return
  }
  const gw = await startKongGateway(t, yaml)
  await until(() => clockChecks >= 5, 5000, 'several check rounds')
  const res = await call(`${gw.url}/tcp/things`)
  t.equal(res.status, 200, 'a target that accepts TCP connections passes a TCP health check')
})
