// JWTs signed with a consumer's own key (Kong's jwt plugin and `jwt_secrets`): the
// token's key claim (`iss` by default) names the secret, the secret's consumer is the
// caller. Each secret gets a verifier for its one algorithm, so a token can never pick
// another (no alg:none, no HS/RS confusion). Unlike the gateway's own JWT settings, the
// time claims are checked only when the route asks for them, as Kong does.
import { createVerifier, TokenError } from 'fast-jwt'
import { BoundedCache } from '../../src/bounded-cache.js'
import { makeConsumer, type Consumer } from './consumer.js'
import { invalidToken } from './errors.js'
import { MAX_TOKEN_LENGTH, describeFailure } from './jwt.js'
import type { ConsumerConfig, JwtAlgorithm } from './options.js'

type Verify = (token: string) => Record<string, unknown>

export interface ConsumerJwtOptions {
  keyClaim: string
  verifyClaims: readonly ('exp' | 'nbf')[]
  maxLifetimeSeconds: number
}

interface Secret {
  algorithm: JwtAlgorithm
  consumer: Consumer
  /** one verifier per (exp, nbf) choice, made on first use */
  verifiers: Map<string, Verify>
  key: string
}

/** how long a verified token is remembered when it carries no exp */
const NO_EXP_CACHE_MS = 60_000

export class ConsumerJwtVerifier {
  private readonly secrets = new Map<string, Secret>()
  private readonly cache = new BoundedCache<string, Consumer>(10_000)

  constructor (consumers: readonly ConsumerConfig[], private readonly skewSeconds: number) {
    for (const c of consumers) {
      for (const s of c.jwtSecrets) {
        const key = s.secret ?? s.publicKey
        if (key === undefined) continue
        this.secrets.set(s.key, {
          algorithm: s.algorithm,
          key,
          verifiers: new Map(),
          consumer: makeConsumer(c.id, c.tier, c.roles, 'jwt', { username: c.username, customId: c.customId, credential: s.id ?? s.key })
        })
      }
    }
  }

  get size (): number { return this.secrets.size }

  /** a route's verifier: the options' cache prefix and verifier shape worked out once */
  verifierFor (opts: ConsumerJwtOptions): (token: string) => Consumer {
    const shape = opts.verifyClaims.join(',')
    const prefix = `${opts.keyClaim}\u0000${shape}\u0000${opts.maxLifetimeSeconds}\u0000`
    return (token) => this.authenticate(token, opts, prefix, shape)
  }

  private authenticate (token: string, opts: ConsumerJwtOptions, prefix: string, shape: string): Consumer {
    const cacheKey = prefix + token
    const cached = this.cache.get(cacheKey)
    if (cached !== undefined) return cached
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`)
    const { alg, payload, header } = decode(token)
    // the claims first, then the token header (a kid), as Kong looks
    const keyValue = payload[opts.keyClaim] ?? header[opts.keyClaim]
    if (typeof keyValue !== 'string' || keyValue === '') throw invalidToken('claims', `the token has no "${opts.keyClaim}" claim naming its key`)
    const secret = this.secrets.get(keyValue)
    if (secret === undefined) throw invalidToken('unknown_kid', `no credential matches the token's "${opts.keyClaim}" claim`)
    if (alg !== secret.algorithm) throw invalidToken('algorithm', `the token's algorithm is not the one its credential uses (${secret.algorithm})`)
    let verify = secret.verifiers.get(shape)
    if (verify === undefined) {
      verify = createVerifier({
        key: secret.key,
        algorithms: [secret.algorithm],
        clockTolerance: this.skewSeconds * 1000,
        requiredClaims: [...opts.verifyClaims],
        ignoreExpiration: !opts.verifyClaims.includes('exp'),
        ignoreNotBefore: !opts.verifyClaims.includes('nbf'),
        cache: false
      }) as Verify
      secret.verifiers.set(shape, verify)
    }
    let claims: Record<string, unknown>
    try {
      claims = verify(token)
    } catch (err) {
      throw describeFailure(err instanceof TokenError || err instanceof Error ? err : new Error('unverifiable'))
    }
    const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined
    const now = Date.now()
    if (opts.maxLifetimeSeconds > 0 && (exp === undefined || exp - now > opts.maxLifetimeSeconds * 1000)) {
      throw invalidToken('claims', `the token must expire within ${opts.maxLifetimeSeconds} s`)
    }
    const ttl = Math.min(exp !== undefined && opts.verifyClaims.includes('exp') ? exp - now : NO_EXP_CACHE_MS, NO_EXP_CACHE_MS * 10)
    if (ttl > 0) this.cache.set(cacheKey, secret.consumer, ttl)
    return secret.consumer
  }
}

function decode (token: string): { alg: string, payload: Record<string, unknown>, header: Record<string, unknown> } {
  const parts = token.split('.')
  if (parts.length !== 3) throw invalidToken('malformed', 'the token is not a JWT (three base64url parts)')
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: unknown }
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown
    if (typeof header?.alg !== 'string' || payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new Error('shape')
    return { alg: header.alg, payload: payload as Record<string, unknown>, header: header as Record<string, unknown> }
  } catch {
    throw invalidToken('malformed', 'the token is not a JWT (three base64url parts with JSON header and claims)')
  }
}
