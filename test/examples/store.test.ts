import t from 'tap'
import { thrownBy, recordEvents } from './helpers.js'
import { storeEvents } from '../../examples/event-iterator.js'
import { ProblemError } from '../../examples/problem.js'
import { createStore, toMinor } from '../../examples/store.js'


t.test('the seed ledger adds up: every balance is its transactions\' sum, every balanceAfter a running total', async (t) => {
  const store = createStore()
  const users = ['alice', 'bob', 'carol', 'admin'].map((name) => store.getUser(`u-${name}`))
  t.same(users.map((u) => [u?.username, u?.roles, u?.tier]), [['alice', ['customer'], 'authenticated'], ['bob', ['customer'], 'premium'], ['carol', ['analyst'], 'authenticated'], ['admin', ['admin'], 'authenticated']])
  t.ok(store.authenticate('admin', 'demo-password'))
  t.equal(store.authenticate('admin', 'Demo-password'), undefined)

  const oldestFirst = [...store.listTransactions()].reverse()
  for (const w of store.listWallets()) {
    let running = 0
    for (const tx of oldestFirst.filter((x) => x.walletId === w.id)) {
      running += (['deposit', 'transfer_in', 'refund'].includes(tx.type) ? 1 : -1) * Math.round(tx.amount * 100)
      t.equal(Math.round(tx.balanceAfter * 100), running, `${tx.id} balanceAfter`)
    }
    t.equal(Math.round(w.balance * 100), running, `${w.id} balance`)
  }
  t.equal(store.findWallet('w-alice-1')?.currency, 'EGP')
  t.equal(store.findWallet('w-alice-1')?.ownerId, 'u-alice')
})

t.test('each command emits its event with channel, name, subject and data', async (t) => {
  const store = createStore()
  const events = recordEvents(store)
  const { wallet } = store.createWallet('u-carol', 'EGP')
  store.deposit(wallet.id, 10)
  store.transfer(wallet.id, 'w-alice-1', 4)
  store.withdraw(wallet.id, 1)
  store.freeze(wallet.id, 'review')
  store.unfreeze(wallet.id)
  store.withdraw(wallet.id, 5)
  store.close(wallet.id)
  const walletEvents = events.filter((e) => e.channel === 'wallet').map((e) => [e.event, e.subject, e.data.walletId, e.data.change ?? null])
  t.same(walletEvents, [
    ['wallet.created', 'u-carol', wallet.id, null],
    ['wallet.updated', 'u-carol', wallet.id, 'deposit'],
    ['wallet.updated', 'u-carol', wallet.id, 'transfer_out'],
    ['wallet.updated', 'u-alice', 'w-alice-1', 'transfer_in'],
    ['wallet.updated', 'u-carol', wallet.id, 'withdrawal'],
    ['wallet.frozen', 'u-carol', wallet.id, null],
    ['wallet.unfrozen', 'u-carol', wallet.id, null],
    ['wallet.updated', 'u-carol', wallet.id, 'withdrawal'],
    ['wallet.closed', 'u-carol', wallet.id, null]
  ])
  const analytics = events.filter((e) => e.channel === 'analytics')
  t.equal(analytics.length, 5, 'one analytics event per posted transaction')
  t.match(analytics[0], { event: 'analytics.transaction.recorded', subject: 'u-carol', data: { type: 'deposit', amount: 10, currency: 'EGP' } })
  t.match(events.at(-1)?.data.wallet, { id: wallet.id, status: 'closed', balance: 0 })
})

t.test('a failed command changes nothing and emits nothing', async (t) => {
  const store = createStore()
  const events = recordEvents(store)
  const before = store.listWallets()
  const attempts: Array<[() => unknown, number, string]> = [
    [() => store.withdraw('w-carol-1', 1_000_000), 409, 'insufficient-funds'],
    [() => store.transfer('w-alice-1', 'w-alice-2', 1), 409, 'currency-mismatch'],
    [() => store.transfer('w-alice-1', 'w-bob-2', 1), 409, 'wallet-frozen'],
    [() => store.deposit('w-missing', 1), 404, 'wallet-not-found'],
    [() => store.deposit('w-alice-1', 0.001), 400, 'invalid-amount'],
    [() => store.unfreeze('w-alice-1'), 409, 'wallet-not-frozen'],
    [() => store.freeze('w-bob-2', 'again'), 409, 'wallet-already-frozen']
  ]
  for (const [attempt, status, slug] of attempts) {
    const thrown = thrownBy(attempt)
    t.ok(thrown instanceof ProblemError, `${slug} is a ProblemError`)
    t.match(thrown, { status, slug })
  }
  t.same(store.listWallets(), before)
  t.same(events, [])
})

t.test('amounts are converted to minor units exactly', async (t) => {
  t.equal(toMinor(0.07), 7)
  t.equal(toMinor(19.99), 1999)
  t.equal(toMinor(1_000_000_000), 100_000_000_000)
  for (const bad of [0, -1, 0.005, Number.NaN, Number.POSITIVE_INFINITY, 1_000_000_000.01]) {
    t.match(thrownBy(() => toMinor(bad)), { status: 400, slug: 'invalid-amount' }, String(bad))
  }
})

t.test('refresh tokens are single use and expire', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z')
  const store = createStore({ now: () => now })
  const token = store.issueRefreshToken('u-alice')
  t.equal(store.consumeRefreshToken(token)?.id, 'u-alice')
  t.equal(store.consumeRefreshToken(token), undefined, 'second use fails')
  const old = store.issueRefreshToken('u-bob')
  now += 7 * 86_400_000
  t.equal(store.consumeRefreshToken(old), undefined, 'expired after seven days')
})

t.test('a store event iterator detaches on return() even while a next() is pending', async (t) => {
  const store = createStore()
  const events = storeEvents(store, (e) => e.channel === 'wallet' && e.data.walletId === 'w-alice-1')
  t.equal(store.listenerCount('event'), 1)
  const pending = events.next()
  store.deposit('w-bob-1', 1)
  store.deposit('w-alice-1', 2)
  t.match((await pending).value, { event: 'wallet.updated', data: { walletId: 'w-alice-1', amount: 2 } })

  const parked = events.next()
  await events.return?.()
  t.same(await parked, { value: undefined, done: true })
  t.equal(store.listenerCount('event'), 0)
  t.same(await events.next(), { value: undefined, done: true })
})

t.test('a slow reader keeps only the newest events, within its bound', async (t) => {
  const store = createStore()
  const events = storeEvents(store, (e) => e.channel === 'wallet', 3)
  t.teardown(async () => { await events.return?.() })
  for (let i = 1; i <= 5; i++) store.deposit('w-alice-1', i)
  const amounts = []
  for (let i = 0; i < 3; i++) amounts.push((await events.next()).value?.data.amount)
  t.same(amounts, [3, 4, 5])
})
