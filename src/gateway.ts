// buildGateway(config): the composition root. It wires the concerns together and
// owns start-up and shutdown order; the behaviour lives in plugins/.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify'
import cors from '@fastify/cors'
import { ServerResponse, createServer, type IncomingMessage, type Server } from 'node:http'
import { EventEmitter, once } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { GatewayConfig } from './config/index.js'
import type { GatewayContext } from './context.js'
import { problemErrorHandler, notFoundHandler, clientErrorHandler, writeRawProblem, rawProblem, schemaErrorFormatter, pathOf, PROBLEM_CONTENT_TYPE, ShuttingDownError, BadPathError, BadHostError } from './errors.js'
import { compileTrust } from './trust-proxy.js'
import { compileCorsPolicy, type CorsPolicy } from './cors-policy.js'
import { RouteMatcher, MATCH_CONSTRAINT } from './route-match.js'
import { isAmbiguousPath, hasOneHost } from './request-path.js'
import { staticSecurityHeaders, responseHeadersOf, startReplyHeaders } from './security-headers.js'
import { createRedisClient, closeRedis, waitForRedis, type Redis } from './redis.js'
import routeScope from './route-scope.js'
import health from '../plugins/health/index.js'
import openapi from '../plugins/openapi/index.js'
import admin from '../plugins/admin/index.js'
import { Authenticator } from '../plugins/auth/authenticator.js'
import { createEventLog } from '../plugins/websocket/event-log.js'
import { EventHub } from '../plugins/websocket/hub.js'
import { StreamTail } from '../plugins/websocket/stream-tail.js'
import eventsEndpoint from '../plugins/websocket/index.js'
import { RateLimiter } from '../plugins/rate-limit/limiter.js'
import { ServiceBreaker } from '../plugins/circuit-breaker/breaker.js'
import { UpstreamService, type Lookup } from '../plugins/proxy/upstream-service.js'
import { kUpgrade, type UpgradeRequest } from '../plugins/proxy/tunnel.js'
import { ApiVersions } from '../plugins/versioning/api-versions.js'
import absentRoute from '../plugins/versioning/absent.js'
import { compileRouteValidators } from '../plugins/validation/index.js'
import { loadSpec, type OpenApiDocument } from '../plugins/openapi/spec.js'
import { GatewayMetrics } from '../plugins/metrics/metrics.js'
import { instrumentRoutes, RequestObserver } from '../plugins/metrics/requests.js'
import metricsEndpoint from '../plugins/metrics/index.js'
import { loggerOptions, logTransition, requestLogger } from './logging.js'
import { clusterExposition, isWorker } from './cluster.js'
import { traceFrom, type TraceContext } from './trace-context.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** the W3C trace this request belongs to: continued from its traceparent, or started here */
    trace: TraceContext | null
  }
}

export interface GatewayDeps {
  /** DNS resolution for service discovery (tests inject their own) */
  lookup?: Lookup
  /** the clock rate limits, circuit breakers and version sunsets count with (tests move it) */
  now?: () => number
  /** where log lines go (default stdout; tests capture them) */
  logStream?: { write: (line: string) => unknown }
  /** the OpenAPI document requests are validated against (default: openapi/openapi.yaml); treated as immutable: what is compiled from it is reused by later gateways given the same object */
  openapi?: OpenApiDocument
}

export interface Gateway {
  readonly app: FastifyInstance
  readonly admin: FastifyInstance
  readonly context: GatewayContext
  /** the event stream's subscribers on this instance */
  readonly hub: EventHub
  listen (): Promise<{ publicUrl: string, adminUrl: string, wsUrl?: string }>
  /** Stop accepting, drain in-flight requests (bounded by shutdownTimeoutMs), release everything. */
  close (): Promise<void>
}

// A client-sent X-Request-Id is kept only if it is short and harmless in logs and headers.
const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:+=@/-]{0,127}$/
/**
 * Gives the HTTP server back a connection Node handed over as an upgrade: the request
 * is written again without Upgrade (and HTTP2-Settings), ahead of the bytes that
 * followed it, and the server parses it as a fresh connection.
 */
function replayWithoutUpgrade (req: IncomingMessage, socket: import('node:net').Socket, head: Buffer, server: Server): void {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    if (lower === 'upgrade' || lower === 'http2-settings') continue
    let value = raw[i + 1]!
    if (lower === 'connection') {
      value = value.split(',').map((t) => t.trim()).filter((t) => t !== '' && !/^(upgrade|http2-settings)$/i.test(t)).join(', ')
      if (value === '') continue
    }
    text += `${name}: ${value}\r\n`
  }
  socket.removeAllListeners('error')
  socket.unshift(Buffer.concat([Buffer.from(text + '\r\n', 'latin1'), head]))
  server.emit('connection', socket)
}

/** how long one read of the event stream waits for new entries */
const EVENT_BLOCK_MS = 5000
const EVENTS_ONLY = 'This listener (WS_PORT) serves only the event stream at /ws'
/** frames above this are refused by ws itself (close 1009); below it, oversized messages get an error message */
const WS_HARD_MAX_PAYLOAD = 1024 * 1024
export async function buildGateway (config: GatewayConfig, deps: GatewayDeps = {}): Promise<Gateway> {
  const trust = compileTrust(config.server.trustProxy)
  const versions = new ApiVersions(config.versioning, config.routes, deps.now)
  const validators = compileRouteValidators(versions.table.routes, () => deps.openapi ?? loadSpec().document)
  const metrics = new GatewayMetrics()
  const routeMatch = new RouteMatcher(versions.table.routes.map((entry) => entry.route))
  const securityHeaders = staticSecurityHeaders()
  const responseHeaders = responseHeadersOf(securityHeaders)
  // slow-loris: Node checks the headers timeout only every connectionsCheckingInterval (30 s by default)
  const headersTimeout = config.server.headersTimeoutMs
  const http = { headersTimeout, connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(headersTimeout / 4))), requireHostHeader: false }
  const app = Fastify({
    http,
    logger: loggerOptions(config, deps.logStream),
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    requestIdHeader: false,
    // a request's pino child is made only if it logs (src/logging.ts)
    childLoggerFactory: requestLogger,
    // each finished request: its route's metrics and one log line (plugins/metrics/requests.ts)
    logController: new RequestObserver(metrics),
    trustProxy: trust,
    bodyLimit: config.server.bodyLimitBytes,
    // Fastify's own closing answer is not problem+json: the onRequest hook below answers instead
    return503OnClosing: false,
    // bad URL encoding and the like bypass the error handler unless routed here; they
    // come before the onRequest hooks, so they get the headers every answer carries here
    frameworkErrors: (error, request, reply) => {
      startReplyHeaders(reply, responseHeaders(request.id))
      return problemErrorHandler(error as FastifyError, request, reply)
    },
    clientErrorHandler,
    // /v1/api/Analytics must meet the analytics route's policy, not /v1/api's: an
    // upstream may route case-insensitively (Express does by default)
    routerOptions: { maxParamLength: 500, caseSensitive: false, ...(routeMatch.used ? { constraints: { [MATCH_CONSTRAINT]: routeMatch.strategy as never } } : {}) },
    // "/api/wallets/w1" is routed as "/v{negotiated}/api/wallets/w1" (plugins/versioning/)
    rewriteUrl: versions.negotiator.rewriteUrl
  })
  const adminApp = Fastify({
    http,
    loggerInstance: app.log.child({ listener: 'admin' }),
    return503OnClosing: false,
    // bad URL encoding and the like bypass the error handler unless routed here
    frameworkErrors: problemErrorHandler,
    clientErrorHandler,
    // admin input is checked strictly: every violation reported, nothing coerced or silently dropped
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
    schemaErrorFormatter
  })

  let closing = false
  const tunnels = new Set<Duplex>()
  const redis: Redis | null = config.redis.url ? createRedisClient({ url: config.redis.url, log: app.log }) : null
  const services = new Map<string, UpstreamService>()
  for (const [name, serviceConfig] of Object.entries(config.services)) {
    services.set(name, new UpstreamService(name, serviceConfig, { timeoutMs: config.breaker.timeoutMs, retry: config.retry }, { log: app.log, lookup: deps.lookup, metrics }))
  }
  const breakers = new Map<string, ServiceBreaker>()
  for (const [name, service] of services) {
    const settings = { ...config.breaker, ...service.config.breaker }
    breakers.set(name, new ServiceBreaker(name, settings, {
      now: deps.now,
      onTransition: (t) => {
        logTransition(app.log, t)
        metrics.transition(t)
      }
    }))
  }
  const authenticator = new Authenticator({ jwt: config.jwt, consumers: config.consumers, redis, keyPrefix: config.redis.keyPrefix, log: app.log })
  // XREAD BLOCK holds its connection: the tail of the event stream gets its own
  const blocking = config.redis.url ? createRedisClient({ url: config.redis.url, log: app.log, name: 'events', commandTimeout: EVENT_BLOCK_MS + 1000 }) : null
  const events = createEventLog({ redis, blocking, key: config.redis.keyPrefix + 'events', maxLen: config.websocket.streamMaxLen })
  const wsLog = app.log.child({ component: 'websocket' })
  const hub = new EventHub({ log: events, config: config.websocket, metrics: metrics.websocket, logger: wsLog })
  const tail = new StreamTail({ log: events, deliver: (batch) => hub.deliver(batch), logger: wsLog, blockMs: EVENT_BLOCK_MS })
  const rateLimiter = config.rateLimit.enabled
    ? new RateLimiter({ redis, keyPrefix: config.redis.keyPrefix, failMode: config.rateLimit.failMode, leaseMax: config.rateLimit.leaseMax, log: app.log, now: deps.now })
    : null
  const defaultRetires = versions.deprecations.get(config.versioning.defaultVersion)
  if (defaultRetires !== undefined && config.versioning.afterSunset === 'gone') {
    app.log.warn({ defaultVersion: defaultRetires.version, sunset: defaultRetires.sunset }, `the default API version ${defaultRetires.version} is deprecated: from its sunset (${defaultRetires.sunset}) every request that names no version gets 410; move API_DEFAULT_VERSION to a current version before then`)
  }
  const context: GatewayContext = { config, routeMatch, services, breakers, tunnels, trust, redis, authenticator, rateLimiter, versions, validators, events, metrics, closing: () => closing }
  metrics.watch({
    services,
    breakers,
    rateLimiter,
    versionUsage: versions.usage,
    deprecatedVersions: [...versions.deprecations.keys()],
    tunnels
  })
  app.decorateRequest('consumer', null)
  app.decorateRequest('upstream', null)
  app.decorateRequest('trace', null)
  // from here on every route registered gets its request metrics
  instrumentRoutes(app, metrics)

  for (const instance of [app, adminApp]) instance.setErrorHandler(problemErrorHandler)
  adminApp.setNotFoundHandler(notFoundHandler)
  // no route because the version is unknown or malformed: a 400 that says so
  app.setNotFoundHandler((request, reply) => {
    const versionError = versions.negotiator.notFoundError(request, reply)
    return versionError === undefined ? notFoundHandler(request, reply) : problemErrorHandler(versionError as FastifyError, request, reply)
  })

  app.addHook('onRequest', (request, reply, done) => {
    startReplyHeaders(reply, responseHeaders(request.id))
    request.trace = traceFrom(request.headers.traceparent, request.headers.tracestate)
    if (closing) {
      reply.header('connection', 'close')
      done(new ShuttingDownError())
      return
    }
    // HTTP/1.1 needs exactly one Host (RFC 9112 §3.2): Node would answer a missing one
    // with a bare 400 and silently keep the first of two
    if (!hasOneHost(request.raw)) {
      reply.header('connection', 'close')
      done(new BadHostError())
      return
    }
    // before any route's auth: the policy was chosen from this path
    if (isAmbiguousPath(request.raw.url!)) {
      done(new BadPathError())
      return
    }
    done()
  })
  const routeCors = new Map<string, CorsPolicy>()
  for (const { route } of versions.table.routes) if (route.cors !== undefined) routeCors.set(route.name!, compileCorsPolicy(route.cors))
  const globalCors = config.server.corsOrigins.length > 0 ? compileCorsPolicy({ origins: config.server.corsOrigins }) : undefined
  if (globalCors !== undefined || routeCors.size > 0) {
    // decided per request: credentials only for a listed origin (the plugin would send
    // Allow-Credentials to anyone), and only a real preflight (Origin + Access-Control-
    // Request-Method) is answered here — any other OPTIONS goes to its route. A route
    // with a cors block of its own (Kong's cors plugin) uses that instead of CORS_ORIGINS.
    await app.register(cors, {
      delegator: (req: FastifyRequest, cb: (err: Error | null, options: object) => void) => {
        const name = req.routeOptions?.config?.routeName
        const policy = (name !== undefined ? routeCors.get(name) : undefined) ?? globalCors
        if (policy === undefined) {
          cb(null, { origin: false })
          return
        }
        cb(null, policy.options(req))
      }
    } as never)
  }
  await app.register(health, { context })
  await app.register(openapi)
  const wsUpgrades = new EventEmitter()
  await app.register(eventsEndpoint, {
    hub,
    authenticator,
    upgrades: wsUpgrades,
    maxPayload: Math.max(WS_HARD_MAX_PAYLOAD, config.websocket.maxMessageBytes),
    onFailure: (reason) => metrics.authFailure(reason)
  })
  // one scope per route and version: /v1/api, /v2/api...; and a 404 where a route is absent in a version
  for (const entry of versions.table.routes) {
    await app.register(routeScope, { prefix: entry.route.prefix === '/' ? '' : entry.route.prefix, entry, context })
  }
  for (const absent of versions.table.absent) {
    await app.register(absentRoute, { prefix: absent.prefix, absent })
  }
  // a cluster worker's scrape answers for every worker (src/cluster.ts)
  const registry = config.server.workers > 1 && isWorker() ? clusterExposition(metrics.registries()) : metrics.exposition()
  await adminApp.register(metricsEndpoint, { registry })
  await adminApp.register(admin, { context })

  await Promise.all([...services.values()].map((s) => s.start()))
  authenticator.start()
  // a starting instance should answer with its shared state reachable; if Redis is
  // down it starts anyway (fail-open / 503 paths take over) and reconnects by itself
  if (redis && !(await waitForRedis(redis, 1000))) app.log.warn('redis not reachable at start-up: continuing without it until it is')
  await Promise.all([app.ready(), adminApp.ready()])

  // One dispatcher for every Upgrade request: /ws goes to the event stream's
  // @fastify/websocket (plugins/websocket/); any other runs through Fastify's router
  // and hooks (so auth applies to upgrades too) and the route's handler takes the
  // socket (see plugins/proxy/tunnel.ts). Unmatched upgrades get a 404.
  const dispatchUpgrade = (eventsOnly: boolean) => (req: UpgradeRequest, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const path = pathOf(req.url ?? '')
    if (closing) {
      writeRawProblem(socket, 503, 'GW_SHUTTING_DOWN', new ShuttingDownError().message, { instance: path })
      return
    }
    // (the root hook says so too, but a refused /ws upgrade's answer would leave its socket open)
    if (!hasOneHost(req)) {
      writeRawProblem(socket, 400, 'GW_REQUEST_BAD_HOST', new BadHostError().message, { instance: path })
      return
    }
    if (path === '/ws') {
      wsUpgrades.emit('upgrade', req, socket, head)
      return
    }
    if (eventsOnly) {
      writeRawProblem(socket, 404, 'GW_ROUTE_NOT_FOUND', EVENTS_ONLY, { instance: path })
      return
    }
    // only WebSocket is tunnelled: any other Upgrade (h2c: curl --http2 sends it on every
    // first request, POST bodies included) is served as the plain HTTP/1.1 request it also
    // is — handed back to the HTTP server without its Upgrade, body and keep-alive intact
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      replayWithoutUpgrade(req, socket as import('node:net').Socket, head, app.server)
      return
    }
    req[kUpgrade] = { socket, head }
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    res.assignSocket(socket as import('node:net').Socket)
    // a plain HTTP answer (404, 401...) ends the exchange: the parser no longer owns this
    // socket, so it is read to its end here (the client's FIN closes it) and cut if the
    // client never sends one
    res.once('finish', () => {
      socket.end()
      socket.resume()
      setTimeout(() => socket.destroy(), 2000).unref()
    })
    app.routing(req, res)
  }
  app.server.on('upgrade', dispatchUpgrade(false))
  // WS_PORT, when it differs from PORT: a listener of its own for /ws only
  const wsServer: Server | null = config.websocket.port !== undefined && config.websocket.port !== config.server.port
    ? createServer(http, (req, res) => {
      if (pathOf(req.url ?? '') === '/ws') {
        app.routing(req, res)
        return
      }
      const { body, requestId } = rawProblem(404, 'GW_ROUTE_NOT_FOUND', EVENTS_ONLY, { instance: pathOf(req.url ?? '') })
      res.writeHead(404, { 'content-type': PROBLEM_CONTENT_TYPE, 'x-request-id': requestId }).end(body)
    })
    : null
  wsServer?.on('upgrade', dispatchUpgrade(true))
  wsServer?.on('clientError', clientErrorHandler)
  tail.start()

  let closed: Promise<void> | undefined
  const close = () => (closed ??= (async () => {
    closing = true
    const log = app.log
    log.info('shutting down: draining in-flight requests')
    // proxied WebSockets are byte tunnels: the gateway cannot inject a close frame
    // mid-stream, so it ends the TCP connection and the client reconnects elsewhere
    const tunnelsClosed = Promise.all([...tunnels].map((socket) => { socket.end(); return once(socket, 'close') }))
    // event-stream subscribers are told (1001) and reconnect elsewhere, resuming from their last event id
    const subscribersClosed = hub.close()
    const wsServerClosed = wsServer?.listening ? new Promise((resolve) => wsServer.close(resolve)) : undefined
    // connections that finish their last request during the drain must not idle on
    // in keep-alive: sweep them so close() resolves as soon as the work is done
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50)
    let timer: NodeJS.Timeout | undefined
    const drained = await Promise.race([
      Promise.all([app.close(), tunnelsClosed, subscribersClosed, wsServerClosed]).then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), config.server.shutdownTimeoutMs) })
    ])
    clearTimeout(timer)
    clearInterval(sweep)
    if (!drained) {
      log.warn({ timeoutMs: config.server.shutdownTimeoutMs }, 'drain timeout reached: closing the remaining connections')
      app.server.closeAllConnections()
      for (const socket of tunnels) socket.destroy()
      // upgraded sockets are no longer the HTTP server's to close
      hub.terminate()
      wsServer?.closeAllConnections()
      await Promise.all([...services.values()].map((s) => s.destroy()))
      await app.close()
    }
    await adminApp.close()
    events.close()
    // a tail blocked in XREAD returns when its connection goes
    blocking?.disconnect()
    await tail.stop()
    authenticator.close()
    await rateLimiter?.close()
    await Promise.all([...services.values()].map((s) => s.close()))
    if (redis) await closeRedis(redis)
    log.info('shutdown complete')
  })())

  return {
    app,
    admin: adminApp,
    context,
    hub,
    async listen () {
      const { host, backlog } = config.server
      const publicUrl = await app.listen({ host, port: config.server.port, backlog })
      const adminUrl = await adminApp.listen({ host: config.server.adminHost, port: config.server.adminPort })
      if (wsServer) {
        wsServer.listen({ port: config.websocket.port, host, backlog })
        await Promise.race([once(wsServer, 'listening'), once(wsServer, 'error').then(([err]) => { throw err })])
      }
      if (!wsServer) return { publicUrl, adminUrl }
      const { address, port } = wsServer.address() as import('node:net').AddressInfo
      return { publicUrl, adminUrl, wsUrl: `ws://${address.includes(':') ? `[${address}]` : address}:${port}/ws` }
    },
    close
  }
}

