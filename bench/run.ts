// npm run bench: the bare proxy and the gateway side by side in one run.
//   - upstream: nginx answering a fixed JSON body (a Node server when nginx is not installed)
//   - baseline: bare Fastify + @fastify/http-proxy (bench/bare-proxy.ts)
//   - the gateway as proxy only, + JWT, + Redis sliding-window limit, and full
//     (everything on, LOG_LEVEL=info: one line per request), plus extras with --configs all
// Servers are pinned to CPU 0, the load generator (wrk, or autocannon), the upstream and
// the bench's own Redis to CPU 1. Rounds are interleaved (each round starts one
// configuration later). Then p99 at --sweep connection counts for the baseline and the
// full gateway, and 1 vs 2 cluster workers (unpinned). Loopback only; bounded by
// --max-minutes. Prints a table, writes bench/results/latest.json and latest.svg.
//   npm run bench -- --duration 10 --connections 50 --rounds 3 --sweep 50,200,1000
import { writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { createHash, randomBytes } from 'node:crypto'
import os from 'node:os'
import { createSigner } from 'fast-jwt'
import { breakerBench, printBreakerRows } from './breaker.js'
import { spawnSync } from 'node:child_process'
import { start, startUpstream, startRedis, freePort, load, pickLoader, hasTaskset, pinned, cpuMs, processTree, rssMb, stopAll, median, gatewayNodeOptions, gatewayNodeFlags, type Server, type Sample } from './harness.js'
import type { EstablishedOptions, EstablishedSample } from './established.js'
import { chartOf } from './chart.js'
import { ServerSchema } from '../src/config/schema.js'

export { start, freePort } from './harness.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
export const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '3' },
    path: { type: 'string', default: '/v1/api/wallets/w-bench' },
    /** core (default), all (core + extras), or a comma-separated list of configuration ids */
    configs: { type: 'string', default: 'core' },
    /** connection counts for the latency sweep; 'none' skips it */
    sweep: { type: 'string', default: '50,200,1000' },
    /** worker counts compared unpinned; 'none' skips it */
    workers: { type: 'string', default: '1,2' },
    loader: { type: 'string', default: 'auto' },
    upstream: { type: 'string', default: 'auto' },
    'max-minutes': { type: 'string', default: '30' },
    out: { type: 'string', default: join(root, 'bench', 'results') }
  }
})

/** one load against `server`, on the bench's flags unless told otherwise */
export function loadFor (server: Server, seconds: number, connections = Number(flags.connections)): Sample {
  return load(server, { loader: pickLoader(flags.loader!), connections, seconds, path: flags.path!, root })
}

/**
 * latency on open connections and the time until every connection had an answer
 * (bench/established.ts), with autocannon on the load generator's core
 */
export function establishedFor (server: Server, connections: number, seconds: number, warmSeconds: number): EstablishedSample {
  const opts: EstablishedOptions = { url: `http://127.0.0.1:${server.port}${server.path ?? flags.path!}`, connections, seconds: warmSeconds + seconds, warmSeconds, headers: server.headers ?? {} }
  const [cmd, ...args] = pinned('1', [process.execPath, join(here, 'established.js'), JSON.stringify(opts)])
  const run = spawnSync(cmd!, args, { encoding: 'utf8', timeout: (warmSeconds + seconds + 60) * 1000 })
  if (run.status !== 0) throw new Error(`established-connection run failed: ${run.stderr || run.error?.message}`)
  return JSON.parse(run.stdout) as EstablishedSample
}

/** a gateway is ready when its processes (a primary's workers included) have stopped starting up */
async function settled (server: Server, processes: number): Promise<Server> {
  const deadline = Date.now() + 30_000
  let last = -1
  let quiet = 0
  while (Date.now() < deadline && quiet < 3) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const cpu = cpuMs(server.child.pid!)
    quiet = processTree(server.child.pid!).length >= processes && cpu - last < 30 ? quiet + 1 : 0
    last = cpu
  }
  return server
}

interface Config { id: string, name: string, extra?: boolean, server: (name: string) => Promise<Server> }
interface SweepRow extends Row { established?: EstablishedSample }
interface Row { id: string, name: string, rps: number, p50: number, p99: number, p99Mean: number, cpuUsPerRequest: number, rssMb: number, errors: number, non2xx: number, ratio: { rps: number, p99: number, cpu: number } }

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
/**
 * Throughput and CPU are the rounds' means (they add up); the latency percentiles are
 * the median round's: on a shared VM one round in a few stalls on something outside
 * the process measured (p99 3× the other rounds, for the bare proxy as for the gateway),
 * and a mean of three would be that round's. The mean p99 is kept in latest.json.
 */
function summarise (id: string, name: string, list: Sample[]): Omit<Row, 'ratio'> {
  return {
    id,
    name,
    rps: Math.round(mean(list.map((x) => x.rps))),
    p50: median(list.map((x) => x.p50)),
    p99: median(list.map((x) => x.p99)),
    p99Mean: mean(list.map((x) => x.p99)),
    cpuUsPerRequest: mean(list.map((x) => x.cpuUsPerRequest)),
    rssMb: Math.max(...list.map((x) => x.rssMb)),
    errors: list.reduce((a, x) => a + x.errors, 0),
    non2xx: list.reduce((a, x) => a + x.non2xx, 0)
  }
}
const withRatio = (rows: Array<Omit<Row, 'ratio'>>, base: Omit<Row, 'ratio'>): Row[] =>
  rows.map((r) => ({ ...r, ratio: { rps: r.rps / base.rps, p99: r.p99 / base.p99, cpu: r.cpuUsPerRequest / base.cpuUsPerRequest } }))

export function formatTable (rows: Row[]): string {
  const head = 'configuration                          req/s   p50 ms   p99 ms  CPU µs/req  RSS MB  errors  non-2xx  rps ratio  p99 ratio'
  const lines = rows.map((r) => `${r.name.padEnd(36)} ${String(r.rps).padStart(7)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.cpuUsPerRequest.toFixed(1).padStart(11)} ${String(r.rssMb).padStart(7)} ${String(r.errors).padStart(7)} ${String(r.non2xx).padStart(8)} ${r.ratio.rps.toFixed(2).padStart(10)} ${r.ratio.p99.toFixed(2).padStart(10)}`)
  return [head, ...lines].join('\n')
}

const firstAnswers = (e: EstablishedSample | undefined): string => e === undefined ? '' : Number.isNaN(e.allAnsweredMs) ? `${e.answered}/${e.connections} answered` : `${(e.allAnsweredMs / 1000).toFixed(1)} s`
/** the sweep: whole-run wrk figures, then latency on open connections and when the last connection had its first answer */
export function formatSweep (points: Array<{ connections: number, rows: SweepRow[] }>): string {
  const head = 'connections  configuration                          req/s   p99 ms  p99 ratio  RSS MB | open conns: p50 ms   p99 ms  p99 ratio | all answered'
  const lines = points.flatMap((point) => point.rows.map((r) => {
    const e = r.established
    const base = point.rows[0]!.established
    const open = e === undefined ? '' : `${e.p50.toFixed(1).padStart(17)} ${e.p99.toFixed(1).padStart(8)} ${(base === undefined ? NaN : e.p99 / base.p99).toFixed(2).padStart(10)} | ${firstAnswers(e).padStart(12)}`
    return `${String(point.connections).padStart(11)}  ${r.name.padEnd(36)} ${String(r.rps).padStart(6)} ${r.p99.toFixed(1).padStart(8)} ${r.ratio.p99.toFixed(2).padStart(10)} ${String(r.rssMb).padStart(7)} |${open}`
  }))
  return [head, ...lines].join('\n')
}

async function main (): Promise<void> {
  const duration = Number(flags.duration)
  const rounds = Number(flags.rounds)
  const warmup = Number(flags.warmup)
  const deadline = Date.now() + Number(flags['max-minutes']) * 60_000
  const loader = pickLoader(flags.loader!)
  const dir = join(os.tmpdir(), `healthpay-bench-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const upstream = await startUpstream(flags.upstream!, '1', dir, join(here, 'upstream.js'))
  const redis = await startRedis('1')
  const gatewayEnv = (extra: Record<string, string>) => ({
    HOST: '127.0.0.1', ADMIN_PORT: '0', COMMAND_SERVICE_URL: upstream.url, QUERY_SERVICE_URL: upstream.url, LOG_LEVEL: 'warn', NODE_OPTIONS: gatewayNodeOptions(), ...extra
  })
  // proxy only: every route public; the auth configurations use the SPEC routes
  // (authenticated) with a JWT or an API key of a consumer from the config file
  const openFile = join(dir, 'open.yaml')
  writeFileSync(openFile, ['/auth', '/commands', '/api', '/graphql'].reduce((yaml, prefix) => `${yaml}  - { prefix: ${prefix}, service: ${prefix === '/commands' || prefix === '/auth' ? 'command' : 'query'}, auth: public }\n`, 'routes:\n'))
  const apiKey = `hpk_${randomBytes(32).toString('base64url')}`
  const keysFile = join(dir, 'keys.yaml')
  writeFileSync(keysFile, `consumers:\n  - { id: bench-client, tier: premium, apiKeys: [${createHash('sha256').update(apiKey).digest('hex')}] }\n`)
  const secret = randomBytes(32).toString('hex')
  const token = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'u-bench', roles: ['customer'], tier: 'premium' })
  const jwt = { authorization: `Bearer ${token}` }
  const gateway = join(root, 'dist', 'src', 'server.js')
  // limits high enough never to refuse: the bench measures the cost of counting
  const noLimit = { RATE_LIMIT_ENABLED: 'false' }
  const redisLimit = { RATE_LIMIT_PREMIUM: '1000000000', REDIS_URL: redis.url, REDIS_KEY_PREFIX: `healthpay-bench:${process.pid}:` }
  const full = { JWT_SECRET: secret, ...redisLimit, LOG_LEVEL: 'info' }
  const gw = (cpu: string, env: Record<string, string>, extra: Partial<Server> = {}, processes = 1) => async (name: string) =>
    ({ ...await settled(await start(name, cpu, gateway, gatewayEnv(env), gatewayNodeFlags()), processes), ...extra })
  const configs: Config[] = [
    { id: 'baseline', name: 'bare fastify + @fastify/http-proxy', server: async (name) => settled(await start(name, '0', join(here, 'bare-proxy.js'), { UPSTREAM: upstream.url }), 1) },
    { id: 'proxy', name: 'gateway, proxy only', server: gw('0', { GATEWAY_CONFIG: openFile, ...noLimit }) },
    { id: 'auth', name: '+ JWT', server: gw('0', { JWT_SECRET: secret, ...noLimit }, { headers: jwt }) },
    { id: 'ratelimit', name: '+ JWT + Redis rate limit', server: gw('0', { JWT_SECRET: secret, ...redisLimit }, { headers: jwt }) },
    { id: 'full', name: 'full (+ request log at info)', server: gw('0', full, { headers: jwt }) },
    // the baseline run as the gateway is run (node flags, NODE_OPTIONS, listen backlog): how much of the gateway's ratio is settings rather than its own code
    { id: 'baseline-tuned', name: 'bare proxy, gateway\'s node settings', extra: true, server: async (name) => settled(await start(name, '0', join(here, 'bare-proxy.js'), { UPSTREAM: upstream.url, NODE_OPTIONS: gatewayNodeOptions(), BACKLOG: String(ServerSchema.properties.backlog.default) }, gatewayNodeFlags()), 1) },
    // the same limit counted in this process (no REDIS_URL): what the Redis round trip itself costs
    { id: 'memlimit', name: '+ JWT + in-memory rate limit', extra: true, server: gw('0', { JWT_SECRET: secret, RATE_LIMIT_PREMIUM: '1000000000' }, { headers: jwt }) },
    { id: 'apikey', name: '+ API key + Redis rate limit', extra: true, server: gw('0', { GATEWAY_CONFIG: keysFile, ...redisLimit }, { headers: { 'x-api-key': apiKey } }) },
    // the version from a header instead of the path (rewritten before routing), and v1 deprecated: Deprecation, Sunset, Link per response
    { id: 'deprecated', name: '+ JWT, X-API-Version, v1 deprecated', extra: true, server: gw('0', { JWT_SECRET: secret, API_DEPRECATED: '1=2099-12-31', ...noLimit }, { headers: { ...jwt, 'x-api-version': '1' }, path: flags.path!.replace(/^\/v\d+/, '') }) },
    // a dead query service: the first request opens its breaker, every later one gets the 503 fallback
    { id: 'breaker-open', name: 'breaker open: 503 fallback', extra: true, server: gw('0', { GATEWAY_CONFIG: openFile, ...noLimit, QUERY_SERVICE_URL: `http://127.0.0.1:${await freePort()}`, BREAKER_MIN_REQUESTS: '1', BREAKER_RESET_MS: '86400000', RETRY_ATTEMPTS: '0' }) }
  ]
  const wanted = flags.configs === 'all' ? configs : flags.configs === 'core' ? configs.filter((c) => !c.extra) : configs.filter((c) => c.id === 'baseline' || flags.configs!.split(',').includes(c.id))
  const sweep = flags.sweep === 'none' ? [] : flags.sweep!.split(',').map(Number)
  const workerCounts = flags.workers === 'none' ? [] : flags.workers!.split(',').map(Number)
  const sweptIds = ['baseline', 'baseline-tuned', 'full']
  const planned = wanted.length * (warmup + rounds * duration) + sweep.length * wanted.filter((c) => sweptIds.includes(c.id)).length * (warmup + duration + Math.max(warmup, 5) + duration) + workerCounts.length * (warmup + rounds * duration)
  console.log(`HealthPay Gateway bench: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}, ${loader} load, ${upstream.kind} upstream, Redis ${redis.url}${redis.own ? ' (its own)' : ''}; servers on CPU 0, load/upstream/Redis on CPU 1${hasTaskset ? '' : ' (taskset missing: nothing pinned)'}`)
  console.log(`gateway processes run as the Dockerfile runs them: node ${gatewayNodeFlags().join(' ')} with NODE_OPTIONS="${gatewayNodeOptions()}"; the baseline with Node's defaults`)
  console.log(`${wanted.length} configurations × ${rounds} rounds × ${duration} s at ${flags.connections} connections, sweep ${sweep.join('/') || 'none'}, workers ${workerCounts.join(' vs ') || 'none'}: about ${Math.ceil(planned / 60)} min of load\n`)
  const timeLeft = () => Date.now() < deadline
  let cut = false

  // 1. the configurations, interleaved
  const servers: Server[] = []
  for (const c of wanted) servers.push(await c.server(c.name))
  const samples = new Map<string, Sample[]>(servers.map((s) => [s.name, []]))
  for (const s of servers) loadFor(s, warmup)
  for (let round = 1; round <= rounds && !cut; round++) {
    const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!)
    for (const s of order) {
      if (!timeLeft()) { cut = true; break }
      const sample = loadFor(s, duration)
      samples.get(s.name)!.push(sample)
      process.stderr.write(`round ${round}/${rounds} ${s.name}: ${Math.round(sample.rps)} req/s, p99 ${sample.p99.toFixed(1)} ms, ${sample.cpuUsPerRequest.toFixed(0)} µs CPU/req\n`)
    }
  }
  const measured = wanted.filter((c) => samples.get(c.name)!.length > 0).map((c) => summarise(c.id, c.name, samples.get(c.name)!))
  const rows = withRatio(measured, measured[0]!)
  // the baseline(s) and the full gateway go on to the sweep; the others are done
  const swept = (s: Server) => sweptIds.includes(wanted.find((c) => c.name === s.name)!.id)
  for (const s of servers) if (!swept(s)) s.child.kill('SIGTERM')

  // 2. p99 under concurrency: the baseline and the full gateway at each connection count
  const sweepRows: Array<{ connections: number, rows: SweepRow[] }> = []
  const pair = servers.filter(swept)
  for (const connections of sweep) {
    if (!timeLeft()) { cut = true; break }
    const point = pair.map((s) => {
      loadFor(s, warmup, connections)
      const sample = loadFor(s, duration, connections)
      process.stderr.write(`sweep ${connections} connections ${s.name}: ${Math.round(sample.rps)} req/s, p99 ${sample.p99.toFixed(1)} ms, RSS ${sample.rssMb} MB\n`)
      return summarise(wanted.find((c) => c.name === s.name)!.id, s.name, [sample])
    })
    // then the same connection count on connections already open (a warm-up long enough for a saturated server to accept them all)
    const established = pair.map((s) => {
      const e = establishedFor(s, connections, duration, Math.max(warmup, 5))
      process.stderr.write(`sweep ${connections} connections ${s.name}, open connections: p99 ${e.p99.toFixed(1)} ms, every connection answered after ${(e.allAnsweredMs / 1000).toFixed(1)} s\n`)
      return e
    })
    sweepRows.push({ connections, rows: withRatio(point, point[0]!).map((r, i) => ({ ...r, established: established[i]! })) })
  }
  for (const s of pair) s.child.kill('SIGTERM')

  // 3. cluster mode: the full gateway with 1 and with 2 workers, unpinned (the load generator still needs CPU 1)
  const clusterRows: Array<Row & { workers: number, rssMbPerWorker: number[] }> = []
  if (workerCounts.length > 0 && timeLeft()) {
    const cluster = await Promise.all(workerCounts.map(async (n) => ({ n, server: await gw('', { ...full, GATEWAY_WORKERS: String(n) }, { headers: jwt }, n > 1 ? n + 1 : 1)(`full, ${n} worker${n > 1 ? 's' : ''} (unpinned)`) })))
    const list = new Map<number, Sample[]>(cluster.map((c) => [c.n, []]))
    for (const c of cluster) loadFor(c.server, warmup)
    for (let round = 1; round <= rounds && timeLeft(); round++) {
      for (const c of round % 2 === 1 ? cluster : [...cluster].reverse()) {
        const sample = loadFor(c.server, duration)
        list.get(c.n)!.push(sample)
        process.stderr.write(`round ${round}/${rounds} ${c.server.name}: ${Math.round(sample.rps)} req/s, p99 ${sample.p99.toFixed(1)} ms\n`)
      }
    }
    const summaries = cluster.filter((c) => list.get(c.n)!.length > 0).map((c) => summarise(`workers-${c.n}`, c.server.name, list.get(c.n)!))
    if (summaries.length > 0) {
      withRatio(summaries, summaries[0]!).forEach((r, i) => {
        const rss = rssMb(cluster[i]!.server.child.pid!)
        clusterRows.push({ ...r, workers: cluster[i]!.n, rssMbPerWorker: rss.length > 1 ? rss.slice(1) : rss })
      })
    }
    for (const c of cluster) c.server.child.kill('SIGTERM')
  }

  const breaker = await breakerBench()
  stopAll()
  rmSync(dir, { recursive: true, force: true })

  const settings = { nodeOptions: gatewayNodeOptions(), nodeFlags: gatewayNodeFlags(), duration, connections: Number(flags.connections), rounds, warmup, path: flags.path, loader, upstream: upstream.kind, pinned: hasTaskset, cut }
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim(), memoryGb: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version }
  console.log(`\n${rounds} rounds × ${duration} s, ${flags.connections} connections, GET ${flags.path}; ${loader}; ${upstream.kind} upstream${cut ? '; CUT SHORT by --max-minutes' : ''}\n`)
  console.log(formatTable(rows))
  if (sweepRows.length > 0) {
    console.log('\nlatency under concurrency')
    console.log(formatSweep(sweepRows))
  }
  if (clusterRows.length > 0) {
    console.log('\ncluster mode (gateway unpinned; wrk, nginx and Redis share the 2 cores with it)')
    console.log(formatTable(clusterRows))
    for (const r of clusterRows) console.log(`${r.name}: RSS per worker ${r.rssMbPerWorker.join(', ')} MB`)
  }
  printBreakerRows(breaker)
  const result = { date: new Date().toISOString(), machine, settings, rows, sweep: sweepRows, cluster: clusterRows, breaker }
  mkdirSync(flags.out!, { recursive: true })
  writeFileSync(join(flags.out!, 'latest.json'), JSON.stringify(result, null, 2) + '\n')
  writeFileSync(join(flags.out!, 'latest.svg'), chartOf(result))
  console.log(`\nwrote ${join(flags.out!, 'latest.json')} and latest.svg`)
}

// (bench/latency-histogram.ts imports the helpers above without running the bench)
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    stopAll()
    process.exit(1)
  })
}
