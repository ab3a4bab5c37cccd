// One route's whole request path, in the order SPEC.md §4 gives:
//   version → auth → rate limit → validation → circuit breaker → proxy
// Each concern is a plugin registered here and nowhere else; the hooks they add
// apply only inside this encapsulated scope. A plain async plugin (not
// fastify-plugin wrapped) so the `prefix` option takes effect. The breaker is the
// one concern that is not a hook: it must hear how each upstream exchange ended,
// so the forwarder asks it first and tells it last (plugins/circuit-breaker/).
import type { FastifyInstance } from 'fastify'
import auth from '../plugins/auth/index.js'
import rateLimit from '../plugins/rate-limit/index.js'
import proxy from '../plugins/proxy/index.js'
import { createFallback } from '../plugins/circuit-breaker/fallback.js'
import type { RouteConfig } from '../plugins/proxy/options.js'
import type { GatewayContext } from './context.js'

export interface RouteScopeOptions {
  route: RouteConfig
  context: GatewayContext
}

export default async function routeScope (scope: FastifyInstance, { route, context }: RouteScopeOptions): Promise<void> {
  const service = context.services.get(route.service)!
  const breaker = context.breakers.get(route.service)!
  // version and validation plugins are registered here as they land (issues 6–7),
  // in the order above
  await scope.register(auth, { route, authenticator: context.authenticator })
  if (context.rateLimiter) await scope.register(rateLimit, { route, limiter: context.rateLimiter, config: context.config.rateLimit })
  await scope.register(proxy, {
    route,
    service,
    bodyLimit: context.config.server.bodyLimitBytes,
    isTrusted: (address: string) => context.trust(address, 0),
    tunnels: context.tunnels,
    breaker,
    fallback: createFallback(route, breaker),
    retry: context.config.retry
  })
}
