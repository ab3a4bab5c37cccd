// GW_VALIDATION_* failures: the request does not match the published API
// (openapi/openapi.yaml). The 400 lists every violation as `errors: [{in, path, message}]`.
import createError from '@fastify/error'
import type { ProblemExtras } from '../../src/errors.js'
import type { Violation } from './operations.js'

const Failed = createError<[number, string]>('GW_VALIDATION_FAILED', 'The request does not match the published API (/openapi.json): %d violation%s, listed in errors', 400)
const UnsupportedMediaType = createError<[string]>('GW_VALIDATION_UNSUPPORTED_MEDIA_TYPE', 'This operation takes a body of type %s, in UTF-8 and without Content-Encoding', 415)
const UnknownOperation = createError<[string, string]>('GW_VALIDATION_UNKNOWN_OPERATION', 'The published API has no operation %s %s; see /openapi.json', 404)
const MethodNotAllowed = createError<[string, string, string]>('GW_VALIDATION_METHOD_NOT_ALLOWED', 'The published API has no %s on %s; it allows %s', 405)

type ValidationError = Error & ProblemExtras & { code: string, statusCode: number }

/** `errors` lists at most `max` violations; `errorsOmitted` says how many more there were. */
export function validationFailed (errors: Violation[], max = Infinity): ValidationError {
  const listed = errors.length > max ? errors.slice(0, max) : errors
  const extensions = listed.length < errors.length ? { errors: listed, errorsOmitted: errors.length - listed.length } : { errors }
  return Object.assign(new Failed(errors.length, errors.length === 1 ? '' : 's'), { extensions }) as ValidationError
}

export function unknownOperation (method: string, path: string): ValidationError {
  return new UnknownOperation(method, path) as ValidationError
}

export function methodNotAllowed (method: string, path: string, allow: readonly string[]): ValidationError {
  return Object.assign(new MethodNotAllowed(method, path, allow.join(', ')), { headers: { allow: allow.join(', ') } }) as ValidationError
}

export function unsupportedMediaType (mediaTypes: readonly string[]): ValidationError {
  return new UnsupportedMediaType(mediaTypes.join(' or ') || 'none') as ValidationError
}
