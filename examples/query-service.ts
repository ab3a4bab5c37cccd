// The sample query service (CQRS read side) that the gateway fronts on
// /v1/api/*, /v1/graphql and the same under /v2 (see api-versions.ts: one
// plugin per version, same handlers). v2 REST shows money as { amountMinor,
// currency } where v1 has a decimal; GraphQL is the same in both. REST only
// reads the store the command service writes; GraphQL also has mutations,
// which write through the same store commands (graphql/mutations.ts).
// Run directly: node dist/examples/query-service.js
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import { API_VERSIONS } from './api-versions.js'
import { attachGraphqlWebSocket, registerGraphqlHttp } from './graphql-endpoint.js'
import { buildGraphqlSchema } from './graphql-schema.js'
import { installProblemHandlers } from './problem.js'
import { registerQueryRoutes } from './query-routes.js'
import { isMain, portFromEnv, serve } from './serve.js'
import { store as defaultStore, type Store } from './store.js'

export interface QueryServiceOptions {
  store?: Store
  logger?: boolean
}

export function buildQueryService (opts: QueryServiceOptions = {}): FastifyInstance {
  const store = opts.store ?? defaultStore
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    // query strings arrive as text: coercion turns ?limit=5 into 5 (Fastify's default);
    // allErrors so a bad request hears about every bad parameter at once
    ajv: { customOptions: { allErrors: true } }
  })
  installProblemHandlers(app)

  app.get('/health', async () => ({ status: 'ok', service: 'query' }))
  const schema = buildGraphqlSchema()
  for (const api of API_VERSIONS) {
    app.register(async (scope) => {
      registerQueryRoutes(scope, store, api.present)
      registerGraphqlHttp(scope, store, schema)
    }, { prefix: api.prefix })
  }
  // one WebSocket server for every version's path
  attachGraphqlWebSocket(app, store, schema)
  return app
}

if (isMain(import.meta.url)) {
  const app = buildQueryService({ logger: true })
  serve([{ app, port: portFromEnv('PORT', 4000) }]).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
