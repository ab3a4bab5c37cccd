// Credentials → consumer, for every route and for WebSocket upgrades. Built once per
// gateway; holds the JWT verifiers (and JWKS cache) and the API-key registry.
import type { IncomingHttpHeaders } from 'node:http'
import type { Redis } from 'ioredis'
import { JwtAuthenticator, type JwtLog } from './jwt.js'
import { ApiKeyRegistry } from './api-keys.js'
import { ConsumerJwtVerifier } from './consumer-jwt.js'
import { makeConsumer } from './consumer.js'
import { invalidToken } from './errors.js'
import type { Consumer } from './consumer.js'
import type { JwtConfig, ConsumerConfig } from './options.js'

export interface AuthenticatorOptions {
  jwt: JwtConfig
  consumers: readonly ConsumerConfig[]
  redis: Redis | null
  keyPrefix: string
  log: JwtLog
}

export class Authenticator {
  readonly jwt: JwtAuthenticator
  readonly apiKeys: ApiKeyRegistry
  /** tokens signed with a consumer's own key (routes with credentials.jwt.keys: consumers) */
  readonly consumerJwt: ConsumerJwtVerifier
  /** the configured consumers that routes name as their anonymous consumer */
  private readonly anonymous = new Map<string, Consumer>()

  constructor (opts: AuthenticatorOptions) {
    this.jwt = new JwtAuthenticator(opts.jwt, opts.log)
    this.consumerJwt = new ConsumerJwtVerifier(opts.consumers, opts.jwt.clockSkewSeconds)
    for (const c of opts.consumers) {
      this.anonymous.set(c.id, makeConsumer(c.id, c.tier, c.roles, 'anonymous', { username: c.username, customId: c.customId, anonymous: true }))
    }
    this.apiKeys = new ApiKeyRegistry({ consumers: opts.consumers, redis: opts.redis, keyPrefix: opts.keyPrefix, log: opts.log })
  }

  /** a configured consumer standing in for callers without valid credentials (route.anonymousConsumer) */
  anonymousConsumer (id: string): Consumer | undefined { return this.anonymous.get(id) }

  start (): void { this.jwt.start() }
  close (): void { this.jwt.close() }

  /**
   * The consumer the request's credentials prove, a Promise of it (JWKS fetch, Redis
   * lookup), or undefined when it carries none. A bearer token takes precedence
   * over X-API-Key; other Authorization schemes (Basic...) are not the gateway's
   * and are left for the upstream. Throws / rejects with an AuthError.
   */
  identify (headers: IncomingHttpHeaders): Consumer | Promise<Consumer> | undefined {
    const authorization = headers.authorization
    if (authorization !== undefined && authorization.length >= 6 && authorization.slice(0, 6).toLowerCase() === 'bearer' &&
        (authorization.length === 6 || authorization[6] === ' ')) {
      const token = authorization.slice(7).trim()
      if (token === '') throw invalidToken('malformed', 'the Authorization header has no token after "Bearer"')
      return this.jwt.authenticate(token)
    }
    const key = headers['x-api-key']
    if (typeof key === 'string') return this.apiKeys.authenticate(key)
    return undefined
  }
}
