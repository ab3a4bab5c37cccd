// Small TypeBox building blocks shared by every plugin's options schema.
import { Type, type TSchema, type TObject, type TProperties } from '@sinclair/typebox'

/** A closed object: unknown keys are configuration errors, not silently ignored. */
export function Strict<T extends TProperties> (properties: T, options: { default?: unknown, description?: string } = {}): TObject<T> {
  return Type.Object(properties, { additionalProperties: false, ...options })
}

export const Port = (def: number) => Type.Integer({ minimum: 0, maximum: 65535, default: def, description: 'an integer port 0–65535' })
export const PositiveInt = (def: number, max = 2_147_483_647) => Type.Integer({ minimum: 1, maximum: max, default: def })
export const DurationMs = (def: number) => Type.Integer({ minimum: 1, maximum: 86_400_000, default: def, description: 'milliseconds (1–86400000)' })
export const HttpUrl = Type.String({ format: 'http-url', description: 'an absolute http:// or https:// URL' })
export const Optional = <T extends TSchema>(schema: T) => Type.Optional(schema)

/** Config objects are deep-frozen after loading; their types say so. */
export type DeepReadonly<T> = T extends (infer U)[] ? ReadonlyArray<DeepReadonly<U>> : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T
