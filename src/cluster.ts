// Cluster mode (GATEWAY_WORKERS=N|auto, N > 1): the primary process forks N workers
// (node:cluster) that share the public and admin listeners; connections are handed
// out round-robin. State that instances must agree on is already in Redis, so a
// worker is just another instance. The primary runs no gateway: it
//   - replaces a worker that dies (and gives up if they keep dying),
//   - stops everything if a worker fails before it ever listened (a port in use, say),
//   - on SIGTERM/SIGINT asks every worker to drain, and exits when the last has
//     (0 if all drained cleanly, 1 otherwise),
//   - answers the workers' requests for /metrics with the sum over every started
//     worker (gathered over IPC, summed by prom-client's AggregatorRegistry.aggregate),
//     so any worker's /metrics covers the cluster.
import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, Registry } from 'prom-client'
import createError from '@fastify/error'
import type { GatewayConfig } from './config/index.js'

/** messages between the primary and its workers */
const READY = 'healthpay:ready'
const SHUTDOWN = 'healthpay:shutdown'
const METRICS_REQ = 'healthpay:metrics-req'
const METRICS_RES = 'healthpay:metrics-res'
const COLLECT_REQ = 'healthpay:collect-req'
const COLLECT_RES = 'healthpay:collect-res'
const COLLECT_TIMEOUT_MS = 5000
type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>
interface Collect { answer: (workerId: number, metrics: MetricsJson[]) => void, gone: (workerId: number) => void }
const ClusterMetricsError = createError<[string]>('GW_METRICS_UNAVAILABLE', 'The cluster\'s metrics could not be gathered (%s); retry the scrape', 503)
interface Message { type?: string, id?: number, text?: string, error?: string, metrics?: MetricsJson[] }

/** how many unexpected worker deaths within RESTART_WINDOW_MS the primary tolerates before giving up */
const MAX_RESTARTS = 10
const RESTART_WINDOW_MS = 60_000

export interface PrimaryLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export function runPrimary (config: GatewayConfig, log: PrimaryLog): void {
  const wanted = config.server.workers
  // our own books: cluster.workers drops a worker only once it has both exited and disconnected
  const live = new Map<number, Worker>()
  const started = new Set<number>() // worker ids that reached listen()
  const collects = new Map<number, Collect>()
  let nextCollect = 0
  const deaths: number[] = []
  let stopping = false
  let exitCode = 0

  const fork = (): void => {
    const worker = cluster.fork()
    live.set(worker.id, worker)
  }

  cluster.on('message', (worker: Worker, message: Message) => {
    if (message?.type === READY) {
      started.add(worker.id)
      // it was still starting when the cluster was told to stop
      if (stopping) { worker.send({ type: SHUTDOWN }); return }
      if (started.size === wanted) log.info({ workers: wanted, pids: [...live.values()].map((w) => w.process.pid) }, 'HealthPay Gateway cluster ready')
    } else if (message?.type === METRICS_REQ) {
      gather().then(
        (text) => { if (worker.isConnected()) worker.send({ type: METRICS_RES, id: message.id, text }) },
        (err: Error) => { if (worker.isConnected()) worker.send({ type: METRICS_RES, id: message.id, error: err.message }) }
      )
    } else if (message?.type === COLLECT_RES && message.id !== undefined) {
      collects.get(message.id)?.answer(worker.id, message.metrics ?? [])
    }
  })

  /** every started worker's registries, summed (one still starting has nothing to tell) */
  function gather (): Promise<string> {
    return new Promise((resolve, reject) => {
      const id = nextCollect++
      const waiting = new Set([...started].filter((w) => live.get(w)?.isConnected()))
      const answers: MetricsJson[] = []
      const finish = (err?: Error) => {
        clearTimeout(timer)
        collects.delete(id)
        if (err) reject(err)
        else AggregatorRegistry.aggregate(answers).metrics().then(resolve, reject)
      }
      const timer = setTimeout(() => finish(new Error(`${waiting.size} worker(s) did not answer`)), COLLECT_TIMEOUT_MS)
      const collect: Collect = {
        answer (workerId, metrics) {
          if (!waiting.delete(workerId)) return
          answers.push(...metrics)
          if (waiting.size === 0) finish()
        },
        // a worker that died meanwhile took its counts with it
        gone (workerId) {
          if (waiting.delete(workerId) && waiting.size === 0) finish()
        }
      }
      collects.set(id, collect)
      if (waiting.size === 0) { finish(); return }
      for (const w of waiting) live.get(w)!.send({ type: COLLECT_REQ, id })
    })
  }

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    live.delete(worker.id)
    for (const collect of collects.values()) collect.gone(worker.id)
    const workerPid = worker.process.pid
    const wasStarted = started.delete(worker.id)
    if (stopping) {
      // one stopped before it listened was told to: not an unclean exit
      if (code !== 0 && wasStarted) exitCode = 1
      if (live.size === 0) {
        log.info({ exitCode }, 'every worker has stopped: cluster shutdown complete')
        process.exit(exitCode)
      }
      return
    }
    if (!wasStarted) {
      // it never listened: a new one would fail the same way
      log.error({ workerPid, code, signal }, 'a worker failed to start: stopping the cluster')
      stop(1)
      return
    }
    const now = Date.now()
    deaths.push(now)
    while (deaths.length > 0 && now - deaths[0]! > RESTART_WINDOW_MS) deaths.shift()
    if (deaths.length > MAX_RESTARTS) {
      log.error({ workerPid, code, signal, deaths: deaths.length, windowMs: RESTART_WINDOW_MS }, 'workers keep dying: stopping the cluster')
      stop(1)
      return
    }
    log.error({ workerPid, code, signal }, 'a worker died: starting another')
    fork()
  })

  function stop (code: number, signal?: string): void {
    if (stopping) return
    stopping = true
    exitCode = code
    process.exitCode = code
    log.info({ signal, workers: live.size }, 'cluster shutting down: every worker drains')
    if (live.size === 0) process.exit(exitCode)
    for (const worker of live.values()) {
      if (!started.has(worker.id)) {
        // still starting: nothing in flight to drain, so no reason to wait for it to listen
        worker.process.kill('SIGTERM')
      } else if (worker.isConnected()) {
        // a message, not a signal: a worker that already got the terminal's SIGINT
        // would take a second signal as "exit now"
        worker.send({ type: SHUTDOWN })
      } else {
        worker.process.kill('SIGTERM')
      }
    }
    // the workers bound their own drain by shutdownTimeoutMs; this catches one that hangs past it
    setTimeout(() => {
      for (const worker of live.values()) worker.process.kill('SIGKILL')
      log.error({ timeoutMs: config.server.shutdownTimeoutMs + 5000 }, 'workers did not stop in time: killed')
      process.exit(1)
    }, config.server.shutdownTimeoutMs + 5000).unref()
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop(0, signal))
  log.info({ workers: wanted }, 'cluster primary starting workers')
  for (let i = 0; i < wanted; i++) fork()
}

/** In a worker: tell the primary this worker listens. */
export function workerReady (): void {
  process.send?.({ type: READY })
}

/**
 * In a worker, from its first moment: remembers a request to stop that arrives
 * before the gateway can drain; `drain` set later runs at once if one came.
 */
export function shutdownRequests (): { onRequest: (drain: () => void) => void } {
  let requested = false
  let drain: (() => void) | undefined
  process.on('message', (message: Message) => {
    if (message?.type !== SHUTDOWN) return
    requested = true
    drain?.()
  })
  return {
    onRequest (fn) {
      drain = fn
      if (requested) fn()
    }
  }
}

/**
 * In a worker: the registry /metrics serves. It answers the primary's collect
 * requests with this worker's registries, and each scrape with the primary's sum
 * over every started worker.
 */
export function clusterExposition (local: Registry[], timeoutMs = COLLECT_TIMEOUT_MS + 1000): Registry {
  const pending = new Map<number, { resolve: (text: string) => void, reject: (err: Error) => void }>()
  let next = 0
  process.on('message', (message: Message) => {
    if (message?.type === COLLECT_REQ) {
      Promise.all(local.map((r) => r.getMetricsAsJSON())).then(
        (metrics) => process.send?.({ type: COLLECT_RES, id: message.id, metrics }),
        () => process.send?.({ type: COLLECT_RES, id: message.id, metrics: [] })
      )
      return
    }
    if (message?.type !== METRICS_RES || message.id === undefined) return
    const waiter = pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id)
    if (message.error !== undefined) waiter.reject(new ClusterMetricsError(message.error))
    else waiter.resolve(message.text ?? '')
  })
  const exposition = new Registry()
  exposition.metrics = () => new Promise<string>((resolve, reject) => {
    const id = next++
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(new ClusterMetricsError('the primary did not answer'))
    }, timeoutMs)
    pending.set(id, {
      resolve: (text) => { clearTimeout(timer); resolve(text) },
      reject: (err) => { clearTimeout(timer); reject(err) }
    })
    process.send!({ type: METRICS_REQ, id })
  })
  return exposition
}

export const isWorker = (): boolean => cluster.isWorker
