// Who is calling: built from verified JWT claims, from an API key record, or the
// anonymous consumer of a public route. Pure functions, no Fastify.
import { ROLE_PATTERN, CONSUMER_ID_PATTERN, type Tier } from './options.js'
import { invalidToken } from './errors.js'

export interface Consumer {
  readonly id: string
  readonly tier: Tier
  readonly roles: readonly string[]
  /** how the consumer proved who it is */
  readonly via: 'jwt' | 'api-key' | 'anonymous'
  /** what rate limits count against: `id:<consumer id>`, or `ip:<address>` when anonymous (an IPv6 client by its /64) */
  readonly key: string
  /** the X-Consumer-* headers sent upstream, computed once per consumer */
  readonly headers: Readonly<Record<string, string>>
}

const ROLE = new RegExp(ROLE_PATTERN)
const ID = new RegExp(CONSUMER_ID_PATTERN)
const MAX_ROLES = 50

/** what a consumer from the declarative file may carry besides id, tier and roles (Kong's consumer fields) */
export interface ConsumerExtras {
  username?: string | undefined
  customId?: string | undefined
  /** the credential used: its id (a key's, a JWT secret's key) */
  credential?: string | undefined
  /** a route's configured anonymous consumer, standing in for a caller without valid credentials */
  anonymous?: boolean
}

export function makeConsumer (id: string, tier: Tier, roles: readonly string[], via: Consumer['via'], extras?: ConsumerExtras): Consumer {
  const headers: Record<string, string> = { 'x-consumer-id': id, 'x-consumer-tier': tier }
  if (roles.length > 0) headers['x-consumer-roles'] = roles.join(',')
  if (extras?.username !== undefined) headers['x-consumer-username'] = extras.username
  if (extras?.customId !== undefined) headers['x-consumer-custom-id'] = extras.customId
  if (extras?.credential !== undefined) headers['x-credential-identifier'] = extras.credential
  if (extras?.anonymous === true) headers['x-anonymous-consumer'] = 'true'
  return Object.freeze({ id, tier, roles: Object.freeze([...roles]), via, key: `id:${id}`, headers: Object.freeze(headers) })
}

const ANONYMOUS_HEADERS = Object.freeze({ 'x-consumer-tier': 'anonymous' })

/** The consumer of a public route without (valid) credentials, rate-limited per client address. */
export function anonymousConsumer (clientAddress: string): Consumer {
  return { id: 'anonymous', tier: 'anonymous', roles: [], via: 'anonymous', key: `ip:${addressKey(clientAddress)}`, headers: ANONYMOUS_HEADERS }
}

/**
 * What anonymous limits count against: an IPv4 address, or an IPv6 client's /64 (one
 * subscriber usually holds a whole /64, so per-address keys would be free to multiply).
 */
export function addressKey (address: string): string {
  if (!address.includes(':')) return address
  const plain = address.split('%')[0]!.toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(plain)
  if (mapped) return mapped[1]!
  const [head, tail] = plain.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64'
}

/**
 * The consumer a verified token describes: `sub` is the id, roles come from a `roles`
 * array or a space-separated `scope`, `tier: "premium"` gives premium (anything else
 * authenticated). Claims that could not be sent upstream as header values are refused.
 */
export function consumerFromClaims (claims: Record<string, unknown>): Consumer {
  const sub = claims.sub
  if (typeof sub !== 'string' || !ID.test(sub)) {
    throw invalidToken('claims', 'the sub claim must be printable ASCII of 1 to 256 characters')
  }
  let roles: unknown = claims.roles
  if (roles === undefined && typeof claims.scope === 'string') roles = claims.scope.split(' ').filter(Boolean)
  if (roles === undefined) roles = []
  if (!Array.isArray(roles) || roles.length > MAX_ROLES || !roles.every((r) => typeof r === 'string' && ROLE.test(r))) {
    throw invalidToken('claims', `the roles claim must be an array of at most ${MAX_ROLES} role names (letters, digits and _ . : / @ -)`)
  }
  return makeConsumer(sub, claims.tier === 'premium' ? 'premium' : 'authenticated', roles as string[], 'jwt')
}

/** Any-of: the consumer holds at least one of the required roles. */
export function hasAnyRole (consumer: Consumer, required: ReadonlySet<string>): boolean {
  for (const role of consumer.roles) if (required.has(role)) return true
  return false
}
