// The proxy concern of one route scope: the catch-all routes under the scope's
// prefix, answered by the forwarder. Bodies are not parsed: they stream through,
// except JSON bodies on a validating route, read whole for plugins/validation.
import fp from 'fastify-plugin'
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { createForwarder, type ForwarderOptions } from './forward.js'
import { PassThrough } from 'node:stream'
import { BodyTimeoutError } from '../../src/errors.js'
import { declaresBody } from './request-body.js'

export interface ProxyPluginOptions extends ForwarderOptions {
  /** the route's match conditions as Fastify route constraints (src/route-match.ts) */
  matchConstraint?: Record<string, string> | undefined
}

// the route config the proxy's routes carry. Declared because @fastify/swagger's types
// give FastifyContextConfig optional keys only (a "weak type"), after which a config
// sharing none of them no longer type-checks
declare module 'fastify' {
  interface FastifyContextConfig {
    routeName?: string
    service?: string
    /** the route pattern metrics and logs name it by ("/v1/api/*" for each of its routes) */
    routeLabel?: string
  }
  interface FastifyRequest {
    /** the upstream target the request was last sent to (logged); null when it never left the gateway */
    upstream: string | null
  }
}

// the media types the JSON parser below takes (media type names are case-insensitive)
const JSON_BODY = /^\s*application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

/** the route pattern metrics and logs name a proxied route by: "/v1/api/*" */
export const routePattern = (route: { prefix: string }): string => `${route.prefix}/*`

// TRACE is left out on purpose (cross-site tracing); CONNECT never reaches Fastify.
export const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

async function proxy (scope: FastifyInstance, opts: ProxyPluginOptions): Promise<void> {
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null))
  // a validating route reads JSON bodies whole (up to the body limit, else 413) for
  // the validation hook; the forwarder then sends those same bytes
  if (opts.route.validate) {
    const keep = (_request: unknown, body: string | Buffer, done: (err: null, body: Buffer) => void) => done(null, body as Buffer)
    scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, keep)
    scope.addContentTypeParser(/^application\/[\w.+-]+\+json$/i, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, keep)
    // the body must arrive within the route's timeout, as a streamed one must: a client
    // trickling bytes would otherwise hold the connection (and up to the body limit) forever
    const timeoutMs = opts.route.timeoutMs ?? opts.service.timeoutMs
    scope.addHook('preParsing', (request, reply, payload, done) => {
      // only a body the JSON parser will read: others stream through the forwarder, with its own deadline
      const type = request.headers['content-type']
      const length = request.headers['content-length']
      if (!declaresBody(request.headers) || type === undefined || !JSON_BODY.test(type)) {
        done(null, payload)
        return
      }
      // the whole declared body is already here (the usual small command): nothing to wait for
      if (length !== undefined && request.raw.readableLength >= Number(length)) {
        done(null, payload)
        return
      }
      // the parser reads a pass-through that can fail on its own: failing the client's
      // request stream itself would drop the connection before any answer
      const body = new PassThrough()
      // (the parser listens while it reads; one that stopped early, a 413, must not leave the error unheard)
      body.on('error', () => {})
      // (a body the parser gave up on, a 413, never ends: its timer then fires into a
      // finished exchange, harmlessly; unref'd, it holds nothing up)
      const timer = setTimeout(() => {
        payload.unpipe(body)
        if (!reply.sent) reply.header('connection', 'close')
        body.destroy(new BodyTimeoutError(timeoutMs))
      }, timeoutMs).unref()
      body.once('end', () => clearTimeout(timer))
      payload.once('error', (err) => body.destroy(err))
      done(null, payload.pipe(body))
    })
  }
  const handler = createForwarder(opts)
  const config = { routeName: opts.route.name, service: opts.service.name, routeLabel: routePattern(opts.route) }
  // "/" under the prefix matches both "/v1/api" and "/v1/api/"
  const method = opts.route.methods === undefined ? METHODS : [...opts.route.methods]
  const constraints = opts.matchConstraint
  // a route on "/" is registered without a prefix (src/gateway.ts): "/*" is then everything
  if (opts.route.prefix !== '/') scope.route({ method, url: '/', handler, config, exposeHeadRoute: false, constraints })
  scope.route({ method, url: '/*', handler, config, exposeHeadRoute: false, constraints })
}

export default fp(proxy, { name: 'healthpay-proxy', fastify: '5.x', encapsulate: true })
