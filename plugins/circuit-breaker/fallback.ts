// What a request gets while its service's breaker refuses it: the route's configured
// response, or a 503 problem with Retry-After. Everything that does not depend on
// the request is prepared once here, so the answer costs microseconds.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendProblem } from '../../src/errors.js'
import { BreakerOpenError } from './errors.js'
import type { ServiceBreaker } from './breaker.js'
import type { RouteConfig } from '../proxy/options.js'

export type FallbackResponder = (request: FastifyRequest, reply: FastifyReply) => void

/** whole seconds, at least 1: a 0 would invite an immediate retry */
const retryAfter = (breaker: ServiceBreaker) => String(Math.max(1, Math.ceil(breaker.retryAfterMs() / 1000)))

export function createFallback (route: RouteConfig, breaker: ServiceBreaker): FallbackResponder {
  const configured = route.fallback
  if (configured === undefined) {
    const detail = new BreakerOpenError(breaker.service).message
    return (_request, reply) => {
      sendProblem(reply, 503, 'GW_BREAKER_OPEN', detail, { headers: { 'retry-after': retryAfter(breaker) } })
    }
  }
  const headers: Record<string, string> = {}
  const payload = configured.body === undefined ? '' : JSON.stringify(configured.body)
  if (payload !== '') headers['content-type'] = 'application/json; charset=utf-8'
  for (const [name, value] of Object.entries(configured.headers ?? {})) headers[name.toLowerCase()] = value
  // a configured 503 without its own Retry-After says when the service is tried again
  const addRetryAfter = configured.status === 503 && headers['retry-after'] === undefined
  return (_request, reply) => {
    reply.code(configured.status).headers(headers)
    if (addRetryAfter) reply.header('retry-after', retryAfter(breaker))
    reply.send(payload)
  }
}
