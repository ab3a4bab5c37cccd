// npm run soak: mixed traffic against one gateway for --minutes (default 10), reporting
// every --interval seconds (default 30) what an SRE would watch for a leak: RSS, V8
// heap, event-loop delay p99, open /ws subscribers, and the requests of the interval by
// status. Not part of npm test.
//   - the gateway (dist/src/server.js, the Dockerfile's NODE_OPTIONS, Redis of its own)
//     on CPU 0; load generators, upstream and subscribers on CPU 1
//   - HTTP: premium consumers reading through a healthy upstream; an authenticated
//     consumer over its rate limit (429s); commands to a dead service (breaker, 503s)
//   - WebSocket: --subscribers clients on /ws, events published every 100 ms through
//     POST /admin/events; every interval a tenth of them reconnect and resume from
//     their last event id (each must then have every event, in order, exactly once)
// Loopback only; every load is bounded by --minutes. Writes bench/results/soak-latest.json.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import WebSocket from 'ws'
import { createSigner } from 'fast-jwt'
import { start, startRedis, freePort, pinned, stopAll, percentile, gatewayNodeOptions, gatewayNodeFlags } from './harness.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    interval: { type: 'string', default: '30' },
    subscribers: { type: 'string', default: '200' },
    out: { type: 'string', default: join(root, 'bench', 'results') }
  }
})

/** one sample of the gateway's /metrics */
interface Reading { rssMb: number, heapMb: number, eventLoopP99Ms: number, wsConnections: number, requests: Record<string, number> }

function parseMetrics (text: string): Reading {
  const value = (name: string) => Number(new RegExp(`^${name} ([\\d.e+-]+)`, 'm').exec(text)?.[1] ?? NaN)
  const requests: Record<string, number> = {}
  for (const m of text.matchAll(/^gateway_http_requests_total\{[^}]*status="(\d)\d\d"[^}]*\} ([\d.e+]+)/gm)) {
    requests[`${m[1]}xx`] = (requests[`${m[1]}xx`] ?? 0) + Number(m[2])
  }
  return {
    rssMb: Math.round(value('process_resident_memory_bytes') / 1048576),
    heapMb: Math.round(value('nodejs_heap_size_used_bytes') / 1048576),
    eventLoopP99Ms: Math.round(value('nodejs_eventloop_lag_p99_seconds') * 10000) / 10,
    wsConnections: value('gateway_websocket_connections'),
    requests
  }
}

/** A /ws subscriber that keeps every event id it got, and resumes from the last after a reconnect. */
class Subscriber {
  ids: string[] = []
  duplicates = 0
  private ws: WebSocket | null = null
  constructor (private readonly url: string, private readonly token: string) {}

  async connect (): Promise<void> {
    const ws = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.token}` } })
    this.ws = ws
    const seen = new Set(this.ids.slice(-1000))
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string, id?: string }
      if (m.type !== 'event') return
      if (seen.has(m.id!)) this.duplicates++
      else this.ids.push(m.id!)
    })
    ws.on('error', () => {})
    await once(ws, 'open')
    const last = this.ids.at(-1)
    ws.send(JSON.stringify(last === undefined ? { type: 'subscribe', channel: 'wallet' } : { type: 'subscribe', channel: 'wallet', lastEventId: last }))
    await new Promise<void>((resolve) => ws.once('message', () => resolve()))
  }

  async reconnect (): Promise<void> {
    const old = this.ws!
    old.terminate()
    await this.connect()
  }

  close (): void {
    this.ws?.terminate()
  }
}

async function main (): Promise<void> {
  const seconds = Number(flags.minutes) * 60
  const intervalMs = Number(flags.interval) * 1000
  const dir = join(os.tmpdir(), `healthpay-soak-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const upstream = await start('upstream', '1', join(here, 'upstream.js'), {})
  const redis = await startRedis('1')
  const secret = randomBytes(32).toString('hex')
  const adminToken = randomBytes(16).toString('hex')
  const adminPort = await freePort()
  const gateway = await start('gateway', '0', join(root, 'dist', 'src', 'server.js'), {
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    ADMIN_TOKEN: adminToken,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `healthpay-soak:${process.pid}:`,
    JWT_SECRET: secret,
    QUERY_SERVICE_URL: `http://127.0.0.1:${upstream.port}`,
    // nothing listens there: the command service's breaker opens and answers its fallback
    COMMAND_SERVICE_URL: `http://127.0.0.1:${await freePort()}`,
    RATE_LIMIT_AUTHENTICATED: '600',
    RATE_LIMIT_PREMIUM: '100000000',
    LOG_LEVEL: 'warn',
    NODE_OPTIONS: gatewayNodeOptions()
  }, gatewayNodeFlags())
  const base = `http://127.0.0.1:${gateway.port}`
  const admin = `http://127.0.0.1:${adminPort}`
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 24 * 3_600_000 })
  const premium = sign({ sub: 'u-soak-premium', tier: 'premium', roles: ['customer'] })
  const limited = sign({ sub: 'u-soak-limited', roles: ['customer'] })

  // HTTP load: three autocannon processes on CPU 1, each bounded by --minutes
  const cannon = (connections: number, extra: string[], url: string) => {
    const [cmd, ...args] = pinned('1', [join(root, 'node_modules', '.bin', 'autocannon'), '-j', '-c', String(connections), '-d', String(seconds), ...extra, url])
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout!.on('data', (d) => { out += d })
    return { child, result: once(child, 'exit').then(() => { try { return JSON.parse(out) as { requests: { total: number }, errors: number, timeouts: number, non2xx: number } } catch { return null } }) }
  }
  const loads: Array<{ name: string, run: { child: ChildProcess, result: Promise<unknown> } }> = [
    { name: 'premium reads', run: cannon(20, ['-H', `authorization=Bearer ${premium}`], `${base}/v1/api/wallets/w-soak`) },
    { name: 'over its rate limit', run: cannon(4, ['-H', `authorization=Bearer ${limited}`], `${base}/v1/api/wallets/w-limited`) },
    { name: 'dead command service', run: cannon(4, ['-m', 'POST', '-H', `authorization=Bearer ${premium}`, '-H', 'content-type=application/json', '-b', '{"amount":1}'], `${base}/v1/commands/wallets/w-soak/deposit`) }
  ]

  // WebSocket subscribers (role support: they see every subject) and the publisher
  const subscriberToken = sign({ sub: 'u-soak-support', roles: ['support'] })
  const subscribers = Array.from({ length: Number(flags.subscribers) }, () => new Subscriber(`ws://127.0.0.1:${gateway.port}/ws`, subscriberToken))
  for (const s of subscribers) await s.connect()
  const published: string[] = []
  let publishFailures = 0
  const publisher = setInterval(() => {
    fetch(`${admin}/admin/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'wallet', event: 'wallet.updated', subject: `u-${published.length % 50}`, data: { n: published.length, balance: 100 } })
    }).then(async (r) => { if (r.status === 202) published.push(((await r.json()) as { id: string }).id); else publishFailures++ }, () => { publishFailures++ })
  }, 100)

  console.log(`HealthPay Gateway soak: ${flags.minutes} min, a row every ${flags.interval} s; ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, Node ${process.version}`)
  console.log('   t s  RSS MB  heap MB  loop p99 ms  ws open  req/s   2xx/s  4xx/s  5xx/s')
  const rows: Array<Reading & { t: number, rps: number, perSecond: Record<string, number> }> = []
  const scrape = async () => parseMetrics(await (await fetch(`${admin}/metrics`)).text())
  const started = Date.now()
  let previous = await scrape()
  let round = 0
  while (Date.now() - started < seconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, seconds * 1000 - (Date.now() - started))))
    const now = await scrape()
    const elapsed = intervalMs / 1000
    const perSecond: Record<string, number> = {}
    for (const k of ['2xx', '4xx', '5xx']) perSecond[k] = Math.round(((now.requests[k] ?? 0) - (previous.requests[k] ?? 0)) / elapsed)
    const rps = perSecond['2xx']! + perSecond['4xx']! + perSecond['5xx']!
    const row = { ...now, t: Math.round((Date.now() - started) / 1000), rps, perSecond }
    rows.push(row)
    console.log(`${String(row.t).padStart(6)} ${String(row.rssMb).padStart(7)} ${String(row.heapMb).padStart(8)} ${String(row.eventLoopP99Ms).padStart(12)} ${String(row.wsConnections).padStart(8)} ${String(rps).padStart(6)} ${String(perSecond['2xx']).padStart(7)} ${String(perSecond['4xx']).padStart(6)} ${String(perSecond['5xx']).padStart(6)}`)
    previous = now
    // a tenth of the subscribers drop and resume from their last event id
    const movers = subscribers.filter((_s, i) => i % 10 === round % 10)
    round++
    await Promise.all(movers.map((s) => s.reconnect()))
  }
  clearInterval(publisher)
  const results = await Promise.all(loads.map(async (l) => ({ name: l.name, result: await l.run.result })))
  // the last events published reach everyone: then each subscriber's list is compared with the log
  const last = published.at(-1)
  const deadline = Date.now() + 10_000
  while (last !== undefined && subscribers.some((s) => s.ids.at(-1) !== last) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  const complete = subscribers.filter((s) => published.every((id, i) => s.ids[i] === id) && s.ids.length === published.length).length
  const duplicates = subscribers.reduce((n, s) => n + s.duplicates, 0)
  for (const s of subscribers) s.close()

  const warm = rows.slice(1)
  const rss = warm.map((r) => r.rssMb).sort((a, b) => a - b)
  const summary = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model.trim(), node: process.version },
    minutes: Number(flags.minutes),
    rows,
    http: results,
    websocket: { subscribers: subscribers.length, published: published.length, publishFailures, subscribersWithEveryEventInOrder: complete, duplicates },
    rssMb: { first: warm[0]?.rssMb, last: warm.at(-1)?.rssMb, min: rss[0], max: rss.at(-1), median: percentile(rss, 50) },
    eventLoopP99MsMax: Math.max(...rows.map((r) => r.eventLoopP99Ms))
  }
  console.log(`\nHTTP: ${results.map((r) => `${r.name}: ${JSON.stringify(r.result && { requests: (r.result as { requests: { total: number } }).requests.total, errors: (r.result as { errors: number }).errors, timeouts: (r.result as { timeouts: number }).timeouts, non2xx: (r.result as { non2xx: number }).non2xx })}`).join('; ')}`)
  console.log(`WebSocket: ${published.length} events published (${publishFailures} failed); ${complete} of ${subscribers.length} subscribers have every one, in order, across their reconnects; ${duplicates} duplicates`)
  console.log(`RSS after the first interval: ${summary.rssMb.first} → ${summary.rssMb.last} MB (min ${summary.rssMb.min}, max ${summary.rssMb.max}); event-loop p99 at most ${summary.eventLoopP99MsMax} ms`)
  mkdirSync(flags.out!, { recursive: true })
  writeFileSync(join(flags.out!, 'soak-latest.json'), JSON.stringify(summary, null, 2) + '\n')
  console.log(`wrote ${join(flags.out!, 'soak-latest.json')}`)
}

main().then(() => { stopAll(); process.exit(0) }, (err) => {
  console.error(`soak failed: ${(err as Error).message}`)
  stopAll()
  process.exit(1)
})
