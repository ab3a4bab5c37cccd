import t from 'tap'
import { createPicker, type Balanced } from '../../plugins/proxy/balancer.js'

interface T extends Balanced { name: string, up: boolean }
const targets = (...spec: Array<[string, number?]>): T[] => spec.map(([name, weight = 1]) => ({ name, weight, inflight: 0, currentWeight: 0, up: true }))
const usable = (x: T) => x.up

function tally (pick: () => T | undefined, n: number): Record<string, number> {
  const counts: Record<string, number> = {}
  for (let i = 0; i < n; i++) {
    const chosen = pick()
    if (chosen) counts[chosen.name] = (counts[chosen.name] ?? 0) + 1
  }
  return counts
}

t.test('round-robin rotates evenly and skips unusable targets', async (t) => {
  const list = targets(['a'], ['b'], ['c'])
  const pick = createPicker<T>('round-robin')
  t.same([1, 2, 3, 4, 5, 6].map(() => pick(list, usable)!.name), ['a', 'b', 'c', 'a', 'b', 'c'])
  list[1]!.up = false
  t.same(tally(() => pick(list, usable), 100), { a: 50, c: 50 })
  for (const x of list) x.up = false
  t.equal(pick(list, usable), undefined, 'nothing usable → undefined, no loop')
})

t.test('least-connections picks the target with the fewest requests in flight, rotating ties', async (t) => {
  const list = targets(['a'], ['b'], ['c'])
  const pick = createPicker<T>('least-connections')
  list[0]!.inflight = 5
  list[1]!.inflight = 1
  list[2]!.inflight = 3
  t.equal(pick(list, usable)!.name, 'b')
  list[1]!.up = false
  t.equal(pick(list, usable)!.name, 'c')
  for (const x of list) { x.inflight = 0; x.up = true }
  t.same(tally(() => pick(list, usable), 99), { a: 33, b: 33, c: 33 }, 'equal load shares evenly')
})

t.test('weighted (smooth) honours the weights and interleaves picks', async (t) => {
  const list = targets(['a', 5], ['b', 1], ['c', 1])
  const pick = createPicker<T>('weighted')
  const sequence = [1, 2, 3, 4, 5, 6, 7].map(() => pick(list, usable)!.name)
  t.same(sequence, ['a', 'a', 'b', 'a', 'c', 'a', 'a'], 'nginx smooth weighted round-robin order')
  t.same(tally(() => pick(list, usable), 700), { a: 500, b: 100, c: 100 })
  list[0]!.up = false
  t.same(tally(() => pick(list, usable), 100), { b: 50, c: 50 })
})
