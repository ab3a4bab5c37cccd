import { Type, type Static } from '@sinclair/typebox'
import { Strict, HttpUrl, type DeepReadonly } from '../../src/config/types.js'

export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

export const JwtSchema = Strict({
  secret: Type.Optional(Type.String({ minLength: 32, description: 'an HS* secret of at least 32 characters' })),
  publicKey: Type.Optional(Type.String({ pattern: '-----BEGIN [A-Z ]*PUBLIC KEY-----', description: 'a PEM public key' })),
  jwksUrl: Type.Optional(HttpUrl),
  issuer: Type.Optional(Type.String({ minLength: 1 })),
  audience: Type.Optional(Type.String({ minLength: 1 })),
  algorithms: Type.Array(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a))), { default: ['HS256', 'RS256', 'ES256'], minItems: 1 }),
  clockSkewSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 })
}, { default: {} })

export type JwtConfig = DeepReadonly<Static<typeof JwtSchema>>
