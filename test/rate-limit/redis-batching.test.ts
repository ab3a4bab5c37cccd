// The Redis store sends one EVALSHA per key per event-loop turn, carrying how many
// requests wait on it: fewer commands, the same decisions as one step per request.
import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryWindowStore, RedisWindowStore } from '../../plugins/rate-limit/stores.js'
import { uniquePrefix, freePort } from '../helpers.js'

const W = 60_000

t.test('a burst in one turn gets, request by request, the decisions the in-memory store gives one at a time', async (t) => {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 })
  t.teardown(() => redis.disconnect())
  const shared = new RedisWindowStore(redis, uniquePrefix())
  const memory = new MemoryWindowStore()
  const t0 = 9000 * W
  // 30 in the previous window weigh 30 × 0.75 at a quarter of this one
  for (let i = 0; i < 30; i++) {
    memory.hit('k', 40, W, t0 - 1000)
    await shared.hit('k', 40, W, t0 - 1000)
  }
  const now = t0 + W / 4
  const expected = Array.from({ length: 25 }, () => memory.hit('k', 40, W, now))
  const burst = await Promise.all(Array.from({ length: 25 }, () => shared.hit('k', 40, W, now)))
  t.same(burst, expected, 'allowed, remaining, reset and retry-after of each request, in arrival order')
  t.equal(burst.filter((d) => d.allowed).length, 17, '40 − 22.5 leaves room for 17')
  t.ok(burst.slice(0, 17).every((d) => d.allowed) && burst.slice(17).every((d) => !d.allowed), 'the first 17 to arrive are the ones admitted')
})

t.test('one EVALSHA per key per turn, with the count of requests it decides', async (t) => {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 })
  const monitor = await redis.monitor()
  t.teardown(() => { monitor.disconnect(); redis.disconnect() })
  const prefix = uniquePrefix()
  const store = new RedisWindowStore(redis, prefix)
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    // EVAL the first time this Redis meets the script (ioredis falls back on NOSCRIPT)
    if (/^eval(sha)?$/i.test(args[0] ?? '') && args[3]?.startsWith(prefix)) seen.push(args)
  })
  const now = 11_000 * W + 5
  await Promise.all(Array.from({ length: 50 }, () => store.hit('one', 1000, W, now)))
  await Promise.all(['a', 'b', 'c'].flatMap((key) => Array.from({ length: 4 }, () => store.hit(key, 1000, W, now))))
  for (let i = 0; i < 3; i++) await store.hit('alone', 1000, W, now)
  // Redis runs commands one at a time and shows each to MONITOR as it runs it: once a
  // marker sent after them shows up, all of them have (listening before sending it,
  // as its MONITOR line may come before its reply)
  const marked = new Promise<void>((resolve) => {
    const check = (_time: string, args: string[]) => { if (args[1] === `${prefix}marker`) { monitor.off('monitor', check); resolve() } }
    monitor.on('monitor', check)
  })
  await redis.set(`${prefix}marker`, '1', 'PX', 10_000)
  await marked
  const byKey = (key: string) => seen.filter((args) => args[3]!.includes(`{${key}}`)).map((args) => Number(args[8]))
  t.same(byKey('one'), [50], '50 concurrent requests of one consumer: one command counting 50')
  t.same([byKey('a'), byKey('b'), byKey('c')], [[4], [4], [4]], 'three consumers in one turn: a command each')
  t.same(byKey('alone'), [1, 1, 1], 'requests in separate turns: a command each')
})

t.test('a failed command fails every request of its batch (the limiter then decides them locally)', async (t) => {
  const port = await freePort()
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  const store = new RedisWindowStore(redis, uniquePrefix())
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => store.hit('k', 5, W, 13_000 * W)))
  t.same(results.map((r) => r.status), Array(10).fill('rejected'))
  // and the next turn is a fresh batch, not the failed one again
  const again = await Promise.allSettled([store.hit('k', 5, W, 13_000 * W)])
  t.equal(again[0]!.status, 'rejected')
})
