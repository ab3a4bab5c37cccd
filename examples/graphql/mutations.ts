// The 15 mutations: the 7 wallet commands of command-service.ts and 8 payment,
// claim and MedCard commands, all through the store's own command methods, so
// the rules, the errors and the events are the ones REST clients get. The
// caller is the consumer the gateway named in X-Consumer-* (none: UNAUTHENTICATED);
// it must own what it changes or be admin/support, and a stranger's resource
// is NOT_FOUND exactly like a missing one. Deciding on claims and refunding
// payments is for admin/support only (FORBIDDEN otherwise).
import { GraphQLFloat, GraphQLID, GraphQLNonNull, GraphQLObjectType, GraphQLString, type GraphQLInputType } from 'graphql'
import { isPrivileged } from '../consumer.js'
import { ProblemError } from '../problem.js'
import type { BenefitCategory, Claim, Currency, MedCard, Payment, PaymentMethod, WalletView } from '../store.js'
import {
  ID_ARG, assertPrivileged, callerOf, checkId, checkText, ownedOrNotFound, req, withProblems, type GraphqlContext
} from './context.js'
import { BenefitCategoryEnum, ClaimType, CurrencyEnum, MedCardType, PaymentMethodEnum, PaymentType, WalletChange } from './types.js'

const arg = (type: GraphQLInputType, description?: string) => ({ type, description })
const required = (type: GraphQLInputType) => arg(new GraphQLNonNull(type))
const walletArgs = { walletId: arg(ID_ARG) }
const moneyArgs = { ...walletArgs, amount: required(GraphQLFloat), reference: arg(GraphQLString, '1–100 characters') }

// What REST commands check in their JSON schemas; the store checks the rest (amounts included).
const REFERENCE_MAX = 100
const REASON_MAX = 200

interface MoneyArgs { walletId: string, amount: number, reference?: string | null }

/** REST's `authorize`: the caller's own wallet (or any, for admin/support); otherwise not found. */
const ownWallet = (ctx: GraphqlContext, id: string): WalletView => ownedOrNotFound(ctx, 'wallet', id, (x) => ctx.store.findWallet(x), (w) => w.ownerId)
const ownPayment = (ctx: GraphqlContext, id: string): Payment => ownedOrNotFound(ctx, 'payment', id, (x) => ctx.store.findPayment(x), (p) => p.payerId)
const ownClaim = (ctx: GraphqlContext, id: string): Claim => ownedOrNotFound(ctx, 'claim', id, (x) => ctx.store.findClaim(x), (c) => c.ownerId)
const ownMedcard = (ctx: GraphqlContext, id: string): MedCard => ownedOrNotFound(ctx, 'medcard', id, (x) => ctx.store.findMedcard(x), (m) => m.ownerId)

/** Claims are decided by the insurer's staff: the claim must be visible, then the caller privileged. */
const decidableClaim = (ctx: GraphqlContext, id: string, action: string): Claim => {
  const claim = ownClaim(ctx, id)
  assertPrivileged(callerOf(ctx), action)
  return claim
}

const moneyCommand = (run: (ctx: GraphqlContext, args: MoneyArgs) => unknown) => ({
  type: req(WalletChange),
  args: moneyArgs,
  resolve: (_root: unknown, args: MoneyArgs, ctx: GraphqlContext) => {
    checkText('reference', args.reference, REFERENCE_MAX)
    ownWallet(ctx, args.walletId)
    return run(ctx, args)
  }
})

export const Mutation = new GraphQLObjectType<unknown, GraphqlContext>({
  name: 'Mutation',
  fields: withProblems({
    // ---- the wallet commands (command-service.ts)
    createWallet: {
      type: req(WalletChange),
      description: 'Opens a wallet for the caller, or (admin/support only) for ownerId',
      args: { currency: required(CurrencyEnum), ownerId: arg(GraphQLID) },
      resolve: (_root, args: { currency: Currency, ownerId?: string | null }, ctx) => {
        checkId('ownerId', args.ownerId)
        const caller = callerOf(ctx)
        const ownerId = args.ownerId ?? caller.id
        if (ownerId !== caller.id && !isPrivileged(caller)) throw new ProblemError(403, 'forbidden', 'Only admin or support may open a wallet for another owner')
        return ctx.store.createWallet(ownerId, args.currency)
      }
    },
    deposit: moneyCommand((ctx, a) => ctx.store.deposit(a.walletId, a.amount, a.reference ?? undefined)),
    withdraw: moneyCommand((ctx, a) => ctx.store.withdraw(a.walletId, a.amount, a.reference ?? undefined)),
    transfer: {
      type: req(WalletChange),
      description: 'Both legs or neither; the answer shows the receiving side by its ids only',
      args: { ...walletArgs, toWalletId: arg(ID_ARG), amount: moneyArgs.amount, reference: moneyArgs.reference },
      resolve: (_root, args: MoneyArgs & { toWalletId: string }, ctx) => {
        checkId('toWalletId', args.toWalletId)
        checkText('reference', args.reference, REFERENCE_MAX)
        ownWallet(ctx, args.walletId)
        const { counterparty, ...source } = ctx.store.transfer(args.walletId, args.toWalletId, args.amount, args.reference ?? undefined)
        return { ...source, counterparty: { walletId: counterparty.wallet.id, transactionId: counterparty.transaction?.id } }
      }
    },
    freezeWallet: {
      type: req(WalletChange),
      args: { ...walletArgs, reason: required(GraphQLString) },
      resolve: (_root, args: { walletId: string, reason: string }, ctx) => {
        checkText('reason', args.reason, REASON_MAX)
        ownWallet(ctx, args.walletId)
        return ctx.store.freeze(args.walletId, args.reason)
      }
    },
    unfreezeWallet: {
      type: req(WalletChange),
      args: walletArgs,
      resolve: (_root, args: { walletId: string }, ctx) => ctx.store.unfreeze(ownWallet(ctx, args.walletId).id)
    },
    closeWallet: {
      type: req(WalletChange),
      description: 'Only an empty wallet closes',
      args: walletArgs,
      resolve: (_root, args: { walletId: string }, ctx) => ctx.store.close(ownWallet(ctx, args.walletId).id)
    },

    // ---- payments
    createPayment: {
      type: req(PaymentType),
      description: 'Pays a provider: from the caller\'s wallet (method wallet, the default: debited at once), by card or MedCard co-pay (completed), or Fawry cash (pending)',
      args: {
        providerId: arg(ID_ARG), amount: required(GraphQLFloat), method: { type: PaymentMethodEnum, defaultValue: 'wallet' }, walletId: arg(GraphQLID),
        currency: arg(CurrencyEnum, 'The wallet\'s currency for a wallet payment, else EGP unless given'), description: arg(GraphQLString, '1–200 characters')
      },
      resolve: (_root, args: { providerId: string, amount: number, method: PaymentMethod, walletId?: string | null, currency?: Currency | null, description?: string | null }, ctx) => {
        checkId('providerId', args.providerId)
        checkText('description', args.description, REASON_MAX)
        const caller = callerOf(ctx)
        if (args.walletId != null) ownWallet(ctx, args.walletId)
        return ctx.store.createPayment(caller.id, {
          providerId: args.providerId, amount: args.amount, method: args.method, walletId: args.walletId ?? undefined,
          currency: args.currency ?? undefined, description: args.description ?? undefined
        }).payment
      }
    },
    refundPayment: {
      type: req(PaymentType),
      description: 'admin/support: refunds a completed payment (a wallet payment back to its wallet)',
      args: { paymentId: arg(ID_ARG), reason: arg(GraphQLString, '1–200 characters') },
      resolve: (_root, args: { paymentId: string, reason?: string | null }, ctx) => {
        checkText('reason', args.reason, REASON_MAX)
        ownPayment(ctx, args.paymentId)
        assertPrivileged(callerOf(ctx), 'refund a payment')
        return ctx.store.refundPayment(args.paymentId, args.reason ?? undefined).payment
      }
    },

    // ---- claims
    submitClaim: {
      type: req(ClaimType),
      description: 'A claim on the caller\'s active MedCard, at a provider that accepts MedCards, for a category its plan covers',
      args: {
        medcardId: arg(ID_ARG), providerId: arg(ID_ARG), category: required(BenefitCategoryEnum), amount: required(GraphQLFloat),
        description: arg(GraphQLString, '1–200 characters')
      },
      resolve: (_root, args: { medcardId: string, providerId: string, category: BenefitCategory, amount: number, description?: string | null }, ctx) => {
        checkId('providerId', args.providerId)
        checkText('description', args.description, REASON_MAX)
        ownMedcard(ctx, args.medcardId)
        return ctx.store.submitClaim({ medcardId: args.medcardId, providerId: args.providerId, category: args.category, amount: args.amount, description: args.description ?? undefined })
      }
    },
    reviewClaim: {
      type: req(ClaimType),
      description: 'admin/support: takes a submitted claim into review',
      args: { claimId: arg(ID_ARG) },
      resolve: (_root, args: { claimId: string }, ctx) => ctx.store.reviewClaim(decidableClaim(ctx, args.claimId, 'review a claim').id)
    },
    approveClaim: {
      type: req(ClaimType),
      description: 'admin/support: approves a claim in review, by default for what the plan covers (its percentage, within the annual limit left)',
      args: { claimId: arg(ID_ARG), approvedAmount: arg(GraphQLFloat) },
      resolve: (_root, args: { claimId: string, approvedAmount?: number | null }, ctx) =>
        ctx.store.approveClaim(decidableClaim(ctx, args.claimId, 'approve a claim').id, args.approvedAmount ?? undefined)
    },
    rejectClaim: {
      type: req(ClaimType),
      description: 'admin/support: rejects a submitted claim or one in review',
      args: { claimId: arg(ID_ARG), reason: required(GraphQLString) },
      resolve: (_root, args: { claimId: string, reason: string }, ctx) => {
        checkText('reason', args.reason, REASON_MAX)
        return ctx.store.rejectClaim(decidableClaim(ctx, args.claimId, 'reject a claim').id, args.reason)
      }
    },

    // ---- MedCards
    suspendMedcard: {
      type: req(MedCardType),
      description: 'A lost card: no claims until reactivated',
      args: { medcardId: arg(ID_ARG), reason: required(GraphQLString) },
      resolve: (_root, args: { medcardId: string, reason: string }, ctx) => {
        checkText('reason', args.reason, REASON_MAX)
        return ctx.store.suspendMedcard(ownMedcard(ctx, args.medcardId).id, args.reason)
      }
    },
    reactivateMedcard: {
      type: req(MedCardType),
      description: 'A suspended card that has not expired',
      args: { medcardId: arg(ID_ARG) },
      resolve: (_root, args: { medcardId: string }, ctx) => ctx.store.reactivateMedcard(ownMedcard(ctx, args.medcardId).id)
    }
  })
})
