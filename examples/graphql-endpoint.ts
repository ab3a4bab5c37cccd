// /v1/graphql and /v2/graphql over HTTP (POST, and GET for queries) and over
// WebSocket with the graphql-transport-ws sub-protocol, on the same paths.
// Both versions serve one schema, unchanged: GraphQL evolves by deprecating
// fields, not by URL version, so v2's money objects do not apply here. Errors
// here follow GraphQL's `{errors:[…]}` shape, not problem+json: that is what
// GraphQL clients parse, and the gateway proxies these paths untouched.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { GraphQLError, execute, getOperationAST, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql'
import { WebSocketServer } from 'ws'
import { useServer } from 'graphql-ws/use/ws'
import { API_VERSIONS } from './api-versions.js'
import { consumerFromHeaders } from './consumer.js'
import { buildGraphqlSchema, type GraphqlContext } from './graphql-schema.js'
import type { Store } from './store.js'

/** relative to a version's prefix: registerGraphqlHttp runs in each version's scope */
export const GRAPHQL_ROUTE = '/graphql'
/** every full path GraphQL answers on, over HTTP and WebSocket */
export const GRAPHQL_PATHS: readonly string[] = API_VERSIONS.map((api) => `${api.prefix}${GRAPHQL_ROUTE}`)
// Bounds on what one document may cost to parse; the schema itself cannot nest without bound.
const MAX_QUERY_LENGTH = 10_000
const MAX_TOKENS = 2_000

interface GraphqlParams {
  query: string
  variables?: Record<string, unknown> | null
  operationName?: string | null
}

const errorsOnly = (reply: FastifyReply, status: number, errors: readonly GraphQLError[]) =>
  reply.code(status).type('application/json; charset=utf-8').send({ errors: errors.map((e) => e.toJSON()) })

/** Registers GRAPHQL_ROUTE on `app`, i.e. under the prefix of the scope it is called in (/v1/graphql in the /v1 scope). */
export function registerGraphqlHttp (app: FastifyInstance, store: Store, schema: GraphQLSchema = buildGraphqlSchema()): void {
  const path = `${app.prefix}${GRAPHQL_ROUTE}`
  const run = async (params: GraphqlParams, method: 'GET' | 'POST', request: { headers: IncomingMessage['headers'] }, reply: FastifyReply) => {
    let document: DocumentNode
    try {
      document = parse(params.query, { maxTokens: MAX_TOKENS })
    } catch (err) {
      return errorsOnly(reply, 400, [err instanceof GraphQLError ? err : new GraphQLError(String(err))])
    }
    const invalid = validate(schema, document)
    if (invalid.length > 0) return errorsOnly(reply, 400, invalid)
    const operation = getOperationAST(document, params.operationName ?? undefined)
    if (operation === null || operation === undefined) {
      return errorsOnly(reply, 400, [new GraphQLError('Name the operation to run with operationName (the document has several, or none matching)')])
    }
    if (operation.operation === 'subscription') {
      return errorsOnly(reply, 400, [new GraphQLError(`Subscriptions run over WebSocket: connect to ${path} with the graphql-transport-ws sub-protocol`)])
    }
    if (operation.operation !== 'query' && method === 'GET') {
      // GET must stay safe to repeat and cache (GraphQL over HTTP spec)
      return errorsOnly(reply.header('allow', 'POST'), 405, [new GraphQLError('Only queries may be sent with GET; use POST')])
    }
    const contextValue: GraphqlContext = { store, consumer: consumerFromHeaders(request.headers, store) }
    const result = await execute({ schema, document, operationName: params.operationName, variableValues: params.variables, contextValue })
    return reply.type('application/json; charset=utf-8').send(result)
  }

  app.post<{ Body: GraphqlParams }>(GRAPHQL_ROUTE, {
    schema: {
      body: {
        type: 'object',
        required: ['query'],
        properties: {
          query: { type: 'string', minLength: 1, maxLength: MAX_QUERY_LENGTH },
          variables: { type: ['object', 'null'] },
          operationName: { type: ['string', 'null'] },
          extensions: { type: ['object', 'null'] }
        }
      }
    }
  }, async (request, reply) => await run(request.body, 'POST', request, reply))

  app.get<{ Querystring: { query: string, variables?: string, operationName?: string } }>(GRAPHQL_ROUTE, {
    schema: {
      querystring: {
        type: 'object',
        required: ['query'],
        properties: { query: { type: 'string', minLength: 1, maxLength: MAX_QUERY_LENGTH }, variables: { type: 'string' }, operationName: { type: 'string' } }
      }
    }
  }, async (request, reply) => {
    let variables: Record<string, unknown> | null = null
    if (request.query.variables !== undefined) {
      try {
        const parsed: unknown = JSON.parse(request.query.variables)
        if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) throw new Error('not an object')
        variables = parsed as Record<string, unknown> | null
      } catch {
        return errorsOnly(reply, 400, [new GraphQLError('variables must be a JSON object')])
      }
    }
    return await run({ query: request.query.query, variables, operationName: request.query.operationName }, 'GET', request, reply)
  })
}

/**
 * Serves graphql-transport-ws on GRAPHQL_PATHS (every version, one server and
 * schema) through the Fastify server's `upgrade` event; upgrades for any other
 * path are refused with 404. Call it once, on the root instance. The
 * sockets are closed (1001) before the server closes, or app.close() would
 * wait for them.
 */
export function attachGraphqlWebSocket (app: FastifyInstance, store: Store, schema: GraphQLSchema = buildGraphqlSchema()): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  const server = useServer<Record<string, unknown> | undefined, Record<PropertyKey, never>>({
    schema,
    // the consumer is fixed at the upgrade, where the gateway authenticated the connection
    context: (ctx): GraphqlContext => ({ store, consumer: consumerFromHeaders(ctx.extra.request.headers, store) })
  }, wss)

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy())
    if (!GRAPHQL_PATHS.includes((request.url ?? '').split('?', 1)[0])) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
  }
  app.server.on('upgrade', onUpgrade)

  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade)
    // a client that never answers the close frame must not hold shutdown hostage
    const force = setTimeout(() => { for (const ws of wss.clients) ws.terminate() }, 2_000)
    force.unref()
    await server.dispose()
    clearTimeout(force)
  })
}
