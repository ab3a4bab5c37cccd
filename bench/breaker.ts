// The circuit breaker's cost per request, in-process: what admit() + record() add
// to a plain call, what the open-state decision (the fallback path) costs, and
// cockatiel's own CircuitBreakerPolicy.execute for comparison. Bounded: a fixed
// number of calls per row, well under a second each.
//   node dist/bench/breaker.js        (also run at the end of npm run bench)
import { fileURLToPath } from 'node:url'
import { circuitBreaker, handleAll, SamplingBreaker } from 'cockatiel'
import { ServiceBreaker, REFUSED } from '../plugins/circuit-breaker/breaker.js'

export interface BreakerRow { name: string, nsPerCall: number, overheadNs: number }

const settings = { errorThreshold: 0.5, windowMs: 10_000, minRequests: 10, resetMs: 3_600_000, halfOpenRequests: 3 }
let sink = 0
const work = (i: number) => { sink += i & 1 }

function timeSync (calls: number, body: (i: number) => void): number {
  for (let i = 0; i < calls / 10; i++) body(i) // warm-up: let the JIT settle
  const start = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) body(i)
  return Number(process.hrtime.bigint() - start) / calls
}

async function timeAsync (calls: number, body: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < calls / 10; i++) await body(i)
  const start = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) await body(i)
  return Number(process.hrtime.bigint() - start) / calls
}

export async function breakerBench (calls = 2_000_000): Promise<BreakerRow[]> {
  const closed = new ServiceBreaker('bench', settings)
  const open = new ServiceBreaker('bench', settings)
  for (let i = 0; i < settings.minRequests; i++) open.record(open.admit(), 'failure')
  if (open.admit() !== REFUSED) throw new Error('the open breaker should refuse')

  const plain = timeSync(calls, work)
  const guarded = timeSync(calls, (i) => {
    const ticket = closed.admit()
    work(i)
    closed.record(ticket, i % 100 === 0 ? 'failure' : 'success')
  })
  const refused = timeSync(calls, (i) => { if (open.admit() === REFUSED) work(i) })

  // cockatiel's policy is promise-based: compare it with a plain awaited call
  const policy = circuitBreaker(handleAll, { halfOpenAfter: settings.resetMs, breaker: new SamplingBreaker({ threshold: 0.5, duration: settings.windowMs }) })
  const asyncCalls = Math.round(calls / 4)
  const plainAsync = await timeAsync(asyncCalls, async (i) => { await Promise.resolve(i).then(work) })
  const viaPolicy = await timeAsync(asyncCalls, async (i) => { await policy.execute(() => Promise.resolve(i).then(work)) })

  if (sink < 0) console.log(sink)
  return [
    { name: 'plain call', nsPerCall: plain, overheadNs: 0 },
    { name: 'ServiceBreaker closed: admit + record', nsPerCall: guarded, overheadNs: guarded - plain },
    { name: 'ServiceBreaker open: refuse (fallback)', nsPerCall: refused, overheadNs: refused - plain },
    { name: 'plain awaited call', nsPerCall: plainAsync, overheadNs: 0 },
    { name: 'cockatiel policy.execute, closed', nsPerCall: viaPolicy, overheadNs: viaPolicy - plainAsync }
  ]
}

export function printBreakerRows (rows: BreakerRow[]): void {
  console.log('\ncircuit breaker decision, per request (in-process, one core)')
  console.log('measurement                                  µs/call   overhead µs')
  for (const r of rows) {
    console.log(`${r.name.padEnd(42)} ${(r.nsPerCall / 1000).toFixed(3).padStart(9)} ${(r.overheadNs / 1000).toFixed(3).padStart(13)}`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printBreakerRows(await breakerBench())
}
