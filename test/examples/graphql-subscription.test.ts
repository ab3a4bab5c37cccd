// The walletUpdated subscription over a real WebSocket (graphql-transport-ws),
// fed by deposits sent to the command service over HTTP. Waits are on events
// (the store's newListener/removeListener, socket messages), never on timers.
import { once, type EventEmitter } from 'node:events'
import t from 'tap'
import WebSocket from 'ws'
import { createClient, type Client } from 'graphql-ws'
import { call, startBackends, type Backends } from './helpers.js'

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

t.test('subscribing to a stranger\'s wallet is refused', async (t) => {
  const b = await startBackends(t)
  const client = clientFor(t, b, 'u-alice')
  const updates = client.iterate({ query: WALLET_UPDATED, variables: { w: 'w-bob-1' } })
  const result = await updates.next()
  t.match(result.value?.errors, [{ message: 'No wallet with id "w-bob-1"' }])
  t.equal(b.store.listenerCount('event'), 0)
})

t.test('raw graphql-transport-ws: sub-protocol, ack, next, and 1001 on server close', async (t) => {
  const b = await startBackends(t)
  const ws = new WebSocket(wsUrl(b), 'graphql-transport-ws', { headers: { 'x-consumer-id': 'u-alice' } })
  t.teardown(() => ws.terminate())
  const messages: Array<Record<string, any>> = []
  const waiters: Array<() => void> = []
  ws.on('message', (data) => { messages.push(JSON.parse(String(data))); waiters.shift()?.() })
  const nextMessage = async (): Promise<Record<string, any>> => {
    if (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve))
    return messages.shift() as Record<string, any>
  }
  await once(ws, 'open')
  t.equal(ws.protocol, 'graphql-transport-ws')

  ws.send(JSON.stringify({ type: 'connection_init' }))
  t.same(await nextMessage(), { type: 'connection_ack' })

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
