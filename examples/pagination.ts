// Cursor pagination for every list on the read side. The cursor names the last
// item of the previous page (opaque base64url of its id) rather than an offset,
// so a page boundary does not shift when new transactions arrive in front.
import { ProblemError } from './problem.js'

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface PageQuery {
  limit?: number
  cursor?: string
}

/** Query-string schema members every list accepts; spread into each list's schema. */
export const pageQueryProperties = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
  cursor: { type: 'string', minLength: 1, maxLength: 200 }
} as const

export const encodeCursor = (id: string): string => Buffer.from(id, 'utf8').toString('base64url')

export function paginate<T extends { id: string }> (all: readonly T[], query: PageQuery): Page<T> {
  const limit = query.limit ?? DEFAULT_LIMIT
  let start = 0
  if (query.cursor !== undefined) {
    const afterId = Buffer.from(query.cursor, 'base64url').toString('utf8')
    const index = all.findIndex((item) => item.id === afterId)
    // A cursor from another list or filter is a client bug; silently restarting
    // at page one would make it loop forever.
    if (index === -1) throw new ProblemError(400, 'invalid-cursor', 'The cursor does not belong to this list (or its item is gone); start again without a cursor')
    start = index + 1
  }
  const items = all.slice(start, start + limit)
  const more = start + limit < all.length
  return { items, nextCursor: more && items.length > 0 ? encodeCursor(items[items.length - 1].id) : null }
}
