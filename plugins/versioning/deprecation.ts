// What a deprecated version says on every response, compiled once from config.
// Pure: the clock is the caller's.
import type { VersioningConfig } from './options.js'

export interface Deprecation {
  readonly version: number
  /** YYYY-MM-DD as configured */
  readonly sunset: string
  readonly since: string | undefined
  /** 00:00 UTC on the sunset day: from this instant the version is retired */
  readonly sunsetMs: number
  /** the `Sunset` header: an RFC 8594 (RFC 9110 IMF-fixdate) HTTP-date */
  readonly sunsetHeader: string
  /** the `Deprecation` header: RFC 9745 `@<epoch seconds>` of `since`, or `true` when no date was given */
  readonly deprecationHeader: string
}

const midnightUtc = (date: string): number => Date.parse(`${date}T00:00:00Z`)

export function compileDeprecations (versioning: VersioningConfig): ReadonlyMap<number, Deprecation> {
  const out = new Map<number, Deprecation>()
  for (const d of versioning.deprecated) {
    const sunsetMs = midnightUtc(d.sunset)
    out.set(d.version, {
      version: d.version,
      sunset: d.sunset,
      since: d.since,
      sunsetMs,
      sunsetHeader: new Date(sunsetMs).toUTCString(),
      deprecationHeader: d.since === undefined ? 'true' : `@${midnightUtc(d.since) / 1000}`
    })
  }
  return out
}
