// Authentication options: JWT validation, consumers and their API keys (as hashes).
import { Type, type Static } from '@sinclair/typebox'
import { Strict, HttpUrl, DurationMs, PositiveInt, type DeepReadonly } from '../../src/config/types.js'

// `none` is deliberately absent: it cannot be configured.
export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
export type JwtAlgorithm = typeof JWT_ALGORITHMS[number]
/** one of each family: which of them can be verified depends on the keys configured */
export const DEFAULT_JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'RS256', 'ES256']

export const JwtSchema = Strict({
  secret: Type.Optional(Type.String({ minLength: 32, description: 'an HS* secret of at least 32 characters' })),
  publicKey: Type.Optional(Type.String({ pattern: '-----BEGIN [A-Z ]*PUBLIC KEY-----', description: 'a PEM public key' })),
  jwksUrl: Type.Optional(HttpUrl),
  issuer: Type.Optional(Type.String({ minLength: 1 })),
  audience: Type.Optional(Type.String({ minLength: 1 })),
  algorithms: Type.Array(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a))), { default: [...DEFAULT_JWT_ALGORITHMS], minItems: 1 }),
  clockSkewSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
  /** an unknown `kid` fetches the JWKS again at most this often */
  jwksCooldownMs: DurationMs(10_000),
  /** the JWKS is also fetched again in the background this often (failures keep the cached keys) */
  jwksRefreshMs: DurationMs(300_000),
  jwksTimeoutMs: DurationMs(2_000),
  /** verified tokens remembered (until their exp), so a token's signature is checked once */
  cacheSize: PositiveInt(10_000, 100_000)
}, { default: {} })

export const TIERS = ['anonymous', 'authenticated', 'premium'] as const
export type Tier = typeof TIERS[number]

/** Role names travel in the comma-separated X-Consumer-Roles header: no commas, no spaces. */
export const ROLE_PATTERN = '^[A-Za-z0-9_.:/@-]{1,64}$'
/** Consumer ids travel in X-Consumer-Id: printable ASCII. */
export const CONSUMER_ID_PATTERN = '^[\\x21-\\x7E][\\x20-\\x7E]{0,255}$'
export const SHA256_HEX = '^[0-9a-f]{64}$'

export const RoleName = Type.String({ pattern: ROLE_PATTERN, description: 'a role name: letters, digits and _ . : / @ - (at most 64)' })
export const ConsumerId = Type.String({ pattern: CONSUMER_ID_PATTERN, description: 'a consumer id: printable ASCII, at most 256 characters' })
/** An API consumer's tier: `anonymous` is what requests without credentials get, not a key's tier. */
const ApiKeyHash = Type.String({ pattern: SHA256_HEX, description: 'a SHA-256 hex digest (64 lowercase hex digits) of an API key, never the key itself' })
export const KeyTier = Type.Union([Type.Literal('authenticated'), Type.Literal('premium')], { default: 'authenticated' })

export const ConsumerSchema = Strict({
  id: ConsumerId,
  tier: KeyTier,
  roles: Type.Array(RoleName, { default: [], maxItems: 50 }),
  /** SHA-256 hex digests of the consumer's API keys: the keys themselves are never configured */
  apiKeys: Type.Array(Type.Union([ApiKeyHash, Strict({ hash: ApiKeyHash, id: Type.String({ pattern: CONSUMER_ID_PATTERN }) })], { description: 'a SHA-256 hex digest (64 lowercase hex digits) of an API key, or { hash, id } naming the credential' }), { default: [] }),
  /** sent upstream as X-Consumer-Username / X-Consumer-Custom-ID */
  username: Type.Optional(Type.String({ pattern: CONSUMER_ID_PATTERN })),
  customId: Type.Optional(Type.String({ pattern: CONSUMER_ID_PATTERN })),
  /** this consumer's own JWT keys (routes with credentials.jwt.keys: consumers): a token whose key claim equals `key` is verified with it */
  jwtSecrets: Type.Array(Strict({
    key: Type.String({ minLength: 1 }),
    algorithm: Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a)), { default: 'HS256' }),
    secret: Type.Optional(Type.String({ minLength: 1 })),
    publicKey: Type.Optional(Type.String({ pattern: '-----BEGIN [A-Z ]*PUBLIC KEY-----', description: 'a PEM public key' })),
    id: Type.Optional(Type.String({ pattern: CONSUMER_ID_PATTERN }))
  }), { default: [] })
})

/** an apiKeys entry, whichever way it was written */
export const keyEntry = (entry: string | { readonly hash: string, readonly id: string }): { hash: string, id?: string } =>
  typeof entry === 'string' ? { hash: entry } : entry

export type JwtConfig = DeepReadonly<Static<typeof JwtSchema>>
export type ConsumerConfig = DeepReadonly<Static<typeof ConsumerSchema>>
