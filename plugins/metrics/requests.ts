// What every finished request on the public listener leaves behind: one
// observation in its route's metrics and one log line. Both are taken in
// Fastify's requestCompleted callback, which it calls once per response after the
// onResponse hooks — so no hook runs per request for them. A route's metrics are
// bound to its config as it is registered: the route label is the route's pattern
// ("/v1/api/*", never the raw URL); requests that match no route are "unmatched".
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { UNMATCHED_ROUTE, type GatewayMetrics, type RouteMetrics } from './metrics.js'
import { logRequest } from '../../src/logging.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** this route's request metrics (set on every route as it is registered) */
    requestMetrics?: RouteMetrics
  }
}

/** Binds request metrics to every route registered on `app` from now on. */
export function instrumentRoutes (app: FastifyInstance, metrics: GatewayMetrics): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, requestMetrics: metrics.route(route.config?.routeLabel ?? route.url) }
  })
}

/**
 * Fastify's request logging replaced by one observation per request: the route's
 * metrics, and one log line instead of two ("incoming request" + "request
 * completed") carrying what the request turned out to be (src/logging.ts).
 */
export class RequestObserver extends LogController {
  private readonly unmatched: RouteMetrics

  constructor (metrics: GatewayMetrics) {
    super({ requestIdLogLabel: 'requestId' })
    this.unmatched = metrics.route(UNMATCHED_ROUTE)
  }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const metrics = (request.is404 ? undefined : request.routeOptions.config.requestMetrics) ?? this.unmatched
    // from routing to the response's 'finish', in ms
    const elapsed = reply.elapsedTime
    metrics.observe(request.method, reply.statusCode, elapsed / 1000)
    logRequest(request, metrics.route, reply.statusCode, elapsed, error)
  }
}
