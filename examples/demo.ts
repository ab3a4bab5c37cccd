// npm run demo: the two sample backends and the gateway in one process, all state in
// memory (no Redis needed), then a working JWT and lines to paste.
// Ports: PORT 8000, ADMIN_PORT 8001, COMMAND_PORT 3000, QUERY_PORT 4000 (0 = any free port).
import closeWithGrace from 'close-with-grace'
import type { AddressInfo } from 'node:net'
import { buildCommandService, DEFAULT_JWT_SECRET } from './command-service.js'
import { buildQueryService } from './query-service.js'
import { portFromEnv } from './serve.js'
import { store } from './store.js'
import { loadConfig, ConfigError } from '../src/config/index.js'
import { buildGateway } from '../src/gateway.js'

const DEMO_ADMIN_TOKEN = 'demo-admin-token-change-me'

async function main (): Promise<void> {
  const jwtSecret = process.env.JWT_SECRET ?? DEFAULT_JWT_SECRET
  const host = process.env.HOST ?? '127.0.0.1'
  const command = buildCommandService({ store, jwtSecret })
  const query = buildQueryService({ store })
  await command.listen({ host: '127.0.0.1', port: portFromEnv('COMMAND_PORT', 3000) })
  await query.listen({ host: '127.0.0.1', port: portFromEnv('QUERY_PORT', 4000) })
  const portOf = (app: typeof command) => (app.server.address() as AddressInfo).port

  const { config, warnings } = loadConfig({
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN: DEMO_ADMIN_TOKEN,
    ...process.env,
    HOST: host,
    JWT_SECRET: jwtSecret,
    COMMAND_SERVICE_URL: `http://127.0.0.1:${portOf(command)}`,
    QUERY_SERVICE_URL: `http://127.0.0.1:${portOf(query)}`
  })
  const gateway = await buildGateway(config)
  for (const w of warnings) gateway.app.log.warn(w)
  closeWithGrace({ delay: config.server.shutdownTimeoutMs + 2000 }, async () => {
    await gateway.close()
    await Promise.all([command.close(), query.close()])
  })
  const { publicUrl, adminUrl } = await gateway.listen()
  const base = publicUrl.replace('0.0.0.0', '127.0.0.1')

  // a real token from the sample auth service, through the gateway's public route
  const login = await fetch(`${base}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'demo-password' }) })
  const { accessToken } = await login.json() as { accessToken: string }
  // an API key for carol (analyst), made the way an operator would: through the admin API
  const adminToken = config.server.adminToken
  let apiKey = '<set ADMIN_TOKEN to create one>'
  if (adminToken) {
    const created = await fetch(`${adminUrl}/admin/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ consumerId: 'u-carol', tier: 'authenticated', roles: ['analyst'] })
    })
    apiKey = (await created.json() as { key: string }).key
  }

  console.log(`
HealthPay Gateway demo — gateway ${base}, admin ${adminUrl}
backends: command service http://127.0.0.1:${portOf(command)}, query service http://127.0.0.1:${portOf(query)} (in memory, no Redis)

Demo JWT for alice (HS256, 15 minutes; users alice, bob, carol, admin — password demo-password):
TOKEN=${accessToken}

Demo API key for carol (role analyst; shown once, only its SHA-256 is kept):
API_KEY=${apiKey}

Try:
  curl -s ${base}/v1/api/wallets/w-alice-1 -H "Authorization: Bearer ${accessToken}"
  curl -s ${base}/api/wallets/w-alice-1/balance -H "X-API-Version: 2" -H "Authorization: Bearer ${accessToken}"   # v2: money in minor units
  curl -s ${base}/v1/api/analytics/summary -H "X-API-Key: ${apiKey}"
  curl -s -X POST ${base}/v1/commands/wallets/w-alice-1/deposit -H "Authorization: Bearer ${accessToken}" -H 'content-type: application/json' -d '{"amount": 25}'
  curl -s -X POST ${base}/v1/auth/login -H 'content-type: application/json' -d '{"username":"bob","password":"demo-password"}'
  curl -s ${adminUrl}/admin/upstreams -H "Authorization: Bearer ${adminToken ?? '<ADMIN_TOKEN>'}"
  curl -s ${adminUrl}/metrics | grep '^gateway_http_requests_total'   # Prometheus metrics, no token needed
  curl -s ${base}/v1/api/analytics/summary -H "Authorization: Bearer ${accessToken}"   # 403: alice is no analyst

Real-time events: subscribe as alice, then publish one for her:
  npx -y wscat -c "${base.replace(/^http/, 'ws')}/ws?token=${accessToken}"   # then send {"type":"subscribe","channel":"wallet"}
  curl -s -X POST ${adminUrl}/admin/events -H "Authorization: Bearer ${adminToken ?? '<ADMIN_TOKEN>'}" -H 'content-type: application/json' -d '{"channel":"wallet","event":"wallet.updated","subject":"u-alice","data":{"walletId":"w-alice-1","balance":1250}}'

Ctrl-C stops everything.
`)
}

main().catch((err) => {
  process.stderr.write(`demo failed to start: ${err instanceof ConfigError ? err.message : (err as Error).stack}\n`)
  process.exit(1)
})
