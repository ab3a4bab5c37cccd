// The command service's four auth operations and the one question every
// command asks first: who is calling? Access tokens are short-lived HS256 JWTs
// the gateway can verify with the same JWT_SECRET; refresh tokens are opaque,
// single-use and rotated, so a stolen one stops working after its next use.
// The routes are relative (/auth/login): the command service registers them
// once per API version, so /v1/auth/* and /v2/auth/* behave the same.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { consumerFromHeaders, type Consumer } from './consumer.js'
import { ProblemError, unauthorized } from './problem.js'
import type { PublicUser, Store } from './store.js'

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60

export interface AccessClaims {
  sub: string
  roles: string[]
  tier: string
  jti: string
  iat: number
  exp: number
  iss?: string
  aud?: string | string[]
}

const credentials = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 256 }
  }
} as const

const refreshBody = {
  type: 'object',
  required: ['refreshToken'],
  additionalProperties: false,
  properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 256 } }
} as const

/**
 * The caller: X-Consumer-Id when the gateway sent it, else the subject of a
 * valid Bearer token (direct calls during development), else 401.
 */
export function callerOf (app: FastifyInstance, store: Store, request: FastifyRequest): Consumer {
  const fromGateway = consumerFromHeaders(request.headers, store)
  if (fromGateway !== undefined) return fromGateway
  const header = request.headers.authorization
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (match === null) throw unauthorized('Send Authorization: Bearer <access token> (or call through the gateway)')
  let claims: AccessClaims
  try {
    claims = app.jwt.verify<AccessClaims>(match[1])
  } catch (err) {
    throw unauthorized(`The access token is not valid: ${(err as Error).message}`)
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw unauthorized('The access token has no subject')
  return { id: claims.sub, roles: Array.isArray(claims.roles) ? claims.roles.map(String) : [], tier: typeof claims.tier === 'string' ? claims.tier : null }
}

export function registerAuthRoutes (app: FastifyInstance, store: Store): void {
  const issueTokens = (user: PublicUser): { accessToken: string, refreshToken: string, tokenType: 'Bearer', expiresIn: number } => ({
    // jti makes every token distinct, even two issued in the same second
    accessToken: app.jwt.sign({ sub: user.id, roles: user.roles, tier: user.tier, jti: randomUUID() }),
    refreshToken: store.issueRefreshToken(user.id),
    tokenType: 'Bearer',
    expiresIn: ACCESS_TOKEN_TTL_SECONDS
  })

  app.post<{ Body: { username: string, password: string } }>('/auth/login', { schema: { body: credentials } }, async (request, reply) => {
    const user = store.authenticate(request.body.username, request.body.password)
    if (user === undefined) {
      throw new ProblemError(401, 'invalid-credentials', 'Unknown username or wrong password', { headers: { 'www-authenticate': 'Bearer realm="healthpay"' } })
    }
    reply.header('cache-control', 'no-store')
    return issueTokens(user)
  })

  app.post<{ Body: { refreshToken: string } }>('/auth/refresh', { schema: { body: refreshBody } }, async (request, reply) => {
    const user = store.consumeRefreshToken(request.body.refreshToken)
    if (user === undefined) {
      throw new ProblemError(401, 'invalid-refresh-token', 'The refresh token is unknown, expired, already used or revoked; log in again')
    }
    reply.header('cache-control', 'no-store')
    return issueTokens(user)
  })

  // Always 204: logging out twice, or with a token that is already gone, is not an error
  // worth telling a client (or an attacker probing for valid tokens) about.
  app.post<{ Body: { refreshToken: string } }>('/auth/logout', { schema: { body: refreshBody } }, async (request, reply) => {
    store.revokeRefreshToken(request.body.refreshToken)
    return reply.code(204).send()
  })

  app.get('/auth/me', async (request) => {
    const caller = callerOf(app, store, request)
    const user = store.getUser(caller.id)
    // A consumer the gateway knows (e.g. an API-key partner) may not be a user here:
    // describe it from what the gateway told us rather than refusing it.
    return user ?? { id: caller.id, username: null, roles: caller.roles, tier: caller.tier }
  })
}
