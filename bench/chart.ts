// The benchmark's chart, as a self-contained SVG (no fonts or scripts to fetch):
// throughput and p99 per configuration beside the baseline, and, when the run swept
// concurrency, p99 at each connection count. Pure: results in, text out.

export interface ChartRow { name: string, rps: number, p99: number, baseline?: boolean }
export interface SweepPoint { connections: number, rows: Array<{ name: string, p99: number, rps: number }> }
export interface ChartInput { title: string, subtitle: string, rows: ChartRow[], sweep: SweepPoint[] }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fmt = (n: number) => (n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(1) : n.toFixed(2))
const COLORS = { baseline: '#7f8c8d', gateway: '#2e86de', sweep: ['#7f8c8d', '#2e86de', '#e67e22', '#27ae60'] }

/** one horizontal bar panel, each bar labelled with its value and its ratio to the baseline */
function barPanel (x: number, y: number, width: number, title: string, unit: string, rows: ChartRow[], value: (r: ChartRow) => number): { svg: string, height: number } {
  const label = 250
  const bar = 18
  const gap = 8
  const scaleWidth = width - label - 110
  const max = Math.max(...rows.map(value), 1e-9)
  const base = rows.find((r) => r.baseline)
  const parts = [`<text x="${x}" y="${y + 14}" class="h">${esc(title)}</text>`]
  rows.forEach((r, i) => {
    const top = y + 26 + i * (bar + gap)
    const v = value(r)
    const w = Math.max(1, (v / max) * scaleWidth)
    const ratio = base && !r.baseline && value(base) > 0 ? ` (${(v / value(base)).toFixed(2)}×)` : ''
    parts.push(
      `<text x="${x + label - 8}" y="${top + 13}" class="l">${esc(r.name)}</text>`,
      `<rect x="${x + label}" y="${top}" width="${w.toFixed(1)}" height="${bar}" fill="${r.baseline ? COLORS.baseline : COLORS.gateway}"/>`,
      `<text x="${x + label + w + 6}" y="${top + 13}" class="v">${fmt(v)} ${unit}${ratio}</text>`
    )
  })
  return { svg: parts.join('\n'), height: 26 + rows.length * (bar + gap) + 10 }
}

/** grouped bars: p99 per connection count, one bar per configuration */
function sweepPanel (x: number, y: number, width: number, sweep: SweepPoint[]): { svg: string, height: number } {
  const names = [...new Set(sweep.flatMap((s) => s.rows.map((r) => r.name)))]
  const plotHeight = 160
  // log scale: p99 spans ms at 50 connections to seconds at 1000
  const values = sweep.flatMap((s) => s.rows.map((r) => r.p99)).filter((v) => v > 0)
  const lo = Math.floor(Math.log10(Math.min(...values, 1)))
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values, 1))))
  const scaled = (v: number) => (v > 0 ? Math.max(0, (Math.log10(v) - lo) / (hi - lo)) : 0)
  const groupWidth = (width - 60) / sweep.length
  const barWidth = Math.min(60, (groupWidth - 30) / names.length)
  const top = y + 40
  const parts = [`<text x="${x}" y="${y + 14}" class="h">p99 latency (ms, log scale) by concurrent connections</text>`]
  for (let decade = lo; decade <= hi; decade++) {
    const gy = (top + plotHeight - ((decade - lo) / (hi - lo)) * plotHeight).toFixed(1)
    parts.push(`<line x1="${x + 40}" y1="${gy}" x2="${x + width - 20}" y2="${gy}" stroke="#eee"/>`, `<text x="${x + 36}" y="${gy}" class="s" text-anchor="end">${fmt(10 ** decade)}</text>`)
  }
  names.forEach((name, i) => {
    parts.push(`<rect x="${x + i * 230}" y="${y + 20}" width="10" height="10" fill="${COLORS.sweep[i % COLORS.sweep.length]}"/>`, `<text x="${x + 14 + i * 230}" y="${y + 29}" class="s">${esc(name)}</text>`)
  })
  parts.push(`<line x1="${x + 40}" y1="${top + plotHeight}" x2="${x + width - 20}" y2="${top + plotHeight}" stroke="#999"/>`)
  sweep.forEach((point, g) => {
    const gx = x + 50 + g * groupWidth
    point.rows.forEach((r) => {
      const i = names.indexOf(r.name)
      const h = Math.max(1, scaled(r.p99) * plotHeight)
      const bx = gx + i * (barWidth + 4)
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${(top + plotHeight - h).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS.sweep[i % COLORS.sweep.length]}"/>`,
        `<text x="${(bx + barWidth / 2).toFixed(1)}" y="${(top + plotHeight - h - 4).toFixed(1)}" class="c">${fmt(r.p99)}</text>`
      )
    })
    parts.push(`<text x="${(gx + (names.length * (barWidth + 4)) / 2).toFixed(1)}" y="${top + plotHeight + 16}" class="c">${point.connections} connections</text>`)
  })
  return { svg: parts.join('\n'), height: 40 + plotHeight + 30 }
}

export function renderChart (input: ChartInput): string {
  const width = 960
  const pad = 20
  let y = 56
  const panels: string[] = []
  const rps = barPanel(pad, y, width - 2 * pad, 'Throughput (requests/s, higher is better; ratio to the baseline)', 'req/s', input.rows, (r) => r.rps)
  panels.push(rps.svg)
  y += rps.height
  const p99 = barPanel(pad, y, width - 2 * pad, 'p99 latency (ms, lower is better; ratio to the baseline)', 'ms', input.rows, (r) => r.p99)
  panels.push(p99.svg)
  y += p99.height
  if (input.sweep.length > 0) {
    const sweep = sweepPanel(pad, y, width - 2 * pad, input.sweep)
    panels.push(sweep.svg)
    y += sweep.height
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + pad}" viewBox="0 0 ${width} ${y + pad}" font-family="Helvetica, Arial, sans-serif">
<style>.t{font-size:17px;font-weight:bold}.h{font-size:14px;font-weight:bold}.l{font-size:12px;text-anchor:end}.v{font-size:12px}.s{font-size:12px}.c{font-size:11px;text-anchor:middle}.sub{font-size:12px;fill:#555}</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad}" y="24" class="t">${esc(input.title)}</text>
<text x="${pad}" y="42" class="sub">${esc(input.subtitle)}</text>
${panels.join('\n')}
</svg>
`
}

/** what bench/results/latest.json holds that the chart draws */
export interface BenchResult {
  date: string
  machine: { cpus: number, model?: string, node: string }
  settings: { loader: string, connections: number, rounds: number, duration: number }
  rows: Array<{ id: string, name: string, rps: number, p99: number }>
  sweep: Array<{ connections: number, rows: Array<{ name: string, rps: number, p99: number }> }>
}

/** the chart of one bench run (also redrawn from a saved latest.json) */
export function chartOf (result: BenchResult): string {
  const { machine: m, settings: s } = result
  return renderChart({
    title: 'HealthPay Gateway vs bare Fastify + @fastify/http-proxy',
    subtitle: `${result.date.slice(0, 10)} · ${m.cpus} × ${m.model} · Node ${m.node} · ${s.loader}, ${s.connections} connections, ${s.rounds} × ${s.duration} s · server on 1 pinned core`,
    rows: result.rows.map((r) => ({ name: r.name, rps: r.rps, p99: r.p99, baseline: r.id === 'baseline' })),
    sweep: result.sweep.map((p) => ({ connections: p.connections, rows: p.rows.map((r) => ({ name: r.name, rps: r.rps, p99: r.p99 })) }))
  })
}
