// The query service's GraphQL schema: a read model over the same store as the
// REST routes, plus one subscription fed by the store's wallet events.
// The type graph is acyclic on purpose (a Transaction does not link back to
// its Wallet, a Provider to its Claims), so no query can nest without bound.
import {
  GraphQLBoolean, GraphQLError, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLList, GraphQLNonNull, GraphQLObjectType,
  GraphQLSchema, GraphQLString, type GraphQLFieldConfigMap, type GraphQLOutputType
} from 'graphql'
import { canSee, type Consumer } from './consumer.js'
import { storeEvents } from './event-iterator.js'
import { medcardBenefits } from './read-models.js'
import type { Claim, MedCard, Store, StoreEvent, WalletView } from './store.js'

export interface GraphqlContext {
  store: Store
  consumer: Consumer | undefined
}

type Fields = GraphQLFieldConfigMap<any, GraphqlContext>

const req = (type: GraphQLOutputType) => new GraphQLNonNull(type)
const ID_ARG = new GraphQLNonNull(GraphQLID)
const listOf = (type: GraphQLOutputType) => req(new GraphQLList(req(type)))
const plain = (spec: Record<string, GraphQLOutputType>): Fields =>
  Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }]))

function limitOf (value: unknown): number {
  const limit = typeof value === 'number' ? value : 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GraphQLError('limit must be an integer between 1 and 100')
  return limit
}

const Transaction = new GraphQLObjectType({
  name: 'Transaction',
  fields: plain({
    id: req(GraphQLID), walletId: req(GraphQLID), type: req(GraphQLString), amount: req(GraphQLFloat), currency: req(GraphQLString),
    balanceAfter: req(GraphQLFloat), reference: GraphQLString, description: req(GraphQLString), counterpartyWalletId: GraphQLID, createdAt: req(GraphQLString)
  })
})

const Wallet: GraphQLObjectType = new GraphQLObjectType<WalletView, GraphqlContext>({
  name: 'Wallet',
  fields: () => ({
    ...plain({
      id: req(GraphQLID), ownerId: req(GraphQLID), currency: req(GraphQLString), balance: req(GraphQLFloat), status: req(GraphQLString),
      frozenReason: GraphQLString, createdAt: req(GraphQLString), updatedAt: req(GraphQLString), version: req(GraphQLInt)
    }),
    transactions: {
      type: listOf(Transaction),
      description: 'Newest first',
      args: { limit: { type: GraphQLInt, defaultValue: 10 } },
      resolve: (w: WalletView, args: { limit?: number }, ctx) => ctx.store.listTransactions().filter((t) => t.walletId === w.id).slice(0, limitOf(args.limit))
    }
  })
})

const Provider = new GraphQLObjectType({
  name: 'Provider',
  fields: plain({ id: req(GraphQLID), name: req(GraphQLString), type: req(GraphQLString), city: req(GraphQLString), phone: req(GraphQLString), acceptsMedcard: req(GraphQLBoolean), networkTier: req(GraphQLString) })
})

const Benefit = new GraphQLObjectType({
  name: 'Benefit',
  fields: plain({ category: req(GraphQLString), coveragePercent: req(GraphQLFloat), annualLimit: req(GraphQLFloat), used: req(GraphQLFloat), remaining: req(GraphQLFloat) })
})

const MedCardType = new GraphQLObjectType<MedCard, GraphqlContext>({
  name: 'MedCard',
  fields: {
    ...plain({
      id: req(GraphQLID), ownerId: req(GraphQLID), memberName: req(GraphQLString), insurer: req(GraphQLString), plan: req(GraphQLString),
      policyNumber: req(GraphQLString), status: req(GraphQLString), currency: req(GraphQLString), validFrom: req(GraphQLString), validTo: req(GraphQLString)
    }),
    benefits: { type: listOf(Benefit), resolve: (card, _args, ctx) => medcardBenefits(ctx.store, card) }
  }
})

const ClaimEvent = new GraphQLObjectType({
  name: 'ClaimEvent',
  fields: plain({ status: req(GraphQLString), at: req(GraphQLString), note: req(GraphQLString) })
})

const ClaimType = new GraphQLObjectType<Claim, GraphqlContext>({
  name: 'Claim',
  fields: {
    ...plain({
      id: req(GraphQLID), medcardId: req(GraphQLID), ownerId: req(GraphQLID), providerId: req(GraphQLID), category: req(GraphQLString), amount: req(GraphQLFloat),
      approvedAmount: GraphQLFloat, currency: req(GraphQLString), status: req(GraphQLString), description: req(GraphQLString),
      submittedAt: req(GraphQLString), updatedAt: req(GraphQLString), history: listOf(ClaimEvent)
    }),
    provider: { type: Provider, resolve: (claim, _args, ctx) => ctx.store.findProvider(claim.providerId) ?? null }
  }
})

const WalletEvent = new GraphQLObjectType({
  name: 'WalletEvent',
  description: 'One change to a wallet, with the wallet as it is right after the change',
  fields: plain({
    event: req(GraphQLString), walletId: req(GraphQLID), change: GraphQLString, amount: GraphQLFloat, transactionId: GraphQLID, reason: GraphQLString, wallet: req(Wallet)
  })
})

// Owner-scoped reads answer null (not an error) for a stranger's resource,
// the GraphQL counterpart of the REST side's 404.
const ifVisible = <T extends { ownerId: string }>(ctx: GraphqlContext, item: T | undefined): T | null =>
  item !== undefined && canSee(ctx.consumer, item.ownerId) ? item : null

const Query = new GraphQLObjectType<unknown, GraphqlContext>({
  name: 'Query',
  fields: {
    wallet: { type: Wallet, args: { id: { type: ID_ARG } }, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findWallet(args.id)) },
    wallets: {
      type: listOf(Wallet),
      args: { ownerId: { type: GraphQLID }, status: { type: GraphQLString }, limit: { type: GraphQLInt, defaultValue: 20 } },
      resolve: (_root, args: { ownerId?: string, status?: string, limit?: number }, ctx) => ctx.store.listWallets()
        .filter((w) => canSee(ctx.consumer, w.ownerId) && (args.ownerId == null || w.ownerId === args.ownerId) && (args.status == null || w.status === args.status))
        .slice(0, limitOf(args.limit))
    },
    transactions: {
      type: listOf(Transaction),
      description: 'Newest first',
      args: { walletId: { type: ID_ARG }, type: { type: GraphQLString }, limit: { type: GraphQLInt, defaultValue: 20 } },
      resolve: (_root, args: { walletId: string, type?: string, limit?: number }, ctx) => {
        if (ifVisible(ctx, ctx.store.findWallet(args.walletId)) === null) return []
        return ctx.store.listTransactions().filter((t) => t.walletId === args.walletId && (args.type == null || t.type === args.type)).slice(0, limitOf(args.limit))
      }
    },
    claim: { type: ClaimType, args: { id: { type: ID_ARG } }, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findClaim(args.id)) },
    medcard: { type: MedCardType, args: { id: { type: ID_ARG } }, resolve: (_root, args: { id: string }, ctx) => ifVisible(ctx, ctx.store.findMedcard(args.id)) },
    providers: {
      type: listOf(Provider),
      args: { type: { type: GraphQLString }, city: { type: GraphQLString } },
      resolve: (_root, args: { type?: string, city?: string }, ctx) => ctx.store.listProviders()
        .filter((p) => (args.type == null || p.type === args.type) && (args.city == null || p.city.toLowerCase() === args.city.toLowerCase()))
    }
  }
})

const Subscription = new GraphQLObjectType<StoreEvent, GraphqlContext>({
  name: 'Subscription',
  fields: {
    walletUpdated: {
      type: req(WalletEvent),
      description: 'Every change to one wallet, or without walletId to every wallet the caller may see',
      args: { walletId: { type: GraphQLID } },
      subscribe: (_root, args: { walletId?: string | null }, ctx) => {
        const walletId = args.walletId ?? undefined
        if (walletId !== undefined && ifVisible(ctx, ctx.store.findWallet(walletId)) === null) {
          throw new GraphQLError(`No wallet with id "${walletId}"`, { extensions: { code: 'NOT_FOUND' } })
        }
        return storeEvents(ctx.store, (e) => e.channel === 'wallet' &&
          (walletId !== undefined ? e.data.walletId === walletId : canSee(ctx.consumer, e.subject)))
      },
      resolve: (e: StoreEvent) => ({ event: e.event, ...e.data })
    }
  }
})

export function buildGraphqlSchema (): GraphQLSchema {
  return new GraphQLSchema({ query: Query, subscription: Subscription })
}
