// Bearer token verification with fast-jwt (the engine under @fastify/jwt).
// Each configured key gets its own verifier whose algorithm list holds only what
// that key can verify, and a token's `alg` picks the key family before anything is
// checked: an HS* token is only ever checked against JWT_SECRET, an RS/ES/PS/EdDSA
// token only against a public key, and `none` is never in any list. So neither
// alg:none nor HS/RS confusion can get through.
// A verified token is remembered (until its exp) with its Consumer, so each token's
// signature is checked once, not on every request.
import { createVerifier, TokenError } from 'fast-jwt'
import { BoundedCache } from '../../src/bounded-cache.js'
import { JwksCache } from './jwks.js'
import { consumerFromClaims, type Consumer } from './consumer.js'
import { invalidToken, authUnavailable, type AuthError } from './errors.js'
import { JWT_ALGORITHMS, DEFAULT_JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig } from './options.js'

type Verify = (token: string) => Record<string, unknown>

export interface JwtLog {
  warn: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
}

/** Longer tokens are refused before any decoding (a 1 MB "JWT" costs nothing). */
export const MAX_TOKEN_LENGTH = 8192
/** A cached verification is trusted for at most this long, even if exp is later. */
const MAX_CACHE_MS = 600_000

const KNOWN_ALGORITHMS = new Set<string>(JWT_ALGORITHMS)
const isHmac = (alg: string) => alg.startsWith('HS')

export class JwtAuthenticator {
  private readonly allowed: ReadonlySet<JwtAlgorithm>
  private readonly hmac: Verify | undefined
  private readonly publicKey: { verify: Verify, algorithms: readonly JwtAlgorithm[] } | undefined
  private readonly jwks: JwksCache<Verify> | undefined
  private readonly cache: BoundedCache<string, Consumer>
  private readonly skewMs: number

  constructor (private readonly config: JwtConfig, log: JwtLog) {
    this.allowed = new Set(config.algorithms)
    this.skewMs = config.clockSkewSeconds * 1000
    this.cache = new BoundedCache(config.cacheSize)
    const hs = config.algorithms.filter(isHmac)
    const asymmetric = config.algorithms.filter((a) => !isHmac(a))
    if (config.secret !== undefined && hs.length > 0) this.hmac = this.verifier(config.secret, hs)
    if (config.publicKey !== undefined) {
      const algorithms = asymmetric.filter((a) => compatible(config.publicKey!, a))
      if (algorithms.length === 0) throw new Error(`JWT_PUBLIC_KEY cannot verify any of the allowed algorithms (${config.algorithms.join(', ')})`)
      this.publicKey = { verify: this.verifier(config.publicKey, algorithms), algorithms }
    }
    if (config.jwksUrl !== undefined) {
      this.jwks = new JwksCache<Verify>({
        url: config.jwksUrl,
        timeoutMs: config.jwksTimeoutMs,
        cooldownMs: config.jwksCooldownMs,
        refreshMs: config.jwksRefreshMs,
        allowed: asymmetric,
        makeVerifier: (pem, algorithms) => this.verifier(pem, algorithms),
        // a key gone from the set is revoked: forget what it verified
        onChange: () => this.cache.clear(),
        log
      })
    }
    const unverifiable = config.algorithms.filter((a) => (isHmac(a) ? !this.hmac : !this.publicKey?.algorithms.includes(a) && !this.jwks))
    const anyKey = this.hmac !== undefined || this.publicKey !== undefined || this.jwks !== undefined
    const defaulted = config.algorithms.length === DEFAULT_JWT_ALGORITHMS.length && DEFAULT_JWT_ALGORITHMS.every((a) => config.algorithms.includes(a))
    if (!anyKey) {
      log.warn({}, 'no JWT key configured: every bearer token is refused (set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL; API keys still work)')
    } else if (unverifiable.length > 0 && !defaulted) {
      // the default list names one algorithm of each family, whichever keys there are: only a list someone chose is worth a warning
      log.warn({ algorithms: unverifiable }, 'JWT_ALGORITHMS names algorithms without a key to verify them: such tokens are refused (set JWT_SECRET for HS*, JWT_PUBLIC_KEY or JWKS_URL for the others)')
    }
  }

  start (): void { this.jwks?.start() }
  close (): void { this.jwks?.close() }

  private verifier (key: string, algorithms: JwtAlgorithm[]): Verify {
    const { issuer, audience } = this.config
    return createVerifier({
      key,
      algorithms,
      clockTolerance: this.skewMs,
      requiredClaims: ['exp', ...(issuer !== undefined ? ['iss'] : []), ...(audience !== undefined ? ['aud'] : [])],
      ...(issuer !== undefined ? { allowedIss: issuer } : {}),
      ...(audience !== undefined ? { allowedAud: audience } : {}),
      cache: false
    }) as Verify
  }

  /** The token's consumer, or a Promise of it (a JWKS fetch). Throws / rejects with an AuthError. */
  authenticate (token: string): Consumer | Promise<Consumer> {
    const cached = this.cache.get(token)
    if (cached !== undefined) return cached
    if (token.length > MAX_TOKEN_LENGTH) throw invalidToken('malformed', `the token is longer than ${MAX_TOKEN_LENGTH} characters`)
    const { alg, kid } = readHeader(token)
    if (!this.allowed.has(alg as JwtAlgorithm)) {
      const named = KNOWN_ALGORITHMS.has(alg) || alg === 'none' ? `"${alg}"` : 'of the token'
      throw invalidToken('algorithm', `the algorithm ${named} is not accepted (allowed: ${this.config.algorithms.join(', ')})`)
    }
    const algorithm = alg as JwtAlgorithm
    if (isHmac(algorithm)) {
      if (!this.hmac) throw invalidToken('algorithm', `${algorithm} tokens cannot be verified here: no JWT_SECRET is configured`)
      return this.check(token, this.hmac)
    }
    if (this.jwks && (kid !== undefined || !this.publicKey?.algorithms.includes(algorithm))) {
      const found = this.jwks.find(kid, algorithm)
      if (found instanceof Promise) return found.then((key) => this.check(token, this.jwksVerifier(key, kid)))
      return this.check(token, this.jwksVerifier(found, kid))
    }
    if (this.publicKey?.algorithms.includes(algorithm)) return this.check(token, this.publicKey.verify)
    throw invalidToken('algorithm', `${algorithm} tokens cannot be verified here: no matching public key is configured`)
  }

  private jwksVerifier (key: { verifier: Verify } | undefined, kid: string | undefined): Verify {
    if (key) return key.verifier
    if (!this.jwks!.ready) throw authUnavailable('the JWKS endpoint has not answered yet')
    if (kid === undefined) throw invalidToken('unknown_kid', 'the token names no key id (kid) and the JWKS has no single matching key')
    if (this.jwks!.hasKid(kid)) throw invalidToken('algorithm', 'the JWKS key named by the token\'s kid is not for the token\'s algorithm')
    throw invalidToken('unknown_kid', 'the token\'s key id (kid) is not in the JWKS')
  }

  private check (token: string, verify: Verify): Consumer {
    let claims: Record<string, unknown>
    try {
      claims = verify(token)
    } catch (err) {
      throw describeFailure(err)
    }
    const consumer = consumerFromClaims(claims)
    const now = Date.now()
    const ttl = Math.min((claims.exp as number) * 1000 + this.skewMs - now, MAX_CACHE_MS)
    if (ttl > 0) this.cache.set(token, consumer, ttl)
    return consumer
  }
}

function readHeader (token: string): { alg: string, kid: string | undefined } {
  const dot = token.indexOf('.')
  let header: unknown
  try {
    if (dot <= 0 || token.indexOf('.', dot + 1) < 0) throw new Error('not three parts')
    header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'))
  } catch {
    throw invalidToken('malformed', 'the token is not a JWT (three base64url parts with a JSON header)')
  }
  const { alg, kid } = (header ?? {}) as { alg?: unknown, kid?: unknown }
  if (typeof alg !== 'string') throw invalidToken('malformed', 'the token header has no "alg"')
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > 256)) throw invalidToken('malformed', 'the token header\'s "kid" is not a short string')
  return { alg, kid }
}

/** Does this PEM public key fit this algorithm family? */
function compatible (pem: string, alg: JwtAlgorithm): boolean {
  try {
    createVerifier({ key: pem, algorithms: [alg] })
    return true
  } catch {
    return false
  }
}

export function describeFailure (err: unknown): AuthError {
  if (!(err instanceof TokenError)) return invalidToken('malformed', 'the token could not be verified')
  const message = err.message
  switch (err.code) {
    case TokenError.codes.expired: return invalidToken('expired', message.replace('The token has expired at', 'the token expired at').replace(/\.$/, ''))
    case TokenError.codes.inactive: return invalidToken('not_yet_valid', message.replace('The token will be active at', 'the token is not valid before').replace(/\.$/, ''))
    case TokenError.codes.invalidSignature: return invalidToken('signature', 'the signature does not match')
    case TokenError.codes.missingSignature: return invalidToken('signature', 'the token has no signature')
    case TokenError.codes.invalidAlgorithm: return invalidToken('algorithm', 'the algorithm does not fit the key')
    case TokenError.codes.missingRequiredClaim: return invalidToken('claims', message.replace(/^The (\w+) claim is required\.$/, 'the $1 claim is required'))
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.invalidClaimType:
      if (/\biss\b/.test(message)) return invalidToken('issuer', 'the issuer (iss) is not accepted')
      if (/\baud\b/.test(message)) return invalidToken('audience', 'the audience (aud) is not accepted')
      return invalidToken('claims', message.replace(/^The /, 'the ').replace(/\.$/, ''))
    default: return invalidToken('malformed', 'the token is malformed')
  }
}
