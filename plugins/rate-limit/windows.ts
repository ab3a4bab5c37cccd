// Several windows at once (Kong's second/minute/hour/day, route.rateLimit.windows):
// an onRequest hook for the rate-limit plugin. Pure wiring over the limiter's hits.
import type { FastifyRequest, FastifyReply, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import type { GatewayMetrics } from '../metrics/metrics.js'
import type { Decision } from './sliding-window.js'
import type { RouteConfig } from '../proxy/options.js'
import { TIERS, type Tier } from '../auth/options.js'
import { settle } from '../../src/settle.js'
import { RateLimitedError, seconds } from './errors.js'

type Decisions = { allowed: { inc: () => void }, rejected: { inc: () => void } }

export interface MultiWindowOptions {
  route: RouteConfig
  windows: ReadonlyArray<{ max: number, windowMs: number, name?: string | undefined }>
  keyScope: string
  identity: (request: FastifyRequest) => string
  hit: (key: string, limit: number, windowMs: number) => Decision | Promise<Decision>
  /** takes back a counted request (windows that admitted a request another window refused) */
  refund: (key: string, windowMs: number) => void
  showHeaders: boolean
  metrics: Pick<GatewayMetrics, 'rateLimit'>
}

/**
 * Several windows at once (Kong's second/minute/hour/day): every window counts the
 * request and it must fit all of them. Headers: X-RateLimit-Limit-<Name> and
 * X-RateLimit-Remaining-<Name> per named window, and the common ones for the
 * window with the fewest requests left.
 */
export function multiWindowHook (opts: MultiWindowOptions): onRequestHookHandler {
  const { route, keyScope, identity, hit, refund, showHeaders } = opts
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
  const decisionsBy = Object.fromEntries(TIERS.map((tier) => [tier, opts.metrics.rateLimit(tier)])) as unknown as Record<Tier, Decisions>

  const apply = (request: FastifyRequest, reply: FastifyReply, key: string, results: Decision[], done: HookHandlerDoneFunction) => {
    let tightest = 0
    let refused: number | undefined
    results.forEach((d, i) => {
      if (d.remaining < results[tightest]!.remaining) tightest = i
      if (!d.allowed && (refused === undefined || d.retryAfterMs > results[refused]!.retryAfterMs)) refused = i
    })
    // a refused request counts nowhere (as in Kong): the windows that admitted it take it back
    if (refused !== undefined) {
      results.forEach((d, i) => {
        if (!d.allowed) return
        const w = windows[i]!
        refund(key + w.suffix, w.windowMs)
        results[i] = { ...d, remaining: Math.min(w.max, d.remaining + 1) }
      })
    }
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

  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const key = keyScope + identity(request)
    settle(() => {
      const results = windows.map((w) => hit(key + w.suffix, w.max, w.windowMs))
      return results.some((r) => r instanceof Promise) ? Promise.all(results) : results as Decision[]
    }, (results) => apply(request, reply, key, results, done), done)
  }
}
