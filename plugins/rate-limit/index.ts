// The rate-limit concern of one route scope: an onRequest hook after auth (it needs
// request.consumer). Limits per consumer tier, compiled once per route; the key is
// the consumer id (the client address for anonymous callers), plus the route's name
// when the route has limits of its own. Headers on every limited response:
// X-RateLimit-Limit/Remaining/Reset and the IETF RateLimit-Policy / RateLimit fields
// of draft-ietf-httpapi-ratelimit-headers-10; 429 problem+json with Retry-After.
//
// Our own plugin rather than @fastify/rate-limit: its store answers only {current,
// ttl}, which cannot carry a sliding estimate or a fallback store; it writes the
// older RateLimit-Limit/-Remaining/-Reset fields, not RateLimit-Policy/RateLimit;
// and per-tier limits would cost an async max() call per request.
import fp from 'fastify-plugin'
import createError from '@fastify/error'
import type { FastifyInstance, FastifyRequest, FastifyReply, HookHandlerDoneFunction } from 'fastify'
import type { RateLimiter } from './limiter.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { Decision } from './sliding-window.js'
import type { RateLimitConfig } from './options.js'
import type { RouteConfig } from '../proxy/options.js'
import type { Tier } from '../auth/options.js'
import { TIERS } from '../auth/options.js'
import { settle } from '../../src/settle.js'
import { effectiveRateLimit } from './policy.js'

const RateLimitedError = createError<[number, number, number]>('GW_RATE_LIMITED', 'Rate limit of %d requests per %d s exceeded; retry in %d s', 429)

export interface RateLimitPluginOptions {
  route: RouteConfig
  limiter: RateLimiter
  config: RateLimitConfig
  metrics: Pick<GatewayMetrics, 'rateLimit'>
}

interface Policy {
  limit: number
  windowMs: number
  /** the constant part of the headers, built once */
  limitHeader: string
  policyHeader: string
  name: string
  /** this tier's gateway_rate_limit_requests_total children */
  decisions: { allowed: { inc: () => void }, rejected: { inc: () => void } }
}

const seconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000))

async function rateLimit (scope: FastifyInstance, { route, limiter, config, metrics }: RateLimitPluginOptions): Promise<void> {
  const effective = effectiveRateLimit(route, config)
  if (!effective.enabled) return
  const own = effective.source === 'route'
  // g: the consumer's global window; r:<route>: a route's own (route names are [A-Za-z0-9._-])
  const keyScope = own ? `r:${route.name}:` : 'g:'
  const policies = {} as Record<Tier, Policy>
  for (const tier of TIERS) {
    const limit = effective.limits[tier]
    const name = own ? `${route.name}-${tier}` : tier
    const windowMs = effective.windowMs
    policies[tier] = { limit, windowMs, name, limitHeader: String(limit), policyHeader: `"${name}";q=${limit};w=${seconds(windowMs)}`, decisions: metrics.rateLimit(tier) }
  }

  const apply = (reply: FastifyReply, policy: Policy, d: Decision, done: HookHandlerDoneFunction) => {
    // refused: the reset a client should wait for is the retry-after
    const reset = seconds(d.allowed ? d.resetMs : d.retryAfterMs)
    reply.header('x-ratelimit-limit', policy.limitHeader)
    reply.header('x-ratelimit-remaining', String(d.remaining))
    reply.header('x-ratelimit-reset', String(reset))
    reply.header('ratelimit-policy', policy.policyHeader)
    reply.header('ratelimit', `"${policy.name}";r=${d.remaining};t=${reset}`)
    if (d.allowed) {
      policy.decisions.allowed.inc()
      done()
      return
    }
    policy.decisions.rejected.inc()
    const retry = seconds(d.retryAfterMs)
    done(Object.assign(new RateLimitedError(policy.limit, seconds(policy.windowMs), retry), { headers: { 'retry-after': String(retry) } }))
  }

  scope.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const consumer = request.consumer!
    const policy = policies[consumer.tier]
    settle(() => limiter.hit(keyScope + consumer.key, policy.limit, policy.windowMs), (d) => apply(reply, policy, d, done), done)
  })
}

export default fp(rateLimit, { name: 'healthpay-rate-limit', fastify: '5.x' })
