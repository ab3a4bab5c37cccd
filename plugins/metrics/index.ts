// GET /metrics on the admin listener: Prometheus text exposition of this gateway's
// registry and the process metrics, served by fastify-metrics. Its per-route
// request metrics are left off: they build a label object per request, and the
// gateway binds its own per route instead (./requests.ts); so are its default
// metrics, which would register process collectors again for every gateway built
// in one process (./metrics.ts keeps one set per process).
import fp from 'fastify-plugin'
import fastifyMetrics from 'fastify-metrics'
import promClient, { type Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'

/** `registry`: what a scrape reads (GatewayMetrics.exposition(), or in cluster mode the sum over workers) */
async function metricsEndpoint (app: FastifyInstance, { registry }: { registry: Registry }): Promise<void> {
  // a CommonJS module with an `exports.default`: the plugin is its default's default
  await app.register(fastifyMetrics.default, {
    endpoint: { url: '/metrics', method: 'GET', logLevel: 'warn', exposeHeadRoute: false } as never,
    promClient: { ...promClient, register: registry },
    defaultMetrics: { enabled: false },
    routeMetrics: { enabled: false }
  })
}

export default fp(metricsEndpoint, { name: 'healthpay-metrics', fastify: '5.x' })
