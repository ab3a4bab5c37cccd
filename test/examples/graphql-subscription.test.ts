// The five subscriptions over a real WebSocket (graphql-transport-ws), fed by
// wallet commands sent to the command service and GraphQL mutations sent to
// the query service over HTTP. Waits are on events (the store's
// newListener/removeListener, socket messages), never on timers.
import { once, type EventEmitter } from 'node:events'
import t from 'tap'
import WebSocket from 'ws'
import { createClient, type Client } from 'graphql-ws'
import { call, openGraphqlSocket, startBackends, type Backends } from './helpers.js'

const WALLET_UPDATED = `subscription ($w: ID) {
  walletUpdated(walletId: $w) { event walletId change amount transactionId reason wallet { id balance status version } }
}`

function wsUrl (b: Backends): string {
  return `${b.queryUrl.replace('http', 'ws')}/v1/graphql`
}

/** A graphql-ws client that connects as `consumer`, the way the gateway forwards an authenticated upgrade. */
function clientFor (t: { teardown: (fn: () => unknown) => void }, b: Backends, consumer?: string): Client {
  class ConsumerSocket extends WebSocket {
    constructor (url: string, protocols?: string | string[]) {
      super(url, protocols, consumer === undefined ? {} : { headers: { 'x-consumer-id': consumer } })
    }
  }
  const client = createClient({ url: wsUrl(b), webSocketImpl: ConsumerSocket, retryAttempts: 0, lazy: true })
  t.teardown(async () => await client.dispose())
  return client
}

/**
 * Resolves once a listener for the store's `event` is added (or removed): the
 * moment a subscription is live (or gone). `events.once(store, 'newListener')`
 * would not do: it adds an 'error' listener of its own, which fires it at once.
 */
function storeListener (b: Backends, change: 'newListener' | 'removeListener'): Promise<void> {
  return new Promise((resolve) => {
    const watch = (name: string | symbol): void => {
      if (name !== 'event') return
      emitter.off(change, watch)
      resolve()
    }
    // the store's typed event map lists only `event`; these two are EventEmitter's own
    const emitter: EventEmitter = b.store
    emitter.on(change, watch)
  })
}

function deposit (b: Backends, walletId: string, amount: number, consumer: string) {
  return call(`${b.commandUrl}/v1/commands/wallets/${walletId}/deposit`, { body: { amount }, consumer })
}

t.test('walletUpdated yields after a deposit to that wallet, and only for that wallet', async (t) => {
  const b = await startBackends(t)
  const client = clientFor(t, b, 'u-alice')
  const listening = storeListener(b, 'newListener')
  const updates = client.iterate<{ walletUpdated: Record<string, any> }>({ query: WALLET_UPDATED, variables: { w: 'w-alice-1' } })
  await listening

  t.equal((await deposit(b, 'w-carol-1', 5, 'u-carol')).status, 202, 'another wallet changes first')
  const accepted = await deposit(b, 'w-alice-1', 25.5, 'u-alice')
  t.equal(accepted.status, 202)

  const first = await updates.next()
  t.equal(first.done, false)
  t.same(first.value?.data?.walletUpdated, {
    event: 'wallet.updated',
    walletId: 'w-alice-1',
    change: 'deposit',
    amount: 25.5,
    transactionId: accepted.body.transaction.id,
    reason: null,
    wallet: { id: 'w-alice-1', balance: 4828.25, status: 'active', version: accepted.body.wallet.version }
  }, 'the first event is alice\'s deposit, not carol\'s')

  await call(`${b.commandUrl}/v1/commands/wallets/w-alice-1/freeze`, { body: { reason: 'card lost' }, consumer: 'u-alice' })
  const second = await updates.next()
  t.match(second.value?.data?.walletUpdated, { event: 'wallet.frozen', reason: 'card lost', wallet: { status: 'frozen' } })

  const detached = storeListener(b, 'removeListener')
  await updates.return?.()
  await detached
  t.equal(b.store.listenerCount('event'), 0, 'completing the subscription removes its store listener at once')
})

t.test('without walletId a consumer receives updates to its own wallets only', async (t) => {
  const b = await startBackends(t)
  const client = clientFor(t, b, 'u-bob')
  const listening = storeListener(b, 'newListener')
  const updates = client.iterate<{ walletUpdated: Record<string, any> }>({ query: WALLET_UPDATED })
  await listening
  await deposit(b, 'w-alice-1', 1, 'u-alice')
  await call(`${b.commandUrl}/v1/commands/wallets/w-bob-1/transfer`, { body: { toWalletId: 'w-alice-1', amount: 10 }, consumer: 'u-bob' })
  const first = await updates.next()
  t.match(first.value?.data?.walletUpdated, { walletId: 'w-bob-1', change: 'transfer_out', amount: 10 }, 'alice\'s deposit and the incoming leg are not bob\'s')
})

t.test('subscribing to a stranger\'s wallet, transactions, payment, claim or MedCard is refused', async (t) => {
  const b = await startBackends(t)
  const client = clientFor(t, b, 'u-alice')
  const updates = client.iterate({ query: WALLET_UPDATED, variables: { w: 'w-bob-1' } })
  const result = await updates.next()
  t.match(result.value?.errors, [{ message: 'No wallet with id "w-bob-1"', extensions: { code: 'NOT_FOUND' } }])
  const bobsPayment = b.store.listPayments().find((p) => p.payerId === 'u-bob')!.id
  const strangers: Array<[string, string]> = [
    ['transactionCreated(walletId: "w-bob-1") { id }', 'No wallet with id "w-bob-1"'],
    [`paymentUpdated(paymentId: "${bobsPayment}") { event }`, `No payment with id "${bobsPayment}"`],
    ['claimUpdated(claimId: "cl-0004") { event }', 'No claim with id "cl-0004"'],
    ['medcardUpdated(medcardId: "mc-bob-1") { event }', 'No medcard with id "mc-bob-1"']
  ]
  for (const [field, message] of strangers) {
    const refused = await client.iterate({ query: `subscription { ${field} }` }).next()
    t.match(refused.value?.errors, [{ message, extensions: { code: 'NOT_FOUND' } }], field)
  }
  t.equal(b.store.listenerCount('event'), 0)
})

t.test('raw graphql-transport-ws: sub-protocol, ack, next, and 1001 on server close', async (t) => {
  const b = await startBackends(t)
  const { ws, nextMessage } = await openGraphqlSocket(t, wsUrl(b), 'u-alice')

  const listening = storeListener(b, 'newListener')
  ws.send(JSON.stringify({ id: 'sub-1', type: 'subscribe', payload: { query: WALLET_UPDATED, variables: { w: 'w-alice-2' } } }))
  await listening
  await deposit(b, 'w-alice-2', 4.5, 'u-alice')
  const next = await nextMessage()
  t.match(next, { id: 'sub-1', type: 'next', payload: { data: { walletUpdated: { walletId: 'w-alice-2', amount: 4.5, wallet: { balance: 169 } } } } })

  const closed = once(ws, 'close')
  await b.query.close()
  const [code] = await closed
  t.equal(code, 1001, 'shutdown says "going away"')
  t.equal(b.store.listenerCount('event'), 0)
})

t.test('upgrades are served on /v1/graphql only', async (t) => {
  const b = await startBackends(t)
  const ws = new WebSocket(`${b.queryUrl.replace('http', 'ws')}/v1/other`, 'graphql-transport-ws')
  // a refused handshake leaves the request to us: abort it, and let the abort error pass
  t.teardown(() => { ws.on('error', () => {}); ws.terminate() })
  const [request, response] = await once(ws, 'unexpected-response')
  t.equal(response.statusCode, 404)
  response.resume()
  request.destroy()
})

// ---- the four subscriptions beside walletUpdated, each fed by GraphQL mutations --------------

function mutate (b: Backends, query: string, consumer: string, roles?: string) {
  return call(`${b.queryUrl}/v1/graphql`, { body: { query }, consumer, roles })
}

/** Subscribes as `consumer`; resolves once the subscription listens on the store. */
async function subscribe<T> (t: { teardown: (fn: () => unknown) => void }, b: Backends, consumer: string, query: string, variables?: Record<string, unknown>) {
  const listening = storeListener(b, 'newListener')
  const updates = clientFor(t, b, consumer).iterate<T>({ query, variables })
  await listening
  return updates
}

t.test('transactionCreated yields each new ledger line of one wallet, or of every wallet the caller may see', async (t) => {
  const b = await startBackends(t)
  type Tx = { transactionCreated: Record<string, any> }
  const one = await subscribe<Tx>(t, b, 'u-alice', 'subscription { transactionCreated(walletId: "w-alice-1") { id walletId type amount paymentId } }')
  const all = await subscribe<Tx>(t, b, 'u-alice', 'subscription { transactionCreated { walletId type amount counterpartyWalletId } }')

  t.equal((await deposit(b, 'w-carol-1', 5, 'u-carol')).status, 202, 'carol\'s deposit comes first')
  const paid = await mutate(b, 'mutation { createPayment(providerId: "prv-alex-lab", amount: 42.5, walletId: "w-alice-1") { id transactions { id } } }', 'u-alice')
  const payment = paid.body.data.createPayment
  t.same((await one.next()).value?.data?.transactionCreated, { id: payment.transactions[0].id, walletId: 'w-alice-1', type: 'payment', amount: 42.5, paymentId: payment.id })
  t.same((await all.next()).value?.data?.transactionCreated, { walletId: 'w-alice-1', type: 'payment', amount: 42.5, counterpartyWalletId: null })

  await mutate(b, 'mutation { transfer(walletId: "w-bob-1", toWalletId: "w-alice-1", amount: 10) { wallet { id } } }', 'u-bob')
  t.same((await all.next()).value?.data?.transactionCreated, { walletId: 'w-alice-1', type: 'transfer_in', amount: 10, counterpartyWalletId: 'w-bob-1' }, 'the incoming leg of bob\'s transfer, not bob\'s outgoing one')
})

t.test('paymentUpdated yields a payment made, then refunded, to its payer only', async (t) => {
  const b = await startBackends(t)
  const updates = await subscribe<{ paymentUpdated: Record<string, any> }>(t, b, 'u-alice',
    'subscription { paymentUpdated { event paymentId status reason payment { payerId amount method status transactions { type } } } }')
  await mutate(b, 'mutation { createPayment(providerId: "prv-cairo-care", amount: 80, method: card) { id } }', 'u-bob')
  const paid = await mutate(b, 'mutation { createPayment(providerId: "prv-alex-lab", amount: 15.25, walletId: "w-alice-2", currency: USD) { id } }', 'u-alice')
  const id: string = paid.body.data.createPayment.id
  t.same((await updates.next()).value?.data?.paymentUpdated, {
    event: 'payment.completed', paymentId: id, status: 'completed', reason: null,
    payment: { payerId: 'u-alice', amount: 15.25, method: 'wallet', status: 'completed', transactions: [{ type: 'payment' }] }
  }, 'bob\'s payment is not alice\'s business')

  const byId = await subscribe<{ paymentUpdated: Record<string, any> }>(t, b, 'u-alice', 'subscription ($p: ID) { paymentUpdated(paymentId: $p) { event status reason } }', { p: id })
  t.equal((await mutate(b, `mutation { refundPayment(paymentId: "${id}", reason: "Double charge") { status } }`, 'u-admin')).body.data.refundPayment.status, 'refunded')
  const refunded = { event: 'payment.refunded', status: 'refunded', reason: 'Double charge' }
  t.match((await updates.next()).value?.data?.paymentUpdated, { ...refunded, payment: { transactions: [{ type: 'refund' }, { type: 'payment' }] } })
  t.same((await byId.next()).value?.data?.paymentUpdated, refunded)
})

t.test('claimUpdated follows one claim through review and approval', async (t) => {
  const b = await startBackends(t)
  const updates = await subscribe<{ claimUpdated: Record<string, any> }>(t, b, 'u-alice',
    'subscription { claimUpdated(claimId: "cl-0003") { event claimId medcardId status claim { status approvedAmount history { status } } } }')
  await mutate(b, 'mutation { reviewClaim(claimId: "cl-0006") { id } }', 'u-admin')
  await mutate(b, 'mutation { reviewClaim(claimId: "cl-0003") { id } }', 'u-admin')
  t.same((await updates.next()).value?.data?.claimUpdated, {
    event: 'claim.in_review', claimId: 'cl-0003', medcardId: 'mc-alice-1', status: 'in_review',
    claim: { status: 'in_review', approvedAmount: null, history: [{ status: 'submitted' }, { status: 'in_review' }] }
  }, 'bob\'s claim cl-0006 moved first, unseen')
  await mutate(b, 'mutation { approveClaim(claimId: "cl-0003", approvedAmount: 1000) { id } }', 'u-support', 'support')
  t.match((await updates.next()).value?.data?.claimUpdated, { event: 'claim.approved', status: 'approved', claim: { approvedAmount: 1000 } })

  const mine = await subscribe<{ claimUpdated: Record<string, any> }>(t, b, 'u-alice', 'subscription { claimUpdated { event claimId status } }')
  await mutate(b, 'mutation { submitClaim(medcardId: "mc-alice-1", providerId: "prv-nile-pharmacy", category: pharmacy, amount: 95) { id } }', 'u-alice')
  t.same((await mine.next()).value?.data?.claimUpdated, { event: 'claim.submitted', claimId: 'cl-0008', status: 'submitted' }, 'without claimId: every claim of the caller, new ones too')
})

t.test('medcardUpdated yields a card suspended and reactivated, to its owner only', async (t) => {
  const b = await startBackends(t)
  const updates = await subscribe<{ medcardUpdated: Record<string, any> }>(t, b, 'u-bob', 'subscription { medcardUpdated { event medcardId status reason medcard { id status plan } } }')
  await mutate(b, 'mutation { suspendMedcard(medcardId: "mc-alice-1", reason: "Lost") { id } }', 'u-alice')
  await mutate(b, 'mutation { suspendMedcard(medcardId: "mc-bob-1", reason: "Card lost") { id } }', 'u-bob')
  t.same((await updates.next()).value?.data?.medcardUpdated, {
    event: 'medcard.suspended', medcardId: 'mc-bob-1', status: 'suspended', reason: 'Card lost', medcard: { id: 'mc-bob-1', status: 'suspended', plan: 'platinum' }
  }, 'alice\'s card is not bob\'s business')
  await mutate(b, 'mutation { reactivateMedcard(medcardId: "mc-bob-1") { id } }', 'u-bob')
  t.same((await updates.next()).value?.data?.medcardUpdated, {
    event: 'medcard.reactivated', medcardId: 'mc-bob-1', status: 'active', reason: null, medcard: { id: 'mc-bob-1', status: 'active', plan: 'platinum' }
  })
  const detached = storeListener(b, 'removeListener')
  await updates.return?.()
  await detached
  t.equal(b.store.listenerCount('event'), 0)
})
