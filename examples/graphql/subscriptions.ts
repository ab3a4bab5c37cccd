// The 5 subscriptions, fed by the store's events (the same ones the gateway's
// /ws stream carries). Each follows one resource by id, which the caller must
// be able to see (otherwise NOT_FOUND, as for a missing one), or without the id
// every resource of its kind the caller may see: its own, or all for
// admin/support. Events arrive in the order the store emits them.
import { GraphQLID, GraphQLObjectType, type GraphQLFieldConfig, type GraphQLOutputType } from 'graphql'
import { canSee } from '../consumer.js'
import { storeEvents } from '../event-iterator.js'
import { notFound } from '../problem.js'
import type { Channel, StoreEvent } from '../store.js'
import { req, withProblems, type GraphqlContext } from './context.js'
import { ClaimUpdate, MedCardUpdate, PaymentUpdate, Transaction, WalletEvent } from './types.js'

interface Feed {
  type: GraphQLOutputType
  description: string
  channel: Channel
  /** the resource kind, as in its errors (`No wallet with id …`) */
  kind: string
  /** the argument naming one resource, and the field of an event's `data` that holds its id */
  idArg: string
  /** the owner of the resource with this id, undefined when there is none */
  ownerOf: (ctx: GraphqlContext, id: string) => string | undefined
  /** which of the channel's events this subscription delivers (default: all) */
  accepts?: (e: StoreEvent) => boolean
  resolve?: (e: StoreEvent, ctx: GraphqlContext) => unknown
}

function feed (spec: Feed): GraphQLFieldConfig<StoreEvent, GraphqlContext> {
  return {
    type: req(spec.type),
    description: spec.description,
    args: { [spec.idArg]: { type: GraphQLID } },
    subscribe: (_root, args: Record<string, string | null | undefined>, ctx) => {
      const id = args[spec.idArg] ?? undefined
      if (id !== undefined) {
        const owner = spec.ownerOf(ctx, id)
        if (owner === undefined || !canSee(ctx.consumer, owner)) throw notFound(spec.kind, id)
      }
      return storeEvents(ctx.store, (e) => e.channel === spec.channel && (spec.accepts?.(e) ?? true) &&
        (id !== undefined ? e.data[spec.idArg] === id : canSee(ctx.consumer, e.subject)))
    },
    resolve: (e: StoreEvent, _args: unknown, ctx: GraphqlContext) => spec.resolve !== undefined ? spec.resolve(e, ctx) : { event: e.event, ...e.data }
  }
}

export const Subscription = new GraphQLObjectType<StoreEvent, GraphqlContext>({
  name: 'Subscription',
  fields: withProblems({
    walletUpdated: feed({
      type: WalletEvent,
      description: 'Every change to one wallet, or without walletId to every wallet the caller may see',
      channel: 'wallet',
      kind: 'wallet',
      idArg: 'walletId',
      ownerOf: (ctx, id) => ctx.store.findWallet(id)?.ownerId
    }),
    transactionCreated: feed({
      type: Transaction,
      description: 'Every new ledger line (deposit, withdrawal, either leg of a transfer, payment, refund) of one wallet, or of every wallet the caller may see',
      channel: 'wallet',
      kind: 'wallet',
      idArg: 'walletId',
      ownerOf: (ctx, id) => ctx.store.findWallet(id)?.ownerId,
      accepts: (e) => typeof e.data.transactionId === 'string',
      resolve: (e, ctx) => ctx.store.findTransaction(e.data.transactionId as string)
    }),
    paymentUpdated: feed({
      type: PaymentUpdate,
      description: 'One payment\'s changes (refunded), or without paymentId every payment made or refunded that the caller may see',
      channel: 'payment',
      kind: 'payment',
      idArg: 'paymentId',
      ownerOf: (ctx, id) => ctx.store.findPayment(id)?.payerId
    }),
    claimUpdated: feed({
      type: ClaimUpdate,
      description: 'One claim\'s progress, or without claimId every claim submitted or moved on that the caller may see',
      channel: 'claim',
      kind: 'claim',
      idArg: 'claimId',
      ownerOf: (ctx, id) => ctx.store.findClaim(id)?.ownerId
    }),
    medcardUpdated: feed({
      type: MedCardUpdate,
      description: 'One MedCard suspended or reactivated, or without medcardId every such change the caller may see',
      channel: 'medcard',
      kind: 'medcard',
      idArg: 'medcardId',
      ownerOf: (ctx, id) => ctx.store.findMedcard(id)?.ownerId
    })
  })
})
