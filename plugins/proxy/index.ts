// The proxy concern of one route scope: the catch-all routes under the scope's
// prefix, answered by the forwarder. Bodies are not parsed: they stream through.
import fp from 'fastify-plugin'
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { createForwarder, type ForwarderOptions } from './forward.js'

export type ProxyPluginOptions = ForwarderOptions

// the route config the proxy's routes carry. Declared because @fastify/swagger's types
// give FastifyContextConfig optional keys only (a "weak type"), after which a config
// sharing none of them no longer type-checks
declare module 'fastify' {
  interface FastifyContextConfig {
    routeName?: string
    service?: string
  }
}

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
  }
  const handler = createForwarder(opts)
  const config = { routeName: opts.route.name, service: opts.service.name }
  // "/" under the prefix matches both "/v1/api" and "/v1/api/"
  scope.route({ method: METHODS, url: '/', handler, config, exposeHeadRoute: false })
  scope.route({ method: METHODS, url: '/*', handler, config, exposeHeadRoute: false })
}

export default fp(proxy, { name: 'healthpay-proxy', fastify: '5.x', encapsulate: true })
