// npm run bench:histogram: the gateway's own latency histograms under load, drawn
// for the README. Starts the bench upstream and one gateway (JWT + in-memory rate
// limit, limits too high to refuse) the way bench/run.ts does, warms up, scrapes
// the admin /metrics, runs the load generator (wrk, or autocannon) for --duration seconds, scrapes again, and
// draws the difference: per-bucket counts of gateway_http_request_duration_seconds
// (the proxied route) and gateway_upstream_response_seconds, with p50/p99 estimated
// the way histogram_quantile() does. Loopback only; bounded by --warmup + --duration.
//   npm run bench:histogram -- --duration 10 --connections 50
// Writes docs/img/latency-histogram.svg and bench/results/latency-histogram.json.
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { createSigner } from 'fast-jwt'
import { start, freePort, loadFor as load, flags } from './run.js'
import { pickLoader, gatewayNodeOptions, gatewayNodeFlags } from './harness.js'
import { LATENCY_BUCKETS } from '../plugins/metrics/metrics.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
// the flags are bench/run.ts's (it parses argv when imported): --duration, --connections, --warmup, --path
const ROUTE = '/v1/api/*'
const SERVICE = 'query'

/** one histogram's buckets: upper bound (Infinity last) → cumulative count */
type Cumulative = Map<number, number>

interface Scraped { requests: Cumulative, upstream: Cumulative }

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** the _bucket samples of `metric` whose labels include `match`, summed per bound (over methods and statuses) */
function buckets (text: string, metric: string, match: Record<string, string>): Cumulative {
  const out: Cumulative = new Map()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`)) continue
    const close = line.lastIndexOf('}')
    const labels = Object.fromEntries([...line.slice(line.indexOf('{') + 1, close).matchAll(LABEL)].map((m) => [m[1]!, m[2]!]))
    if (!Object.entries(match).every(([k, v]) => labels[k] === v)) continue
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le)
    out.set(le, (out.get(le) ?? 0) + Number(line.slice(close + 1).trim().split(/\s+/)[0]))
  }
  return out
}

async function scrape (adminPort: number, upstreamUrl: string): Promise<Scraped> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  const text = await res.text()
  return {
    requests: buckets(text, 'gateway_http_request_duration_seconds', { route: ROUTE }),
    upstream: buckets(text, 'gateway_upstream_response_seconds', { service: SERVICE, target: upstreamUrl })
  }
}

/** per-bucket counts of what happened between two scrapes (de-cumulated) */
function perBucket (before: Cumulative, after: Cumulative): number[] {
  const bounds = [...LATENCY_BUCKETS, Infinity]
  const cumulative = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0))
  return cumulative.map((c, i) => c - (i === 0 ? 0 : cumulative[i - 1]!))
}

/**
 * histogram_quantile(): the bucket holding the q-th observation, linear within it
 * (from 0 for the first bucket); in the +Inf bucket, the largest finite bound.
 */
export function quantile (q: number, counts: number[], bounds: readonly number[] = LATENCY_BUCKETS): number {
  const total = counts.reduce((a, b) => a + b, 0)
  if (total === 0) return NaN
  const rank = q * total
  let below = 0
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!
      const lower = i === 0 ? 0 : bounds[i - 1]!
      return lower + (bounds[i]! - lower) * ((rank - below) / inBucket)
    }
    below += inBucket
  }
  return bounds[bounds.length - 1]!
}

const ms = (seconds: number) => seconds * 1000
function formatMs (value: number): string {
  if (value >= 1000) return `${+(value / 1000).toPrecision(3)} s`
  return `${value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2)} ms`
}
function boundLabel (seconds: number): string {
  if (seconds === Infinity) return `> ${boundLabel(LATENCY_BUCKETS.at(-1)!).slice(2)}`
  return seconds >= 1 ? `≤ ${seconds} s` : `≤ ${+(seconds * 1000).toPrecision(3)} ms`
}
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const thousands = (n: number) => Math.round(n).toLocaleString('en-US')

interface Series { name: string, color: string, counts: number[], p50: number, p99: number }

/** a self-contained SVG bar chart: buckets as categories, one bar per series per bucket, p50/p99 marked */
function svgChart (title: string, subtitle: string, series: Series[], footnote: string[]): string {
  const W = 960
  const H = 540
  const m = { left: 78, right: 24, top: 112, bottom: 96 }
  const plotW = W - m.left - m.right
  const plotH = H - m.top - m.bottom
  // categories: from the first bucket to one past the last non-empty one
  const lastUsed = Math.max(...series.map((s) => s.counts.reduce((last, c, i) => (c > 0 ? i : last), -1)))
  const n = Math.min(LATENCY_BUCKETS.length + 1, Math.max(lastUsed + 2, 6))
  const bounds = [...LATENCY_BUCKETS, Infinity].slice(0, n)
  const band = plotW / n
  const max = Math.max(1, ...series.flatMap((s) => s.counts.slice(0, n)))
  const step = niceStep(max / 5)
  const top = Math.ceil(max / step) * step
  const yOf = (v: number) => m.top + plotH - (v / top) * plotH
  /** x of a latency: its bucket's band, linear within it (as the quantile estimate is) */
  const xOf = (seconds: number) => {
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b)
    if (i < 0) return m.left + (LATENCY_BUCKETS.length) * band
    const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1]!
    return m.left + (i + (seconds - lower) / (LATENCY_BUCKETS[i]! - lower)) * band
  }
  const out: string[] = []
  const font = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${font} font-size="13">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${W / 2}" y="30" text-anchor="middle" font-size="17" font-weight="bold" fill="#1f2328">${escapeXml(title)}</text>`)
  out.push(`<text x="${W / 2}" y="52" text-anchor="middle" font-size="12.5" fill="#57606a">${escapeXml(subtitle)}</text>`)
  // legend with the quantiles
  series.forEach((s, i) => {
    const y = 76 + i * 19
    out.push(`<rect x="${m.left}" y="${y - 11}" width="14" height="14" fill="${s.color}"/>`)
    out.push(`<text x="${m.left + 20}" y="${y}" fill="#1f2328">${escapeXml(s.name)}: ${thousands(s.counts.reduce((a, b) => a + b, 0))} observations, p50 ≈ ${formatMs(ms(s.p50))}, p99 ≈ ${formatMs(ms(s.p99))}</text>`)
  })
  // grid and y axis
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = yOf(v)
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${v === 0 ? '#57606a' : '#d0d7de'}" stroke-width="1"/>`)
    out.push(`<text x="${m.left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#57606a">${thousands(v)}</text>`)
  }
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#57606a">requests in the bucket</text>`)
  // bars (their counts are drawn last, over the quantile markers)
  const counts: string[] = []
  const gap = band * 0.14
  const barW = (band - 2 * gap) / series.length
  for (let i = 0; i < n; i++) {
    series.forEach((s, k) => {
      const v = s.counts[i] ?? 0
      const x = m.left + i * band + gap + k * barW
      const y = yOf(v)
      out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(m.top + plotH - y).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name}, ${boundLabel(bounds[i]!)}: ${thousands(v)}`)}</title></rect>`)
      // the count over the bar: the tail buckets are too small to see at this scale
      if (v > 0) counts.push(`<text x="${(x + (barW - 1) / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" fill="${s.color}" font-size="10" stroke="#ffffff" stroke-width="3" paint-order="stroke">${thousands(v)}</text>`)
    })
    out.push(`<text x="${(m.left + (i + 0.5) * band).toFixed(1)}" y="${m.top + plotH + 18}" text-anchor="middle" fill="#1f2328" font-size="12">${escapeXml(boundLabel(bounds[i]!))}</text>`)
  }
  out.push(`<text x="${m.left + plotW / 2}" y="${m.top + plotH + 40}" text-anchor="middle" fill="#57606a">latency bucket (Prometheus le bounds, log-spaced)</text>`)
  // quantile markers: dashed for p50, solid for p99, labels staggered so they do not collide
  const markers = series.flatMap((s, k) => [{ s, k, q: 'p50', v: s.p50, dash: '5 4' }, { s, k, q: 'p99', v: s.p99, dash: '' }])
    .filter((mk) => Number.isFinite(mk.v)).sort((a, b) => xOf(a.v) - xOf(b.v))
  markers.forEach((mk, j) => {
    const x = xOf(mk.v)
    const labelY = m.top + 14 + j * 16
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${labelY + 4}" y2="${m.top + plotH}" stroke="${mk.s.color}" stroke-width="2"${mk.dash ? ` stroke-dasharray="${mk.dash}"` : ''}/>`)
    const anchorRight = x > W - m.right - 120
    out.push(`<text x="${(x + (anchorRight ? -5 : 5)).toFixed(1)}" y="${labelY}" text-anchor="${anchorRight ? 'end' : 'start'}" fill="${mk.s.color}" font-weight="bold" font-size="12">${mk.q} ${formatMs(ms(mk.v))}</text>`)
  })
  out.push(...counts)
  footnote.forEach((line, i) => out.push(`<text x="${m.left}" y="${H - 30 + i * 16}" fill="#57606a" font-size="11.5">${escapeXml(line)}</text>`))
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function niceStep (raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw))
  for (const f of [1, 2, 2.5, 5, 10]) if (f * power >= raw) return f * power
  return 10 * power
}

/** what a run measured: bench/results/latency-histogram.json */
export interface Result {
  date: string
  node: string
  cpu: string
  cores: number
  flags: { duration: number, connections: number, warmup: number, path: string }
  route: string
  /** client-side figures (whole milliseconds) */
  /** what the load generator (`loader`) measured */
  client: { loader: string, rps: number, p50Ms: number, p99Ms: number, errors: number, non2xx: number }
  gateway: { count: number, p50Ms: number, p99Ms: number }
  upstream: { count: number, p50Ms: number, p99Ms: number }
  /** per-bucket (not cumulative) counts of the run, warm-up excluded */
  buckets: Array<{ le: number | '+Inf', requests: number, upstream: number }>
}

/** the README's chart of a run, from its saved numbers */
export function render (r: Result): string {
  const requests = r.buckets.map((b) => b.requests)
  const upstream = r.buckets.map((b) => b.upstream)
  const series: Series[] = [
    { name: `gateway request duration (route ${r.route})`, color: '#0969da', counts: requests, p50: quantile(0.5, requests), p99: quantile(0.99, requests) },
    { name: 'upstream response (headers, per attempt)', color: '#e16f24', counts: upstream, p50: quantile(0.5, upstream), p99: quantile(0.99, upstream) }
  ]
  const title = `HealthPay Gateway under load: GET ${r.flags.path}, JWT + in-memory rate limit`
  const subtitle = `${r.date.slice(0, 10)} · ${r.cpu}, ${r.cores} cores · Node ${r.node} · ${r.client.loader} ${r.flags.connections} connections, ${r.flags.duration} s · ${thousands(r.client.rps)} req/s`
  const footnote = [
    'From the admin /metrics, scraped before and after the run (warm-up excluded); p50/p99 interpolated in their bucket like histogram_quantile().',
    `Measured by the client (${r.client.loader}): p50 ${r.client.p50Ms} ms, p99 ${r.client.p99Ms} ms.`
  ]
  return svgChart(title, subtitle, series, footnote)
}

async function main (): Promise<void> {
  const duration = Number(flags.duration)
  const connections = Number(flags.connections)
  if (!(duration > 0 && duration <= 120) || !(connections > 0 && connections <= 1000)) throw new Error('--duration must be in 1..120 s and --connections in 1..1000')
  const upstream = await start('upstream', '1', join(here, 'upstream.js'), {})
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`
  const secret = randomBytes(32).toString('hex')
  const token = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3_600_000 })({ sub: 'u-bench', roles: ['customer'], tier: 'premium' })
  const adminPort = await freePort()
  const gateway = {
    ...await start('gateway', '0', join(root, 'dist', 'src', 'server.js'), {
      HOST: '127.0.0.1', ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(adminPort), LOG_LEVEL: 'warn',
      COMMAND_SERVICE_URL: upstreamUrl, QUERY_SERVICE_URL: upstreamUrl,
      JWT_SECRET: secret, RATE_LIMIT_PREMIUM: '1000000000',
      // as the Dockerfile runs it, like every gateway in npm run bench
      NODE_OPTIONS: gatewayNodeOptions()
    }, gatewayNodeFlags()),
    headers: { authorization: `Bearer ${token}` }
  }
  try {
    if (Number(flags.warmup) > 0) load(gateway, Number(flags.warmup))
    const before = await scrape(adminPort, upstreamUrl)
    const sample = load(gateway, duration)
    const after = await scrape(adminPort, upstreamUrl)
    const requests = perBucket(before.requests, after.requests)
    const upstreamCounts = perBucket(before.upstream, after.upstream)
    const total = requests.reduce((a, b) => a + b, 0)
    if (total === 0) throw new Error(`no request was counted under ${ROUTE}: is the path ${flags.path} on that route?`)
    const bounds = [...LATENCY_BUCKETS, Infinity]
    const upstreamTotal = upstreamCounts.reduce((a, b) => a + b, 0)
    const result: Result = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU',
      cores: os.cpus().length,
      flags: { duration, connections, warmup: Number(flags.warmup), path: flags.path! },
      route: ROUTE,
      client: { loader: pickLoader(flags.loader!), rps: sample.rps, p50Ms: sample.p50, p99Ms: sample.p99, errors: sample.errors, non2xx: sample.non2xx },
      gateway: { count: total, p50Ms: ms(quantile(0.5, requests)), p99Ms: ms(quantile(0.99, requests)) },
      upstream: { count: upstreamTotal, p50Ms: ms(quantile(0.5, upstreamCounts)), p99Ms: ms(quantile(0.99, upstreamCounts)) },
      buckets: bounds.map((le, i) => ({ le: le === Infinity ? '+Inf' : le, requests: requests[i]!, upstream: upstreamCounts[i]! }))
    }
    mkdirSync(join(root, 'bench', 'results'), { recursive: true })
    writeFileSync(join(root, 'bench', 'results', 'latency-histogram.json'), JSON.stringify(result, null, 2) + '\n')
    mkdirSync(join(root, 'docs', 'img'), { recursive: true })
    writeFileSync(join(root, 'docs', 'img', 'latency-histogram.svg'), render(result))
    console.log(`${duration} s, ${connections} connections, GET ${flags.path} (JWT + in-memory rate limit): ${thousands(sample.rps)} req/s, ${sample.errors + sample.non2xx} errors/non-2xx`)
    console.log(`gateway request duration (${thousands(total)} requests): p50 ≈ ${formatMs(result.gateway.p50Ms)}, p99 ≈ ${formatMs(result.gateway.p99Ms)}`)
    console.log(`upstream response (${thousands(upstreamTotal)} attempts): p50 ≈ ${formatMs(result.upstream.p50Ms)}, p99 ≈ ${formatMs(result.upstream.p99Ms)}`)
    console.log(`${pickLoader(flags.loader!)} (client side): p50 ${sample.p50} ms, p99 ${sample.p99} ms`)
    console.log('bucket        requests   upstream')
    bounds.forEach((le, i) => console.log(`${boundLabel(le).padEnd(10)} ${String(requests[i]).padStart(11)} ${String(upstreamCounts[i]).padStart(10)}`))
    console.log('wrote docs/img/latency-histogram.svg and bench/results/latency-histogram.json')
  } finally {
    for (const s of [gateway, upstream]) s.child.kill('SIGTERM')
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
