// The validation concern of one route scope (SPEC.md §4 step 6), after auth and
// rate limiting: path parameters, query and JSON body are checked against the
// operation the published spec gives for this method and path, before the
// breaker and the proxy. A bad request is a 400 listing each violation and never
// reaches the upstream. The body was read whole by the proxy's JSON parser (only
// on validating routes) and is forwarded as those same bytes.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { pathOf } from '../../src/errors.js'
import { compileOperations, createAjv, violations, type OperationIndex, type Violation } from './operations.js'
import type { OpenApiDocument } from '../openapi/spec.js'
import type { VersionedRoute } from '../versioning/routes.js'
import { declaresBody } from '../proxy/request-body.js'
import { methodNotAllowed, unknownOperation, unsupportedMediaType, validationFailed } from './errors.js'

export interface ValidationPluginOptions {
  operations: OperationIndex
}

/** "Application/JSON; charset=utf-8" → "application/json" */
const mediaType = (header: string): string => {
  const semi = header.indexOf(';')
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase()
}
// JSON is UTF-8 (RFC 8259 §8.1): another charset would be read one way here, another upstream
const OTHER_CHARSET = /;\s*charset\s*=\s*(?!"?utf-?8"?\s*(?:;|$))/i
// invalid UTF-8 is refused, not replaced with U+FFFD: the upstream gets the raw bytes
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
/** a 400 lists at most this many violations (a small body can carry thousands) */
export const MAX_LISTED = 50

async function validation (scope: FastifyInstance, { operations }: ValidationPluginOptions): Promise<void> {
  scope.addHook('preValidation', (request, reply, done) => {
    const match = operations.match(request.method, pathOf(request.raw.url!))
    if (match.kind === 'no-path') {
      done(unknownOperation(request.method, pathOf(request.originalUrl)))
      return
    }
    if (match.kind === 'no-method') {
      done(methodNotAllowed(request.method, pathOf(request.originalUrl), match.allow))
      return
    }
    const { operation, params } = match
    const errors: Violation[] = operation.checkParameters(params, request.query as Record<string, unknown>)
    const spec = operation.body
    const body = request.body as Buffer | undefined
    const sent = (body !== undefined && body.length > 0) || (body === undefined && declaresBody(request.headers))
    if (spec === undefined) {
      // checked or refused, never forwarded unchecked
      if (sent) errors.push({ in: 'body', path: '/', message: 'is not allowed: this operation takes no body' })
    } else {
      const type = request.headers['content-type']
      const encoding = request.headers['content-encoding']
      // only the media types the operation lists (the service behind it parses those), as
      // plain UTF-8: a compressed or otherwise encoded body cannot be checked
      if (sent && (type === undefined || !spec.mediaTypes.includes(mediaType(type)) || OTHER_CHARSET.test(type) ||
          (encoding !== undefined && encoding.toLowerCase() !== 'identity') || body === undefined)) {
        done(unsupportedMediaType(spec.mediaTypes))
        return
      }
      if (!sent) {
        if (spec.required) errors.push({ in: 'body', path: '/', message: 'is required' })
      } else {
        let value: unknown
        try {
          value = JSON.parse(utf8.decode(body!))
        } catch {
          errors.push({ in: 'body', path: '/', message: 'is not valid JSON (UTF-8)' })
        }
        if (value !== undefined && !spec.check(value)) errors.push(...violations('body', spec.check.errors))
      }
    }
    done(errors.length > 0 ? validationFailed(errors, MAX_LISTED) : undefined)
  })
}

const compiledFor = new WeakMap<OpenApiDocument, { ajv: ReturnType<typeof createAjv>, byPrefix: Map<string, OperationIndex> }>()

/**
 * The validators of every validating route (`validate: true`), by concrete prefix,
 * compiled once. A validating route the document has no operation for is a
 * start-up error: every request to it would be refused.
 */
export function compileRouteValidators (entries: readonly VersionedRoute[], document: () => OpenApiDocument): Map<string, OperationIndex> {
  const out = new Map<string, OperationIndex>()
  const validating = entries.filter((e) => e.route.validate)
  if (validating.length === 0) return out
  const doc = document()
  // the document is frozen and shared by the process: a gateway built again (tests, a
  // reload) reuses what an earlier one compiled instead of generating the code again
  let compiled = compiledFor.get(doc)
  if (compiled === undefined) {
    compiled = { ajv: createAjv(doc), byPrefix: new Map() }
    compiledFor.set(doc, compiled)
  }
  const missing: string[] = []
  for (const { route } of validating) {
    let index = compiled.byPrefix.get(route.prefix)
    if (index === undefined) {
      index = compileOperations(doc, route.prefix, compiled.ajv)
      compiled.byPrefix.set(route.prefix, index)
    }
    if (index.size === 0) missing.push(`${route.prefix} (route ${route.name})`)
    out.set(route.prefix, index)
  }
  if (missing.length > 0) throw new Error(`validate is on for ${missing.join(', ')}, but openapi/openapi.yaml describes no operation under ${missing.length === 1 ? 'it' : 'them'}: describe the operations or set validate: false`)
  return out
}

export default fp(validation, { name: 'healthpay-validation', fastify: '5.x' })
