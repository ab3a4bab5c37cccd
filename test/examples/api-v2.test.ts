// API v2 of the sample services, next to v1 over one store: the same
// resources, with money as { amountMinor, currency } in v2 where v1 has a
// decimal; amountMinor in v2 commands; auth and GraphQL the same in both.
import { once } from 'node:events'
import t from 'tap'
import { toMoneyV2 } from '../../examples/money.js'
import { createStore } from '../../examples/store.js'
import { SECRET, call, openGraphqlSocket, startBackends, verifyHs256, type Backends } from './helpers.js'

const NOW = Date.parse('2026-03-15T12:00:00Z')
const ALICE = 'u-alice'
const egp = (amountMinor: number) => ({ amountMinor, currency: 'EGP' })
const usd = (amountMinor: number) => ({ amountMinor, currency: 'USD' })

function command (b: Backends, version: 'v1' | 'v2', path: string, body?: unknown, consumer = ALICE) {
  return call(`${b.commandUrl}/${version}/commands/wallets${path}`, { method: 'POST', body, consumer })
}

/** An independent oracle for the v2 shape: each named field of a v1 object as { amountMinor, currency }. */
function asV2 (v1: Record<string, any>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...v1 }
  for (const f of fields) out[f] = { amountMinor: Math.round(v1[f] * 100), currency: v1.currency }
  return out
}

t.test('v1 and v2 answer the same wallet, balance and transaction with the two money shapes', async (t) => {
  const b = await startBackends(t, { now: () => NOW })
  const created = await command(b, 'v1', '', { currency: 'EGP' })
  const id: string = created.body.wallet.id
  const deposit = await command(b, 'v1', `/${id}/deposit`, { amount: 125.5 })
  t.equal(deposit.status, 202)

  const v1 = await call(`${b.queryUrl}/v1/api/wallets/${id}`, { consumer: ALICE })
  const v2 = await call(`${b.queryUrl}/v2/api/wallets/${id}`, { consumer: ALICE })
  t.equal(v2.status, 200)
  t.equal(v1.body.balance, 125.5)
  t.same(v2.body.balance, { amountMinor: 12550, currency: 'EGP' })
  t.same({ ...v2.body, balance: v1.body.balance }, v1.body, 'the money field is the only difference')
  t.same(Object.keys(v2.body), Object.keys(v1.body), 'same fields, same order')

  const balanceV1 = await call(`${b.queryUrl}/v1/api/wallets/${id}/balance`, { consumer: ALICE })
  const balanceV2 = await call(`${b.queryUrl}/v2/api/wallets/${id}/balance`, { consumer: ALICE })
  t.match(balanceV1.body, { walletId: id, currency: 'EGP', balance: 125.5, available: 125.5, status: 'active' })
  t.same(balanceV2.body, { ...balanceV1.body, balance: egp(12550), available: egp(12550) })

  const txId: string = deposit.body.transaction.id
  const txV1 = await call(`${b.queryUrl}/v1/api/transactions/${txId}`, { consumer: ALICE })
  const txV2 = await call(`${b.queryUrl}/v2/api/transactions/${txId}`, { consumer: ALICE })
  t.match(txV1.body, { amount: 125.5, balanceAfter: 125.5 })
  t.same(txV2.body, { ...txV1.body, amount: egp(12550), balanceAfter: egp(12550) })

  // a frozen wallet: nothing available, in both shapes; a USD wallet keeps its currency
  t.match((await call(`${b.queryUrl}/v2/api/wallets/w-bob-2/balance`)).body, { status: 'frozen', balance: egp(30000), available: egp(0) })
  t.same((await call(`${b.queryUrl}/v2/api/wallets/w-alice-2`)).body.balance, usd(16450))
  // 180.4 * 100 is 18040.000000000004 in floating point: the conversion is exact anyway
  t.same((await call(`${b.queryUrl}/v2/api/payments/pay-0023`)).body.amount, egp(18040))
})

t.test('every REST read: v2 differs from v1 in the money fields only', async (t) => {
  const b = await startBackends(t, { now: () => NOW })
  const converted: Array<[string, string[]]> = [
    ['/api/wallets?limit=100', ['balance']],
    ['/api/wallets/w-alice-1', ['balance']],
    ['/api/wallets/w-alice-1/balance', ['balance', 'available']],
    ['/api/wallets/w-alice-1/transactions?limit=100', ['amount', 'balanceAfter']],
    ['/api/transactions?limit=100', ['amount', 'balanceAfter']],
    ['/api/transactions/t-00002', ['amount', 'balanceAfter']],
    ['/api/payments?limit=100', ['amount']],
    ['/api/payments/pay-0001', ['amount']],
    ['/api/payments/pay-0001/receipt', ['amount']]
  ]
  for (const [path, fields] of converted) {
    const v1 = await call(`${b.queryUrl}/v1${path}`)
    const v2 = await call(`${b.queryUrl}/v2${path}`)
    t.equal(v2.status, 200, path)
    if (Array.isArray(v1.body.items)) {
      t.ok(v1.body.items.length > 1, `${path} has items`)
      t.same(v2.body, { items: v1.body.items.map((item: Record<string, unknown>) => asV2(item, fields)), nextCursor: v1.body.nextCursor }, path)
    } else {
      // a receipt's issuedAt is "now": the fixed clock makes it equal in both
      t.same(v2.body, asV2(v1.body, fields), path)
    }
  }
  t.same((await call(`${b.queryUrl}/v2/api/transactions/t-00002`)).body, {
    ...(await call(`${b.queryUrl}/v1/api/transactions/t-00002`)).body, amount: egp(5225), balanceAfter: egp(494775)
  }, 'exact values: 52.25 and 4947.75 EGP')
  t.same((await call(`${b.queryUrl}/v2/api/payments/pay-0001/receipt`)).body.amount, egp(5225))

  const unchanged = ['/api/medcards', '/api/medcards/mc-alice-1', '/api/medcards/mc-alice-1/benefits', '/api/claims', '/api/claims/cl-0001',
    '/api/claims/cl-0001/history', '/api/providers', '/api/analytics/summary', '/api/analytics/transactions/daily?days=30',
    '/api/analytics/payments/by-method', '/api/analytics/claims/by-status']
  for (const path of unchanged) {
    const v1 = await call(`${b.queryUrl}/v1${path}`)
    const v2 = await call(`${b.queryUrl}/v2${path}`)
    t.equal(v2.status, 200, path)
    t.same(v2.body, v1.body, `${path} is the same in v2`)
  }

  const missing = await call(`${b.queryUrl}/v2/api/wallets/w-bob-1`, { consumer: ALICE })
  t.equal(missing.status, 404, 'scoping is the same in v2')
  t.match(missing.body, { type: 'https://healthpay.dev/problems/wallet-not-found', instance: '/v2/api/wallets/w-bob-1' })
  t.equal((await call(`${b.queryUrl}/v3/api/wallets`)).status, 404, 'no other version')
})

t.test('v2 commands take amountMinor and answer with money objects; v1 shapes are refused', async (t) => {
  const b = await startBackends(t)
  const deposit = await command(b, 'v2', '/w-alice-1/deposit', { amountMinor: 2550, reference: 'top-up-v2' })
  t.equal(deposit.status, 202)
  t.equal(deposit.body.status, 'accepted')
  t.same(deposit.body.wallet.balance, egp(482825))
  t.match(deposit.body.transaction, { type: 'deposit', amount: egp(2550), balanceAfter: egp(482825), reference: 'top-up-v2' })
  t.equal((await call(`${b.queryUrl}/v1/api/wallets/w-alice-1/balance`)).body.balance, 4828.25, 'v1 reads what v2 wrote')

  const v1Shape = await command(b, 'v2', '/w-alice-1/deposit', { amount: 25.5 })
  t.equal(v1Shape.status, 400)
  t.match(v1Shape.contentType, /^application\/problem\+json/)
  t.match(v1Shape.body, { type: 'https://healthpay.dev/problems/validation-failed', instance: '/v2/commands/wallets/w-alice-1/deposit' })
  t.same(v1Shape.body.violations.map((v: { field: string }) => v.field).sort(), ['/', '/amountMinor'], 'amountMinor is missing and amount is not allowed')

  for (const amountMinor of [25.5, '2550', 0, -100, 100_000_000_001, null]) {
    const res = await command(b, 'v2', '/w-alice-1/deposit', { amountMinor })
    t.equal(res.status, 400, `amountMinor ${JSON.stringify(amountMinor)}`)
    t.match(res.body.violations, [{ in: 'body', field: '/amountMinor' }])
  }
  const v2ShapeOnV1 = await command(b, 'v1', '/w-alice-1/deposit', { amountMinor: 2550 })
  t.equal(v2ShapeOnV1.status, 400, 'v1 still takes amount only')
  t.equal((await call(`${b.queryUrl}/v1/api/wallets/w-alice-1/balance`)).body.balance, 4828.25, 'no refused command changed the balance')

  const withdraw = await command(b, 'v2', '/w-alice-1/withdraw', { amountMinor: 2825 })
  t.equal(withdraw.status, 202)
  t.match(withdraw.body.transaction, { type: 'withdrawal', amount: egp(2825), balanceAfter: egp(480000) })

  const transfer = await command(b, 'v2', '/w-alice-1/transfer', { toWalletId: 'w-carol-1', amountMinor: 4050 })
  t.equal(transfer.status, 202)
  t.same(transfer.body.wallet.balance, egp(475950))
  t.match(transfer.body.transaction, { type: 'transfer_out', amount: egp(4050) })
  t.same(Object.keys(transfer.body.counterparty).sort(), ['transactionId', 'walletId'])
  t.same((await call(`${b.queryUrl}/v2/api/wallets/w-carol-1/balance`)).body.balance, egp(142050))
  t.equal((await command(b, 'v2', '/w-alice-1/transfer', { toWalletId: 'w-carol-1', amount: 40.5 })).status, 400)

  const tooMuch = await command(b, 'v2', '/w-alice-1/withdraw', { amountMinor: 475951 })
  t.equal(tooMuch.status, 409)
  t.match(tooMuch.body, {
    type: 'https://healthpay.dev/problems/insufficient-funds',
    instance: '/v2/commands/wallets/w-alice-1/withdraw',
    balance: egp(475950),
    requested: egp(475951),
    currency: 'EGP'
  })
  const tooMuchV1 = await command(b, 'v1', '/w-alice-1/withdraw', { amount: 4759.51 })
  t.match(tooMuchV1.body, { balance: 4759.5, requested: 4759.51, currency: 'EGP' }, 'v1 reports the same conflict in decimals')
})

t.test('v2 wallet creation points Location at /v2/api/wallets/<id>', async (t) => {
  const b = await startBackends(t)
  const created = await command(b, 'v2', '', { currency: 'USD' })
  t.equal(created.status, 201)
  const id: string = created.body.wallet.id
  t.equal(created.headers.get('location'), `/v2/api/wallets/${id}`)
  t.match(created.body.wallet, { id, ownerId: ALICE, currency: 'USD', balance: usd(0), status: 'active' })
  const followed = await call(`${b.queryUrl}${created.headers.get('location') ?? ''}`, { consumer: ALICE })
  t.equal(followed.status, 200)
  t.same(followed.body.balance, usd(0))
  t.equal((await command(b, 'v1', '', { currency: 'USD' })).headers.get('location'), `/v1/api/wallets/w-alice-4`, 'v1 keeps its own')

  await command(b, 'v2', `/${id}/deposit`, { amountMinor: 1 })
  const notEmpty = await command(b, 'v2', `/${id}/close`)
  t.equal(notEmpty.status, 409)
  t.match(notEmpty.body, { type: 'https://healthpay.dev/problems/wallet-not-empty', balance: usd(1) })
  await command(b, 'v2', `/${id}/withdraw`, { amountMinor: 1 })
  const closed = await command(b, 'v2', `/${id}/close`, {})
  t.equal(closed.status, 202)
  t.match(closed.body.wallet, { status: 'closed', balance: usd(0) })
})

t.test('/v2/auth/* is v1 auth under another prefix', async (t) => {
  const b = await startBackends(t, { issuer: 'healthpay-test', audience: 'healthpay-api' })
  const login = await call(`${b.commandUrl}/v2/auth/login`, { body: { username: 'bob', password: 'demo-password' } })
  t.equal(login.status, 200)
  t.equal(login.headers.get('cache-control'), 'no-store')
  t.match(login.body, { tokenType: 'Bearer', expiresIn: 900, refreshToken: String })
  t.match(verifyHs256(login.body.accessToken, SECRET), { sub: 'u-bob', iss: 'healthpay-test', aud: 'healthpay-api' })

  const me = { id: 'u-bob', username: 'bob', roles: ['customer'], tier: 'premium' }
  t.same((await call(`${b.commandUrl}/v2/auth/me`, { token: login.body.accessToken })).body, me)
  t.same((await call(`${b.commandUrl}/v1/auth/me`, { token: login.body.accessToken })).body, me, 'a v2 token is good on v1 too')
  const viaToken = await call(`${b.commandUrl}/v2/commands/wallets/w-bob-1/deposit`, { body: { amountMinor: 100 }, token: login.body.accessToken })
  t.equal(viaToken.status, 202, 'and on v2 commands')

  const refreshed = await call(`${b.commandUrl}/v2/auth/refresh`, { body: { refreshToken: login.body.refreshToken } })
  t.equal(refreshed.status, 200)
  t.equal((await call(`${b.commandUrl}/v1/auth/refresh`, { body: { refreshToken: login.body.refreshToken } })).status, 401, 'one refresh-token store behind both versions')
  t.equal((await call(`${b.commandUrl}/v2/auth/logout`, { body: { refreshToken: refreshed.body.refreshToken } })).status, 204)

  const wrong = await call(`${b.commandUrl}/v2/auth/login`, { body: { username: 'bob', password: 'nope' } })
  t.equal(wrong.status, 401)
  t.match(wrong.body, { type: 'https://healthpay.dev/problems/invalid-credentials', instance: '/v2/auth/login' })
})

t.test('/v2/graphql answers over HTTP exactly as /v1/graphql does', async (t) => {
  const { queryUrl } = await startBackends(t)
  const query = `query ($w: ID!) {
    wallet(id: $w) { id balance currency transactions(limit: 2) { type amount balanceAfter } }
    claim(id: "cl-0001") { amount approvedAmount }
  }`
  const v1 = await call(`${queryUrl}/v1/graphql`, { body: { query, variables: { w: 'w-alice-1' } } })
  const v2 = await call(`${queryUrl}/v2/graphql`, { body: { query, variables: { w: 'w-alice-1' } } })
  t.equal(v2.status, 200)
  t.match(v2.contentType, /^application\/json/)
  t.same(v2.body, v1.body)
  t.match(v2.body.data.wallet, { id: 'w-alice-1', balance: 4802.75, currency: 'EGP' }, 'GraphQL money stays a decimal in v2')

  const params = new URLSearchParams({ query: '{ wallet(id: "w-carol-1") { balance } }' })
  t.same((await call(`${queryUrl}/v2/graphql?${params.toString()}`)).body, { data: { wallet: { balance: 1380 } } }, 'GET too')

  const subscription = await call(`${queryUrl}/v2/graphql`, { body: { query: 'subscription { walletUpdated { event } }' } })
  t.equal(subscription.status, 400)
  t.match(subscription.body.errors, [{ message: /connect to \/v2\/graphql with the graphql-transport-ws/ }], 'points at its own path')
})

t.test('/v2/graphql speaks graphql-transport-ws over WebSocket', async (t) => {
  const b = await startBackends(t)
  const { ws, nextMessage } = await openGraphqlSocket(t, `${b.queryUrl.replace('http', 'ws')}/v2/graphql`, ALICE)

  // a query over the socket: one `next`, then `complete`
  ws.send(JSON.stringify({ id: 'q-1', type: 'subscribe', payload: { query: '{ wallet(id: "w-alice-2") { balance currency } }' } }))
  t.same(await nextMessage(), { id: 'q-1', type: 'next', payload: { data: { wallet: { balance: 164.5, currency: 'USD' } } } })
  t.same(await nextMessage(), { id: 'q-1', type: 'complete' })

  const closed = once(ws, 'close')
  ws.close(1000)
  const [code] = await closed
  t.equal(code, 1000)
})

t.test('the store takes a v2 amount as { minor } and checks it like a v1 decimal', async (t) => {
  const store = createStore()
  t.equal(store.deposit('w-carol-1', { minor: 1 }).wallet.balance, 1380.01)
  t.equal(store.withdraw('w-carol-1', { minor: 101 }).wallet.balance, 1379)
  t.equal(store.transfer('w-carol-1', 'w-bob-1', { minor: 100_000 }).wallet.balance, 379)
  const thrownBy = (fn: () => unknown): unknown => {
    try { fn() } catch (err) { return err }
    return undefined
  }
  for (const minor of [0, -1, 1.5, Number.NaN, 100_000_000_001]) {
    t.match(thrownBy(() => store.deposit('w-carol-1', { minor })), { status: 400, slug: 'invalid-amount' }, String(minor))
  }
  t.match(thrownBy(() => store.deposit('w-nobody', { minor: 0 })), { status: 404, slug: 'wallet-not-found' }, 'an unknown wallet is reported before a bad amount, as in v1')
  t.equal(store.findWallet('w-carol-1')?.balance, 379, 'no refused amount changed the balance')
  t.same(toMoneyV2(12550, 'EGP'), { amountMinor: 12550, currency: 'EGP' })
})
