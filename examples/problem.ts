// RFC 9457 problem+json for the sample backends. Deliberately separate from
// src/errors.ts: these services stand alone (and run in their own container),
// so they must not depend on gateway code.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'
const PROBLEM_BASE = 'https://healthpay.dev/problems/'

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  [extension: string]: unknown
}

/**
 * A failure with a stable slug (`wallet-frozen`) and an HTTP status. The store
 * throws these too: its rules (insufficient funds, frozen wallet) are exactly
 * what clients must be able to tell apart, so the slug is part of the contract.
 */
export class ProblemError extends Error {
  readonly status: number
  readonly slug: string
  readonly headers?: Record<string, string>
  readonly extensions?: Record<string, unknown>

  constructor (status: number, slug: string, detail: string, more: { headers?: Record<string, string>, extensions?: Record<string, unknown> } = {}) {
    super(detail)
    this.name = 'ProblemError'
    this.status = status
    this.slug = slug
    this.headers = more.headers
    this.extensions = more.extensions
  }
}

export const notFound = (what: string, id: string): ProblemError =>
  new ProblemError(404, `${what}-not-found`, `No ${what} with id "${id}"`)

export const unauthorized = (detail: string): ProblemError =>
  new ProblemError(401, 'unauthorized', detail, { headers: { 'www-authenticate': 'Bearer realm="healthpay"' } })

export function buildProblem (request: FastifyRequest, status: number, slug: string, detail: string, extensions?: Record<string, unknown>): Problem {
  return {
    type: PROBLEM_BASE + slug,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    // the path only: a query string may carry tokens or cursors
    instance: (request.raw.url ?? request.url).split('?', 1)[0],
    ...extensions
  }
}

export function sendProblem (reply: FastifyReply, problem: Problem, headers?: Record<string, string>): FastifyReply {
  if (headers !== undefined) reply.headers(headers)
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem)
}

/**
 * One error handler and one 404 handler per service, so every error a client
 * sees (schema violations, bad JSON, domain conflicts, unknown routes) has the
 * same shape. Unexpected errors become a bare 500: no stack, no internals.
 */
export function installProblemHandlers (app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ProblemError, request, reply) => {
    if (error instanceof ProblemError) {
      return sendProblem(reply, buildProblem(request, error.status, error.slug, error.message, error.extensions), error.headers)
    }
    if (error.validation !== undefined) {
      const where = error.validationContext ?? 'request'
      const violations = error.validation.map((v) => ({
        in: where,
        field: v.instancePath === '' ? (typeof v.params?.missingProperty === 'string' ? `/${v.params.missingProperty}` : '/') : v.instancePath,
        message: v.message ?? 'is invalid'
      }))
      return sendProblem(reply, buildProblem(request, 400, 'validation-failed', `The ${where} is invalid: ${violations.map((v) => `${v.field} ${v.message}`).join('; ')}`, { violations }))
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status === 500) {
      request.log.error({ err: error }, 'unhandled error')
      return sendProblem(reply, buildProblem(request, 500, 'internal-error', 'The service failed to handle this request'))
    }
    // Fastify's own client errors (bad JSON, body too large, bad media type) keep their status
    return sendProblem(reply, buildProblem(request, status, 'bad-request', error.message))
  })

  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, buildProblem(request, 404, 'route-not-found', `No route matches ${request.method} ${request.url.split('?', 1)[0]}`))
  })
}
