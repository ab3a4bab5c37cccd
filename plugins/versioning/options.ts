import { Type, type Static } from '@sinclair/typebox'
import { Strict, type DeepReadonly } from '../../src/config/types.js'

const Version = Type.Integer({ minimum: 1, maximum: 999 })

export const VersioningSchema = Strict({
  versions: Type.Array(Version, { minItems: 1, default: [1, 2] }),
  defaultVersion: Type.Integer({ minimum: 1, maximum: 999, default: 1 }),
  deprecated: Type.Array(Strict({
    version: Version,
    sunset: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'a date YYYY-MM-DD' })
  }), { default: [] })
}, { default: {} })

export type VersioningConfig = DeepReadonly<Static<typeof VersioningSchema>>
