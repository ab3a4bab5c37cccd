// The parts of the benchmark that start and measure processes: free ports, CPU
// pinning with taskset, the upstream (nginx when installed, else a Node server in its
// own process), a Redis of the bench's own, the load generator (wrk when installed,
// else autocannon) and per-process CPU time and RSS from /proc. Loopback only.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { join } from 'node:path'

/** the Dockerfile's NODE_OPTIONS: the gateway is measured as it is deployed (test/deploy checks they agree) */
export const PRODUCTION_NODE_OPTIONS = '--max-semi-space-size=16 --max-old-space-size=192'
/**
 * the Dockerfile's and `npm start`'s node flags (V8 refuses them in NODE_OPTIONS):
 * garbage collection on the JavaScript thread alone. A worker has one core to itself
 * (GATEWAY_WORKERS=auto, or a one-CPU container): V8's helper threads (concurrent
 * marking, parallel scavenges) then only take turns with the thread that answers
 * requests, and each turn the scheduler gives them is a stall of several ms for every
 * request in flight (measured: p99 median 34 → 25 ms at 50 connections, same req/s)
 */
export const PRODUCTION_NODE_FLAGS: readonly string[] = ['--single-threaded-gc']
/** what the benches run the gateway with: the production settings, or BENCH_NODE_FLAGS / NODE_OPTIONS when set ('' = none) */
export const gatewayNodeFlags = (): readonly string[] => process.env.BENCH_NODE_FLAGS === undefined ? PRODUCTION_NODE_FLAGS : process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean)
export const gatewayNodeOptions = (): string => process.env.NODE_OPTIONS ?? PRODUCTION_NODE_OPTIONS

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0
/** `cmd` pinned to `cpu` ('0', '1', or '' for no pinning) when taskset exists */
export const pinned = (cpu: string, cmd: string[]): string[] => (hasTaskset && cpu !== '' ? ['taskset', '-c', cpu, ...cmd] : cmd)
const installed = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined

const children: ChildProcess[] = []
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL') })
export function stopAll (): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
}

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function until (what: string, ok: () => Promise<boolean> | boolean, child: ChildProcess, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${ms / 1000} s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const answers = async (url: string) => { try { await fetch(url); return true } catch { return false } }

export interface Server {
  name: string
  child: ChildProcess
  port: number
  /** request headers the load generator sends */
  headers?: Record<string, string>
  /** request path, when not the bench's --path */
  path?: string
}

/** A Node server (`script`, run with `nodeFlags`) on a port chosen here, pinned to `cpu`; resolves once it answers HTTP at all. */
export async function start (name: string, cpu: string, script: string, env: Record<string, string>, nodeFlags: readonly string[] = []): Promise<Server> {
  const port = await freePort()
  const [cmd, ...args] = pinned(cpu, [process.execPath, ...nodeFlags, script])
  const child = spawn(cmd!, args, { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  await until(name, () => answers(`http://127.0.0.1:${port}/health`), child)
  return { name, child, port }
}

export const UPSTREAM_BODY = JSON.stringify({ id: 'w-bench', ownerId: 'u-bench', currency: 'EGP', balance: 100.5, status: 'active' })

/** The upstream every configuration proxies to: nginx answering a fixed JSON body, or bench/upstream.js. */
export async function startUpstream (kind: string, cpu: string, dir: string, nodeScript: string): Promise<{ url: string, kind: 'nginx' | 'node' }> {
  if (kind !== 'node' && installed('nginx', ['-v'])) {
    const port = await freePort()
    mkdirSync(join(dir, 'nginx'), { recursive: true })
    const conf = join(dir, 'nginx', 'nginx.conf')
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${join(dir, 'nginx', t)};`).join(' ')
    writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx', 'nginx.pid')};
error_log ${join(dir, 'nginx', 'error.log')} warn;
events { worker_connections 8192; }
http {
  access_log off;
  ${temp}
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type application/json; return 200 '${UPSTREAM_BODY}'; }
  }
}
`)
    const [cmd, ...args] = pinned(cpu, ['nginx', '-e', join(dir, 'nginx', 'error.log'), '-p', join(dir, 'nginx'), '-c', conf])
    const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'inherit'] })
    children.push(child)
    await until('nginx', () => answers(`http://127.0.0.1:${port}/`), child)
    return { url: `http://127.0.0.1:${port}`, kind: 'nginx' }
  }
  if (kind === 'nginx') throw new Error('--upstream nginx: nginx is not installed (apt-get install nginx-light)')
  const server = await start('upstream', cpu, nodeScript, {})
  return { url: `http://127.0.0.1:${server.port}`, kind: 'node' }
}

/** A redis-server of the bench's own (nothing persisted), pinned to `cpu`; or BENCH_REDIS_URL. */
export async function startRedis (cpu: string): Promise<{ url: string, own: boolean }> {
  if (process.env.BENCH_REDIS_URL) return { url: process.env.BENCH_REDIS_URL, own: false }
  if (!installed('redis-server', ['--version'])) return { url: 'redis://127.0.0.1:6379', own: false }
  const port = await freePort()
  const [cmd, ...args] = pinned(cpu, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  const child = spawn(cmd!, args, { stdio: 'ignore' })
  children.push(child)
  await until('redis-server', () => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG', child, 10_000)
  return { url: `redis://127.0.0.1:${port}`, own: true }
}

/** the process and its children (a cluster primary's workers) */
export function processTree (pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    return [pid, ...kids.flatMap(processTree)]
  } catch {
    return [pid]
  }
}

const TICK_MS = 10 // USER_HZ is 100 on Linux
/** user + system CPU time of the process tree, in ms */
export function cpuMs (pid: number): number {
  let ticks = 0
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
    } catch { /* gone */ }
  }
  return ticks * TICK_MS
}

/** resident memory of each process in the tree, in MB */
export function rssMb (pid: number): number[] {
  return processTree(pid).flatMap((p) => {
    try {
      return [Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024)]
    } catch {
      return []
    }
  })
}

export interface Sample {
  rps: number
  p50: number
  p99: number
  requests: number
  /** connection errors and timeouts */
  errors: number
  non2xx: number
  /** the server's CPU time (all its processes) per request answered, µs */
  cpuUsPerRequest: number
  /** the largest process's RSS after the run, MB */
  rssMb: number
}

export type Loader = 'wrk' | 'autocannon'
export function pickLoader (wanted: string): Loader {
  if (wanted === 'autocannon') return 'autocannon'
  if (installed('wrk', ['--version'])) return 'wrk'
  if (wanted === 'wrk') throw new Error('--loader wrk: wrk is not installed (apt-get install wrk)')
  return 'autocannon'
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }
/** what wrk --latency prints, read into a sample (CPU and RSS are filled in by load()) */
export function parseWrk (out: string): Omit<Sample, 'cpuUsPerRequest' | 'rssMb'> {
  const ms = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    if (!m) throw new Error(`wrk output has no ${p}% line:\n${out}`)
    return Number(m[1]) * UNIT_MS[m[2]!]!
  }
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN)
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50: ms('50'),
    p99: ms('99'),
    requests,
    errors: socket ? socket.slice(1).reduce((a, n) => a + Number(n), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  }
}

export interface LoadOptions { loader: Loader, connections: number, seconds: number, path: string, root: string }

/** Load on CPU 1 for `seconds`; the server's CPU time over the run gives its cost per request. */
export function load (server: Server, opts: LoadOptions): Sample {
  const url = `http://127.0.0.1:${server.port}${server.path ?? opts.path}`
  const headers = Object.entries(server.headers ?? {})
  const pid = server.child.pid!
  const cpuBefore = cpuMs(pid)
  let sample: Omit<Sample, 'cpuUsPerRequest' | 'rssMb'>
  if (opts.loader === 'wrk') {
    // one thread: it has one core; --timeout well above any p99 seen, so a slow answer is measured, not dropped
    const [cmd, ...args] = pinned('1', ['wrk', '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '10s', '--latency', ...headers.flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url])
    const run = spawnSync(cmd!, args, { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 })
    if (run.status !== 0) throw new Error(`wrk failed: ${run.stderr || run.error?.message}`)
    sample = parseWrk(run.stdout)
  } else {
    const bin = join(opts.root, 'node_modules', '.bin', 'autocannon')
    const [cmd, ...args] = pinned('1', [bin, '-j', '-c', String(opts.connections), '-d', String(opts.seconds), ...headers.flatMap(([k, v]) => ['-H', `${k}=${v}`]), url])
    const run = spawnSync(cmd!, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: (opts.seconds + 30) * 1000 })
    const r = JSON.parse(run.stdout)
    sample = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx }
  }
  const cpu = cpuMs(pid) - cpuBefore
  return { ...sample, cpuUsPerRequest: sample.requests > 0 ? (cpu * 1000) / sample.requests : NaN, rssMb: Math.max(...rssMb(pid)) }
}


/** the middle value (the mean of the two middle ones for an even count) */
export function median (xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** the p-th percentile (nearest rank) of an ascending list */
export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
