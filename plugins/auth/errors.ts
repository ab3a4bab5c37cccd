// GW_AUTH_* failures. Each carries the WWW-Authenticate challenge (RFC 9110 §11.6.1,
// RFC 6750 §3) and a `reason` (a short label for logs and metrics). Details say what
// was wrong, never the token or key.
import createError from '@fastify/error'

export const REALM = 'healthpay'

export type AuthReason =
  | 'missing' | 'malformed' | 'algorithm' | 'signature' | 'expired' | 'not_yet_valid'
  | 'issuer' | 'audience' | 'claims' | 'unknown_kid' | 'unknown_key' | 'forbidden' | 'unavailable'

const MissingCredentials = createError('GW_AUTH_MISSING_CREDENTIALS', 'This route needs credentials: send Authorization: Bearer <JWT> or X-API-Key: <key>', 401)
const InvalidToken = createError<[string]>('GW_AUTH_INVALID_TOKEN', 'The bearer token was refused: %s', 401)
const InvalidApiKey = createError<[string]>('GW_AUTH_INVALID_API_KEY', 'The API key was refused: %s', 401)
const Forbidden = createError<[string]>('GW_AUTH_FORBIDDEN', 'This route needs one of the roles %s, which the consumer does not have', 403)
const Denied = createError('GW_AUTH_FORBIDDEN', 'The consumer belongs to a group that is denied on this route', 403)
const Unavailable = createError<[string]>('GW_AUTH_UNAVAILABLE', 'Credentials cannot be checked right now (%s); retry shortly', 503)

export interface AuthError extends Error {
  code: string
  statusCode: number
  reason: AuthReason
  headers: Record<string, string | string[]>
}

function decorate (error: Error, reason: AuthReason, headers: Record<string, string | string[]>): AuthError {
  return Object.assign(error, { reason, headers }) as AuthError
}

// error_description is a quoted-string in a header: printable ASCII without " or \\
const quoted = (text: string) => text.replace(/[^\x20-\x7E]|["\\]/g, '')

export function missingCredentials (): AuthError {
  return decorate(new MissingCredentials(), 'missing', { 'www-authenticate': [`Bearer realm="${REALM}"`, `Key realm="${REALM}"`] })
}

export function invalidToken (reason: AuthReason, detail: string): AuthError {
  return decorate(new InvalidToken(detail), reason, { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${quoted(detail)}"` })
}

export function invalidApiKey (reason: AuthReason, detail: string): AuthError {
  return decorate(new InvalidApiKey(detail), reason, { 'www-authenticate': `Key realm="${REALM}", error="invalid_key", error_description="${quoted(detail)}"` })
}

export function forbidden (roles: readonly string[], via: 'jwt' | 'api-key'): AuthError {
  const challenge = via === 'jwt'
    ? `Bearer realm="${REALM}", error="insufficient_scope", scope="${roles.join(' ')}"`
    : `Key realm="${REALM}", error="insufficient_scope"`
  return decorate(new Forbidden(roles.join(', ')), 'forbidden', { 'www-authenticate': challenge })
}

export function denied (): AuthError {
  return decorate(new Denied(), 'forbidden', {})
}

export function authUnavailable (detail: string): AuthError {
  return decorate(new Unavailable(detail), 'unavailable', { 'retry-after': '1' })
}
