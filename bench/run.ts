// npm run bench: the bare proxy and the gateway side by side in one run, interleaved
// rounds, servers pinned to CPU 0 and the load generator (autocannon) to CPU 1 when
// taskset exists. Loopback only; bounded by --duration × rounds × configurations.
//   npm run bench -- --duration 10 --connections 50 --rounds 3
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { createSigner } from 'fast-jwt'
import { breakerBench, printBreakerRows } from './breaker.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
export const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '3' },
    path: { type: 'string', default: '/v1/api/wallets/w-bench' }
  }
})
const duration = Number(flags.duration)
const rounds = Number(flags.rounds)
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0
const pinned = (cpu: string, cmd: string[]) => (hasTaskset ? ['taskset', '-c', cpu, ...cmd] : cmd)

export interface Server { name: string, child: ChildProcess, port: number, headers?: Record<string, string>, path?: string }
const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts a server on a port chosen here and waits until it answers HTTP at all. */
export async function start (name: string, cpu: string, script: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort()
  const [cmd, ...args] = pinned(cpu, [process.execPath, script])
  const child = spawn(cmd!, args, { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`)
    if (Date.now() > deadline) throw new Error(`${name} did not start within 20 s`)
    try {
      await fetch(`http://127.0.0.1:${port}/health`)
      return { name, child, port }
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

function rssMb (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
}

export interface Sample { rps: number, p50: number, p99: number, errors: number, non2xx: number }

export function load (server: Server, seconds: number): Sample {
  const bin = join(root, 'node_modules', '.bin', 'autocannon')
  const headers = Object.entries(server.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}=${v}`])
  const [cmd, ...args] = pinned('1', [bin, '-j', '-c', flags.connections!, '-d', String(seconds), ...headers, `http://127.0.0.1:${server.port}${server.path ?? flags.path}`])
  const run = spawnSync(cmd!, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: (seconds + 30) * 1000 })
  const r = JSON.parse(run.stdout)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }
}

/** A redis-server of the bench's own, next to the load generator (CPU 1), so it takes no time from the servers' core. */
async function startRedis (): Promise<{ url: string, child: ChildProcess | null }> {
  if (process.env.BENCH_REDIS_URL) return { url: process.env.BENCH_REDIS_URL, child: null }
  if (spawnSync('redis-server', ['--version']).status !== 0) return { url: 'redis://127.0.0.1:6379', child: null }
  const port = await freePort()
  const [cmd, ...args] = pinned('1', ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  const child = spawn(cmd!, args, { stdio: 'ignore' })
  children.push(child)
  const deadline = Date.now() + 10_000
  while (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() !== 'PONG') {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('redis-server did not start')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { url: `redis://127.0.0.1:${port}`, child }
}

async function main (): Promise<void> {
  const upstream = await start('upstream', '1', join(here, 'upstream.js'), {})
  const redis = await startRedis()
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const gatewayEnv = (extra: Record<string, string>) => ({
    HOST: '127.0.0.1', ADMIN_PORT: '0', COMMAND_SERVICE_URL: upstreamUrl, QUERY_SERVICE_URL: upstreamUrl, ...extra
  })
  // proxy only: every route public; the auth configurations use the SPEC routes
  // (authenticated) with a JWT or an API key of a consumer from the config file
  const dir = join(tmpdir(), `healthpay-bench-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const openFile = join(dir, 'open.yaml')
  writeFileSync(openFile, ['/auth', '/commands', '/api', '/graphql'].reduce((yaml, prefix) => `${yaml}  - { prefix: ${prefix}, service: ${prefix === '/commands' || prefix === '/auth' ? 'command' : 'query'}, auth: public }\n`, 'routes:\n'))
  const apiKey = `hpk_${randomBytes(32).toString('base64url')}`
  const keysFile = join(dir, 'keys.yaml')
  writeFileSync(keysFile, `consumers:\n  - { id: bench-client, tier: premium, apiKeys: [${createHash('sha256').update(apiKey).digest('hex')}] }\n`)
  const secret = randomBytes(32).toString('hex')
  const token = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'u-bench', roles: ['customer'], tier: 'premium' })
  const gateway = join(root, 'dist', 'src', 'server.js')
  // limits high enough never to refuse: the bench measures the cost of counting
  const noLimit = { RATE_LIMIT_ENABLED: 'false' }
  const memoryLimit = { RATE_LIMIT_PREMIUM: '1000000000' }
  const redisLimit = { ...memoryLimit, REDIS_URL: redis.url, REDIS_KEY_PREFIX: `healthpay-bench:${process.pid}:` }
  const jwt = { authorization: `Bearer ${token}` }
  const servers = [
    await start('bare fastify + @fastify/http-proxy', '0', join(here, 'bare-proxy.js'), { UPSTREAM: upstreamUrl }),
    await start('gateway, proxy only', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', GATEWAY_CONFIG: openFile, ...noLimit })),
    { ...await start('+ JWT, no rate limit', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', JWT_SECRET: secret, ...noLimit })), headers: jwt },
    { ...await start('+ JWT + in-memory rate limit', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', JWT_SECRET: secret, ...memoryLimit })), headers: jwt },
    { ...await start('+ JWT + Redis rate limit', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', JWT_SECRET: secret, ...redisLimit })), headers: jwt },
    { ...await start('+ API key + Redis rate limit', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', GATEWAY_CONFIG: keysFile, ...redisLimit })), headers: { 'x-api-key': apiKey } },
    // the version from a header instead of the path (rewritten before routing), and v1 deprecated: Deprecation, Sunset, Link per response
    { ...await start('+ JWT, X-API-Version, v1 deprecated', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', JWT_SECRET: secret, API_DEPRECATED: '1=2099-12-31', ...noLimit })), headers: { ...jwt, 'x-api-version': '1' }, path: flags.path!.replace(/^\/v\d+/, '') },
    { ...await start('+ JWT + Redis limit, LOG_LEVEL=info', '0', gateway, gatewayEnv({ LOG_LEVEL: 'info', JWT_SECRET: secret, ...redisLimit })), headers: jwt },
    // a dead query service: the first request opens its breaker, every later one gets the 503 fallback
    await start('breaker open: 503 fallback', '0', gateway, gatewayEnv({ LOG_LEVEL: 'warn', GATEWAY_CONFIG: openFile, ...noLimit, QUERY_SERVICE_URL: `http://127.0.0.1:${await freePort()}`, BREAKER_MIN_REQUESTS: '1', BREAKER_RESET_MS: '86400000', RETRY_ATTEMPTS: '0' }))
  ]
  // (the info-level gateway's per-request log lines go to /dev/null: the cost stays, the noise not)
  const samples = new Map<string, Sample[]>(servers.map((s) => [s.name, []]))
  try {
    for (const s of servers) load(s, Number(flags.warmup))
    for (let round = 1; round <= rounds; round++) {
      // each round starts one configuration later, so none always runs first or last
      const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!)
      for (const s of order) {
        const sample = load(s, duration)
        samples.get(s.name)!.push(sample)
        process.stderr.write(`round ${round}/${rounds} ${s.name}: ${Math.round(sample.rps)} req/s, p99 ${sample.p99} ms\n`)
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const rows = servers.map((s) => {
      const list = samples.get(s.name)!
      return { name: s.name, rps: Math.round(mean(list.map((x) => x.rps))), p50: mean(list.map((x) => x.p50)), p99: mean(list.map((x) => x.p99)), errors: list.reduce((a, x) => a + x.errors + x.non2xx, 0), rssMb: rssMb(s.child.pid!) }
    })
    const base = rows[0]!
    console.log(`\n${rounds} rounds × ${duration} s, ${flags.connections} connections, GET ${flags.path}; servers on CPU 0, load on CPU 1${hasTaskset ? '' : ' (taskset missing: not pinned)'}; Redis ${redis.url}${redis.child ? ' (its own, on CPU 1)' : ''}\n`)
    console.log('configuration                         req/s     p50 ms   p99 ms   RSS MB  errors   rps ratio  p99 ratio')
    for (const r of rows) {
      console.log(`${r.name.padEnd(36)} ${String(r.rps).padStart(7)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(8)} ${String(r.rssMb).padStart(8)} ${String(r.errors).padStart(7)} ${(r.rps / base.rps).toFixed(2).padStart(10)} ${(r.p99 / base.p99).toFixed(2).padStart(10)}`)
    }
    console.log('(errors counts non-2xx answers: the fallback row answers 503 by design)')
    const breaker = await breakerBench()
    printBreakerRows(breaker)
    mkdirSync(join(root, 'bench', 'results'), { recursive: true })
    writeFileSync(join(root, 'bench', 'results', 'latest.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, flags, pinned: hasTaskset, rows, breaker }, null, 2) + '\n')
  } finally {
    for (const s of [...servers, upstream]) s.child.kill('SIGTERM')
    redis.child?.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

// (bench/latency-histogram.ts imports the helpers above without running the bench)
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
