import t from 'tap'
import { call, startBackends } from './helpers.js'

async function gql (url: string, query: string, variables?: Record<string, unknown>, consumer?: string) {
  return await call(`${url}/v1/graphql`, { method: 'POST', body: { query, variables }, consumer })
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
