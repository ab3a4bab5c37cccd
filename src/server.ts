// The executable: config → gateway → listen; SIGTERM/SIGINT drain and exit 0.
// With GATEWAY_WORKERS > 1 this process is the cluster primary (src/cluster.ts) and
// each forked worker runs the same file as one gateway.
import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { loadConfig, ConfigError } from './config/index.js'
import { loggerOptions } from './logging.js'
import { runPrimary, workerReady, shutdownRequests } from './cluster.js'

async function main (): Promise<void> {
  let loaded
  try {
    loaded = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`healthpay-gateway: ${err.message}\n`)
      process.exit(78) // EX_CONFIG
    }
    throw err
  }
  const { config, warnings } = loaded
  const clustered = config.server.workers > 1
  if (clustered && cluster.isPrimary) {
    const log = pino(loggerOptions(config) as object)
    for (const warning of warnings) log.warn(warning)
    if (config.redis.url === undefined) log.warn({ workers: config.server.workers }, 'GATEWAY_WORKERS > 1 without Redis: each worker keeps its own rate-limit counters, run-time API keys and events; set REDIS_URL so the workers share them')
    runPrimary(config, log)
    return
  }
  // a worker may be told to stop while it is still starting
  const stopRequests = clustered ? shutdownRequests() : undefined
  // loaded here, not at the top: a cluster primary runs no gateway and need not load one
  const { buildGateway } = await import('./gateway.js')
  const gateway = await buildGateway(config)
  const log = gateway.app.log
  // (in a cluster the primary has logged them once)
  if (!clustered) for (const warning of warnings) log.warn(warning)

  // the drain itself is bounded by shutdownTimeoutMs inside gateway.close(); this
  // outer bound only catches a close that hangs past it (exit code 1 then)
  let draining = false
  const grace = closeWithGrace({ delay: config.server.shutdownTimeoutMs + 5000, logger: { error: (m: string) => log.error(m) } }, async ({ signal, err }) => {
    draining = true
    if (err) log.error({ err }, 'fatal error: shutting down')
    else log.info({ signal: signal ?? 'the cluster primary asked' }, 'signal received')
    await gateway.close()
  })

  const { publicUrl, adminUrl } = await gateway.listen()
  log.info({ publicUrl, adminUrl, routes: config.routes.map((r) => r.prefix) }, 'HealthPay Gateway listening')
  if (clustered) {
    workerReady()
    stopRequests!.onRequest(() => { if (!draining) void grace.close() })
  }
}

main().catch((err) => {
  process.stderr.write(`healthpay-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
