// The executable: config → gateway → listen; SIGTERM/SIGINT drain and exit 0.
import closeWithGrace from 'close-with-grace'
import { loadConfig, ConfigError } from './config/index.js'
import { buildGateway } from './gateway.js'

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
  const gateway = await buildGateway(config)
  const log = gateway.app.log
  for (const warning of warnings) log.warn(warning)
  if (config.server.workers > 1) log.warn({ workers: config.server.workers }, 'GATEWAY_WORKERS > 1 is not implemented yet: running one process')

  // the drain itself is bounded by shutdownTimeoutMs inside gateway.close(); this
  // outer bound only catches a close that hangs past it (exit code 1 then)
  closeWithGrace({ delay: config.server.shutdownTimeoutMs + 5000, logger: { error: (m: string) => log.error(m) } }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error: shutting down')
    else log.info({ signal }, 'signal received')
    await gateway.close()
  })

  const { publicUrl, adminUrl } = await gateway.listen()
  log.info({ publicUrl, adminUrl, routes: config.routes.map((r) => r.prefix) }, 'HealthPay Gateway listening')
}

main().catch((err) => {
  process.stderr.write(`healthpay-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
