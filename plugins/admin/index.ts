// The admin listener's /admin/* API. Every route needs `Authorization: Bearer
// $ADMIN_TOKEN`; with no token configured the admin API refuses everything.
import fp from 'fastify-plugin'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify'
import { sendProblem } from '../../src/errors.js'
import type { GatewayContext } from '../../src/context.js'
import { apiKeyRoutes } from './api-keys.js'
import { eventRoutes } from './events.js'
import { redactConfig } from './redact.js'
import { routeTable } from './route-table.js'

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Constant-time bearer check: compare digests, so length differences leak nothing either. */
export function adminGuard (token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token)
  return async function guard (request: FastifyRequest, reply: FastifyReply) {
    if (expected === undefined) {
      return sendProblem(reply, 403, 'GW_ADMIN_DISABLED', 'The admin API is disabled: set ADMIN_TOKEN to enable it')
    }
    const header = request.headers.authorization
    const presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : ''
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      return sendProblem(reply, 401, 'GW_ADMIN_UNAUTHORIZED', 'Send Authorization: Bearer <ADMIN_TOKEN>', { headers: { 'www-authenticate': 'Bearer realm="healthpay-admin"' } })
    }
  }
}

async function admin (app: FastifyInstance, { context }: { context: GatewayContext }): Promise<void> {
  // the config never changes after start-up: both views are built once
  const routes = routeTable(context)
  const redactedConfig = JSON.stringify(redactConfig(context.config))
  app.register(async (scope) => {
    scope.addHook('onRequest', adminGuard(context.config.server.adminToken))
    // admin bodies are JSON: a text/plain body gets 415, not a schema error about a string
    scope.removeContentTypeParser('text/plain')
    // every route and version as registered, with the timeouts and limits that apply
    scope.get('/routes', async () => routes)
    // secrets replaced (plugins/admin/redact.ts); never cached by anything in between
    scope.get('/config', async (_request, reply) => reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(redactedConfig))
    eventRoutes(scope, context.events)
    scope.get('/upstreams', async () => {
      const services: Record<string, unknown> = {}
      for (const [name, service] of context.services) {
        services[name] = {
          loadBalancing: service.config.loadBalancing,
          timeoutMs: service.timeoutMs,
          breaker: context.breakers.get(name)!.snapshot(),
          retries: service.retryBudget.snapshot(),
          targets: service.summary()
        }
      }
      return { services }
    })
    // each service's circuit breaker: state, window counts, trials (metrics: issue 8)
    scope.get('/breakers', async () => {
      const services: Record<string, unknown> = {}
      for (const [name, b] of context.breakers) services[name] = { ...b.snapshot(), settings: b.settings }
      return { settings: context.config.breaker, services }
    })
    // each API version: current / deprecated / sunset, its routes, calls on this
    // instance, and for deprecated ones which consumers still call it (metrics: issue 8)
    scope.get('/versions', async () => context.versions.snapshot())
    apiKeyRoutes(scope, context.authenticator.apiKeys)
    // where rate limits are decided right now, and what Redis outages cost (metrics: issue 8)
    scope.get('/rate-limit', async () => {
      const { rateLimit } = context.config
      const limiter = context.rateLimiter
      return {
        enabled: limiter !== null,
        mode: limiter?.mode ?? 'off',
        failMode: rateLimit.failMode,
        windowMs: rateLimit.windowMs,
        limits: { anonymous: rateLimit.anonymous, authenticated: rateLimit.authenticated, premium: rateLimit.premium },
        stats: limiter?.stats ?? null
      }
    })
  }, { prefix: '/admin' })
}

export default fp(admin, { name: 'healthpay-admin', fastify: '5.x' })
