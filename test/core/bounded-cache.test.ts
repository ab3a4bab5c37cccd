import t from 'tap'
import { BoundedCache } from '../../src/bounded-cache.js'

t.test('entries expire with their TTL (fake clock)', async (t) => {
  let now = 1000
  const cache = new BoundedCache<string, number>(10, () => now)
  cache.set('a', 1, 100)
  t.equal(cache.get('a'), 1)
  now += 99
  t.equal(cache.get('a'), 1, 'still there 1 ms before expiry')
  now += 1
  t.equal(cache.get('a'), undefined, 'gone at expiry')
  t.equal(cache.size, 0, 'an expired entry is dropped when read')
})

t.test('when full, the least recently used entry goes first', async (t) => {
  const cache = new BoundedCache<string, number>(3)
  cache.set('a', 1, 60_000)
  cache.set('b', 2, 60_000)
  cache.set('c', 3, 60_000)
  t.equal(cache.get('a'), 1, 'a is now the most recently used')
  cache.set('d', 4, 60_000)
  t.equal(cache.get('b'), undefined, 'b was the least recently used: evicted')
  t.same([cache.get('a'), cache.get('c'), cache.get('d')], [1, 3, 4])
  cache.set('a', 10, 60_000)
  t.equal(cache.size, 3, 'replacing a key does not evict another')
  cache.delete('a')
  t.equal(cache.get('a'), undefined)
  cache.clear()
  t.equal(cache.size, 0)
})

t.test('an entry read while among the newest half is not moved; read when older, it is', async (t) => {
  const cache = new BoundedCache<string, number>(4)
  for (const [i, k] of ['a', 'b', 'c', 'd'].entries()) cache.set(k, i, 60_000)
  // a is the oldest: reading it moves it to the end
  t.equal(cache.get('a'), 0)
  cache.set('e', 4, 60_000)
  t.equal(cache.get('b'), undefined, 'b went first, not a')
  // a hot entry read again and again right after its move stays where it is...
  for (let i = 0; i < 1000; i++) cache.get('a')
  cache.set('f', 5, 60_000)
  t.equal(cache.get('c'), undefined, 'c went next')
  t.equal(cache.get('a'), 0, 'a survives maxEntries/2 insertions after it was read')
  // ...and once it is among the older half again, a read moves it back to the end
  cache.set('g', 6, 60_000)
  t.equal(cache.get('a'), 0)
  cache.set('h', 7, 60_000)
  cache.set('i', 8, 60_000)
  t.equal(cache.get('a'), 0, 'a was moved on its last read: d, e and f went before it')
  t.same(['d', 'e', 'f'].map((k) => cache.get(k)), [undefined, undefined, undefined])
  t.equal(cache.size, 4)
})
