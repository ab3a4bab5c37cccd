// GET /ws: the real-time event stream (SPEC.md §5), on @fastify/websocket.
//
// The gateway owns the server's 'upgrade' event (src/gateway.ts dispatches /ws
// upgrades here and tunnels /vN/graphql ones to the query service), so
// @fastify/websocket listens on an emitter of ours instead of the HTTP server. It is
// registered in this encapsulated scope only: its per-request hooks never run on
// proxied routes. Authentication happens before the upgrade (Bearer header,
// X-API-Key, or ?token=): a refused upgrade is an HTTP 401 problem+json, never an
// open-then-close.
import type { EventEmitter } from 'node:events'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import websocket from '@fastify/websocket'
import createError from '@fastify/error'
import type { Authenticator } from '../auth/authenticator.js'
import { missingCredentials, type AuthError, type AuthReason } from '../auth/errors.js'
import { settle } from '../../src/settle.js'
import type { EventHub } from './hub.js'

const UpgradeRequiredError = createError('GW_WS_UPGRADE_REQUIRED', '/ws is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)', 426)

/** a JWT (three dot-separated base64url parts), told apart from an API key when it comes as ?token= */
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]*$/

export interface EventsPluginOptions {
  hub: EventHub
  authenticator: Authenticator
  /** where the gateway's upgrade dispatcher emits the /ws upgrades */
  upgrades: EventEmitter
  /** frames larger than this are refused by ws itself (close 1009); smaller oversized ones get an error message */
  maxPayload: number
  onFailure: (reason: AuthReason) => void
}

/** The credentials of an upgrade: its headers, or else the ?token= (a browser's WebSocket cannot set headers). */
function credentials (request: FastifyRequest): FastifyRequest['headers'] {
  const { headers } = request
  if (headers.authorization !== undefined || headers['x-api-key'] !== undefined) return headers
  const token = (request.query as Record<string, unknown> | undefined)?.token
  if (typeof token !== 'string' || token === '') return headers
  return JWT_SHAPE.test(token) ? { authorization: `Bearer ${token}` } : { 'x-api-key': token }
}

export default async function events (scope: FastifyInstance, { hub, authenticator, upgrades, maxPayload, onFailure }: EventsPluginOptions): Promise<void> {
  await scope.register(websocket, {
    options: { server: upgrades as never, maxPayload, perMessageDeflate: false, clientTracking: false },
    // the hub closes every socket with 1001 before the server closes (src/gateway.ts)
    preClose: (done: () => void) => done(),
    // a client's own protocol fault (a frame over maxPayload: 1009, invalid UTF-8: 1007):
    // ws has closed it with that code already; not the gateway's error to log as one
    errorHandler: (error: Error, socket: { terminate: () => void }, request: FastifyRequest) => {
      request.log.debug({ err: error.message, consumer: request.consumer?.id }, 'websocket closed on a client protocol error')
      socket.terminate()
    }
  })

  scope.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    settle(() => authenticator.identify(credentials(request)), (consumer) => {
      if (consumer === undefined) {
        onFailure('missing')
        done(missingCredentials())
        return
      }
      request.consumer = consumer
      done()
    }, (err) => {
      const reason = (err as AuthError).reason
      if (reason !== undefined) onFailure(reason)
      done(err)
    })
  })

  scope.route({
    method: 'GET',
    url: '/ws',
    schema: { hide: true },
    handler: async () => { throw new UpgradeRequiredError() },
    wsHandler: (socket, request) => hub.attach(socket, request.consumer!)
  })
}
