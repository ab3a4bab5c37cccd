// The bound counter and histogram families against prom-client's own: the same
// exposition for the same observations (le inclusive, cumulative buckets, +Inf).
import t from 'tap'
import { Registry, Histogram, Counter } from 'prom-client'
import { CounterFamily, HistogramFamily } from '../../plugins/metrics/families.js'

const BOUNDS = [0.001, 0.01, 0.1, 1]
const VALUES = [0, 0.0005, 0.001, 0.0010001, 0.05, 0.1, 0.7, 1, 3, 1e9]

t.test('a bound histogram exposes exactly what prom-client\'s Histogram does', async (t) => {
  const ours = new Registry()
  const theirs = new Registry()
  const family = new HistogramFamily('x_seconds', 'help text', BOUNDS, ours)
  family.counter('x_total', 'count', ours)
  const reference = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['route', 'status'], buckets: BOUNDS, registers: [theirs] })
  const counter = new Counter({ name: 'x_total', help: 'count', labelNames: ['route', 'status'], registers: [theirs] })
  for (const [route, status] of [['/a/*', '200'], ['/b/*', '503']] as const) {
    const child = family.child({ route, status })
    t.equal(family.child({ route, status }), child, 'the same child for the same labels')
    for (const v of VALUES) {
      child.observe(v)
      reference.observe({ route, status }, v)
      counter.inc({ route, status })
    }
  }
  t.equal(await ours.metrics(), await theirs.metrics())
  ours.resetMetrics()
  t.match(await ours.metrics(), /x_seconds_count\{route="\/a\/\*",status="200"\} 0/, 'reset zeroes in place')
})

t.test('a bound counter exports its children from the moment they are bound', async (t) => {
  const registry = new Registry()
  const family = new CounterFamily('y_total', 'decisions', registry)
  const allowed = family.child({ tier: 'premium', decision: 'allowed' })
  family.child({ tier: 'premium', decision: 'rejected' })
  allowed.inc()
  allowed.inc()
  t.equal(await registry.metrics(), '# HELP y_total decisions\n# TYPE y_total counter\ny_total{tier="premium",decision="allowed"} 2\ny_total{tier="premium",decision="rejected"} 0\n')
})

t.test('an unlabelled family child is exposed without braces (the /ws counters)', async (t) => {
  const registry = new Registry()
  const sent = new CounterFamily('z_messages_total', 'sent', registry).child({})
  const lag = new HistogramFamily('z_lag_seconds', 'lag', [0.1], registry).child({})
  sent.inc()
  lag.observe(0.05)
  t.equal(await registry.metrics(), '# HELP z_messages_total sent\n# TYPE z_messages_total counter\nz_messages_total 1\n\n# HELP z_lag_seconds lag\n# TYPE z_lag_seconds histogram\nz_lag_seconds_bucket{le="0.1"} 1\nz_lag_seconds_bucket{le="+Inf"} 1\nz_lag_seconds_sum 0.05\nz_lag_seconds_count 1\n')
})
