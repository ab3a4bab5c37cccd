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
import type { FastifyInstance, FastifyRequest, FastifyReply, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import type { RateLimiter } from './limiter.js'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { Decision } from './sliding-window.js'
import type { RateLimitConfig } from './options.js'
import type { RouteConfig } from '../proxy/options.js'
import type { Tier } from '../auth/options.js'
import { TIERS } from '../auth/options.js'
import { settle } from '../../src/settle.js'
import { effectiveRateLimit } from './policy.js'
import { addressKey } from '../auth/consumer.js'
import { RateLimitedError, seconds } from './errors.js'
import { multiWindowHook } from './windows.js'

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


/** what a request is counted by (route.rateLimit.by); the consumer's key by default */
function identityOf (block: { by?: string | undefined, byHeader?: string | undefined, byPath?: string | undefined } | undefined, route: RouteConfig): (request: FastifyRequest) => string {
  switch (block?.by) {
    case 'ip': return (request) => `ip:${addressKey(request.ip)}`
    case 'path': {
      const only = block.byPath
      // with byPath: requests to that path count together, any other by client address (Kong's limit_by path)
      if (only !== undefined) return (request) => (request.url.split('?')[0] === only ? `p:${only}` : `ip:${addressKey(request.ip)}`)
      return (request) => `p:${request.url.split('?')[0]}`
    }
    case 'service': {
      const service = `s:${route.service}`
      return () => service
    }
    case 'header': {
      const name = (block!.byHeader ?? 'x-forwarded-for').toLowerCase()
      // without the header, the client address counts (as in Kong)
      return (request) => {
        const value = request.headers[name]
        const first = Array.isArray(value) ? value[0] : value
        return first === undefined || first === '' ? `ip:${addressKey(request.ip)}` : `h:${first.slice(0, 256)}`
      }
    }
    default: return (request) => request.consumer!.key
  }
}

type Hit = (key: string, limit: number, windowMs: number) => Decision | Promise<Decision>

async function rateLimit (scope: FastifyInstance, { route, limiter, config, metrics }: RateLimitPluginOptions): Promise<void> {
  if (!config.enabled) return
  const block = route.rateLimit
  const hitIn = (store: 'shared' | 'local' | undefined): Hit => store === 'local'
    ? (key, limit, windowMs) => limiter.hitLocal(key, limit, windowMs)
    : (key, limit, windowMs) => limiter.hit(key, limit, windowMs)
  const refundIn = (store: 'shared' | 'local' | undefined) => (key: string, windowMs: number) => limiter.refund(key, windowMs, store === 'local')
  // consumers with limits of their own on this route (Kong's consumer-scoped rate-limiting)
  const overrides = new Map<string, onRequestHookHandler>()
  for (const [id, own] of Object.entries(block?.consumers ?? {})) {
    overrides.set(id, multiWindowHook({ route, windows: own.windows, keyScope: `r:${own.counter ?? `${route.name}~${id}`}:`, identity: identityOf(own, route), hit: hitIn(own.store), refund: refundIn(own.store), showHeaders: own.hideHeaders !== true, metrics }))
  }
  const base = routeHook(route, config, metrics, hitIn, refundIn)
  if (overrides.size === 0) {
    if (base !== undefined) scope.addHook('onRequest', base)
    return
  }
  const none: onRequestHookHandler = (_request, _reply, done) => done()
  const fallback = base ?? none
  scope.addHook('onRequest', function (request, reply, done) {
    (overrides.get(request.consumer!.id) ?? fallback).call(this, request, reply, done)
  })
}

/** the route's own limits, or the consumer's global ones (undefined: not limited) */
function routeHook (route: RouteConfig, config: RateLimitConfig, metrics: Pick<GatewayMetrics, 'rateLimit'>, hitIn: (store: 'shared' | 'local' | undefined) => Hit, refundIn: (store: 'shared' | 'local' | undefined) => (key: string, windowMs: number) => void): onRequestHookHandler | undefined {
  const effective = effectiveRateLimit(route, config)
  if (!effective.enabled) return undefined
  const own = effective.source === 'route'
  const block = route.rateLimit
  // g: the consumer's global window; r:<route>: a route's own (route names are [A-Za-z0-9._-]), or a counter several routes share
  const keyScope = block?.counter !== undefined ? `r:${block.counter}:` : own ? `r:${route.name}:` : 'g:'
  const identity = identityOf(block, route)
  const hit = hitIn(block?.store)
  const showHeaders = block?.hideHeaders !== true
  if (effective.windows !== undefined) {
    return multiWindowHook({ route, windows: effective.windows, keyScope, identity, hit, refund: refundIn(block?.store), showHeaders, metrics })
  }
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
    if (showHeaders) {
      reply.header('x-ratelimit-limit', policy.limitHeader)
      reply.header('x-ratelimit-remaining', String(d.remaining))
      reply.header('x-ratelimit-reset', String(reset))
      reply.header('ratelimit-policy', policy.policyHeader)
      reply.header('ratelimit', `"${policy.name}";r=${d.remaining};t=${reset}`)
    }
    if (d.allowed) {
      policy.decisions.allowed.inc()
      done()
      return
    }
    policy.decisions.rejected.inc()
    const retry = seconds(d.retryAfterMs)
    done(Object.assign(new RateLimitedError(policy.limit, seconds(policy.windowMs), retry), { headers: { 'retry-after': String(retry) } }))
  }

  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const policy = policies[request.consumer!.tier]
    settle(() => hit(keyScope + identity(request), policy.limit, policy.windowMs), (d) => apply(reply, policy, d, done), done)
  }
}

export default fp(rateLimit, { name: 'healthpay-rate-limit', fastify: '5.x' })
