// The benchmark's pure parts: reading wrk's report, the table, the chart. (The bench
// itself measures; it is run by hand, never timed in the suite.)
import t from 'tap'
import { parseWrk, median } from '../../bench/harness.js'
import { renderChart } from '../../bench/chart.js'

const WRK = `Running 10s test @ http://127.0.0.1:41234/v1/api/wallets/w-bench
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.21ms    3.02ms  61.87ms   88.12%
    Req/Sec     7.03k   512.33     7.91k    71.00%
  Latency Distribution
     50%    6.58ms
     75%    7.90ms
     90%    9.87ms
     99%   18.02ms
  70012 requests in 10.00s, 25.01MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   7000.55
Transfer/sec:      2.50MB
`

t.test('parseWrk reads throughput, percentiles in any unit, counts and errors', async (t) => {
  t.same(parseWrk(WRK), { rps: 7000.55, p50: 6.58, p99: 18.02, requests: 70012, errors: 5, non2xx: 7 })
  const micro = WRK.replace('6.58ms', '812.00us').replace('18.02ms', '1.20s')
  const parsed = parseWrk(micro)
  t.equal(parsed.p50, 0.812)
  t.equal(parsed.p99, 1200)
  const clean = WRK.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '')
  t.match(parseWrk(clean), { errors: 0, non2xx: 0 })
  t.throws(() => parseWrk('wrk: connection refused'), /no 50% line/)
})

t.test('the chart: one bar per configuration in each panel, ratios to the baseline, escaped names, a sweep panel', async (t) => {
  const svg = renderChart({
    title: 'Gateway <vs> bare',
    subtitle: 'test',
    rows: [
      { name: 'bare', rps: 10000, p99: 10, baseline: true },
      { name: 'full & all', rps: 8500, p99: 13 }
    ],
    sweep: [
      { connections: 50, rows: [{ name: 'bare', rps: 10000, p99: 10 }, { name: 'full & all', rps: 8500, p99: 13 }] },
      { connections: 1000, rows: [{ name: 'bare', rps: 9000, p99: 200 }, { name: 'full & all', rps: 8000, p99: 150 }] }
    ]
  })
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, /Gateway &lt;vs&gt; bare/)
  t.match(svg, /full &amp; all/)
  t.notMatch(svg, /full & all/, 'names are escaped')
  t.match(svg, /8500 req\/s \(0\.85×\)/)
  t.match(svg, /13\.0 ms \(1\.30×\)/)
  t.notMatch(svg, /10000 req\/s \(/, 'the baseline has no ratio')
  t.match(svg, /1000 connections/)
  // the sweep's p99 axis is logarithmic: decades 1..1000 ms for values 10..200 ms
  t.match(svg, /log scale/)
  for (const label of ['1.00', '10.0', '100', '1000']) t.match(svg, new RegExp(`text-anchor="end">${label.replace('.', '\\.')}</text>`), `gridline ${label}`)
  t.match(svg, /height="53\.3" fill="#7f8c8d"/, 'p99 10 ms is one decade of three')
  t.match(svg, /height="122\.7" fill="#7f8c8d"/, 'p99 200 ms is log10(200) of three decades')
  // throughput panel + p99 panel: 2 bars each; sweep: 2 × 2; plus 2 legend squares
  t.equal(svg.match(/<rect /g)!.length, 1 + 4 + 4 + 2)
  t.notMatch(svg, /NaN|Infinity|undefined/)
})

t.test('a chart without a sweep has no sweep panel', async (t) => {
  const svg = renderChart({ title: 't', subtitle: 's', rows: [{ name: 'bare', rps: 1, p99: 1, baseline: true }], sweep: [] })
  t.notMatch(svg, /by concurrent connections/)
  t.notMatch(svg, /NaN|Infinity/)
})

t.test('the latency of a configuration is its median round', async (t) => {
  t.equal(median([28.4, 30.4, 10.4]), 28.4, 'odd count: the middle round, whatever the order')
  t.equal(median([4, 1, 3, 2]), 2.5, 'even count: the mean of the two middle rounds')
  t.equal(median([7]), 7, 'one round: itself')
})

t.test('open-connection latency: first answers kept apart, only later requests after the warm-up counted', async (t) => {
  const { summariseEstablished } = await import('../../bench/established.js')
  const e = summariseEstablished({ connections: 3, seconds: 12, warmSeconds: 2 }, [4000, 100, 900], [5, 1, 3, 2, 4])
  t.match(e, { p50: 3, p99: 5, counted: 5, answered: 3, connections: 3, allAnsweredMs: 4000, firstAnswerP50Ms: 900 })
  t.equal(e.rps, 0.5, 'counted requests over the counted seconds')
  const partial = summariseEstablished({ connections: 4, seconds: 12, warmSeconds: 2 }, [100, 200], [1])
  t.ok(Number.isNaN(partial.allAnsweredMs), 'a connection never answered: no "all answered" time')
  t.equal(partial.answered, 2)
})

t.test('the sweep table shows the whole-run p99 and the open-connection p99, each as a ratio to the baseline', async (t) => {
  const { formatSweep } = await import('../../bench/run.js')
  const { summariseEstablished } = await import('../../bench/established.js')
  const row = (name: string, p99: number, openP99: number, firsts: number[]) => ({
    id: name, name, rps: 1000, p50: 1, p99, p99Mean: p99, cpuUsPerRequest: 100, rssMb: 100, errors: 0, non2xx: 0, ratio: { rps: 1, p99: p99 / 7000, cpu: 1 },
    established: summariseEstablished({ connections: 2, seconds: 10, warmSeconds: 5 }, firsts, [openP99])
  })
  const out = formatSweep([{ connections: 1000, rows: [row('bare', 7000, 300, [100, 800]), row('gateway', 7700, 330, [100])] }])
  const [, bare, gateway] = out.split('\n')
  t.match(bare, /1000 {2}bare .*7000\.0 +1\.00 .*300\.0 +1\.00 \| +0\.8 s$/)
  t.match(gateway, /7700\.0 +1\.10 .*330\.0 +1\.10 \| +1\/2 answered$/)
})
