// One route's whole request path, in the order SPEC.md §4 gives:
//   version → auth → rate limit → validation → circuit breaker → proxy
// Each concern is a plugin registered here and nowhere else; the hooks they add
// apply only inside this encapsulated scope. A plain async plugin (not
// fastify-plugin wrapped) so the `prefix` option takes effect. The breaker is the
// one concern that is not a hook: it must hear how each upstream exchange ended,
// so the forwarder asks it first and tells it last (plugins/circuit-breaker/).
import type { FastifyInstance } from 'fastify'
import versioning, { deprecatedUsageHook } from '../plugins/versioning/index.js'
import auth from '../plugins/auth/index.js'
import rateLimit from '../plugins/rate-limit/index.js'
import validation from '../plugins/validation/index.js'
import proxy, { routePattern } from '../plugins/proxy/index.js'
import { createFallback } from '../plugins/circuit-breaker/fallback.js'
import type { VersionedRoute } from '../plugins/versioning/routes.js'
import type { GatewayContext } from './context.js'
import { logRequest } from './logging.js'
import { ipRestrictionHook } from '../plugins/ip-restriction/index.js'

export interface RouteScopeOptions {
  /** one route in one API version (plugins/versioning/routes.ts) */
  entry: VersionedRoute
  context: GatewayContext
}

export default async function routeScope (scope: FastifyInstance, { entry, context }: RouteScopeOptions): Promise<void> {
  const { route } = entry
  const service = context.services.get(route.service)!
  const breaker = context.breakers.get(route.service)!
  const versionOptions = entry.versioned ? context.versions.pluginOptions(entry) : undefined
  if (versionOptions !== undefined) await scope.register(versioning, versionOptions)
  const { metrics } = context
  if (route.ipRestriction !== undefined) scope.addHook('onRequest', ipRestrictionHook(route.ipRestriction))
  await scope.register(auth, { route, authenticator: context.authenticator, onFailure: (reason) => metrics.authFailure(reason) })
  const countConsumers = versionOptions === undefined ? undefined : deprecatedUsageHook(versionOptions)
  if (countConsumers) scope.addHook('onRequest', countConsumers)
  if (context.rateLimiter) await scope.register(rateLimit, { route, limiter: context.rateLimiter, config: context.config.rateLimit, metrics })
  const operations = context.validators.get(route.prefix)
  if (operations !== undefined) await scope.register(validation, { operations })
  const pattern = routePattern(route)
  const upgrades = metrics.route(pattern)
  await scope.register(proxy, {
    route,
    service,
    bodyLimit: route.bodyLimitBytes ?? context.config.server.bodyLimitBytes,
    matchConstraint: context.routeMatch.constraintFor(route),
    isTrusted: (address: string) => context.trust(address, 0),
    tunnels: context.tunnels,
    breaker,
    fallback: createFallback(route, breaker),
    retry: service.config.retries === undefined ? context.config.retry : { ...context.config.retry, attempts: service.config.retries },
    onUpgradeAnswered: (request, status, durationMs) => {
      upgrades.observe(request.method, status, durationMs / 1000)
      logRequest(request, pattern, status, durationMs)
    }
  })
}
