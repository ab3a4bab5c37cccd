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
import { addressKey } from '../auth/consumer.js'

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

/** what a request is counted by (route.rateLimit.by); the consumer's key by default */
function identityOf (block: RouteConfig['rateLimit']): (request: FastifyRequest) => string {
  switch (block?.by) {
    case 'ip': return (request) => `ip:${addressKey(request.ip)}`
    case 'path': return (request) => `p:${request.url.split('?')[0]}`
    case 'service': return () => 'all'
    case 'header': {
      const name = (block.byHeader ?? 'x-forwarded-for').toLowerCase()
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

async function rateLimit (scope: FastifyInstance, { route, limiter, config, metrics }: RateLimitPluginOptions): Promise<void> {
  const effective = effectiveRateLimit(route, config)
  if (!effective.enabled) return
  const own = effective.source === 'route'
  const block = route.rateLimit
  // g: the consumer's global window; r:<route>: a route's own (route names are [A-Za-z0-9._-]), or a counter several routes share
  const keyScope = block?.counter !== undefined ? `r:${block.counter}:` : own ? `r:${route.name}:` : 'g:'
  const identity = identityOf(block)
  const hit = block?.store === 'local'
    ? (key: string, limit: number, windowMs: number) => limiter.hitLocal(key, limit, windowMs)
    : (key: string, limit: number, windowMs: number) => limiter.hit(key, limit, windowMs)
  const showHeaders = block?.hideHeaders !== true
  if (effective.windows !== undefined) {
    multiWindow(scope, { route, windows: effective.windows, keyScope, identity, hit, showHeaders, metrics })
    return
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

  scope.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const policy = policies[request.consumer!.tier]
    settle(() => hit(keyScope + identity(request), policy.limit, policy.windowMs), (d) => apply(reply, policy, d, done), done)
  })
}

interface MultiWindowOptions {
  route: RouteConfig
  windows: ReadonlyArray<{ max: number, windowMs: number, name?: string | undefined }>
  keyScope: string
  identity: (request: FastifyRequest) => string
  hit: (key: string, limit: number, windowMs: number) => Decision | Promise<Decision>
  showHeaders: boolean
  metrics: Pick<GatewayMetrics, 'rateLimit'>
}

/**
 * Several windows at once (Kong's second/minute/hour/day): every window counts the
 * request and it must fit all of them. Headers: X-RateLimit-Limit-<Name> and
 * X-RateLimit-Remaining-<Name> per named window, and the common ones for the
 * window with the fewest requests left.
 */
function multiWindow (scope: FastifyInstance, opts: MultiWindowOptions): void {
  const { route, keyScope, identity, hit, showHeaders } = opts
  const windows = opts.windows.map((w, i) => {
    const name = w.name === undefined ? `${route.name}-${i}` : `${route.name}-${w.name.toLowerCase()}`
    return {
      ...w,
      suffix: `:w${w.windowMs}`,
      limitName: w.name === undefined ? undefined : `x-ratelimit-limit-${w.name.toLowerCase()}`,
      remainingName: w.name === undefined ? undefined : `x-ratelimit-remaining-${w.name.toLowerCase()}`,
      policyHeader: `"${name}";q=${w.max};w=${seconds(w.windowMs)}`,
      name
    }
  })
  const policyHeader = windows.map((w) => w.policyHeader).join(', ')
  const decisionsBy = Object.fromEntries(TIERS.map((tier) => [tier, opts.metrics.rateLimit(tier)])) as unknown as Record<Tier, Policy['decisions']>

  const apply = (request: FastifyRequest, reply: FastifyReply, results: Decision[], done: HookHandlerDoneFunction) => {
    let tightest = 0
    let refused: number | undefined
    results.forEach((d, i) => {
      if (d.remaining < results[tightest]!.remaining) tightest = i
      if (!d.allowed && (refused === undefined || d.retryAfterMs > results[refused]!.retryAfterMs)) refused = i
    })
    const chosen = refused ?? tightest
    const d = results[chosen]!
    const reset = seconds(d.allowed ? d.resetMs : d.retryAfterMs)
    const decisions = decisionsBy[request.consumer!.tier]
    if (showHeaders) {
      results.forEach((r, i) => {
        const w = windows[i]!
        if (w.limitName !== undefined) {
          reply.header(w.limitName, String(w.max))
          reply.header(w.remainingName!, String(r.remaining))
        }
      })
      reply.header('x-ratelimit-limit', String(windows[chosen]!.max))
      reply.header('x-ratelimit-remaining', String(d.remaining))
      reply.header('x-ratelimit-reset', String(reset))
      reply.header('ratelimit-policy', policyHeader)
      reply.header('ratelimit', `"${windows[chosen]!.name}";r=${d.remaining};t=${reset}`)
    }
    if (refused === undefined) {
      decisions.allowed.inc()
      done()
      return
    }
    decisions.rejected.inc()
    const retry = seconds(d.retryAfterMs)
    done(Object.assign(new RateLimitedError(windows[chosen]!.max, seconds(windows[chosen]!.windowMs), retry), { headers: { 'retry-after': String(retry) } }))
  }

  scope.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const key = keyScope + identity(request)
    settle(() => {
      const results = windows.map((w) => hit(key + w.suffix, w.max, w.windowMs))
      return results.some((r) => r instanceof Promise) ? Promise.all(results) : results as Decision[]
    }, (results) => apply(request, reply, results, done), done)
  })
}

export default fp(rateLimit, { name: 'healthpay-rate-limit', fastify: '5.x' })
