import t from 'tap'
import { Target } from '../../plugins/proxy/target.js'

const passive = { enabled: true, consecutiveFailures: 3, consecutive5xx: 5, ejectMs: 10_000, maxEjectMs: 25_000 }
const active = { enabled: true, path: '/health', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 }
const make = (p = passive) => new Target('http://127.0.0.1:1', '127.0.0.1:1', '', 1, p, active)

t.test('a refused connection ejects at once; the target returns when the ejection ends', async (t) => {
  const target = make()
  let now = 1000
  t.ok(target.isAvailable(now))
  target.onFailure('refused', now)
  t.notOk(target.isAvailable(now))
  t.equal(target.state(now), 'ejected')
  now += 9_999
  t.notOk(target.isAvailable(now))
  now += 1
  t.ok(target.isAvailable(now), 're-admitted after ejectMs')
  t.equal(target.state(now), 'healthy')
})

t.test('resets and timeouts eject after a streak; an answer in between clears it', async (t) => {
  const target = make()
  target.onFailure('reset', 0)
  target.onFailure('timeout', 0)
  target.onResponse(200, 0)
  target.onFailure('reset', 0)
  target.onFailure('reset', 0)
  t.ok(target.isAvailable(0), 'streak was broken by a success')
  target.onFailure('timeout', 0)
  t.notOk(target.isAvailable(0), 'third failure in a row ejects')
  t.equal(target.lastFailure, 'timeout')
})

t.test('a streak of 5xx answers ejects; 4xx answers are fine', async (t) => {
  const target = make()
  for (let i = 0; i < 4; i++) target.onResponse(503, 0)
  target.onResponse(404, 0)
  for (let i = 0; i < 4; i++) target.onResponse(500, 0)
  t.ok(target.isAvailable(0))
  target.onResponse(502, 0)
  t.notOk(target.isAvailable(0))
  t.match(target.lastFailure, /5 consecutive 502-class answers/)
})

t.test('repeated ejections last longer, up to maxEjectMs, and reset after a success', async (t) => {
  const target = make()
  let now = 0
  const ejectionLength = () => {
    target.onFailure('refused', now)
    const length = target.ejectedUntil - now
    now = target.ejectedUntil
    return length
  }
  t.same([ejectionLength(), ejectionLength(), ejectionLength(), ejectionLength()], [10_000, 20_000, 25_000, 25_000])
  target.onResponse(200, now)
  t.equal(ejectionLength(), 10_000, 'back to the base length after the target answered')
})

t.test('with passive health disabled nothing ejects', async (t) => {
  const target = make({ ...passive, enabled: false })
  target.onFailure('refused', 0)
  for (let i = 0; i < 10; i++) target.onResponse(500, 0)
  t.ok(target.isAvailable(0))
})

t.test('active checks mark a target unhealthy and healthy again after the thresholds', async (t) => {
  const target = make()
  target.onCheck(false)
  t.ok(target.activeHealthy, 'one failed check is not enough')
  target.onCheck(false)
  t.notOk(target.activeHealthy)
  t.equal(target.state(0), 'unhealthy')
  target.onCheck(true)
  t.notOk(target.activeHealthy, 'one good check is not enough')
  target.onCheck(false)
  target.onCheck(true)
  t.notOk(target.activeHealthy, 'the success streak restarted')
  target.onCheck(true)
  t.ok(target.activeHealthy)
})
