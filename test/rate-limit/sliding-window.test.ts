// The algorithm with a fake clock, on the in-memory store and on Redis (the same
// assertions, one store after the other): sliding, not fixed, windows.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { MemoryWindowStore, RedisWindowStore, type WindowStore } from '../../plugins/rate-limit/stores.js'
import { retryAfter, describe as describeDecision } from '../../plugins/rate-limit/sliding-window.js'
import { uniquePrefix } from '../helpers.js'

const W = 60_000

async function stores (t: Test): Promise<Array<[string, () => WindowStore]>> {
  const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 0 })
  t.teardown(() => redis.disconnect())
  return [
    ['memory', () => new MemoryWindowStore()],
    ['redis', () => new RedisWindowStore(redis, uniquePrefix())]
  ]
}

async function count (store: WindowStore, key: string, n: number, limit: number, now: number): Promise<number> {
  let allowed = 0
  for (let i = 0; i < n; i++) if ((await store.hit(key, limit, W, now)).allowed) allowed++
  return allowed
}

t.test('sliding semantics: 1 at t=0, L−1 at 0.6W, then at 1.05W at most ⌈L/2⌉ more (a fixed window would allow L)', async (t) => {
  for (const [name, make] of await stores(t)) {
    for (const L of [10, 100]) {
      const store = make()
      const t0 = 1000 * W // a window boundary
      t.equal(await count(store, 'k', 1, L, t0), 1, `${name} L=${L}: the first`)
      t.equal(await count(store, 'k', L - 1, L, t0 + 0.6 * W), L - 1, `${name} L=${L}: L−1 more at 0.6W`)
      t.equal(await count(store, 'k', 1, L, t0 + 0.7 * W), 0, `${name} L=${L}: the window is full`)
      const later = await count(store, 'k', L, L, t0 + 1.05 * W)
      t.ok(later <= Math.ceil(L / 2), `${name} L=${L}: ${later} allowed at 1.05W (≤ ${Math.ceil(L / 2)})`)
      t.equal(later, Math.floor(L - L * (W - 0.05 * W) / W), `${name} L=${L}: exactly what the previous window's remaining weight (95 %) leaves`)
      // two windows on, the first window's requests no longer count at all
      const weighed = later * (W - 0.6 * W) / W
      t.equal(await count(store, 'k', L + 5, L, t0 + 2.6 * W), Math.floor(L - weighed), `${name} L=${L}: at 2.6W only the 1.05W requests weigh (40 %)`)
    }
  }
})

t.test('exact under concurrency: 200 concurrent hits against a limit of 50 → exactly 50', async (t) => {
  for (const [name, make] of await stores(t)) {
    const store = make()
    const now = 5000 * W + 10
    const results = await Promise.all(Array.from({ length: 200 }, () => store.hit('burst', 50, W, now)))
    t.equal(results.filter((r) => r.allowed).length, 50, name)
    t.same(results.filter((r) => r.allowed).map((r) => r.remaining).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i), `${name}: remaining counts down 49…0`)
    t.ok(results.filter((r) => !r.allowed).every((r) => r.remaining === 0 && r.retryAfterMs > 0), `${name}: refusals say when to retry`)
  }
})

t.test('keys and window lengths are independent', async (t) => {
  for (const [name, make] of await stores(t)) {
    const store = make()
    const now = 7000 * W
    t.equal(await count(store, 'a', 5, 3, now), 3, `${name}: a`)
    t.equal(await count(store, 'b', 5, 3, now), 3, `${name}: b has its own count`)
    const short = await store.hit('a', 3, 1000, now)
    t.ok(short.allowed, `${name}: another window length is another counter`)
  }
})

t.test('retryAfter and headers arithmetic', async (t) => {
  // previous 100, current 0, limit 100, at 0.5W: estimate 50 → allowed; at 0.0W: 100 → refused until 0.01W
  t.equal(retryAfter({ previous: 100, current: 0 }, 0, W, 100), Math.ceil(W - 99 * W / 100))
  // the current window alone is full: wait for the next one, then for its weight to drain enough
  t.equal(retryAfter({ previous: 0, current: 10 }, 0.5 * W, W, 10), Math.ceil(0.5 * W + W * (1 - 9 / 10)))
  t.equal(retryAfter({ previous: 0, current: 1 }, 0, W, 1), 2 * W, 'limit 1: the single request weighs a full window')
  const d = describeDecision(true, { previous: 10, current: 3 }, 0.5 * W, W, 20)
  t.same(d, { allowed: true, limit: 20, remaining: 12, resetMs: 0.5 * W, retryAfterMs: 0 })
})

t.test('the memory store forgets idle keys and stays bounded', async (t) => {
  const store = new MemoryWindowStore(3)
  for (const k of ['a', 'b', 'c', 'd']) store.hit(k, 10, W, 0)
  t.equal(store.size, 3, 'bounded')
  store.sweep(2 * W)
  t.equal(store.size, 0, 'keys idle for two windows are dropped')
})

t.test('the memory store: one counter per window length; an active key is never the one evicted', async (t) => {
  const store = new MemoryWindowStore(3)
  t.equal(await count(store, 'k', 3, 2, 0), 2)
  t.equal(store.hit('k', 2, 30_000, 0).allowed, true, 'another window length, another counter')
  t.equal(await count(store, 'k', 1, 2, 0), 0, 'and the first one was not reset by it')
  const lru = new MemoryWindowStore(2)
  await count(lru, 'victim', 5, 5, 0)
  for (let i = 0; i < 10; i++) {
    lru.hit('victim', 5, W, 0) // keeps being used
    lru.hit(`attacker-${i}`, 5, W, 0)
  }
  t.equal(lru.hit('victim', 5, W, 0).allowed, false, 'the saturated key kept its count')
})
