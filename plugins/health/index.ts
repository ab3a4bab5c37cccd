// Liveness (/health: the process answers) and readiness (/ready: send me traffic).
// Readiness does not depend on upstream health: if every gateway went unready when a
// backend is down, load balancers would drop the whole API, auth included, while the
// gateway itself answers fast 503s per route. It does depend on shutdown, and on Redis
// when rate limiting is configured to fail closed.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { sendProblem } from '../../src/errors.js'
import type { GatewayContext } from '../../src/context.js'

export interface Readiness {
  ready: boolean
  checks: {
    shuttingDown: boolean
    redis: 'not-configured' | 'up' | 'down'
    services: Record<string, { available: number, total: number }>
  }
}

export function readiness (context: GatewayContext): Readiness {
  const redis = context.redis === null ? 'not-configured' : context.redis.status === 'ready' ? 'up' : 'down'
  const services: Readiness['checks']['services'] = {}
  for (const [name, service] of context.services) services[name] = { available: service.availableCount(), total: service.targets.length }
  const shuttingDown = context.closing()
  // a hung Redis still says "ready": the limiter knows better
  const redisBlocks = context.config.rateLimit.failMode === 'closed' && (redis === 'down' || context.rateLimiter?.mode === 'fallback')
  return { ready: !shuttingDown && !redisBlocks, checks: { shuttingDown, redis, services } }
}

async function health (app: FastifyInstance, { context }: { context: GatewayContext }): Promise<void> {
  const startedAt = Date.now()
  app.get('/health', async () => ({ status: 'ok', uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) }))
  app.get('/ready', async (_request, reply) => {
    const state = readiness(context)
    if (state.ready) return { status: 'ready', ...state.checks }
    const why = state.checks.shuttingDown ? 'this instance is shutting down' : 'Redis is unreachable and RATE_LIMIT_FAIL_MODE=closed'
    return sendProblem(reply, 503, 'GW_NOT_READY', `Not ready: ${why}`, { extensions: { checks: state.checks } })
  })
}

export default fp(health, { name: 'healthpay-health', fastify: '5.x' })
