// API keys: only SHA-256 digests are ever stored. Keys from the config file live in
// memory; keys created at run time (POST /admin/api-keys) live in the Redis hash
// `<prefix>apikeys` (field = digest, value = the consumer record) so every instance
// accepts them at once, or in memory when no Redis is configured.
//
// Each instance remembers Redis answers for REVALIDATE_MS at most, so a revocation on
// any instance is honoured everywhere within that time, with one HGET per key per
// interval. While Redis is unreachable, answers up to MAX_STALE_MS old are used (a
// revocation cannot be recorded then either); a key never seen gets a 503.
import { hash as digestOf, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'
import { BoundedCache } from '../../src/bounded-cache.js'
import { makeConsumer, type Consumer, type ConsumerExtras } from './consumer.js'
import { invalidApiKey, authUnavailable } from './errors.js'
import { keyEntry, type ConsumerConfig } from './options.js'

export const REVALIDATE_MS = 500
export const MAX_STALE_MS = 60_000
const CACHE_ENTRIES = 10_000
/** printable ASCII, at most 256 characters */
const KEY_SYNTAX = /^[\x21-\x7E]{1,256}$/

export interface ApiKeyInput {
  consumerId: string
  tier: 'authenticated' | 'premium'
  roles: readonly string[]
}

export interface ApiKeyRecord extends ApiKeyInput {
  hash: string
  /** config keys: the consumer's username / custom id and the credential's id (X-Consumer-Username...) */
  extras?: ConsumerExtras
  source: 'config' | 'admin'
  createdAt?: string
}

/** `digest` is the hex digest's bytes, for the constant-time comparison */
interface Known { record: ApiKeyRecord, consumer: Consumer, digest: Buffer }

export type RevokeOutcome = 'revoked' | 'not-found' | 'in-config'

// crypto.hash: the one-shot form, ~5× cheaper than createHash() for a short key
export const sha256Hex = (key: string): string => digestOf('sha256', key, 'hex')

function known (record: ApiKeyRecord): Known {
  return { record, consumer: makeConsumer(record.consumerId, record.tier, record.roles, 'api-key', record.extras), digest: Buffer.from(record.hash, 'latin1') }
}

export interface ApiKeyRegistryOptions {
  consumers: readonly ConsumerConfig[]
  redis: Redis | null
  keyPrefix: string
  log: { warn: (obj: object, msg: string) => void }
  now?: () => number
}

export class ApiKeyRegistry {
  /** config-file keys, and run-time keys when there is no Redis */
  private readonly local = new Map<string, Known>()
  // known keys and misses are kept apart, so a flood of random keys cannot evict the
  // keys in use (and with them the answers served while Redis is down)
  private readonly remote: BoundedCache<string, { known: Known | null, fetchedAt: number }>
  private readonly misses: BoundedCache<string, { known: Known | null, fetchedAt: number }>
  private readonly inflight = new Map<string, Promise<Known | null>>()
  private readonly redisKey: string
  private readonly now: () => number

  constructor (private readonly opts: ApiKeyRegistryOptions) {
    this.redisKey = `${opts.keyPrefix}apikeys`
    this.now = opts.now ?? Date.now
    this.remote = new BoundedCache(CACHE_ENTRIES, this.now)
    this.misses = new BoundedCache(CACHE_ENTRIES, this.now)
    for (const c of opts.consumers) {
      for (const entry of c.apiKeys) {
        const { hash, id } = keyEntry(entry)
        const extras = { username: c.username, customId: c.customId, credential: id }
        this.local.set(hash, known({ hash, consumerId: c.id, tier: c.tier, roles: c.roles, source: 'config', extras }))
      }
    }
  }

  /** The key's consumer, or a Promise of it (a Redis lookup). Throws / rejects with an AuthError. */
  authenticate (key: string): Consumer | Promise<Consumer> {
    if (!KEY_SYNTAX.test(key)) throw invalidApiKey('malformed', 'an API key is printable ASCII of at most 256 characters')
    const hash = sha256Hex(key)
    const digest = Buffer.from(hash, 'latin1')
    const local = this.local.get(hash)
    if (local !== undefined || this.opts.redis === null) return accept(local, digest)
    const cached = this.remote.get(hash) ?? this.misses.get(hash)
    if (cached !== undefined && this.now() - cached.fetchedAt < REVALIDATE_MS) return accept(cached.known, digest)
    return this.fetch(hash).then(
      (found) => accept(found, digest),
      () => {
        if (cached !== undefined) return accept(cached.known, digest)
        throw authUnavailable('the API key store is unreachable')
      })
  }

  private fetch (hash: string): Promise<Known | null> {
    let pending = this.inflight.get(hash)
    if (pending === undefined) {
      const lookup: Promise<Known | null> = this.opts.redis!.hget(this.redisKey, hash).then((raw) => {
        const found = raw === null ? null : this.parse(hash, raw)
        // a revocation on this instance while the HGET was under way wins: do not cache
        if (this.inflight.get(hash) === lookup) {
          const entry = { known: found, fetchedAt: this.now() }
          if (found === null) {
            this.remote.delete(hash)
            this.misses.set(hash, entry, MAX_STALE_MS)
          } else {
            this.misses.delete(hash)
            this.remote.set(hash, entry, MAX_STALE_MS)
          }
        }
        return found
      }).finally(() => { if (this.inflight.get(hash) === lookup) this.inflight.delete(hash) })
      this.inflight.set(hash, lookup)
      pending = lookup
    }
    return pending
  }

  private parse (hash: string, raw: string): Known | null {
    try {
      const r = JSON.parse(raw) as Partial<ApiKeyRecord>
      if (typeof r.consumerId !== 'string' || (r.tier !== 'authenticated' && r.tier !== 'premium') || !Array.isArray(r.roles)) throw new Error('missing fields')
      return known({ hash, consumerId: r.consumerId, tier: r.tier, roles: r.roles, source: 'admin', createdAt: r.createdAt })
    } catch (err) {
      this.opts.log.warn({ hash, error: (err as Error).message }, 'API key record in Redis is unreadable: key refused')
      return null
    }
  }

  /** Creates a key; the key itself is returned once and never stored. */
  async create (input: ApiKeyInput): Promise<{ key: string, record: ApiKeyRecord }> {
    const key = `hpk_${randomBytes(32).toString('base64url')}`
    const record: ApiKeyRecord = { hash: sha256Hex(key), consumerId: input.consumerId, tier: input.tier, roles: [...input.roles], source: 'admin', createdAt: new Date(this.now()).toISOString() }
    if (this.opts.redis === null) {
      this.local.set(record.hash, known(record))
    } else {
      const { hash, source, ...stored } = record
      await this.opts.redis.hset(this.redisKey, hash, JSON.stringify(stored))
    }
    return { key, record }
  }

  async revoke (hash: string): Promise<RevokeOutcome> {
    const local = this.local.get(hash)
    if (local?.record.source === 'config') return 'in-config'
    if (this.opts.redis === null) return this.local.delete(hash) ? 'revoked' : 'not-found'
    const removed = await this.opts.redis.hdel(this.redisKey, hash)
    this.remote.delete(hash)
    this.misses.delete(hash)
    this.inflight.delete(hash)
    return removed > 0 ? 'revoked' : 'not-found'
  }

  async list (): Promise<ApiKeyRecord[]> {
    const records = [...this.local.values()].map((k) => k.record)
    if (this.opts.redis !== null) {
      const all = await this.opts.redis.hgetall(this.redisKey)
      for (const [hash, raw] of Object.entries(all)) {
        const found = this.parse(hash, raw)
        if (found) records.push(found.record)
      }
    }
    return records
  }
}

// The table lookup is by digest, which says nothing about the key; the final
// comparison is constant-time all the same.
function accept (found: Known | null | undefined, digest: Buffer): Consumer {
  if (found == null || !timingSafeEqual(found.digest, digest)) throw invalidApiKey('unknown_key', 'the key is unknown or revoked')
  return found.consumer
}
