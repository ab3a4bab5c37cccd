// RFC 9457 problem+json for everything the gateway itself answers with an error.
// Each failure is a @fastify/error constructor with a GW_<AREA>_<WHAT> code and a
// status; this one handler turns them (and Fastify's own errors) into problems.
import createError from '@fastify/error'
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'
export const PROBLEM_BASE = 'https://healthpay.dev/problems/'

export const RouteNotFoundError = createError<[string, string]>('GW_ROUTE_NOT_FOUND', 'No route matches %s %s; see /openapi.json for the published API', 404)
export const ShuttingDownError = createError('GW_SHUTTING_DOWN', 'This gateway instance is shutting down; retry the request (another instance will take it)', 503)
export const BadPathError = createError('GW_REQUEST_BAD_PATH', 'The request path is not in normal form (a "." or ".." segment, "//", ";", "#", a backslash, or an encoded "/", "\\" or ";"); send a normalized path', 400)
export const BadHostError = createError('GW_REQUEST_BAD_HOST', 'An HTTP/1.1 request must carry exactly one Host header', 400)
export const BodyTimeoutError = createError<[number]>('GW_REQUEST_TIMEOUT', 'The request body was not received within %d ms', 408)
export const BodyTooLargeError = createError<[number]>('GW_REQUEST_BODY_TOO_LARGE', 'The request body exceeds the limit of %d bytes', 413)
export const InternalError = createError('GW_INTERNAL', 'The gateway failed to handle this request; quote the requestId when reporting it', 500)

/** Extra fields an error may carry onto its problem document and response. */
export interface ProblemExtras {
  headers?: Record<string, string | string[]>
  /** additional members of the problem document (e.g. `violations`, `versions`) */
  extensions?: Record<string, unknown>
}

// Fastify's own client errors, renamed into our code space with a fix-it message.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'GW_REQUEST_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GW_REQUEST_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GW_REQUEST_BAD_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GW_REQUEST_INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'GW_REQUEST_INVALID_JSON',
  FST_ERR_BAD_URL: 'GW_REQUEST_BAD_URL',
  FST_ERR_VALIDATION: 'GW_REQUEST_INVALID'
}

export function problemType (code: string): string {
  return PROBLEM_BASE + code.toLowerCase().replace(/_/g, '-')
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  requestId: string
  code: string
  [extension: string]: unknown
}

export function buildProblem (request: FastifyRequest, status: number, code: string, detail: string, extensions?: Record<string, unknown>): Problem {
  return {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    // the path only (a query string may carry tokens), as the client sent it
    instance: pathOf(request.originalUrl),
    requestId: request.id,
    code,
    ...extensions
  }
}

export function sendProblem (reply: FastifyReply, status: number, code: string, detail: string, extras?: ProblemExtras): FastifyReply {
  if (extras?.headers) reply.headers(extras.headers)
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(buildProblem(reply.request, status, code, detail, extras?.extensions))
}

/**
 * Set on an error raised somewhere the gateway knows better what to answer than the
 * error itself says (an upstream body that failed before its first byte reached the
 * client, which Fastify hands to the error handler): the answer is this error's.
 */
export const kAnswerWith = Symbol('healthpay.error.answerWith')

/** The root error handler: every error becomes problem+json, 5xx details never leak. */
export function problemErrorHandler (this: unknown, raised: FastifyError & ProblemExtras & { [kAnswerWith]?: FastifyError }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error: FastifyError & ProblemExtras = raised[kAnswerWith] ?? raised
  let status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode <= 599 ? error.statusCode : 500
  let code = error.code && /^GW_[A-Z0-9_]+$/.test(error.code) ? error.code : FASTIFY_CODES[error.code]
  // Fastify's bad-URL message quotes the whole URL, query string (and its tokens) included
  let detail = code === 'GW_REQUEST_BAD_URL' ? 'The request URL is not valid (malformed percent-encoding)' : error.message
  if (!code) {
    if (status < 500 && error.code?.startsWith('FST_')) {
      code = 'GW_REQUEST_INVALID'
    } else if (error.code === 'ECONNRESET' || request.raw.destroyed) {
      // the client went away while its body was being read: nobody is there to answer,
      // and it is not the gateway's fault
      request.log.debug({ err: error.message }, 'client went away before its request body arrived')
      status = 400
      code = 'GW_REQUEST_INCOMPLETE'
      detail = 'The request was cut off before its body arrived'
    } else {
      // unexpected: log it whole, answer without internals
      request.log.error({ err: error }, 'unhandled error')
      status = 500
      code = 'GW_INTERNAL'
      detail = new InternalError().message
    }
  } else if (status >= 500 && !error.code?.startsWith('GW_')) {
    detail = new InternalError().message
  }
  if (status >= 500 && error.cause) request.log.warn({ err: error.cause, code }, error.message)
  return sendProblem(reply, status, code, detail, error)
}

interface SchemaViolation { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

/**
 * Fastify's schemaErrorFormatter: one sentence per violation, naming the field (Ajv's
 * own text says "must NOT have additional properties" without saying which).
 */
export function schemaErrorFormatter (errors: SchemaViolation[], dataVar: string): Error {
  const parts = new Set<string>()
  for (const e of errors) {
    const where = `${dataVar}${e.instancePath}`
    if (e.keyword === 'additionalProperties') {
      parts.add(`${where} has an unknown field "${String(e.params.additionalProperty)}"`)
    } else if (e.keyword === 'anyOf' || e.keyword === 'const') {
      // a union of literals: one sentence listing what is allowed
      const allowed = errors.filter((o) => o.instancePath === e.instancePath && o.keyword === 'const').map((o) => JSON.stringify(o.params.allowedValue))
      parts.add(allowed.length > 0 ? `${where} must be one of ${allowed.join(', ')}` : `${where} ${e.message ?? 'is invalid'}`)
    } else {
      parts.add(`${where} ${e.message ?? 'is invalid'}`)
    }
  }
  return new Error([...parts].join('; '))
}

export function notFoundHandler (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, 404, 'GW_ROUTE_NOT_FOUND', new RouteNotFoundError(request.method, pathOf(request.originalUrl)).message)
}

/**
 * A problem+json answer written straight to a socket the HTTP server does not (or no
 * longer) own: parser errors, upgrade requests, tunnels. Closes the connection.
 */
export function writeRawProblem (socket: Duplex, status: number, code: string, detail: string, where: { instance?: string, requestId?: string } = {}): void {
  if (socket.destroyed || !socket.writable) return
  const { body, requestId } = rawProblem(status, code, detail, where)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`)
}

/** The problem+json body of an answer written outside Fastify (a raw socket, a bare node:http listener). */
export function rawProblem (status: number, code: string, detail: string, where: { instance?: string, requestId?: string } = {}): { body: string, requestId: string } {
  const requestId = where.requestId ?? randomUUID()
  return { body: JSON.stringify({ type: problemType(code), title: STATUS_CODES[status], status, detail, instance: where.instance ?? '', requestId, code }), requestId }
}

// Node's parser rejected the bytes before any request existed: answer on the raw socket.
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'GW_REQUEST_HEADERS_TOO_LARGE', 'The request headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'GW_REQUEST_TIMEOUT', 'The request was not received in time'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'GW_REQUEST_TIMEOUT', 'The request headers were not received in time']
}

export function clientErrorHandler (err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  // a pipelined request went bad while an earlier one, received whole, still awaits its
  // answer: that answer goes first and the connection then closes (RFC 9112 §9.3.2) —
  // an error written now would be read as the answer to the earlier request
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse & { req?: IncomingMessage } })._httpMessage
  if (inFlight && !inFlight.writableEnded && inFlight.req?.complete) {
    inFlight.shouldKeepAlive = false
    return
  }
  const [status, code, detail] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'GW_REQUEST_MALFORMED', 'The request is not valid HTTP/1.1']
  writeRawProblem(socket, status, code, detail)
}

export function pathOf (url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
