// The proxy concern of one route scope: the catch-all routes under the scope's
// prefix, answered by the forwarder. Bodies are not parsed: they stream through.
import fp from 'fastify-plugin'
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { createForwarder, type ForwarderOptions } from './forward.js'

export type ProxyPluginOptions = ForwarderOptions

// TRACE is left out on purpose (cross-site tracing); CONNECT never reaches Fastify.
export const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

async function proxy (scope: FastifyInstance, opts: ProxyPluginOptions): Promise<void> {
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null))
  const handler = createForwarder(opts)
  const config = { routeName: opts.route.name, service: opts.service.name }
  // "/" under the prefix matches both "/v1/api" and "/v1/api/"
  scope.route({ method: METHODS, url: '/', handler, config, exposeHeadRoute: false })
  scope.route({ method: METHODS, url: '/*', handler, config, exposeHeadRoute: false })
}

export default fp(proxy, { name: 'healthpay-proxy', fastify: '5.x', encapsulate: true })
