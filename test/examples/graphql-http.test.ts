// GraphQL over HTTP on the query service: the 15 queries answer what the REST
// reads answer, the 15 mutations change the shared store through the same store
// commands as REST and are refused the same way (404 for a stranger's resource,
// 403 for a missing role, 409 for a broken rule, 400 for bad input), with the
// REST problem's status and slug in each error's `extensions`.
import t from 'tap'
import { call, startBackends } from './helpers.js'

async function gql (url: string, query: string, variables?: Record<string, unknown>, consumer?: string, roles?: string) {
  return await call(`${url}/v1/graphql`, { method: 'POST', body: { query, variables }, consumer, roles })
}

/** The one error of a GraphQL answer, as `{ message, code, status, problem }` plus the problem's members. */
function errorOf (res: { body: { errors?: Array<{ message: string, extensions?: Record<string, unknown> }> } }): Record<string, unknown> {
  t.equal(res.body.errors?.length, 1, 'one error')
  const [error] = res.body.errors ?? []
  return { message: error?.message, ...error?.extensions }
}

t.test('queries over POST resolve wallets, transactions, claims and MedCards from the store', async (t) => {
  const { queryUrl } = await startBackends(t)
  const res = await gql(queryUrl, `query Overview($w: ID!) {
    wallet(id: $w) { id ownerId balance currency status transactions(limit: 2) { type amount } }
    transactions(walletId: $w, type: "deposit", limit: 3) { id type amount balanceAfter }
    claim(id: "cl-0001") { status approvedAmount provider { name } history { status } }
    medcard(id: "mc-bob-1") { plan benefits { category coveragePercent used remaining } }
    wallets(ownerId: "u-bob") { id status }
  }`, { w: 'w-alice-1' })
  t.equal(res.status, 200)
  t.match(res.contentType, /^application\/json/)
  t.equal(res.body.errors, undefined)
  const d = res.body.data
  t.match(d.wallet, { id: 'w-alice-1', ownerId: 'u-alice', balance: 4802.75, currency: 'EGP', status: 'active' })
  t.same(d.wallet.transactions, [{ type: 'withdrawal', amount: 300 }, { type: 'payment', amount: 297.25 }], 'newest first')
  t.equal(d.transactions.length, 3)
  t.ok(d.transactions.every((x: { type: string }) => x.type === 'deposit'))
  t.same(d.claim, { status: 'paid', approvedAmount: 14_800, provider: { name: 'Cairo Care Hospital' }, history: [{ status: 'submitted' }, { status: 'in_review' }, { status: 'approved' }, { status: 'paid' }] })
  t.equal(d.medcard.plan, 'platinum')
  t.match(d.medcard.benefits.find((b: { category: string }) => b.category === 'outpatient'), { coveragePercent: 90, used: 1_710 })
  t.same(d.wallets, [{ id: 'w-bob-1', status: 'active' }, { id: 'w-bob-2', status: 'frozen' }])
})

t.test('GET runs a query from the query string', async (t) => {
  const { queryUrl } = await startBackends(t)
  const params = new URLSearchParams({ query: 'query($id: ID!) { wallet(id: $id) { id balance } }', variables: JSON.stringify({ id: 'w-carol-1' }) })
  const res = await call(`${queryUrl}/v1/graphql?${params.toString()}`)
  t.equal(res.status, 200)
  t.same(res.body, { data: { wallet: { id: 'w-carol-1', balance: 1380 } } })
  const badVariables = await call(`${queryUrl}/v1/graphql?query=${encodeURIComponent('{ providers { id } }')}&variables=%5B1%5D`)
  t.equal(badVariables.status, 400)
  t.match(badVariables.body.errors, [{ message: /variables must be a JSON object/ }])
})

t.test('a consumer sees only its own resources through GraphQL too', async (t) => {
  const { queryUrl } = await startBackends(t)
  const res = await gql(queryUrl, '{ mine: wallets { ownerId } bobs: wallet(id: "w-bob-1") { id } bobTx: transactions(walletId: "w-bob-1") { id } claim(id: "cl-0004") { id } }', undefined, 'u-alice')
  t.equal(res.status, 200)
  t.same(new Set(res.body.data.mine.map((w: { ownerId: string }) => w.ownerId)), new Set(['u-alice']))
  t.equal(res.body.data.bobs, null)
  t.same(res.body.data.bobTx, [])
  t.equal(res.body.data.claim, null)
})

t.test('malformed, invalid and misplaced operations are 400 with GraphQL errors', async (t) => {
  const { queryUrl } = await startBackends(t)
  const syntax = await gql(queryUrl, '{ wallet(id: "w-alice-1") { id ')
  t.equal(syntax.status, 400)
  t.match(syntax.body.errors, [{ message: /Syntax Error/ }])

  const unknownField = await gql(queryUrl, '{ wallet(id: "w-alice-1") { pin } }')
  t.equal(unknownField.status, 400)
  t.match(unknownField.body.errors, [{ message: /Cannot query field "pin"/ }])

  const subscription = await gql(queryUrl, 'subscription { walletUpdated { event } }')
  t.equal(subscription.status, 400)
  t.match(subscription.body.errors, [{ message: /WebSocket/ }])

  const missingQuery = await call(`${queryUrl}/v1/graphql`, { method: 'POST', body: { variables: {} } })
  t.equal(missingQuery.status, 400)
  t.match(missingQuery.contentType, /^application\/problem\+json/)

  const huge = await gql(queryUrl, `{ ${'id '.repeat(2500)} }`)
  t.equal(huge.status, 400, 'a document past the token budget is refused while parsing')
  t.match(huge.body.errors, [{ message: /2000 tokens/ }])

  const tooMany = await gql(queryUrl, '{ wallets(limit: 500) { id } }')
  t.equal(tooMany.status, 200, 'a resolver error is an execution error, reported in the body')
  t.match(tooMany.body, { data: null, errors: [{ message: /limit must be/, path: ['wallets'] }] })
})

const FIXED_NOW = Date.parse('2026-03-15T12:00:00Z')

t.test('the new queries answer what the REST reads answer', async (t) => {
  const { queryUrl, store } = await startBackends(t, { now: () => FIXED_NOW })
  // as admin, who sees everything, on both sides
  const rest = async (path: string) => (await call(`${queryUrl}/v1/api${path}`, { consumer: 'u-admin' })).body
  const firstPage = await rest('/payments?method=wallet&limit=3')
  const paymentId: string = firstPage.items[0].id
  const transactionId = store.listTransactions().find((x) => x.ownerId === 'u-alice')!.id
  const res = await gql(queryUrl, `query ($p: ID!, $t: ID!, $after: ID) {
    walletBalance(walletId: "w-bob-2") { walletId currency balance available status version asOf }
    transaction(id: $t) { id walletId ownerId type amount currency balanceAfter reference description counterpartyWalletId paymentId createdAt }
    recent: transactions(limit: 5) { id }
    payments(method: "wallet", limit: 3) { id }
    page2: payments(method: "wallet", limit: 3, after: $after) { id }
    payment(id: $p) { id payerId walletId providerId amount currency method status description createdAt completedAt provider { name } transactions { id type paymentId } }
    receipt(paymentId: $p) { receiptNumber paymentId payerId provider { id name city } amount currency method walletId status description paidAt issuedAt }
    medcards(status: "active") { id status }
    medcardBenefits(medcardId: "mc-alice-1") { medcardId plan status currency validTo benefits { category coveragePercent annualLimit used remaining } }
    claims(status: "approved") { id status }
    providers(acceptsMedcard: false) { id }
  }`, { p: paymentId, t: transactionId, after: firstPage.items[2].id }, 'u-admin')
  t.equal(res.status, 200)
  t.equal(res.body.errors, undefined)
  const d = res.body.data
  t.same(d.walletBalance, await rest('/wallets/w-bob-2/balance'), 'a frozen wallet: nothing available')
  t.same(d.transaction, await rest(`/transactions/${transactionId}`))
  t.same(d.recent.map((x: { id: string }) => x.id), (await rest('/transactions?limit=5')).items.map((x: { id: string }) => x.id))
  t.same(d.payments.map((p: { id: string }) => p.id), firstPage.items.map((p: { id: string }) => p.id))
  const secondPage = await rest(`/payments?method=wallet&limit=3&cursor=${firstPage.nextCursor as string}`)
  t.same(d.page2.map((p: { id: string }) => p.id), secondPage.items.map((p: { id: string }) => p.id), '`after` pages like REST\'s cursor')
  const { provider, transactions, ...payment } = d.payment
  t.same(payment, await rest(`/payments/${paymentId}`))
  t.equal(provider.name.length > 0, true)
  t.same(transactions, [{ id: transactions[0].id, type: 'payment', paymentId }], 'the ledger line of a wallet payment')
  t.same(d.receipt, await rest(`/payments/${paymentId}/receipt`))
  t.same(d.medcards.map((m: { id: string }) => m.id), (await rest('/medcards?status=active')).items.map((m: { id: string }) => m.id))
  t.same(d.medcardBenefits, await rest('/medcards/mc-alice-1/benefits'))
  t.same(d.claims.map((c: { id: string }) => c.id), (await rest('/claims?status=approved')).items.map((c: { id: string }) => c.id))
  t.same(d.providers, [{ id: 'prv-delta-eye' }])

  const analytics = await gql(queryUrl, '{ analyticsSummary { generatedAt wallets { total active frozen closed balances { currency amount } } transactions { total byType { type count } } payments { total completed completedVolume { currency amount } } claims { total open approvedAmount { currency amount } } medcards { total active } } }', undefined, 'u-carol')
  t.equal(analytics.body.errors, undefined, 'carol is an analyst')
  const summary = await rest('/analytics/summary')
  t.same(analytics.body.data.analyticsSummary, { ...summary, transactions: { total: summary.transactions.total, byType: Object.entries(summary.transactions.byType).map(([type, count]) => ({ type, count })) } })
})

t.test('the new queries hide a stranger\'s resources; analytics needs analyst or admin', async (t) => {
  const { queryUrl, store } = await startBackends(t)
  const bobsTransaction = store.listTransactions().find((x) => x.ownerId === 'u-bob')!.id
  const bobsPayment = store.listPayments().find((p) => p.payerId === 'u-bob')!.id
  const res = await gql(queryUrl, `{
    walletBalance(walletId: "w-bob-1") { balance } transaction(id: "${bobsTransaction}") { id } payment(id: "${bobsPayment}") { id } receipt(paymentId: "${bobsPayment}") { amount }
    medcardBenefits(medcardId: "mc-bob-1") { plan } payments { payerId } claims { ownerId } medcards { ownerId } transactions(limit: 100) { ownerId }
    analyticsSummary { generatedAt }
  }`, undefined, 'u-alice')
  t.equal(res.status, 200)
  const d = res.body.data
  for (const field of ['walletBalance', 'transaction', 'payment', 'receipt', 'medcardBenefits', 'analyticsSummary']) t.equal(d[field], null, `${field}: null`)
  for (const field of ['payments', 'claims', 'medcards', 'transactions']) {
    const owners = new Set(d[field].map((x: Record<string, string>) => x.payerId ?? x.ownerId))
    t.same([...owners], ['u-alice'], `${field}: alice's only`)
  }
  t.match(errorOf(res), { message: 'Analytics needs role analyst or admin', code: 'FORBIDDEN', status: 403, problem: 'forbidden' })
  t.match(res.body.errors[0], { path: ['analyticsSummary'] })

  const pending = store.listPayments().find((p) => p.status === 'pending')!
  const noReceipt = await gql(queryUrl, `{ receipt(paymentId: "${pending.id}") { amount } }`, undefined, pending.payerId)
  t.match(errorOf(noReceipt), { code: 'CONFLICT', status: 409, problem: 'receipt-not-available' })
})

const WALLET_FIELDS = 'wallet { id ownerId currency balance status frozenReason version } transaction { id type amount balanceAfter reference counterpartyWalletId }'

t.test('the wallet mutations run the wallet commands on the shared store', async (t) => {
  const { queryUrl, store } = await startBackends(t)
  const created = await gql(queryUrl, `mutation { createWallet(currency: USD) { ${WALLET_FIELDS} } }`, undefined, 'u-alice')
  t.equal(created.body.errors, undefined)
  t.match(created.body.data.createWallet, { wallet: { ownerId: 'u-alice', currency: 'USD', balance: 0, status: 'active' }, transaction: null })
  const id: string = created.body.data.createWallet.wallet.id
  const res = await gql(queryUrl, `mutation ($w: ID!) {
    deposit(walletId: $w, amount: 100.07, reference: "top-up") { ${WALLET_FIELDS} }
    withdraw(walletId: $w, amount: 0.07) { wallet { balance } transaction { type amount } }
    transfer(walletId: $w, toWalletId: "w-alice-2", amount: 40, reference: "savings") { wallet { balance } transaction { type counterpartyWalletId } counterparty { walletId transactionId } }
    freezeWallet(walletId: $w, reason: "travelling") { wallet { status frozenReason } }
    unfreezeWallet(walletId: $w) { wallet { status frozenReason } }
    emptied: withdraw(walletId: $w, amount: 60) { wallet { balance } }
    closeWallet(walletId: $w) { wallet { status balance } }
  }`, { w: id }, 'u-alice')
  t.equal(res.body.errors, undefined)
  const d = res.body.data
  t.match(d.deposit, { wallet: { id, balance: 100.07, version: 2 }, transaction: { type: 'deposit', amount: 100.07, balanceAfter: 100.07, reference: 'top-up' } })
  t.same(d.withdraw, { wallet: { balance: 100 }, transaction: { type: 'withdrawal', amount: 0.07 } })
  t.match(d.transfer, { wallet: { balance: 60 }, transaction: { type: 'transfer_out', counterpartyWalletId: 'w-alice-2' }, counterparty: { walletId: 'w-alice-2' } })
  t.match(store.findTransaction(d.transfer.counterparty.transactionId), { walletId: 'w-alice-2', type: 'transfer_in', amount: 40 })
  t.same(d.freezeWallet, { wallet: { status: 'frozen', frozenReason: 'travelling' } })
  t.same(d.unfreezeWallet, { wallet: { status: 'active', frozenReason: null } })
  t.same(d.closeWallet, { wallet: { status: 'closed', balance: 0 } })
  t.match((await call(`${queryUrl}/v1/api/wallets/${id}`, { consumer: 'u-alice' })).body, { status: 'closed' }, 'REST reads see it')

  const forBob = await gql(queryUrl, 'mutation { createWallet(currency: EGP, ownerId: "u-bob") { wallet { ownerId } } }', undefined, 'u-support', 'support')
  t.same(forBob.body.data.createWallet.wallet, { ownerId: 'u-bob' }, 'support may open a wallet for another owner')
})

t.test('a mutation is refused exactly as the REST command is', async (t) => {
  const { queryUrl, commandUrl, store } = await startBackends(t)
  const cases: Array<[string, string, Record<string, unknown>, string | undefined, string]> = [
    ['a stranger\'s wallet', '/w-bob-1/deposit', { amount: 5 }, 'u-alice', 'deposit(walletId: "w-bob-1", amount: 5)'],
    ['a missing wallet', '/w-nowhere/withdraw', { amount: 5 }, 'u-alice', 'withdraw(walletId: "w-nowhere", amount: 5)'],
    ['insufficient funds', '/w-alice-1/withdraw', { amount: 1_000_000 }, 'u-alice', 'withdraw(walletId: "w-alice-1", amount: 1000000)'],
    ['a frozen wallet', '/w-bob-2/deposit', { amount: 5 }, 'u-bob', 'deposit(walletId: "w-bob-2", amount: 5)'],
    ['another currency', '/w-alice-1/transfer', { toWalletId: 'w-alice-2', amount: 5 }, 'u-alice', 'transfer(walletId: "w-alice-1", toWalletId: "w-alice-2", amount: 5)'],
    ['the same wallet', '/w-alice-1/transfer', { toWalletId: 'w-alice-1', amount: 5 }, 'u-alice', 'transfer(walletId: "w-alice-1", toWalletId: "w-alice-1", amount: 5)'],
    ['a wallet not frozen', '/w-alice-1/unfreeze', {}, 'u-alice', 'unfreezeWallet(walletId: "w-alice-1")'],
    ['a stranger\'s wallet to freeze', '/w-bob-1/freeze', { reason: 'mine now' }, 'u-alice', 'freezeWallet(walletId: "w-bob-1", reason: "mine now")'],
    ['a wallet not empty', '/w-alice-1/close', {}, 'u-alice', 'closeWallet(walletId: "w-alice-1")'],
    ['another owner', '', { currency: 'EGP', ownerId: 'u-bob' }, 'u-alice', 'createWallet(currency: EGP, ownerId: "u-bob")'],
    ['no caller', '/w-alice-1/deposit', { amount: 5 }, undefined, 'deposit(walletId: "w-alice-1", amount: 5)']
  ]
  const before = store.listWallets()
  for (const [why, path, body, consumer, mutation] of cases) {
    const viaRest = await call(`${commandUrl}/v1/commands/wallets${path}`, { body, consumer })
    const viaGraphql = await gql(queryUrl, `mutation { ${mutation} { wallet { id } } }`, undefined, consumer)
    t.equal(viaGraphql.status, 200, `${why}: an execution error`)
    t.equal(viaGraphql.body.data, null)
    const { message, code, status, problem, ...members } = errorOf(viaGraphql)
    const { type, title, status: restStatus, detail, instance, ...restMembers } = viaRest.body
    t.equal(status, restStatus, `${why}: ${restStatus}`)
    t.equal(`https://healthpay.dev/problems/${String(problem)}`, type, `${why}: ${String(problem)}`)
    t.equal(code, { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 400: 'BAD_USER_INPUT', 409: 'CONFLICT' }[restStatus as number])
    if (consumer !== undefined) t.equal(message, detail, `${why}: the same words`)
    t.same(members, restMembers, `${why}: the same problem members (balance, requested…)`)
  }
  t.same(store.listWallets(), before, 'nothing changed')
})

t.test('bad mutation input: GraphQL validation (400) or BAD_USER_INPUT, and never over GET', async (t) => {
  const { queryUrl, store } = await startBackends(t)
  const before = store.listWallets()
  const inputErrors: Array<[string, string]> = [
    ['deposit(walletId: "w-alice-1", amount: 0.001)', 'invalid-amount'],
    ['withdraw(walletId: "w-alice-1", amount: -5)', 'invalid-amount'],
    ['deposit(walletId: "w-alice-1", amount: 5, reference: "")', 'validation-failed'],
    [`freezeWallet(walletId: "w-alice-1", reason: "${'x'.repeat(201)}")`, 'validation-failed'],
    ['closeWallet(walletId: "not a valid id!")', 'validation-failed'],
    ['transfer(walletId: "w-alice-1", toWalletId: "../w-bob-1", amount: 1)', 'validation-failed']
  ]
  for (const [mutation, problem] of inputErrors) {
    const res = await gql(queryUrl, `mutation { ${mutation} { wallet { id } } }`, undefined, 'u-alice')
    t.match(errorOf(res), { code: 'BAD_USER_INPUT', status: 400, problem }, mutation)
  }
  const badEnum = await gql(queryUrl, 'mutation { createWallet(currency: GBP) { wallet { id } } }', undefined, 'u-alice')
  t.equal(badEnum.status, 400)
  t.match(badEnum.body.errors, [{ message: /Value "GBP" does not exist in "Currency" enum/ }])
  const missing = await gql(queryUrl, 'mutation { deposit(walletId: "w-alice-1") { wallet { id } } }', undefined, 'u-alice')
  t.equal(missing.status, 400)
  t.match(missing.body.errors, [{ message: /argument "amount" of type "Float!" is required/ }])
  const viaGet = await call(`${queryUrl}/v1/graphql?query=${encodeURIComponent('mutation { unfreezeWallet(walletId: "w-bob-2") { wallet { id } } }')}`, { consumer: 'u-bob' })
  t.equal(viaGet.status, 405)
  t.equal(store.findWallet('w-bob-2')?.status, 'frozen')
  const badLimit = await gql(queryUrl, '{ payments(limit: 0) { id } }', undefined, 'u-alice')
  t.match(errorOf(badLimit), { message: /limit must be/, code: 'BAD_USER_INPUT', problem: 'validation-failed' })
  const badCursor = await gql(queryUrl, '{ claims(after: "cl-9999") { id } }', undefined, 'u-alice')
  t.match(errorOf(badCursor), { code: 'BAD_USER_INPUT', problem: 'invalid-cursor' })
  t.same(store.listWallets(), before)
})

t.test('payment mutations: pay from a wallet or off-wallet; refunds are for admin or support', async (t) => {
  const { queryUrl } = await startBackends(t)
  const PAYMENT = 'id payerId walletId amount currency method status provider { id } transactions { type amount }'
  const paid = await gql(queryUrl, `mutation {
    fromWallet: createPayment(providerId: "prv-alex-lab", amount: 75.5, walletId: "w-alice-1", description: "Blood test") { ${PAYMENT} }
    cash: createPayment(providerId: "prv-maadi-pharmacy", amount: 20, method: fawry) { ${PAYMENT} }
  }`, undefined, 'u-alice')
  t.equal(paid.body.errors, undefined)
  const { fromWallet, cash } = paid.body.data
  t.match(fromWallet, { payerId: 'u-alice', walletId: 'w-alice-1', amount: 75.5, currency: 'EGP', method: 'wallet', status: 'completed', provider: { id: 'prv-alex-lab' }, transactions: [{ type: 'payment', amount: 75.5 }] })
  t.match(cash, { payerId: 'u-alice', walletId: null, method: 'fawry', status: 'pending', transactions: [] })
  const balance = async () => (await gql(queryUrl, '{ walletBalance(walletId: "w-alice-1") { balance } }', undefined, 'u-alice')).body.data.walletBalance.balance
  t.equal(await balance(), 4727.25)

  const refund = (consumer: string, id: string) => gql(queryUrl, `mutation { refundPayment(paymentId: "${id}", reason: "Duplicate") { ${PAYMENT} } }`, undefined, consumer)
  t.match(errorOf(await refund('u-alice', fromWallet.id)), { code: 'FORBIDDEN', problem: 'forbidden', message: 'Only admin or support may refund a payment' })
  t.match(errorOf(await refund('u-bob', fromWallet.id)), { code: 'NOT_FOUND', problem: 'payment-not-found' })
  const refunded = await refund('u-admin', fromWallet.id)
  t.match(refunded.body.data.refundPayment, { status: 'refunded', transactions: [{ type: 'refund', amount: 75.5 }, { type: 'payment', amount: 75.5 }] })
  t.equal(await balance(), 4802.75, 'the money is back')
  t.match(errorOf(await refund('u-admin', cash.id)), { code: 'CONFLICT', problem: 'payment-not-refundable' })

  const refused = await gql(queryUrl, 'mutation { createPayment(providerId: "prv-alex-lab", amount: 5, walletId: "w-bob-1") { id } }', undefined, 'u-alice')
  t.match(errorOf(refused), { code: 'NOT_FOUND', message: 'No wallet with id "w-bob-1"' }, 'not from a stranger\'s wallet')
  const offNetwork = await gql(queryUrl, 'mutation { createPayment(providerId: "prv-delta-eye", amount: 5, method: medcard) { id } }', undefined, 'u-alice')
  t.match(errorOf(offNetwork), { code: 'CONFLICT', problem: 'provider-not-in-network' })
})

t.test('claim and MedCard mutations: owners submit and suspend, admin or support decide', async (t) => {
  const { queryUrl } = await startBackends(t)
  const CLAIM = 'id ownerId status approvedAmount history { status note }'
  const submitted = await gql(queryUrl, `mutation { submitClaim(medcardId: "mc-alice-1", providerId: "prv-alex-lab", category: lab, amount: 640) { ${CLAIM} } }`, undefined, 'u-alice')
  t.match(submitted.body.data.submitClaim, { id: 'cl-0008', ownerId: 'u-alice', status: 'submitted', approvedAmount: null })
  const bobs = await gql(queryUrl, 'mutation { submitClaim(medcardId: "mc-alice-1", providerId: "prv-alex-lab", category: lab, amount: 1) { id } }', undefined, 'u-bob')
  t.match(errorOf(bobs), { code: 'NOT_FOUND', problem: 'medcard-not-found' })
  const uncovered = await gql(queryUrl, 'mutation { submitClaim(medcardId: "mc-alice-1", providerId: "prv-cairo-care", category: optical, amount: 100) { id } }', undefined, 'u-alice')
  t.match(errorOf(uncovered), { code: 'CONFLICT', problem: 'benefit-not-covered' })

  const selfReview = await gql(queryUrl, 'mutation { reviewClaim(claimId: "cl-0008") { id } }', undefined, 'u-alice')
  t.match(errorOf(selfReview), { code: 'FORBIDDEN', message: 'Only admin or support may review a claim' })
  const decided = await gql(queryUrl, `mutation {
    reviewClaim(claimId: "cl-0008") { status }
    approveClaim(claimId: "cl-0008") { ${CLAIM} }
    rejectClaim(claimId: "cl-0003", reason: "Cosmetic treatment") { ${CLAIM} }
  }`, undefined, 'u-sam', 'support')
  t.equal(decided.body.errors, undefined)
  t.same(decided.body.data.reviewClaim, { status: 'in_review' })
  t.match(decided.body.data.approveClaim, { status: 'approved', approvedAmount: 512, history: [{ status: 'submitted' }, { status: 'in_review' }, { status: 'approved' }] })
  t.match(decided.body.data.rejectClaim, { status: 'rejected', history: [{ status: 'submitted' }, { status: 'rejected', note: 'Cosmetic treatment' }] })
  const again = await gql(queryUrl, 'mutation { approveClaim(claimId: "cl-0003", approvedAmount: 10) { id } }', undefined, 'u-admin')
  t.match(errorOf(again), { code: 'CONFLICT', problem: 'claim-status-conflict', claimStatus: 'rejected' })

  const suspended = await gql(queryUrl, 'mutation { suspendMedcard(medcardId: "mc-alice-1", reason: "Card lost") { id status } }', undefined, 'u-alice')
  t.same(suspended.body.data.suspendMedcard, { id: 'mc-alice-1', status: 'suspended' })
  const onSuspended = await gql(queryUrl, 'mutation { submitClaim(medcardId: "mc-alice-1", providerId: "prv-alex-lab", category: lab, amount: 10) { id } }', undefined, 'u-alice')
  t.match(errorOf(onSuspended), { code: 'CONFLICT', problem: 'medcard-suspended' })
  const strangers = await gql(queryUrl, 'mutation { reactivateMedcard(medcardId: "mc-alice-1") { id } }', undefined, 'u-bob')
  t.match(errorOf(strangers), { code: 'NOT_FOUND', message: 'No medcard with id "mc-alice-1"' })
  const reactivated = await gql(queryUrl, 'mutation { reactivateMedcard(medcardId: "mc-alice-1") { status benefits { category } } }', undefined, 'u-alice')
  t.match(reactivated.body.data.reactivateMedcard, { status: 'active' })
  const expired = await gql(queryUrl, 'mutation { reactivateMedcard(medcardId: "mc-alice-0") { id } }', undefined, 'u-alice')
  t.match(errorOf(expired), { code: 'CONFLICT', problem: 'medcard-expired' })
})
