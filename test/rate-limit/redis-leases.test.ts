// Leases: a busy key's requests are admitted from tokens Redis counted ahead of time,
// in the request's own turn, without a Redis trip; the instances together still never
// admit more than the limit, a key near its limit gets no lease, and unused tokens go
// back to Redis.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryWindowStore, RedisWindowStore, LEASE_SWEEP_MS } from '../../plugins/rate-limit/stores.js'
import type { Decision } from '../../plugins/rate-limit/sliding-window.js'
import { loadConfig } from '../../src/config/index.js'
import { uniquePrefix, until } from '../helpers.js'

const W = 60_000
const client = (t: Test) => {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 })
  t.teardown(() => redis.disconnect())
  return redis
}
/** a Redis client, a fresh key prefix and a store with leases of up to 100 on it, closed with the test */
function leasing (t: Test) {
  const redis = client(t)
  const prefix = uniquePrefix()
  const store = new RedisWindowStore(redis, prefix, { leaseMax: 100 })
  t.teardown(() => store.close())
  return { redis, prefix, store }
}
const counted = async (redis: Redis, prefix: string, key: string, now: number) => Number(await redis.get(`${prefix}rl:{${key}}:${W}:${Math.floor(now / W)}`) ?? 0)

/** `n` requests one after the other (each in its own turn): their decisions, and how many were decided at once */
async function oneByOne (store: RedisWindowStore, key: string, limit: number, now: number, n: number) {
  const decisions: Decision[] = []
  let immediate = 0
  for (let i = 0; i < n; i++) {
    const d = store.hit(key, limit, W, now)
    if (!(d instanceof Promise)) immediate++
    decisions.push(await d)
  }
  return { decisions, immediate }
}

t.test('a busy key: most requests decided from the lease, with the decisions of one step per request', async (t) => {
  const { redis, prefix, store } = leasing(t)
  const memory = new MemoryWindowStore()
  const now = 20_000 * W + 10
  const { decisions, immediate } = await oneByOne(store, 'busy', 100_000, now, 600)
  const expected = Array.from({ length: 600 }, () => memory.hit('busy', 100_000, W, now))
  t.same(decisions, expected, 'allowed and remaining as if Redis were asked every time (one instance)')
  t.ok(immediate >= 540, `${immediate} of 600 decided in their own turn, without waiting for Redis`)
  t.ok(await counted(redis, prefix, 'busy', now) >= 600, 'every admitted request was counted in Redis before it was admitted')
  await store.close()
  t.equal(await counted(redis, prefix, 'busy', now), 600, 'at close, unused tokens go back: Redis holds exactly the requests admitted')
})

t.test('the lease is at most 1 % of the limit, and a key seen once gets none', async (t) => {
  const { redis, prefix, store } = leasing(t)
  const now = 21_000 * W + 10
  await store.hit('once', 1000, W, now)
  t.equal(await counted(redis, prefix, 'once', now), 1, 'first request: exactly itself counted')
  const { immediate } = await oneByOne(store, 'small', 1000, now, 200)
  t.ok(await counted(redis, prefix, 'small', now) <= 200 + 10, 'never more than 10 tokens (1 % of 1000) ahead')
  t.ok(immediate > 100, `${immediate} of 200 still decided from the lease`)
  const { immediate: tiny } = await oneByOne(store, 'tiny', 99, now, 50)
  t.equal(tiny, 0, 'a limit under 100 gets no lease: every request asks Redis')
})

t.test('two instances on one key never admit more than the limit together', async (t) => {
  const prefix = uniquePrefix()
  const a = new RedisWindowStore(client(t), prefix, { leaseMax: 100 })
  const b = new RedisWindowStore(client(t), prefix, { leaseMax: 100 })
  const now = 22_000 * W + 10
  const limit = 2000
  let admitted = 0
  // interleaved: a few requests on each, in bursts, well past the limit
  for (let round = 0; round < 300; round++) {
    const burst = await Promise.all([...Array.from({ length: 5 }, () => a.hit('shared', limit, W, now)), ...Array.from({ length: 5 }, () => b.hit('shared', limit, W, now))])
    admitted += burst.filter((d) => d.allowed).length
  }
  t.ok(admitted <= limit, `${admitted} admitted of ${limit}`)
  t.ok(admitted >= limit - 2 * 20, `${admitted}: at most the two leases' tokens (20 each) left unspent`)
  const redis = client(t)
  await Promise.all([a.close(), b.close()])
  t.equal(await counted(redis, prefix, 'shared', now), admitted, 'with the unused tokens back, Redis counts exactly the requests admitted')
})

t.test('near its limit a key gets no lease: every request is decided by Redis', async (t) => {
  const redis = client(t)
  const prefix = uniquePrefix()
  const now = 23_000 * W + 10
  // 9,900 of 10,000 used by others
  await redis.set(`${prefix}rl:{near}:${W}:${Math.floor(now / W)}`, '9900', 'PX', 2 * W)
  const store = new RedisWindowStore(redis, prefix, { leaseMax: 100 })
  t.teardown(() => store.close())
  const { decisions } = await oneByOne(store, 'near', 10_000, now, 150)
  t.equal(decisions.filter((d) => d.allowed).length, 100, 'exactly the 100 left')
  t.same(decisions.slice(0, 100).map((d) => d.remaining), Array.from({ length: 100 }, (_, i) => 99 - i), 'remaining counts down by one')
  await store.close()
  t.equal(await counted(redis, prefix, 'near', now), 10_000, 'nothing held back once the key is full')
})

t.test('a key that goes quiet gives its unused tokens back', async (t) => {
  const { redis, prefix, store } = leasing(t)
  const now = 24_000 * W + 10
  await oneByOne(store, 'quiet', 100_000, now, 300)
  t.ok(await counted(redis, prefix, 'quiet', now) > 300, 'tokens held ahead while busy')
  await until(async () => await counted(redis, prefix, 'quiet', now) === 300, 3 * LEASE_SWEEP_MS + 2000, 'the lease to go back')
  t.pass('back to the 300 requests made, without a close')
})

t.test('a new window: the old lease is not spent in it, and its leftovers go back to the old window', async (t) => {
  const { redis, prefix, store } = leasing(t)
  const first = 25_000 * W + 10
  await oneByOne(store, 'roll', 100_000, first, 100)
  const next = first + W
  const d = store.hit('roll', 100_000, W, next)
  t.ok(d instanceof Promise, 'the first request of the new window asks Redis')
  await d
  await until(async () => await counted(redis, prefix, 'roll', first) === 100, 2000, 'the old window to hold exactly its 100 requests')
  await store.close()
  t.equal(await counted(redis, prefix, 'roll', next), 1, 'the new window counts its own request only (and, until close, its new lease)')
})

t.test('a refund (another window refused the request) goes back into the lease, not to Redis', async (t) => {
  const { redis, prefix, store } = leasing(t)
  const now = 26_000 * W + 10
  await oneByOne(store, 'refund', 100_000, now, 50)
  const before = (await store.hit('refund', 100_000, W, now)).remaining
  store.refund('refund', W, now)
  const after = store.hit('refund', 100_000, W, now)
  t.notOk(after instanceof Promise, 'decided from the lease')
  t.equal((await after).remaining, before, 'the refunded request no longer counts')
  await store.close()
  t.equal(await counted(redis, prefix, 'refund', now), 51, '50 + 1 requests counted, the refunded one not')
})

t.test('RATE_LIMIT_LEASE_MAX sets the cap; 0 turns leases off; the default is 100', async (t) => {
  t.equal(loadConfig({}).config.rateLimit.leaseMax, 100)
  t.equal(loadConfig({ RATE_LIMIT_LEASE_MAX: '0' }).config.rateLimit.leaseMax, 0)
  t.throws(() => loadConfig({ RATE_LIMIT_LEASE_MAX: '-1' }), /leaseMax|RATE_LIMIT_LEASE_MAX/)
  const redis = client(t)
  const store = new RedisWindowStore(redis, uniquePrefix(), { leaseMax: 0 })
  const { immediate } = await oneByOne(store, 'off', 100_000, 27_000 * W, 100)
  t.equal(immediate, 0, 'with 0 every request asks Redis')
})
