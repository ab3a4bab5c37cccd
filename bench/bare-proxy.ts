// The baseline every gateway configuration is compared with: Fastify +
// @fastify/http-proxy and nothing else, as STACK.md measured it.
import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'

const app = Fastify({ logger: false })
await app.register(proxy, { upstream: process.env.UPSTREAM!, prefix: '/v1/api', rewritePrefix: '/v1/api', replyOptions: {}, disableRequestLogging: true } as never)
// BACKLOG: the baseline-tuned configuration listens as the gateway does; unset, Node's 511
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0), ...(process.env.BACKLOG ? { backlog: Number(process.env.BACKLOG) } : {}) })
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
