// GW_VERSION_* failures. Each lists what the client can use instead, in the
// detail and as problem members (`supportedVersions`, `versions`, `successor`).
import createError from '@fastify/error'
import type { Resolution } from './resolve.js'
import type { ProblemExtras } from '../../src/errors.js'

const Invalid = createError<[string, string]>('GW_VERSION_INVALID', '%s is not an API version; send one of the supported versions: %s', 400)
const Unsupported = createError<[string, string]>('GW_VERSION_UNSUPPORTED', '%s is not a supported API version; supported: %s', 400)
const Absent = createError<[string, number, string]>('GW_VERSION_ROUTE_ABSENT', '%s does not exist in API version %d; it exists in version(s) %s', 404)
const Gone = createError<[number, string, string]>('GW_VERSION_SUNSET', 'API version %d was retired on %s (its sunset date)%s', 410)

export type VersionError = Error & ProblemExtras & { code: string, statusCode: number }

const SOURCES = { path: 'The path segment', header: 'The X-API-Version header', accept: 'The Accept media type', default: 'The default version' }

// what the client sent, shortened and quoted (JSON escapes any control character): it lands in a detail string
const short = (given: string) => (given.length > 24 ? given.slice(0, 24) + '…' : given)
const shown = (given: string) => JSON.stringify(short(given))

export function versionError (failed: Extract<Resolution, { ok: false }>, supported: readonly number[]): VersionError {
  const list = supported.join(', ')
  const where = `${SOURCES[failed.source]} ${failed.source === 'path' ? `v${short(failed.given)}` : shown(failed.given)}`
  const error = failed.reason === 'malformed'
    ? new Invalid(where, list)
    : new Unsupported(where, list)
  return Object.assign(error, { extensions: { supportedVersions: [...supported] } }) as VersionError
}

export function routeAbsentError (path: string, version: number, versions: readonly number[]): VersionError {
  const error = new Absent(path, version, versions.join(', '))
  return Object.assign(error, { extensions: { versions: [...versions] } }) as VersionError
}

export function sunsetError (version: number, sunset: string, successorPath: string | undefined): VersionError {
  const error = new Gone(version, sunset, successorPath === undefined ? '' : `; use ${successorPath}`)
  return Object.assign(error, { extensions: { sunset, ...(successorPath === undefined ? {} : { successor: successorPath }) } }) as VersionError
}
