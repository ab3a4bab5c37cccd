import { Type, type Static } from '@sinclair/typebox'
import { Strict, type DeepReadonly } from '../../src/config/types.js'

export const Version = Type.Integer({ minimum: 1, maximum: 999, description: 'a version number 1–999' })
const CalendarDate = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'a date YYYY-MM-DD' })

export const VersioningSchema = Strict({
  versions: Type.Array(Version, { minItems: 1, default: [1, 2] }),
  defaultVersion: Type.Integer({ minimum: 1, maximum: 999, default: 1 }),
  deprecated: Type.Array(Strict({
    version: Version,
    /** the version stops at 00:00 UTC on this day (the Sunset header's instant) */
    sunset: CalendarDate,
    /** when the deprecation took effect: sent as RFC 9745 `Deprecation: @<seconds>`; without it `Deprecation: true` */
    since: Type.Optional(CalendarDate)
  }), { default: [] }),
  /** past its sunset a version answers 410 (gone), or goes on being served with its deprecation headers (serve) */
  afterSunset: Type.Union([Type.Literal('gone'), Type.Literal('serve')], { default: 'gone' })
}, { default: {} })

/**
 * A route's per-version settings (declarative file), keyed by version number:
 * `false` = the route does not exist in that version (404 naming the versions
 * where it does); `{ service }` = that version goes to another service.
 */
export const RouteVersionsSchema = Type.Record(
  Type.String({ pattern: '^[1-9][0-9]{0,2}$' }),
  Type.Union([Type.Literal(false), Strict({ service: Type.String({ minLength: 1 }) })]),
  // without this the key pattern is not enforced: "02" would pass and be ignored
  { additionalProperties: false, description: 'an object keyed by version number (1–999, no leading zero), each value false or { service }' }
)

export type VersioningConfig = DeepReadonly<Static<typeof VersioningSchema>>
