// The 15 queries: the REST read operations of query-routes.ts, with the same
// visibility (a consumer sees only what it owns unless admin or support; a
// stranger's item is null, a stranger's items are left out of lists) and
// analytics for analyst or admin only. Lists are newest first, `limit` 1–100
// (default 20) and `after`: the id of the last item of the previous page.
import { GraphQLBoolean, GraphQLID, GraphQLInt, GraphQLObjectType, GraphQLString } from 'graphql'
import { V1 } from '../api-versions.js'
import { canSee } from '../consumer.js'
import { medcardBenefits, paymentReceipt } from '../read-models.js'
import type { Payment } from '../store.js'
import { AnalyticsSummary, analyticsSummaryOf } from './analytics.js'
import { ID_ARG, assertAnalyst, ifVisible, listOf, pageOf, withProblems, type GraphqlContext, type PageArgs } from './context.js'
import { ClaimType, MedCardBenefits, MedCardType, PaymentType, Provider, Receipt, Transaction, Wallet, WalletBalance } from './types.js'

const paging = { limit: { type: GraphQLInt, defaultValue: 20 }, after: { type: GraphQLID, description: 'The id of the last item of the previous page' } }
const byId = { id: { type: ID_ARG } }

/** whether a value passes a filter; an absent filter (null or undefined) passes everything */
const is = (filter: unknown, value: unknown): boolean => filter == null || filter === value

const visiblePayment = (ctx: GraphqlContext, id: string): Payment | null => {
  const p = ctx.store.findPayment(id)
  return p !== undefined && canSee(ctx.consumer, p.payerId) ? p : null
}

export const Query = new GraphQLObjectType<unknown, GraphqlContext>({
  name: 'Query',
  fields: withProblems({
    // ---- wallets and their ledger
    wallet: { type: Wallet, args: byId, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findWallet(args.id)) },
    wallets: {
      type: listOf(Wallet),
      args: { ownerId: { type: GraphQLID }, status: { type: GraphQLString }, currency: { type: GraphQLString }, ...paging },
      resolve: (_root, args: PageArgs & { ownerId?: string, status?: string, currency?: string }, ctx) => pageOf(ctx.store.listWallets()
        .filter((w) => canSee(ctx.consumer, w.ownerId) && is(args.ownerId, w.ownerId) && is(args.status, w.status) && is(args.currency, w.currency)), args)
    },
    walletBalance: {
      type: WalletBalance,
      args: { walletId: { type: ID_ARG } },
      resolve: (_root, args: { walletId: string }, ctx) => {
        const w = ifVisible(ctx, ctx.store.findWallet(args.walletId))
        return w === null ? null : V1.present.balance(w)
      }
    },
    transactions: {
      type: listOf(Transaction),
      description: 'Newest first; of one wallet, or without walletId of every wallet the caller may see',
      args: { walletId: { type: GraphQLID }, type: { type: GraphQLString }, ...paging },
      resolve: (_root, args: PageArgs & { walletId?: string, type?: string }, ctx) => {
        if (args.walletId != null && ifVisible(ctx, ctx.store.findWallet(args.walletId)) === null) return []
        return pageOf(ctx.store.listTransactions().filter((t) => canSee(ctx.consumer, t.ownerId) && is(args.walletId, t.walletId) && is(args.type, t.type)), args)
      }
    },
    transaction: { type: Transaction, args: byId, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findTransaction(args.id)) },

    // ---- payments
    payments: {
      type: listOf(PaymentType),
      args: { status: { type: GraphQLString }, method: { type: GraphQLString }, walletId: { type: GraphQLID }, ...paging },
      resolve: (_root, args: PageArgs & { status?: string, method?: string, walletId?: string }, ctx) => pageOf(ctx.store.listPayments()
        .filter((p) => canSee(ctx.consumer, p.payerId) && is(args.status, p.status) && is(args.method, p.method) && is(args.walletId, p.walletId)), args)
    },
    payment: { type: PaymentType, args: byId, resolve: (_root, args: { id: string }, ctx) => visiblePayment(ctx, args.id) },
    receipt: {
      type: Receipt,
      description: 'Only for a completed or refunded payment (otherwise a CONFLICT error, receipt-not-available)',
      args: { paymentId: { type: ID_ARG } },
      resolve: (_root, args: { paymentId: string }, ctx) => {
        const p = visiblePayment(ctx, args.paymentId)
        return p === null ? null : paymentReceipt(ctx.store, p)
      }
    },

    // ---- MedCards and claims
    medcards: {
      type: listOf(MedCardType),
      args: { status: { type: GraphQLString }, ...paging },
      resolve: (_root, args: PageArgs & { status?: string }, ctx) => pageOf(ctx.store.listMedcards().filter((m) => canSee(ctx.consumer, m.ownerId) && is(args.status, m.status)), args)
    },
    medcard: { type: MedCardType, args: byId, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findMedcard(args.id)) },
    medcardBenefits: {
      type: MedCardBenefits,
      args: { medcardId: { type: ID_ARG } },
      resolve: (_root, args: { medcardId: string }, ctx) => {
        const card = ifVisible(ctx, ctx.store.findMedcard(args.medcardId))
        return card === null ? null : { medcardId: card.id, plan: card.plan, status: card.status, currency: card.currency, validTo: card.validTo, benefits: medcardBenefits(ctx.store, card) }
      }
    },
    claims: {
      type: listOf(ClaimType),
      args: { status: { type: GraphQLString }, medcardId: { type: GraphQLID }, ...paging },
      resolve: (_root, args: PageArgs & { status?: string, medcardId?: string }, ctx) => pageOf(ctx.store.listClaims()
        .filter((c) => canSee(ctx.consumer, c.ownerId) && is(args.status, c.status) && is(args.medcardId, c.medcardId)), args)
    },
    claim: { type: ClaimType, args: byId, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findClaim(args.id)) },

    // ---- the public provider directory, and platform analytics
    providers: {
      type: listOf(Provider),
      args: { type: { type: GraphQLString }, city: { type: GraphQLString }, acceptsMedcard: { type: GraphQLBoolean } },
      resolve: (_root, args: { type?: string, city?: string, acceptsMedcard?: boolean }, ctx) => ctx.store.listProviders()
        .filter((p) => is(args.type, p.type) && (args.city == null || p.city.toLowerCase() === args.city.toLowerCase()) && is(args.acceptsMedcard, p.acceptsMedcard))
    },
    analyticsSummary: {
      type: AnalyticsSummary,
      description: 'Platform-wide aggregates; role analyst or admin (otherwise null and a FORBIDDEN error)',
      resolve: (_root, _args, ctx) => {
        assertAnalyst(ctx.consumer)
        return analyticsSummaryOf(ctx.store)
      }
    }
  })
})
