// Where a route looks for credentials (route.credentials): other headers, query
// parameters and cookies, and which kinds count — compiled once per route. Without a
// `credentials` block the Authenticator's own rule applies (Bearer JWT, else X-API-Key).
import type { FastifyRequest } from 'fastify'
import type { Authenticator } from './authenticator.js'
import type { Consumer } from './consumer.js'
import { invalidToken } from './errors.js'
import type { RouteConfig } from '../proxy/options.js'

export type CredentialReader = (request: FastifyRequest) => Consumer | Promise<Consumer> | undefined

const BEARER = /^\s*bearer\s+(\S+)\s*$/i

export function queryValue (request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.[name]
  const first = Array.isArray(value) ? value[0] : value
  return typeof first === 'string' && first !== '' ? first : undefined
}

export function cookieValue (header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim()
      return value === '' ? undefined : value
    }
  }
  return undefined
}

function headerValue (request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** Undefined: the route uses the authenticator's default rule. */
export function compileCredentialReader (route: RouteConfig, authenticator: Authenticator): CredentialReader | undefined {
  const credentials = route.credentials
  if (credentials === undefined) return undefined
  const { jwt, apiKey } = credentials
  const jwtHeaders = jwt?.headers.map((h) => h.toLowerCase()) ?? []
  const keyHeaders = apiKey?.headers.map((h) => h.toLowerCase()) ?? []
  const verifyJwt = jwt === undefined
    ? undefined
    : jwt.keys === 'consumers'
      ? authenticator.consumerJwt.verifierFor(jwt)
      : (token: string) => authenticator.jwt.authenticate(token)

  // Kong's order: query, cookies, headers; two different tokens are refused, not guessed between
  const findToken = (request: FastifyRequest): string | undefined => {
    let found: string | undefined
    const take = (token: string | undefined) => {
      if (token === undefined) return
      if (found !== undefined && found !== token) throw invalidToken('malformed', 'the request carries more than one token')
      found = token
    }
    for (const name of jwt!.query) take(queryValue(request, name))
    for (const name of jwt!.cookies) take(cookieValue(request.headers.cookie, name))
    for (const name of jwtHeaders) {
      const value = headerValue(request, name)
      // a value that is not "Bearer <token>" is no token (Basic... is the upstream's business)
      if (value !== undefined) take(BEARER.exec(value)?.[1])
    }
    return found
  }
  const findKey = (request: FastifyRequest): string | undefined => {
    for (const name of keyHeaders) {
      const value = headerValue(request, name)
      if (value !== undefined && value !== '') return value
    }
    for (const name of apiKey!.query) {
      const value = queryValue(request, name)
      if (value !== undefined) return value
    }
    return undefined
  }

  return (request) => {
    if (verifyJwt !== undefined) {
      const token = findToken(request)
      if (token !== undefined) return verifyJwt(token)
    }
    if (apiKey !== undefined) {
      const key = findKey(request)
      if (key !== undefined) return authenticator.apiKeys.authenticate(key)
    }
    return undefined
  }
}

/** the names a route's credentials travel under, for hide_credentials */
export function credentialCarriers (route: RouteConfig): { headers: string[], query: string[], cookies: string[] } {
  const c = route.credentials
  if (c === undefined) return { headers: ['authorization', 'x-api-key'], query: [], cookies: [] }
  return {
    headers: [...(c.jwt?.headers ?? []), ...(c.apiKey?.headers ?? [])].map((h) => h.toLowerCase()),
    query: [...(c.jwt?.query ?? []), ...(c.apiKey?.query ?? [])],
    cookies: [...(c.jwt?.cookies ?? [])]
  }
}
