// What every resolver of the GraphQL schema shares: the context (the store and
// the caller), the small type helpers, and the rules the REST side applies,
// restated for GraphQL: who may see what (consumer.ts), who may change what
// (command-service.ts), and how a store ProblemError becomes a GraphQL error.
import {
  GraphQLError, GraphQLID, GraphQLList, GraphQLNonNull,
  type GraphQLFieldConfig, type GraphQLFieldConfigMap, type GraphQLOutputType
} from 'graphql'
import { canSee, isPrivileged, type Consumer } from '../consumer.js'
import { encodeCursor, paginate } from '../pagination.js'
import { ProblemError, notFound, unauthorized } from '../problem.js'
import type { Store } from '../store.js'

export interface GraphqlContext {
  store: Store
  consumer: Consumer | undefined
}

export type Fields = GraphQLFieldConfigMap<any, GraphqlContext>

export const req = (type: GraphQLOutputType) => new GraphQLNonNull(type)
export const ID_ARG = new GraphQLNonNull(GraphQLID)
export const listOf = (type: GraphQLOutputType) => req(new GraphQLList(req(type)))
export const plain = (spec: Record<string, GraphQLOutputType>): Fields =>
  Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }]))

// ---- errors ----------------------------------------------------------------------

const CODES: Record<number, string> = { 400: 'BAD_USER_INPUT', 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 409: 'CONFLICT' }

/**
 * A ProblemError as a GraphQL error: the problem's detail as the message, and in
 * `extensions` a `code` by HTTP status (NOT_FOUND, CONFLICT, …), the `status`,
 * the problem's slug as `problem` (`insufficient-funds`) and its own members.
 */
export function toGraphqlError (err: ProblemError): GraphQLError {
  return new GraphQLError(err.message, {
    originalError: err,
    extensions: { code: CODES[err.status] ?? 'INTERNAL_SERVER_ERROR', status: err.status, problem: err.slug, ...err.extensions }
  })
}

const guard = <A extends unknown[], R>(fn: (...args: A) => R) => (...args: A): R => {
  try {
    return fn(...args)
  } catch (err) {
    throw err instanceof ProblemError ? toGraphqlError(err) : err
  }
}

/** Root fields whose resolvers (and subscribers) may throw a ProblemError, as they would on the REST side. */
export function withProblems (fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).map(([name, field]: [string, GraphQLFieldConfig<any, GraphqlContext>]) => [name, {
    ...field,
    ...(field.resolve === undefined ? {} : { resolve: guard(field.resolve) }),
    ...(field.subscribe === undefined ? {} : { subscribe: guard(field.subscribe) })
  }]))
}

// ---- input checks: what the services' JSON schemas check on REST --------------------

const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/

const invalid = (detail: string) => new ProblemError(400, 'validation-failed', detail)

export function checkId (name: string, value: string | null | undefined): void {
  if (value != null && !ID_PATTERN.test(value)) throw invalid(`${name} must match pattern "${ID_PATTERN.source}"`)
}

export function checkText (name: string, value: string | null | undefined, maxLength: number): void {
  if (value != null && (value.length < 1 || value.length > maxLength)) throw invalid(`${name} must be 1 to ${maxLength} characters long`)
}

export function limitOf (value: unknown): number {
  const limit = typeof value === 'number' ? value : 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid('limit must be an integer between 1 and 100')
  return limit
}

export interface PageArgs { limit?: number | null, after?: string | null }

/** A page of a list, newest first like REST's: `limit` items after the item `after` (an id from the previous page). */
export function pageOf<T extends { id: string }> (all: readonly T[], args: PageArgs): T[] {
  return paginate(all, { limit: limitOf(args.limit ?? undefined), cursor: args.after == null ? undefined : encodeCursor(args.after) }).items
}

// ---- who may see and change what ---------------------------------------------------

/**
 * An owner-scoped read answers null (not an error) for a stranger's resource,
 * the GraphQL counterpart of the REST side's 404.
 */
export const ifVisible = <T extends { ownerId: string }>(ctx: GraphqlContext, item: T | undefined): T | null =>
  item !== undefined && canSee(ctx.consumer, item.ownerId) ? item : null

/** The caller of a mutation: the consumer the gateway named in X-Consumer-*, else 401 as the command service answers. */
export function callerOf (ctx: GraphqlContext): Consumer {
  if (ctx.consumer === undefined) throw unauthorized('Mutations need a caller: send Authorization: Bearer <access token> (or an API key) through the gateway')
  return ctx.consumer
}

/**
 * What a mutation may change, in REST's order: a malformed id (400), no caller
 * (401), then the item, or the same 404 whether it is missing or a stranger's
 * (the command service's `authorize`).
 */
export function ownedOrNotFound<T> (ctx: GraphqlContext, kind: string, id: string, find: (id: string) => T | undefined, ownerOf: (item: T) => string): T {
  checkId(`${kind}Id`, id)
  const caller = callerOf(ctx)
  const item = find(id)
  if (item === undefined || !canSee(caller, ownerOf(item))) throw notFound(kind, id)
  return item
}

export function assertPrivileged (caller: Consumer, action: string): void {
  if (!isPrivileged(caller)) throw new ProblemError(403, 'forbidden', `Only admin or support may ${action}`)
}

/** The gateway limits REST analytics to these roles; GraphQL has one path, so the resolver checks. */
export function assertAnalyst (consumer: Consumer | undefined): void {
  if (consumer !== undefined && !consumer.roles.some((r) => r === 'analyst' || r === 'admin')) {
    throw new ProblemError(403, 'forbidden', 'Analytics needs role analyst or admin')
  }
}
