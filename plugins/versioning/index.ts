// The version concern of one route scope (registered first: SPEC.md §4 step 3).
// The version itself was resolved before routing (negotiation.ts); this hook
// states it on every response (X-API-Version; Vary when headers chose it),
// counts the call, and for a deprecated version adds Deprecation, Sunset and a
// successor-version Link, or answers 410 once the sunset has passed.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { varyIfNegotiated } from './negotiation.js'
import { sunsetError } from './errors.js'
import type { VersionedRoute } from './routes.js'
import type { Deprecation } from './deprecation.js'
import type { VersionUsage } from './usage.js'

export interface VersioningPluginOptions {
  entry: VersionedRoute
  /** set when this version is deprecated */
  deprecation: Deprecation | undefined
  afterSunset: 'gone' | 'serve'
  usage: VersionUsage
  now: () => number
}

// a Link target must stay a URI-reference inside <...>, and Node refuses header
// values outside Latin-1: anything else in the path is percent-encoded
const UNSAFE_IN_LINK = /[^\x21-\x7e]|[<>"\\^`{|}]/
const linkSafe = (path: string) => UNSAFE_IN_LINK.test(path) ? path.replace(new RegExp(UNSAFE_IN_LINK, 'g'), (c) => encodeURIComponent(c)) : path

/** the path after its first segment (the version, maybe percent-encoded), without the query: "/v1/api/w?x" → "/api/w" */
function unversionedPath (url: string): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const slash = path.indexOf('/', 1)
  return slash === -1 ? '' : path.slice(slash)
}

async function versioning (scope: FastifyInstance, opts: VersioningPluginOptions): Promise<void> {
  const { entry: { version, successor }, deprecation, usage, now } = opts
  const header = String(version)
  const stamp = (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-api-version', header)
    varyIfNegotiated(request, reply)
    usage.count(version)
  }
  if (deprecation === undefined) {
    scope.addHook('onRequest', (request, reply, done) => {
      stamp(request, reply)
      done()
    })
    return
  }
  const enforce = opts.afterSunset === 'gone'
  const successorPrefix = successor === undefined ? '' : `/v${successor}`
  scope.addHook('onRequest', (request, reply, done) => {
    stamp(request, reply)
    reply.header('deprecation', deprecation.deprecationHeader)
    reply.header('sunset', deprecation.sunsetHeader)
    let successorPath: string | undefined
    if (successor !== undefined) {
      successorPath = linkSafe(successorPrefix + unversionedPath(request.raw.url!))
      reply.header('link', `<${successorPath}>; rel="successor-version"`)
    }
    if (enforce && now() >= deprecation.sunsetMs) {
      done(sunsetError(version, deprecation.sunset, successorPath))
      return
    }
    done()
  })
}

/**
 * Who still calls a deprecated version: an onRequest hook for the route scope to add
 * after auth (the consumer is known then). Undefined for a current version. (A
 * preHandler hook would do too, but would run a whole hook stage per request.)
 */
export function deprecatedUsageHook (opts: VersioningPluginOptions): onRequestHookHandler | undefined {
  if (opts.deprecation === undefined) return undefined
  const { usage, entry: { version } } = opts
  return (request, _reply, done) => {
    usage.countConsumer(version, request.consumer?.id ?? 'anonymous')
    done()
  }
}

export default fp(versioning, { name: 'healthpay-versioning', fastify: '5.x' })
