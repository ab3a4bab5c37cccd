// The breaker's state machine and its failure window, on a fake clock.
import t from 'tap'
import { ServiceBreaker, REFUSED, type Transition, type Outcome } from '../../plugins/circuit-breaker/breaker.js'
import { FailureWindow } from '../../plugins/circuit-breaker/failure-window.js'
import { CircuitState } from 'cockatiel'

const settings = { errorThreshold: 0.5, windowMs: 10_000, minRequests: 10, resetMs: 30_000, halfOpenRequests: 3 }

function make (overrides: Partial<typeof settings> = {}) {
  const clock = { now: 1_000_000 }
  const transitions: Transition[] = []
  const breaker = new ServiceBreaker('query', { ...settings, ...overrides }, { now: () => clock.now, onTransition: (tr) => transitions.push(tr) })
  /** admit one request and record its outcome at once; false when refused */
  const run = (outcome: Outcome): boolean => {
    const ticket = breaker.admit()
    if (ticket === REFUSED) return false
    breaker.record(ticket, outcome)
    return true
  }
  const many = (n: number, outcome: Outcome) => { for (let i = 0; i < n; i++) run(outcome) }
  return { clock, transitions, breaker, run, many }
}

/** drives a fresh breaker to open: 10 failures */
function opened (overrides: Partial<typeof settings> = {}) {
  const b = make(overrides)
  b.many(settings.minRequests, 'failure')
  if (b.breaker.state !== CircuitState.Open) throw new Error('expected open')
  return b
}

t.test('never opens before BREAKER_MIN_REQUESTS, however many of them failed', async (t) => {
  const { breaker, many, run } = make()
  many(9, 'failure')
  t.equal(breaker.state, CircuitState.Closed, '9 failures out of 9 do not open it')
  t.ok(run('failure'))
  t.equal(breaker.state, CircuitState.Open, 'the 10th does')
})

t.test('opens when failures reach the threshold (≥ 50 %), not below it', async (t) => {
  const below = make()
  below.many(6, 'success')
  below.many(4, 'failure')
  t.equal(below.breaker.state, CircuitState.Closed, '4 of 10 failed: closed')

  const at = make()
  at.many(5, 'success')
  at.many(5, 'failure')
  t.equal(at.breaker.state, CircuitState.Open, '5 of 10 failed: open')

  const odd = make({ errorThreshold: 0.3 })
  odd.many(7, 'success')
  odd.many(3, 'failure')
  t.equal(odd.breaker.state, CircuitState.Open, 'exactly 30 % opens a 0.3 breaker (no floating-point miss)')

  const all = make({ errorThreshold: 1 })
  all.many(1, 'success')
  all.many(20, 'failure')
  t.equal(all.breaker.state, CircuitState.Closed, 'threshold 1: one success in the window keeps it closed')
})

t.test('neutral outcomes (client left, client error) count neither way', async (t) => {
  const { breaker, many } = make()
  many(50, 'neutral')
  many(9, 'failure')
  t.equal(breaker.state, CircuitState.Closed, 'still below the minimum: neutrals are not requests')
  t.same(breaker.snapshot().window, { requests: 9, failures: 9, failureRate: 1 })
})

t.test('the window slides: failures older than BREAKER_WINDOW_MS are forgotten, however long the quiet', async (t) => {
  // cockatiel's SamplingBreaker opens here (it keeps old slots after an idle spell)
  const idle = make()
  idle.many(9, 'failure')
  idle.clock.now += 3_600_000
  idle.many(1, 'failure')
  t.equal(idle.breaker.state, CircuitState.Closed, '9 failures an hour ago + 1 now: closed')
  t.same(idle.breaker.snapshot().window, { requests: 1, failures: 1, failureRate: 1 })

  // [first outcomes, then the clock moves, then more outcomes] → the state
  const cases: Array<[string, [number, Outcome], number, [number, Outcome], CircuitState]> = [
    ['5 failures 8 s ago + 5 now: one window, open', [5, 'failure'], 8_000, [5, 'failure'], CircuitState.Open],
    ['5 failures 11 s ago + 5 now: two windows, closed', [5, 'failure'], 11_000, [5, 'failure'], CircuitState.Closed],
    ['10 failures after 20 successes: 33 %, closed', [20, 'success'], 0, [10, 'failure'], CircuitState.Closed],
    ['the same once the successes left the window: 100 %, open', [20, 'success'], 11_000, [10, 'failure'], CircuitState.Open]
  ]
  for (const [label, before, gapMs, after, expected] of cases) {
    const b = make()
    b.many(...before)
    b.clock.now += gapMs
    b.many(...after)
    t.equal(b.breaker.state, expected, label)
  }
})

t.test('open: every request is refused until BREAKER_RESET_MS, with a falling Retry-After', async (t) => {
  const { breaker, clock, run } = opened()
  t.notOk(run('success'), 'refused at once')
  t.equal(breaker.retryAfterMs(), 30_000)
  clock.now += 29_999
  t.notOk(run('success'), 'still refused 1 ms before the reset')
  t.equal(breaker.retryAfterMs(), 1)
  t.equal(breaker.rejected, 2)
  t.match(breaker.snapshot(), { state: 'open', stateCode: 2, opened: 1, rejected: 2, halfOpenAt: new Date(1_000_000 + 30_000).toISOString() })
})

t.test('half-open admits exactly BREAKER_HALF_OPEN_REQUESTS trials; all succeed → closed with a fresh window', async (t) => {
  const { breaker, clock, run } = opened()
  clock.now += 30_000
  const tickets = Array.from({ length: 10 }, () => breaker.admit())
  t.same(tickets.filter((x) => x === REFUSED).length, 7, 'of 10 concurrent requests, 3 go through')
  t.equal(breaker.state, CircuitState.HalfOpen)
  t.match(breaker.snapshot(), { state: 'half-open', stateCode: 1, trials: { admitted: 3, succeeded: 0, of: 3 } })
  t.equal(breaker.retryAfterMs(), 0, 'a refused client may retry as soon as the trials end')
  const trials = tickets.filter((x) => x !== REFUSED)
  breaker.record(trials[0]!, 'success')
  breaker.record(trials[1]!, 'success')
  t.equal(breaker.state, CircuitState.HalfOpen, 'two of three: still deciding')
  t.equal(breaker.admit(), REFUSED, 'no fourth trial while the third runs')
  breaker.record(trials[2]!, 'success')
  t.equal(breaker.state, CircuitState.Closed)
  t.same(breaker.snapshot().window, { requests: 0, failures: 0, failureRate: 0 }, 'the failures that opened it are forgotten')
  t.ok(run('failure'))
  t.equal(breaker.state, CircuitState.Closed, 'one failure after recovery does not reopen it')
})

t.test('any failed trial opens it again at once, for a whole BREAKER_RESET_MS; later trial outcomes are ignored', async (t) => {
  const { breaker, clock, transitions } = opened()
  clock.now += 30_000
  const [a, b, c] = [breaker.admit(), breaker.admit(), breaker.admit()]
  breaker.record(a, 'success')
  breaker.record(b, 'failure')
  t.equal(breaker.state, CircuitState.Open, 'one failed trial reopens')
  breaker.record(c, 'success')
  t.equal(breaker.state, CircuitState.Open, 'the last trial, admitted before, decides nothing')
  t.equal(breaker.retryAfterMs(), 30_000)
  clock.now += 29_999
  t.equal(breaker.admit(), REFUSED)
  clock.now += 1
  t.not(breaker.admit(), REFUSED, 'trials again after another full reset period')
  t.same(transitions.map((x) => `${x.from}→${x.to}`), ['closed→open', 'open→half-open', 'half-open→open', 'open→half-open'])
})

t.test('a trial that ends neutral gives its slot to the next request', async (t) => {
  const { breaker, clock } = opened()
  clock.now += 30_000
  const [a, b, c] = [breaker.admit(), breaker.admit(), breaker.admit()]
  t.equal(breaker.admit(), REFUSED)
  breaker.record(a, 'neutral')
  const d = breaker.admit()
  t.not(d, REFUSED, 'the abandoned trial\'s slot is free again')
  t.equal(breaker.admit(), REFUSED, 'but only that one')
  for (const ticket of [b, c, d]) breaker.record(ticket, 'success')
  t.equal(breaker.state, CircuitState.Closed, 'three real successes close it')
})

t.test('outcomes of requests admitted before a transition are ignored', async (t) => {
  const { breaker, clock, many } = make()
  const early = Array.from({ length: 5 }, () => breaker.admit())
  many(10, 'failure')
  t.equal(breaker.state, CircuitState.Open)
  clock.now += 30_000
  const trials = [breaker.admit(), breaker.admit(), breaker.admit()]
  for (const ticket of early) breaker.record(ticket, 'success')
  t.match(breaker.snapshot(), { state: 'half-open', trials: { succeeded: 0 } }, 'late successes from the closed era are not trials')
  for (const ticket of trials) breaker.record(ticket, 'success')
  t.equal(breaker.state, CircuitState.Closed)
})

t.test('each transition is reported once, with the window that opened it', async (t) => {
  const { breaker, clock, transitions, many } = make()
  many(4, 'success')
  many(6, 'failure')
  many(5, 'failure') // refused: no further reports while open
  t.equal(transitions.length, 1)
  t.match(transitions[0], { service: 'query', from: 'closed', to: 'open', window: { requests: 10, failures: 6 }, halfOpenAt: 1_000_000 + 30_000 })
  clock.now += 30_000
  for (let i = 0; i < 3; i++) breaker.record(breaker.admit(), 'success')
  t.same(transitions.map((x) => x.to), ['open', 'half-open', 'closed'])
  t.equal(breaker.opened, 1)
})

t.test('FailureWindow keeps cockatiel\'s IBreaker contract: failure() answers "open" outside the closed state', async (t) => {
  let now = 0
  const w = new FailureWindow({ threshold: 0.5, windowMs: 1000, minRequests: 100, now: () => now })
  t.notOk(w.failure(CircuitState.Closed), 'below the minimum')
  t.ok(w.failure(CircuitState.HalfOpen), 'a failure while half-open always opens')
  w.success(CircuitState.HalfOpen)
  t.same(w.state, { requests: 1, failures: 0 }, 'success while half-open starts a fresh window')
  now += 999
  t.same(w.counts(), { requests: 1, failures: 0 })
  now += 101
  t.same(w.counts(), { requests: 0, failures: 0 }, 'a slot leaves the window when the window has passed it')
})

t.test('an open breaker nobody calls reads half-open once its reset time has passed (admin API, metrics)', async (t) => {
  const { breaker, clock, transitions } = opened()
  clock.now += 29_999
  t.equal(breaker.stateName, 'open')
  t.equal(transitions.length, 1)
  clock.now += 1
  t.match(breaker.snapshot(), { state: 'half-open', stateCode: 1, trials: { admitted: 0, succeeded: 0, of: 3 } })
  t.same(transitions.map((tr) => `${tr.from}>${tr.to}`), ['closed>open', 'open>half-open'], 'the transition is reported once')
  breaker.poll()
  t.equal(transitions.length, 2, 'polling again changes nothing')
  t.notOk(breaker.admit() === REFUSED, 'the trials are admitted as before')
})
