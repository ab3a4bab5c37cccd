// A route family missing from one version (routes.ts, AbsentRoute): every method
// and path under its prefix answers 404 naming the versions where it exists.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { METHODS } from '../proxy/index.js'
import { varyIfNegotiated } from './negotiation.js'
import { routeAbsentError } from './errors.js'
import type { AbsentRoute } from './routes.js'

export default async function absentRoute (scope: FastifyInstance, { absent }: { absent: AbsentRoute }): Promise<void> {
  const version = String(absent.version)
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-api-version', version)
    varyIfNegotiated(request, reply)
    const original = request.originalUrl
    const q = original.indexOf('?')
    throw routeAbsentError(q === -1 ? original : original.slice(0, q), absent.version, absent.versions)
  }
  scope.route({ method: METHODS, url: '/', handler, exposeHeadRoute: false })
  scope.route({ method: METHODS, url: '/*', handler, exposeHeadRoute: false })
}
