// npm run bench:ws: how one gateway instance holds N authenticated /ws subscribers.
//   - the gateway (dist/src/server.js, the Dockerfile's NODE_OPTIONS) on CPU 0 with a
//     redis-server of the bench's own; the client (bench/ws-client.ts) in a process of
//     its own on CPU 1, spreading its connections over several 127.0.0.x source addresses
//   - connect: N connections (JWT at the upgrade, then a subscribe), total time and
//     per-connection handshake-to-`subscribed` p50/p99; RSS before and after, per 1,000
//   - fan-out: --events events XADDed to the stream one after another, each timed from
//     just before XADD to its arrival on every connection (p50, p99, max = the last
//     subscriber), with the gateway's CPU time per event
// Loopback only; bounded by --max-minutes. Writes bench/results/ws-latest.json.
//   npm run bench:ws -- --connections 10000 --events 5
import { fork, spawnSync } from 'node:child_process'
import { writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { Redis } from 'ioredis'
import { start, startRedis, freePort, hasTaskset, cpuMs, rssMb, stopAll, percentile, gatewayNodeOptions, gatewayNodeFlags } from './harness.js'
import type { ClientSetup, FromClient, ToClient } from './ws-client.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string', default: '10000' },
    events: { type: 'string', default: '5' },
    addresses: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '200' },
    'max-minutes': { type: 'string', default: '10' },
    out: { type: 'string', default: join(root, 'bench', 'results') }
  }
})

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

async function main (): Promise<void> {
  const connections = Number(flags.connections)
  const deadline = Date.now() + Number(flags['max-minutes']) * 60_000
  const bounded = <T>(what: string, p: Promise<T>): Promise<T> => Promise.race([p, new Promise<T>((_resolve, reject) => {
    setTimeout(() => reject(new Error(`${what}: past --max-minutes`)), Math.max(0, deadline - Date.now())).unref()
  })])
  const redis = await startRedis('1')
  const secret = randomBytes(32).toString('hex')
  const keyPrefix = `healthpay-bench-ws:${process.pid}:`
  const gateway = await start('gateway', '0', join(root, 'dist', 'src', 'server.js'), {
    HOST: '127.0.0.1', ADMIN_PORT: String(await freePort()), REDIS_URL: redis.url, REDIS_KEY_PREFIX: keyPrefix, JWT_SECRET: secret,
    LOG_LEVEL: 'warn', NODE_OPTIONS: gatewayNodeOptions()
  }, gatewayNodeFlags())
  const pid = gateway.child.pid!
  const idleRss = Math.max(...rssMb(pid))
  console.log(`HealthPay Gateway bench:ws: ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}; gateway on CPU 0 (RSS idle ${idleRss} MB), client on CPU 1`)
  console.log(`${connections} connections over ${flags.addresses} source addresses, ${flags.concurrency} connecting at once; ${flags.events} events fanned out to all\n`)

  const client = fork(join(here, 'ws-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  if (hasTaskset) spawnSync('taskset', ['-pc', '1', String(client.pid)], { stdio: 'ignore' })
  process.on('exit', () => client.kill('SIGKILL'))
  const replies: FromClient[] = []
  let notify: (() => void) | null = null
  client.on('message', (m: FromClient) => { replies.push(m); notify?.() })
  const next = async <T extends FromClient['type']>(type: T): Promise<Extract<FromClient, { type: T }>> => {
    for (;;) {
      const i = replies.findIndex((r) => r.type === type)
      if (i !== -1) return replies.splice(i, 1)[0] as Extract<FromClient, { type: T }>
      if (client.exitCode !== null) throw new Error(`the client process exited with ${client.exitCode}`)
      await bounded(`waiting for ${type}`, new Promise<void>((resolve) => { notify = resolve }))
    }
  }
  const tell = (m: ToClient) => client.send(m)

  const setup: ClientSetup = { url: `ws://127.0.0.1:${gateway.port}`, secret, connections, addresses: Number(flags.addresses), concurrency: Number(flags.concurrency) }
  tell({ cmd: 'setup', setup })
  const connected = await next('connected')
  const handshakes = connected.handshakeMs.sort((a, b) => a - b)
  const loadedRss = Math.max(...rssMb(pid))
  const perThousand = connected.connected > 0 ? ((loadedRss - idleRss) / connected.connected) * 1000 : NaN
  console.log(`connected ${connected.connected} of ${connections} in ${round(connected.totalMs / 1000, 2)} s (${connected.failed} failed${connected.errors.length ? ': ' + connected.errors.join(', ') : ''})`)
  console.log(`handshake to 'subscribed': p50 ${round(percentile(handshakes, 50))} ms, p99 ${round(percentile(handshakes, 99))} ms`)
  console.log(`gateway RSS ${idleRss} MB idle → ${loadedRss} MB with ${connected.connected} subscribers: ${round(perThousand)} MB per 1,000\n`)

  const producer = new Redis(redis.url)
  const events: Array<{ id: string, received: number, p50: number, p99: number, max: number, gatewayCpuMs: number }> = []
  for (let i = 0; i < Number(flags.events); i++) {
    const cpuBefore = cpuMs(pid)
    const t0 = process.hrtime.bigint()
    const id = await producer.xadd(`${keyPrefix}events`, '*', 'channel', 'wallet', 'event', 'wallet.updated', 'subject', 'u-bench-0', 'data', JSON.stringify({ t0: String(t0), walletId: 'w-bench', balance: 100.5 }))
    tell({ cmd: 'expect', id: id!, timeoutMs: 30_000 })
    const got = await next('received')
    const cpu = cpuMs(pid) - cpuBefore
    const sorted = got.latenciesMs.sort((a, b) => a - b)
    const row = { id: id!, received: got.received, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? NaN), gatewayCpuMs: cpu }
    events.push(row)
    console.log(`event ${i + 1}: received by ${row.received} of ${connected.connected}; XADD → receipt p50 ${row.p50} ms, p99 ${row.p99} ms, last ${row.max} ms; gateway CPU ${cpu} ms`)
  }
  producer.disconnect()
  tell({ cmd: 'close' })
  await next('closed').catch(() => {})

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim(), node: process.version, kernel: os.release() },
    connections: { wanted: connections, connected: connected.connected, failed: connected.failed, errors: connected.errors, totalSeconds: round(connected.totalMs / 1000, 2), handshakeP50Ms: round(percentile(handshakes, 50)), handshakeP99Ms: round(percentile(handshakes, 99)) },
    rss: { idleMb: idleRss, loadedMb: loadedRss, perThousandMb: round(perThousand) },
    fanOut: events
  }
  mkdirSync(flags.out!, { recursive: true })
  writeFileSync(join(flags.out!, 'ws-latest.json'), JSON.stringify(result, null, 2) + '\n')
  console.log(`\nwrote ${join(flags.out!, 'ws-latest.json')}`)
}

main().then(() => { stopAll(); process.exit(0) }, (err) => {
  console.error(`bench:ws failed: ${(err as Error).message}`)
  stopAll()
  process.exit(1)
})
