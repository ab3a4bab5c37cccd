// Latency on connections that are already open, and how long the last of N new
// connections waited for its first answer: the two things a whole-run p99 at 1000
// connections mixes up.
//
// A Node server accepts one connection per event-loop iteration (libuv ≥ 1.45 dropped
// its accept loop, libuv/libuv#3696). Saturated by a fast load generator, each
// iteration answers hundreds of requests, so 1000 connections opened at once are
// accepted over seconds, and the first request on a late one waits all that time:
// wrk's p99 at 1000 connections is then mostly accept order (measured: a plain
// node:http server answering a constant at 26k req/s, p99 7.3 s; nginx 22 ms). That is
// Node, for the bare proxy as for the gateway; what the gateway itself adds shows on
// connections that are open, measured here after a warm-up.
//
// Run pinned on the load generator's core (as a child process of the bench):
//   node dist/bench/established.js '{"url":"http://127.0.0.1:8000/v1/api/x","connections":1000,"seconds":15,"warmSeconds":5,"headers":{}}'
// prints one JSON line (EstablishedSample).
import autocannon from 'autocannon'
import { percentile } from './harness.js'

export interface EstablishedOptions {
  url: string
  connections: number
  /** the whole run, warm-up included */
  seconds: number
  /** requests answered before this are not counted in the latency */
  warmSeconds: number
  headers?: Record<string, string>
}

export interface EstablishedSample {
  /** requests per second over the counted part of the run */
  rps: number
  /** latency of requests on connections that had already had an answer, after the warm-up, ms */
  p50: number
  p99: number
  counted: number
  /** connections that had at least one answer by the end of the run */
  answered: number
  connections: number
  /** when the last connection to get an answer got its first one, ms from the start (NaN: some never did) */
  allAnsweredMs: number
  /** the median connection's first answer, ms from the start */
  firstAnswerP50Ms: number
  errors: number
  non2xx: number
}

/** the sample from what was recorded: first-answer times per connection, counted latencies */
export function summariseEstablished (opts: Pick<EstablishedOptions, 'connections' | 'seconds' | 'warmSeconds'>, firstAnswers: number[], latencies: number[], errors = 0, non2xx = 0): EstablishedSample {
  const firsts = [...firstAnswers].sort((a, b) => a - b)
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    rps: sorted.length / Math.max(1e-9, opts.seconds - opts.warmSeconds),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    counted: sorted.length,
    answered: firsts.length,
    connections: opts.connections,
    allAnsweredMs: firsts.length === opts.connections ? firsts.at(-1)! : NaN,
    firstAnswerP50Ms: percentile(firsts, 50),
    errors,
    non2xx
  }
}

export async function measureEstablished (opts: EstablishedOptions): Promise<EstablishedSample> {
  const started = performance.now()
  const warmMs = opts.warmSeconds * 1000
  const firstAnswer = new Map<object, number>()
  const latencies: number[] = []
  let non2xx = 0
  const instance = autocannon({ url: opts.url, connections: opts.connections, duration: opts.seconds, headers: opts.headers ?? {}, timeout: 30 })
  instance.on('response', (client: object, status: number, _bytes: number, responseTime: number) => {
    const at = performance.now() - started
    if (status < 200 || status > 399) non2xx++
    if (!firstAnswer.has(client)) {
      firstAnswer.set(client, at)
      return
    }
    if (at >= warmMs) latencies.push(responseTime)
  })
  const result = await instance
  return summariseEstablished(opts, [...firstAnswer.values()], latencies, result.errors + result.timeouts, non2xx)
}

if (process.argv[1]?.endsWith('established.js') && process.argv[2] !== undefined) {
  const sample = await measureEstablished(JSON.parse(process.argv[2]) as EstablishedOptions)
  process.stdout.write(JSON.stringify(sample) + '\n')
}
