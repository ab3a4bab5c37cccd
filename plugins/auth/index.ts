// The auth concern of one route scope: an onRequest hook compiled from the route's
// policy (public / authenticated / any-of roles). It sets request.consumer, which
// the rate limiter keys on and the proxy turns into X-Consumer-* headers.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, FastifyReply, HookHandlerDoneFunction } from 'fastify'
import { anonymousConsumer, hasAnyRole, type Consumer } from './consumer.js'
import { missingCredentials, forbidden, denied, type AuthError, type AuthReason } from './errors.js'
import { compileCredentialReader } from './credentials.js'
import type { Authenticator } from './authenticator.js'
import type { RouteConfig } from '../proxy/options.js'
import { settle } from '../../src/settle.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** who is calling; set by the auth hook of the route scope (null before it runs) */
    consumer: Consumer | null
  }
}

export interface AuthPluginOptions {
  route: RouteConfig
  authenticator: Authenticator
  /** counts each refused or missing credential (gateway_auth_failures_total) */
  onFailure: (reason: AuthReason) => void
}

async function auth (scope: FastifyInstance, { route, authenticator, onFailure }: AuthPluginOptions): Promise<void> {
  // a named anonymous consumer stands in for callers without valid credentials (Kong's `anonymous`)
  const standIn = route.anonymousConsumer === undefined ? undefined : authenticator.anonymousConsumer(route.anonymousConsumer)
  if (route.anonymousConsumer !== undefined && standIn === undefined) throw new Error(`route ${route.name}: anonymousConsumer ${route.anonymousConsumer} is not a configured consumer`)
  const isPublic = route.auth === 'public' || standIn !== undefined
  const anonymous = standIn === undefined ? (request: FastifyRequest) => anonymousConsumer(request.ip) : () => standIn
  const required = new Set(route.roles)
  const refused = new Set(route.denyRoles)
  const identify = compileCredentialReader(route, authenticator) ?? ((request: FastifyRequest) => authenticator.identify(request.headers))

  const admit = (request: FastifyRequest, consumer: Consumer, done: HookHandlerDoneFunction) => {
    if (refused.size > 0 && hasAnyRole(consumer, refused)) {
      onFailure('forbidden')
      done(denied())
      return
    }
    if (required.size > 0 && !hasAnyRole(consumer, required)) {
      onFailure('forbidden')
      done(forbidden(route.roles, consumer.via === 'jwt' ? 'jwt' : 'api-key'))
      return
    }
    request.consumer = consumer
    done()
  }
  // a public route serves anyone: credentials that fail (or cannot be checked right
  // now) leave the caller anonymous
  const refuse = (request: FastifyRequest, err: AuthError, done: HookHandlerDoneFunction) => {
    // (an error without a reason is the gateway's own: a 500, not a refused credential)
    if (err.reason !== undefined) onFailure(err.reason)
    if (isPublic && err.reason !== undefined) admit(request, anonymous(request), done)
    else done(err)
  }

  scope.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    settle(() => identify(request), (consumer) => {
      if (consumer !== undefined) admit(request, consumer, done)
      else if (isPublic) admit(request, anonymous(request), done)
      else {
        onFailure('missing')
        done(missingCredentials())
      }
    }, (err) => refuse(request, err as AuthError, done))
  })
}

export default fp(auth, { name: 'healthpay-auth', fastify: '5.x' })
