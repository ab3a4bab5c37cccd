// Each wallet command goes to the command service over HTTP, and its effect is
// then read back from the query service: both share one store, as in the demo.
import t from 'tap'
import { call, startBackends, type Backends } from './helpers.js'

const ALICE = 'u-alice'

async function balanceOf (b: Backends, walletId: string, consumer = ALICE) {
  const res = await call(`${b.queryUrl}/v1/api/wallets/${walletId}/balance`, { consumer })
  return res.body
}

function command (b: Backends, path: string, body?: unknown, consumer = ALICE) {
  return call(`${b.commandUrl}/v1/commands/wallets${path}`, { method: 'POST', body, consumer })
}

t.test('create, deposit, withdraw, transfer, freeze, unfreeze and close, each seen by the query service', async (t) => {
  const b = await startBackends(t)

  const created = await command(b, '', { currency: 'EGP' })
  t.equal(created.status, 201)
  t.equal(created.body.status, 'accepted')
  t.match(created.body.commandId, /^cmd-[0-9a-f-]{36}$/)
  t.match(created.body.wallet, { ownerId: ALICE, currency: 'EGP', balance: 0, status: 'active' })
  const id: string = created.body.wallet.id
  t.equal(created.headers.get('location'), `/v1/api/wallets/${id}`)
  const read = await call(`${b.queryUrl}/v1/api/wallets/${id}`, { consumer: ALICE })
  t.equal(read.status, 200)
  t.equal(read.body.ownerId, ALICE)

  const deposit = await command(b, `/${id}/deposit`, { amount: 100.07, reference: 'top-up-1' })
  t.equal(deposit.status, 202)
  t.equal(deposit.body.wallet.balance, 100.07)
  t.match(deposit.body.transaction, { type: 'deposit', amount: 100.07, balanceAfter: 100.07, reference: 'top-up-1' })
  t.equal((await balanceOf(b, id)).balance, 100.07)

  const withdraw = await command(b, `/${id}/withdraw`, { amount: 0.07 })
  t.equal(withdraw.status, 202)
  t.equal((await balanceOf(b, id)).balance, 100)

  const carolBefore = (await balanceOf(b, 'w-carol-1', 'u-carol')).balance
  const transfer = await command(b, `/${id}/transfer`, { toWalletId: 'w-carol-1', amount: 40.5 })
  t.equal(transfer.status, 202)
  t.equal(transfer.body.wallet.balance, 59.5)
  t.same(Object.keys(transfer.body.counterparty).sort(), ['transactionId', 'walletId'], 'the receiving balance is not disclosed to the sender')
  t.equal((await balanceOf(b, id)).balance, 59.5)
  t.equal((await balanceOf(b, 'w-carol-1', 'u-carol')).balance, carolBefore + 40.5)
  const carolTx = await call(`${b.queryUrl}/v1/api/transactions/${transfer.body.counterparty.transactionId}`, { consumer: 'u-carol' })
  t.match(carolTx.body, { type: 'transfer_in', amount: 40.5, counterpartyWalletId: id })

  const freeze = await command(b, `/${id}/freeze`, { reason: 'lost phone' })
  t.equal(freeze.status, 202)
  t.match(await balanceOf(b, id), { status: 'frozen', balance: 59.5, available: 0 })
  const frozenDeposit = await command(b, `/${id}/deposit`, { amount: 1 })
  t.equal(frozenDeposit.status, 409)
  t.equal(frozenDeposit.body.type, 'https://healthpay.dev/problems/wallet-frozen')

  const unfreeze = await command(b, `/${id}/unfreeze`)
  t.equal(unfreeze.status, 202)
  t.match(await balanceOf(b, id), { status: 'active', available: 59.5 })

  const notEmpty = await command(b, `/${id}/close`, {})
  t.equal(notEmpty.status, 409)
  t.equal(notEmpty.body.type, 'https://healthpay.dev/problems/wallet-not-empty')
  await command(b, `/${id}/withdraw`, { amount: 59.5 })
  const close = await command(b, `/${id}/close`)
  t.equal(close.status, 202)
  t.equal(close.body.wallet.status, 'closed')
  t.match(await balanceOf(b, id), { status: 'closed', balance: 0 })
  const closedDeposit = await command(b, `/${id}/deposit`, { amount: 1 })
  t.equal(closedDeposit.status, 409)
  t.equal(closedDeposit.body.type, 'https://healthpay.dev/problems/wallet-closed')

  const history = await call(`${b.queryUrl}/v1/api/wallets/${id}/transactions`, { consumer: ALICE })
  t.same(history.body.items.map((x: { type: string }) => x.type), ['withdrawal', 'transfer_out', 'withdrawal', 'deposit'], 'newest first')
})

t.test('insufficient funds is a 409 problem and changes nothing', async (t) => {
  const b = await startBackends(t)
  const before = await balanceOf(b, 'w-alice-1')
  const res = await command(b, '/w-alice-1/withdraw', { amount: before.balance + 0.01 })
  t.equal(res.status, 409)
  t.match(res.contentType, /^application\/problem\+json/)
  t.match(res.body, { type: 'https://healthpay.dev/problems/insufficient-funds', title: 'Conflict', status: 409, instance: '/v1/commands/wallets/w-alice-1/withdraw', balance: before.balance })
  t.type(res.body.detail, 'string')
  const transfer = await command(b, '/w-alice-1/transfer', { toWalletId: 'w-carol-1', amount: before.balance + 1 })
  t.equal(transfer.status, 409)
  t.same(await balanceOf(b, 'w-alice-1'), before)
})

t.test('a transfer across currencies fails before either wallet changes', async (t) => {
  const b = await startBackends(t)
  const res = await command(b, '/w-alice-1/transfer', { toWalletId: 'w-alice-2', amount: 1 })
  t.equal(res.status, 409)
  t.equal(res.body.type, 'https://healthpay.dev/problems/currency-mismatch')
  const same = await command(b, '/w-alice-1/transfer', { toWalletId: 'w-alice-1', amount: 1 })
  t.equal(same.status, 400)
})

t.test('unknown ids, and other people\'s wallets, are 404 problems', async (t) => {
  const b = await startBackends(t)
  const unknown = await command(b, '/w-nobody-9/deposit', { amount: 5 })
  t.equal(unknown.status, 404)
  t.match(unknown.contentType, /^application\/problem\+json/)
  t.match(unknown.body, { type: 'https://healthpay.dev/problems/wallet-not-found', status: 404, title: 'Not Found', instance: '/v1/commands/wallets/w-nobody-9/deposit' })

  const toUnknown = await command(b, '/w-alice-1/transfer', { toWalletId: 'w-nobody-9', amount: 5 })
  t.equal(toUnknown.status, 404)

  const bobs = await command(b, '/w-bob-1/withdraw', { amount: 5 })
  t.equal(bobs.status, 404, 'alice cannot move money out of bob\'s wallet')
  const asSupport = await command(b, '/w-bob-1/deposit', { amount: 5 }, 'u-support-1')
  t.equal(asSupport.status, 404, 'a consumer without roles is not privileged')
  const asAdmin = await call(`${b.commandUrl}/v1/commands/wallets/w-bob-2/unfreeze`, { method: 'POST', consumer: 'u-ops', roles: 'support' })
  t.equal(asAdmin.status, 202, 'support may act on any wallet')

  const forOther = await command(b, '', { currency: 'USD', ownerId: 'u-bob' })
  t.equal(forOther.status, 403)
  const byAdmin = await command(b, '', { currency: 'USD', ownerId: 'u-bob' }, 'u-admin')
  t.equal(byAdmin.status, 201)
  t.equal(byAdmin.body.wallet.ownerId, 'u-bob')

  const anonymous = await call(`${b.commandUrl}/v1/commands/wallets/w-alice-1/deposit`, { body: { amount: 1 } })
  t.equal(anonymous.status, 401)
  t.match(anonymous.contentType, /^application\/problem\+json/)
})

t.test('invalid bodies and params are 400 problems listing each violation', async (t) => {
  const b = await startBackends(t)
  const cases: Array<[string, unknown, string]> = [
    ['/w-alice-1/deposit', { amount: -5 }, '/amount'],
    ['/w-alice-1/deposit', { amount: 0 }, '/amount'],
    ['/w-alice-1/deposit', { amount: 10.555 }, '/amount'],
    ['/w-alice-1/deposit', { amount: '10' }, '/amount'],
    ['/w-alice-1/deposit', {}, '/amount'],
    ['/w-alice-1/deposit', { amount: 1, extra: true }, '/'],
    ['/w-alice-1/transfer', { amount: 1 }, '/toWalletId'],
    ['/w-alice-1/freeze', {}, '/reason'],
    ['', { currency: 'XYZ' }, '/currency'],
    ['/w alice/deposit', { amount: 1 }, '/walletId']
  ]
  for (const [path, body, field] of cases) {
    const res = await command(b, path.replace(' ', '%20'), body)
    t.equal(res.status, 400, `${path} ${JSON.stringify(body)}`)
    t.match(res.contentType, /^application\/problem\+json/)
    t.equal(res.body.type, 'https://healthpay.dev/problems/validation-failed')
    t.ok(res.body.violations.some((v: { field: string }) => v.field === field), `names ${field}`)
  }
  const both = await command(b, '/w-alice-1/transfer', { amount: -1 })
  t.equal(both.body.violations.length, 2, 'every violation is reported, not only the first')
  const badJson = await fetch(`${b.commandUrl}/v1/commands/wallets/w-alice-1/deposit`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-consumer-id': ALICE }, body: '{"amount":' })
  t.equal(badJson.status, 400)
  t.match(badJson.headers.get('content-type'), /^application\/problem\+json/)
  t.equal((await balanceOf(b, 'w-alice-1')).balance, 4802.75, 'no invalid command changed the balance')
})
