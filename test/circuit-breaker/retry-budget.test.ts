// The retry budget and the backoff between attempts: pure arithmetic.
import t from 'tap'
import { RetryBudget, retryBackoff } from '../../plugins/proxy/retry-budget.js'

t.test('a failing service gets at most reserve + 20 % of its requests as retries', async (t) => {
  const budget = new RetryBudget(0.2, 10)
  let retries = 0
  for (let i = 0; i < 1000; i++) {
    budget.deposit()
    if (budget.withdraw()) retries++
  }
  // 10 from the reserve, then one per five requests
  t.ok(retries <= 10 + 0.2 * 1000, `${retries} retries for 1000 requests`)
  t.ok(retries >= 0.2 * 1000, 'the 20 % is really available')
  t.same(budget.snapshot(), { retried: retries, exhausted: 1000 - retries, available: 0 })
})

t.test('five deposits of 0.2 make exactly one retry (no floating-point shortfall)', async (t) => {
  const budget = new RetryBudget(0.2, 0)
  for (let i = 0; i < 4; i++) budget.deposit()
  t.notOk(budget.withdraw(), 'four requests: not yet')
  budget.deposit()
  t.ok(budget.withdraw(), 'the fifth earns one')
  t.notOk(budget.withdraw())
})

t.test('the reserve caps what quiet times save up', async (t) => {
  const budget = new RetryBudget(0.2, 3)
  for (let i = 0; i < 10_000; i++) budget.deposit()
  let burst = 0
  while (budget.withdraw()) burst++
  t.equal(burst, 3, 'a burst after a long healthy spell is bounded by the reserve')
})

t.test('a budget of 0 never retries once the reserve is spent', async (t) => {
  const budget = new RetryBudget(0, 2)
  t.ok(budget.withdraw())
  t.ok(budget.withdraw())
  for (let i = 0; i < 100; i++) budget.deposit()
  t.notOk(budget.withdraw())
})

t.test('backoff: full jitter below min(max, base · 2^(n-1)), and really random', async (t) => {
  const next = retryBackoff({ backoffMs: 20, maxBackoffMs: 50 })
  const first = Array.from({ length: 200 }, () => next(1))
  const third = Array.from({ length: 200 }, () => next(3))
  t.ok(first.every((d) => d >= 0 && d < 20), 'retry 1: [0, 20)')
  t.ok(third.every((d) => d >= 0 && d < 50), 'retry 3: capped at 50 (not 80)')
  t.ok(new Set(first).size > 5, 'jittered, not a fixed delay')
  t.ok(third.some((d) => d >= 20), 'later retries may wait longer')
  t.same(new Set(Array.from({ length: 20 }, () => retryBackoff({ backoffMs: 0, maxBackoffMs: 0 })(1))), new Set([0]), 'backoff 0: immediate')
})
