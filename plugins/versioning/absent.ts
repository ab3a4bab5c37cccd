// A route family missing from one version (routes.ts, AbsentRoute): every method
// and path under its prefix answers 404 naming the versions where it exists.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { METHODS } from '../proxy/index.js'
import { kNegotiated, VARY, type NegotiatedRequest } from './negotiation.js'
import { routeAbsentError } from './errors.js'
import type { AbsentRoute } from './routes.js'

export default async function absentRoute (scope: FastifyInstance, { absent }: { absent: AbsentRoute }): Promise<void> {
  const version = String(absent.version)
  const handler = async (request: FastifyRequest, _reply: FastifyReply) => {
    const negotiated = (request.raw as NegotiatedRequest)[kNegotiated] !== undefined
    const original = request.originalUrl
    const q = original.indexOf('?')
    throw routeAbsentError(q === -1 ? original : original.slice(0, q), absent.version, absent.versions, { 'x-api-version': version, ...(negotiated ? { vary: VARY } : {}) })
  }
  scope.route({ method: METHODS, url: '/', handler, exposeHeadRoute: false })
  scope.route({ method: METHODS, url: '/*', handler, exposeHeadRoute: false })
}
