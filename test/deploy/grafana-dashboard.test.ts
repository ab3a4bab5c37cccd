// deploy/grafana-dashboard.json: importable (datasource input, variables, tidy
// grid, every panel titled and queried), and every PromQL expression in it asks
// for metrics and labels a real gateway exports. The gateway gets traffic that
// gives each labelled family its series (a refused target, an opened breaker, a
// deprecated version's consumer), then its /metrics is scraped and each metric
// and label the dashboard names is looked up in that scrape.
import t from 'tap'
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET, freePort } from '../helpers.js'
import { scrape, type Scrape } from '../metrics/scrape.js'

const file = fileURLToPath(new URL('../../deploy/grafana-dashboard.json', import.meta.url))
const dashboard = JSON.parse(readFileSync(file, 'utf8'))

interface GridPos { x: number, y: number, w: number, h: number }
interface Target { expr: string, refId: string, datasource?: { uid?: string } }
interface Panel { id: number, type: string, title?: string, gridPos: GridPos, datasource?: { type?: string, uid?: string }, targets?: Target[], panels?: Panel[] }

const DS = '${DS_PROMETHEUS}'
// rows of a collapsed row carry their panels inside it
const all: Panel[] = dashboard.panels.flatMap((p: Panel) => [p, ...(p.panels ?? [])])
const panels = all.filter((p) => p.type !== 'row')

// ---------------------------------------------------------------------------
// PromQL → the metrics it selects and the labels it uses
// ---------------------------------------------------------------------------
interface Reference { metric: string, labels: Set<string> }

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan'])

/**
 * The metric names an expression selects, each with the labels used on it: its
 * own matchers ({label="…"}), and every label of a by (…) / on (…) clause of the
 * expression (the dashboard keeps to expressions where a grouping applies to every
 * metric in them). Functions are identifiers followed by "(", Grafana variables
 * only occur in strings and ranges, which are dropped first.
 */
function references (expr: string): Reference[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\[[^\]]*\]/g, '')
  const grouping = new Set<string>()
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_, keyword: string, list: string) => {
    if (keyword !== 'without') for (const label of list.split(',').map((l) => l.trim()).filter(Boolean)) grouping.add(label)
    return ' '
  })
  const refs: Reference[] = []
  s = s.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}/g, (_, metric: string | undefined, matchers: string) => {
    if (metric === undefined) throw new Error(`a selector without a metric name in ${expr}`)
    refs.push({ metric, labels: new Set([...matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!)) })
    return ' '
  })
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] !== undefined || KEYWORDS.has(m[1]!.toLowerCase())) continue // a function, aggregation or keyword
    refs.push({ metric: m[1]!, labels: new Set() })
  }
  if (refs.length === 0) throw new Error(`no metric in ${expr}`)
  for (const ref of refs) for (const label of grouping) ref.labels.add(label)
  return refs
}

t.test('the PromQL reader finds metrics and labels', async (t) => {
  t.same(references('histogram_quantile(0.99, sum by (route, le) (rate(gateway_http_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'),
    [{ metric: 'gateway_http_request_duration_seconds_bucket', labels: new Set(['instance', 'route', 'le']) }])
  t.same(references('count(max by (service) (gateway_circuit_breaker_state{service=~"$service"}) == 2) or vector(0)'),
    [{ metric: 'gateway_circuit_breaker_state', labels: new Set(['service']) }])
  t.same(references('rate(process_cpu_user_seconds_total[5m]) + nodejs_heap_size_used_bytes').map((r) => r.metric), ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes'])
  t.same(references('sum(rate(x_total{a="b{c}", d!~"e"}[1m])) / sum(x_total)').map((r) => [r.metric, [...r.labels]]), [['x_total', ['a', 'd']], ['x_total', []]])
})

// ---------------------------------------------------------------------------
// the file itself
// ---------------------------------------------------------------------------
t.test('importable: the Prometheus datasource input and the variables', async (t) => {
  t.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`)
  t.equal(dashboard.id, null, 'no id: Grafana assigns one on import')
  t.ok(typeof dashboard.uid === 'string' && dashboard.uid.length > 0 && dashboard.uid.length <= 40)
  t.match(dashboard.__inputs, [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }])
  t.equal(dashboard.__inputs.length, 1)
  const variables = Object.fromEntries(dashboard.templating.list.map((v: any) => [v.name, v]))
  t.match(variables.instance, { type: 'query', datasource: { type: 'prometheus', uid: DS }, multi: true, includeAll: true })
  t.match(variables.instance.query, /^label_values\(gateway_http_requests_total,\s*instance\)$/)
  t.match(variables.service, { type: 'query', datasource: { type: 'prometheus', uid: DS } })
  t.match(variables.service.query, /^label_values\(gateway_circuit_breaker_state,\s*service\)$/)
})

t.test('every panel is titled, queries the input datasource, and sits on its own cells', async (t) => {
  t.ok(panels.length >= 20, `${panels.length} panels`)
  t.ok(all.some((p) => p.type === 'row'), 'grouped in rows')
  const ids = all.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const p of all) {
    const { x, y, w, h } = p.gridPos
    t.ok(Number.isInteger(x) && Number.isInteger(y) && w > 0 && h > 0 && x >= 0 && x + w <= 24, `"${p.title}" fits the 24-column grid`)
  }
  for (const p of panels) {
    t.ok(['timeseries', 'stat', 'heatmap'].includes(p.type), `"${p.title}" is a ${p.type}`)
    t.ok(typeof p.title === 'string' && p.title.trim() !== '', `panel ${p.id} has a title`)
    t.ok((p.targets ?? []).length >= 1, `"${p.title}" has a target`)
    t.equal(p.datasource?.uid, DS, `"${p.title}" uses the datasource input`)
    for (const target of p.targets ?? []) {
      t.ok(target.expr.trim() !== '', `"${p.title}" ${target.refId} has an expression`)
      t.equal(target.datasource?.uid, DS)
    }
    t.equal(new Set(p.targets!.map((x) => x.refId)).size, p.targets!.length, `"${p.title}" refIds are unique`)
  }
  const overlaps: string[] = []
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!.gridPos
      const b = all[j]!.gridPos
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) overlaps.push(`"${all[i]!.title}" and "${all[j]!.title}"`)
    }
  }
  t.same(overlaps, [], 'no two panels overlap')
  const breaker = panels.find((p) => p.type === 'stat' && /circuit breaker state/i.test(p.title!)) as any
  t.match(breaker?.fieldConfig.defaults.mappings, [{ type: 'value', options: { 0: { text: 'closed', color: 'green' }, 1: { text: 'half-open', color: 'orange' }, 2: { text: 'open', color: 'red' } } }])
})

// ---------------------------------------------------------------------------
// against a real gateway's exposition
// ---------------------------------------------------------------------------
/** the sample names a reference stands for, and whether it names the family or one of its series */
function resolve (m: Scrape, metric: string): { family: string, sampleNames: string[] } | undefined {
  const type = m.types.get(metric)
  if (type === 'histogram' || type === 'summary') return { family: metric, sampleNames: [...new Set(m.samples.filter((s) => s.name.startsWith(metric + '_') || s.name === metric).map((s) => s.name))] }
  if (type !== undefined) return { family: metric, sampleNames: [metric] }
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(metric)
  if (suffix) {
    const base = m.types.get(suffix[1]!)
    if ((base === 'histogram') || (base === 'summary' && suffix[2] !== 'bucket')) return { family: suffix[1]!, sampleNames: [metric] }
  }
  return undefined
}

t.test('every metric and label the dashboard queries is in a gateway\'s /metrics', async (t) => {
  const up = await startUpstream(t)
  const dead = `http://127.0.0.1:${await freePort()}`
  const gw = await startGateway(t, {
    // the command service (/auth) refuses: upstream errors, a target down, a breaker transition
    services: servicesFor(dead, up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    rateLimit: { enabled: true },
    breaker: { minRequests: 1 },
    retry: { attempts: 0 },
    versioning: { deprecated: [{ version: 1, sunset: '2099-12-31' }] }
  })
  const alice = bearer(signToken({ sub: 'u-alice' }))
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await call(`${gw.url}/v1/api/wallets/w${i}`, { headers: alice })).status)
  statuses.push((await call(`${gw.url}/v2/api/wallets/w1`, { headers: alice })).status)
  statuses.push((await call(`${gw.url}/v1/api/wallets/w1`)).status)
  statuses.push((await call(`${gw.url}/v1/auth/login`, { method: 'POST' })).status)
  statuses.push((await call(`${gw.url}/v1/auth/login`, { method: 'POST' })).status)
  t.same(statuses, [200, 200, 200, 200, 401, 502, 503], 'proxied, refused, upstream refused, breaker open')

  const m = await scrape(gw.adminUrl)
  const expressions = [
    ...panels.flatMap((p) => p.targets!.map((target) => ({ where: `"${p.title}" ${target.refId}`, expr: target.expr }))),
    ...dashboard.templating.list.map((v: any) => ({ where: `variable ${v.name}`, expr: String(v.query).replace(/^label_values\((.*),\s*(\w+)\)$/, '$1{$2=""}') }))
  ]
  const seen = new Set<string>()
  for (const { where, expr } of expressions) {
    for (const ref of references(expr)) {
      seen.add(ref.metric)
      t.match(ref.metric, /^(gateway|process|nodejs)_/, `${where}: ${ref.metric} is a gateway or process metric`)
      const found = resolve(m, ref.metric)
      if (!t.ok(found, `${where}: ${ref.metric} is exported`)) continue
      if (!ref.metric.startsWith('gateway_')) continue
      const samples = m.samples.filter((s) => found!.sampleNames.includes(s.name))
      const labels = [...ref.labels].filter((l) => l !== 'instance') // added by Prometheus at scrape
      if (labels.length === 0) continue
      if (!t.ok(samples.length > 0, `${where}: ${ref.metric} has samples to check its labels on`)) continue
      const exported = new Set(samples.flatMap((s) => Object.keys(s.labels)))
      for (const label of labels) t.ok(exported.has(label), `${where}: ${ref.metric} has the label "${label}" (has: ${[...exported].join(', ') || 'none'})`)
    }
  }
  // each gateway_* family is on the dashboard
  const families = [...m.types.keys()].filter((name) => name.startsWith('gateway_'))
  const shown = new Set([...seen].map((name) => resolve(m, name)?.family))
  t.same(families.filter((f) => !shown.has(f)), [], 'every gateway_* metric has a panel')
})

// Grafana's variables replaced by what they stand for, each expression a recording
// rule: `promtool check rules` parses them all with Prometheus's own PromQL parser.
const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
t.test('every expression is valid PromQL (promtool check rules)', { skip: promtool.error ? 'promtool not installed (Debian package "prometheus"): PromQL not parsed' : false }, async (t) => {
  const concrete = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h').replaceAll('$instance', '.*').replaceAll('$service', '.*')
  const rules = panels.flatMap((p) => p.targets!.map((target, i) => ({ record: `dashboard:panel_${p.id}:${i}`, expr: concrete(target.expr) })))
  t.notOk(rules.some((r) => r.expr.includes('$')), 'every variable replaced')
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-promql-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'rules.json') // YAML is a superset of JSON
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }))
  const check = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })
  t.equal(check.status, 0, `promtool check rules: ${check.stdout.trim()} ${check.stderr.trim()}`)
})
