// Request metrics of the public listener: an onResponse hook bound to each route
// as it is registered, so the route label is the route's pattern ("/v1/api/*",
// never the raw URL) and its counter and histogram children are found without
// hashing labels. Requests that match no route are counted under "unmatched".
import type { FastifyInstance, onResponseHookHandler } from 'fastify'
import { UNMATCHED_ROUTE, type GatewayMetrics, type RouteMetrics } from './metrics.js'

function observer (metrics: RouteMetrics): onResponseHookHandler {
  return function countRequest (request, reply, done) {
    // elapsedTime: from routing to the response's 'finish', in ms
    metrics.observe(request.method, reply.statusCode, reply.elapsedTime / 1000)
    done()
  }
}

/**
 * Instruments every route registered on `app` from now on. Returns the hook the
 * not-found handler must be given (its route is not registered through onRoute).
 */
export function instrumentRoutes (app: FastifyInstance, metrics: GatewayMetrics): onResponseHookHandler {
  app.addHook('onRoute', (route) => {
    const hook = observer(metrics.route(route.config?.routeLabel ?? route.url))
    const own = route.onResponse
    route.onResponse = own === undefined ? [hook] : [...(Array.isArray(own) ? own : [own]), hook]
  })
  return observer(metrics.route(UNMATCHED_ROUTE))
}
