// Who is calling. Behind the gateway the answer is in X-Consumer-* headers:
// the gateway authenticates, strips any client-sent copies, then sets them.
// The services therefore trust those headers, which is only sound because
// they listen on a private address that clients cannot reach directly.
import type { IncomingHttpHeaders } from 'node:http'
import type { Store } from './store.js'

export interface Consumer {
  id: string
  roles: string[]
  tier: string | null
}

const PRIVILEGED = new Set(['admin', 'support'])

function single (value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/**
 * The consumer named by X-Consumer-Id, or undefined when the header is absent
 * (a direct call that did not pass through the gateway). Roles come from
 * X-Consumer-Roles (comma-separated); when the gateway sent none we fall back
 * to the store's record of that user.
 */
export function consumerFromHeaders (headers: IncomingHttpHeaders, store: Store): Consumer | undefined {
  const id = single(headers['x-consumer-id'])
  if (id === undefined) return undefined
  const rolesHeader = single(headers['x-consumer-roles'])
  const known = store.getUser(id)
  const roles = rolesHeader !== undefined
    ? rolesHeader.split(',').map((r) => r.trim()).filter((r) => r !== '')
    : known?.roles ?? []
  return { id, roles, tier: single(headers['x-consumer-tier']) ?? known?.tier ?? null }
}

export const isPrivileged = (c: Consumer): boolean => c.roles.some((r) => PRIVILEGED.has(r))

/**
 * Read-side visibility: no consumer (direct call) sees everything, admin and
 * support see everything, anyone else sees only what they own.
 */
export function canSee (consumer: Consumer | undefined, ownerId: string): boolean {
  return consumer === undefined || isPrivileged(consumer) || consumer.id === ownerId
}
