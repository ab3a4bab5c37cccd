// Both sample services in one process, sharing one store: what a container
// needs, since two separate processes would each hold their own in-memory
// data and a write on :3000 would never show up on :4000.
// Run: node dist/examples/backends.js  (COMMAND_PORT 3000, QUERY_PORT 4000, HOST, JWT_SECRET)
import { buildCommandService, DEFAULT_JWT_SECRET } from './command-service.js'
import { buildQueryService } from './query-service.js'
import { isMain, portFromEnv, serve } from './serve.js'
import { store } from './store.js'

if (isMain(import.meta.url)) {
  const command = buildCommandService({
    store,
    jwtSecret: process.env.JWT_SECRET ?? DEFAULT_JWT_SECRET,
    issuer: process.env.JWT_ISSUER,
    audience: process.env.JWT_AUDIENCE,
    logger: true
  })
  const query = buildQueryService({ store, logger: true })
  serve([
    { app: command, port: portFromEnv('COMMAND_PORT', 3000) },
    { app: query, port: portFromEnv('QUERY_PORT', 4000) }
  ]).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
