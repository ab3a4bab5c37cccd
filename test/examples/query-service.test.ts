import t from 'tap'
import { call, startBackends } from './helpers.js'

const NOW = Date.parse('2026-03-15T12:00:00Z')

t.test('every REST read operation answers 200 with its documented shape', async (t) => {
  const { queryUrl } = await startBackends(t, { now: () => NOW })
  const lists = ['/v1/api/wallets', '/v1/api/wallets/w-alice-1/transactions', '/v1/api/transactions', '/v1/api/payments', '/v1/api/medcards', '/v1/api/claims', '/v1/api/providers']
  for (const path of lists) {
    const res = await call(`${queryUrl}${path}`)
    t.equal(res.status, 200, path)
    t.ok(Array.isArray(res.body.items) && res.body.items.length > 0, `${path} has items`)
    t.ok(res.body.nextCursor === null || typeof res.body.nextCursor === 'string', `${path} has nextCursor`)
  }
  const singles: Array<[string, Record<string, unknown>]> = [
    ['/v1/api/wallets/w-alice-1', { id: 'w-alice-1', ownerId: 'u-alice', currency: 'EGP', balance: 4802.75, status: 'active' }],
    ['/v1/api/wallets/w-bob-2/balance', { walletId: 'w-bob-2', balance: 300, available: 0, status: 'frozen' }],
    ['/v1/api/transactions/t-00001', { id: 't-00001', type: 'deposit' }],
    ['/v1/api/payments/pay-0001', { id: 'pay-0001', method: 'wallet', status: 'completed' }],
    ['/v1/api/payments/pay-0001/receipt', { paymentId: 'pay-0001', receiptNumber: 'RCPT-PAY-0001', provider: { name: String } }],
    ['/v1/api/medcards/mc-alice-1', { id: 'mc-alice-1', plan: 'gold', status: 'active' }],
    ['/v1/api/medcards/mc-alice-1/benefits', { medcardId: 'mc-alice-1', benefits: Array }],
    ['/v1/api/claims/cl-0001', { id: 'cl-0001', status: 'paid' }],
    ['/v1/api/claims/cl-0001/history', { claimId: 'cl-0001', items: [{ status: 'submitted' }, { status: 'in_review' }, { status: 'approved' }, { status: 'paid' }] }]
  ]
  for (const [path, shape] of singles) {
    const res = await call(`${queryUrl}${path}`)
    t.equal(res.status, 200, path)
    t.match(res.body, shape, path)
  }
})

t.test('MedCard benefits count approved claims against the annual limit', async (t) => {
  const { queryUrl } = await startBackends(t)
  const res = await call(`${queryUrl}/v1/api/medcards/mc-alice-1/benefits`)
  const byCategory = Object.fromEntries(res.body.benefits.map((b: { category: string }) => [b.category, b]))
  t.match(byCategory.inpatient, { annualLimit: 150_000, used: 14_800, remaining: 135_200 })
  t.match(byCategory.lab, { used: 512, remaining: 4_488 })
  t.match(byCategory.dental, { used: 0, remaining: 4_000 }, 'a merely submitted claim uses nothing yet')
})

t.test('a pending payment has no receipt yet (409)', async (t) => {
  const { queryUrl } = await startBackends(t)
  const payments = await call(`${queryUrl}/v1/api/payments?status=pending`)
  t.equal(payments.body.items.length, 1)
  const receipt = await call(`${queryUrl}/v1/api/payments/${payments.body.items[0].id}/receipt`)
  t.equal(receipt.status, 409)
  t.equal(receipt.body.type, 'https://healthpay.dev/problems/receipt-not-available')
})

t.test('cursor pagination walks a list without gaps or repeats', async (t) => {
  const { queryUrl } = await startBackends(t)
  const all = await call(`${queryUrl}/v1/api/wallets/w-alice-1/transactions?limit=100`)
  t.equal(all.body.items.length, 23)
  t.equal(all.body.nextCursor, null)
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const page: { body: { items: Array<{ id: string }>, nextCursor: string | null } } = await call(`${queryUrl}/v1/api/wallets/w-alice-1/transactions?limit=10${cursor === null ? '' : `&cursor=${cursor}`}`)
    t.ok(page.body.items.length <= 10)
    seen.push(...page.body.items.map((i) => i.id))
    cursor = page.body.nextCursor
    pages++
  } while (cursor !== null)
  t.equal(pages, 3)
  t.same(seen, all.body.items.map((i: { id: string }) => i.id))

  const deposits = await call(`${queryUrl}/v1/api/wallets/w-alice-1/transactions?type=deposit&limit=2`)
  t.ok(deposits.body.items.every((i: { type: string }) => i.type === 'deposit'))
  t.type(deposits.body.nextCursor, 'string')
  const next = await call(`${queryUrl}/v1/api/wallets/w-alice-1/transactions?type=deposit&limit=2&cursor=${deposits.body.nextCursor}`)
  t.equal(next.status, 200)
  t.notSame(next.body.items[0].id, deposits.body.items[0].id)

  const defaultPage = await call(`${queryUrl}/v1/api/transactions`)
  t.equal(defaultPage.body.items.length, 20, 'limit defaults to 20')

  const foreignCursor = await call(`${queryUrl}/v1/api/wallets/w-bob-1/transactions?cursor=${all.body.items[3].id}`)
  t.equal(foreignCursor.status, 400)
  t.equal(foreignCursor.body.type, 'https://healthpay.dev/problems/invalid-cursor')
  for (const limit of ['0', '101', 'ten']) {
    const bad = await call(`${queryUrl}/v1/api/wallets?limit=${limit}`)
    t.equal(bad.status, 400, `limit=${limit}`)
    t.match(bad.contentType, /^application\/problem\+json/)
    t.match(bad.body.violations, [{ in: 'querystring', field: '/limit' }])
  }
  const badType = await call(`${queryUrl}/v1/api/transactions?type=gift`)
  t.equal(badType.status, 400)
})

t.test('lists are scoped to the consumer unless admin or support', async (t) => {
  const { queryUrl } = await startBackends(t)
  const ownerIds = async (path: string, consumer?: string, roles?: string) =>
    new Set((await call(`${queryUrl}${path}`, { consumer, roles })).body.items.map((i: { ownerId?: string, payerId?: string }) => i.ownerId ?? i.payerId))
  t.same([...await ownerIds('/v1/api/wallets', 'u-alice')], ['u-alice'])
  t.same([...await ownerIds('/v1/api/transactions?limit=100', 'u-bob')], ['u-bob'])
  t.same([...await ownerIds('/v1/api/payments', 'u-carol')], ['u-carol'])
  t.same([...await ownerIds('/v1/api/medcards', 'u-alice')], ['u-alice'])
  t.same([...await ownerIds('/v1/api/claims', 'u-bob')], ['u-bob'])
  t.equal((await ownerIds('/v1/api/wallets', 'u-admin')).size, 3, 'admin (role from the store) sees everyone')
  t.equal((await ownerIds('/v1/api/wallets', 'u-ops', 'support')).size, 3, 'support (role from the gateway) sees everyone')
  t.equal((await ownerIds('/v1/api/wallets', 'u-carol', 'analyst')).size, 1, 'analyst is not privileged')
  t.equal((await ownerIds('/v1/api/wallets')).size, 3, 'a direct call without a consumer sees everything')
  t.equal((await ownerIds('/v1/api/wallets', 'partner-acme')).size, 0)
  t.equal((await call(`${queryUrl}/v1/api/providers`, { consumer: 'u-alice' })).body.items.length, 8, 'providers are a public directory')
})

t.test('unknown ids, strangers\' resources and unknown routes are 404 problems', async (t) => {
  const { queryUrl } = await startBackends(t)
  const paths = ['/v1/api/wallets/w-nope', '/v1/api/wallets/w-nope/balance', '/v1/api/wallets/w-nope/transactions', '/v1/api/transactions/t-99999',
    '/v1/api/payments/pay-9999', '/v1/api/payments/pay-9999/receipt', '/v1/api/medcards/mc-nope', '/v1/api/medcards/mc-nope/benefits',
    '/v1/api/claims/cl-9999', '/v1/api/claims/cl-9999/history']
  for (const path of paths) {
    const res = await call(`${queryUrl}${path}`)
    t.equal(res.status, 404, path)
    t.match(res.contentType, /^application\/problem\+json/)
    t.match(res.body, { status: 404, title: 'Not Found', instance: path, type: /^https:\/\/healthpay\.dev\/problems\/[a-z]+-not-found$/ })
  }
  const stranger = await call(`${queryUrl}/v1/api/wallets/w-bob-1`, { consumer: 'u-alice' })
  t.equal(stranger.status, 404)
  t.equal(stranger.body.detail, 'No wallet with id "w-bob-1"', 'indistinguishable from a missing wallet')
  t.equal((await call(`${queryUrl}/v1/api/claims/cl-0004/history`, { consumer: 'u-alice' })).status, 404)
  const route = await call(`${queryUrl}/v1/api/nothing-here?token=secret`)
  t.equal(route.status, 404)
  t.equal(route.body.instance, '/v1/api/nothing-here', 'the query string stays out of the problem')
})

t.test('analytics endpoints answer with aggregates that agree with the lists', async (t) => {
  const b = await startBackends(t, { now: () => NOW })
  const paymentCount = (await call(`${b.queryUrl}/v1/api/payments?limit=100`)).body.items.length
  t.equal(paymentCount, 27)
  const summary = await call(`${b.queryUrl}/v1/api/analytics/summary`)
  t.equal(summary.status, 200)
  t.match(summary.body, { generatedAt: new Date(NOW).toISOString(), wallets: { total: 5, active: 4, frozen: 1, closed: 0 }, payments: { total: paymentCount }, claims: { total: 7 } })
  t.same(summary.body.wallets.balances.find((x: { currency: string }) => x.currency === 'EGP'), { currency: 'EGP', amount: 4802.75 + 17509.25 + 300 + 1380 })

  const daily = await call(`${b.queryUrl}/v1/api/analytics/transactions/daily?days=30`)
  t.equal(daily.status, 200)
  t.equal(daily.body.items.length, 30)
  t.equal(daily.body.to, '2026-03-15')
  const egpTx = (await call(`${b.queryUrl}/v1/api/transactions?limit=100`)).body.items.filter((x: { currency: string }) => x.currency === 'EGP')
  t.equal(daily.body.items.reduce((s: number, d: { count: number }) => s + d.count, 0), egpTx.length, 'every EGP transaction of the last 30 days lands in one bucket')
  t.equal((await call(`${b.queryUrl}/v1/api/analytics/transactions/daily`)).body.items.length, 7, 'seven days by default')
  t.equal((await call(`${b.queryUrl}/v1/api/analytics/transactions/daily?days=0`)).status, 400)

  await call(`${b.commandUrl}/v1/commands/wallets/w-alice-1/deposit`, { body: { amount: 99.99 }, consumer: 'u-alice' })
  const after = await call(`${b.queryUrl}/v1/api/analytics/transactions/daily?days=1`)
  t.match(after.body.items, [{ date: '2026-03-15', credits: Number }])
  t.ok(after.body.items[0].credits >= 99.99, 'a new deposit shows up in today\'s bucket')

  const byMethod = await call(`${b.queryUrl}/v1/api/analytics/payments/by-method`)
  t.equal(byMethod.status, 200)
  t.same(byMethod.body.items.map((i: { method: string }) => i.method), ['wallet', 'card', 'medcard', 'fawry'])
  t.equal(byMethod.body.items.reduce((s: number, i: { count: number }) => s + i.count, 0), paymentCount)

  const byStatus = await call(`${b.queryUrl}/v1/api/analytics/claims/by-status`)
  t.equal(byStatus.status, 200)
  t.equal(byStatus.body.items.reduce((s: number, i: { count: number }) => s + i.count, 0), 7)
  t.match(byStatus.body.items.find((i: { status: string }) => i.status === 'paid'), { count: 3, approvedAmount: 14_800 + 1_710 + 312 })
})
