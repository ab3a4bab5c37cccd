// analyticsSummary's types: read-models.ts's analyticsSummary, with its
// transaction counts by type as a list (GraphQL has no map type).
import { GraphQLInt, GraphQLFloat, GraphQLObjectType, GraphQLString, type GraphQLOutputType } from 'graphql'
import { analyticsSummary } from '../read-models.js'
import type { Store } from '../store.js'
import { listOf, plain, req } from './context.js'

const object = (name: string, spec: Record<string, GraphQLOutputType>) => new GraphQLObjectType({ name, fields: plain(spec) })
const count = req(GraphQLInt)

const MoneyTotal = object('MoneyTotal', { currency: req(GraphQLString), amount: req(GraphQLFloat) })
const totals = listOf(MoneyTotal)

export const AnalyticsSummary = object('AnalyticsSummary', {
  generatedAt: req(GraphQLString),
  wallets: req(object('WalletStats', { total: count, active: count, frozen: count, closed: count, balances: totals })),
  transactions: req(object('TransactionStats', { total: count, byType: listOf(object('TransactionTypeCount', { type: req(GraphQLString), count })) })),
  payments: req(object('PaymentStats', { total: count, completed: count, completedVolume: totals })),
  claims: req(object('ClaimStats', { total: count, open: count, approvedAmount: totals })),
  medcards: req(object('MedCardStats', { total: count, active: count }))
})

export function analyticsSummaryOf (store: Store) {
  const summary = analyticsSummary(store)
  const byType = Object.entries(summary.transactions.byType).map(([type, n]) => ({ type, count: n }))
  return { ...summary, transactions: { ...summary.transactions, byType } }
}
