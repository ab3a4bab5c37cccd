// The GraphQL object types: the store's records as the REST side shows them in
// v1 (money as decimals), the derived read models, and what mutations and
// subscriptions answer. The type graph is acyclic on purpose (a Transaction
// does not link back to its Wallet, a Provider to its Claims or Payments), so
// no query can nest without bound.
import { GraphQLBoolean, GraphQLEnumType, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLObjectType, GraphQLString } from 'graphql'
import { medcardBenefits } from '../read-models.js'
import { BENEFIT_CATEGORIES, CURRENCIES, PAYMENT_METHODS, type Claim, type MedCard, type Payment, type WalletView } from '../store.js'
import { limitOf, listOf, plain, req, type GraphqlContext } from './context.js'

const enumOf = (name: string, values: readonly string[], description: string) =>
  new GraphQLEnumType({ name, description, values: Object.fromEntries(values.map((v) => [v, { value: v }])) })

// ---- input enums: what the command schemas accept -------------------------------------
export const CurrencyEnum = enumOf('Currency', CURRENCIES, 'A wallet currency')
export const PaymentMethodEnum = enumOf('PaymentMethod', PAYMENT_METHODS, 'How a payment is made')
export const BenefitCategoryEnum = enumOf('BenefitCategory', BENEFIT_CATEGORIES, 'What a MedCard benefit covers')

// ---- the store's records ------------------------------------------------------------------
export const Transaction = new GraphQLObjectType({
  name: 'Transaction',
  fields: plain({
    id: req(GraphQLID), walletId: req(GraphQLID), ownerId: req(GraphQLID), type: req(GraphQLString), amount: req(GraphQLFloat), currency: req(GraphQLString),
    balanceAfter: req(GraphQLFloat), reference: GraphQLString, description: req(GraphQLString), counterpartyWalletId: GraphQLID, paymentId: GraphQLID,
    createdAt: req(GraphQLString)
  })
})

export const Wallet = new GraphQLObjectType<WalletView, GraphqlContext>({
  name: 'Wallet',
  fields: {
    ...plain({
      id: req(GraphQLID), ownerId: req(GraphQLID), currency: req(GraphQLString), balance: req(GraphQLFloat), status: req(GraphQLString),
      frozenReason: GraphQLString, createdAt: req(GraphQLString), updatedAt: req(GraphQLString), version: req(GraphQLInt)
    }),
    transactions: {
      type: listOf(Transaction),
      description: 'Newest first',
      args: { limit: { type: GraphQLInt, defaultValue: 10 } },
      resolve: (w, args: { limit?: number }, ctx) => ctx.store.listTransactions().filter((t) => t.walletId === w.id).slice(0, limitOf(args.limit))
    }
  }
})

export const WalletBalance = new GraphQLObjectType({
  name: 'WalletBalance',
  description: 'A frozen or closed wallet still holds its balance, but none of it is available',
  fields: plain({
    walletId: req(GraphQLID), currency: req(GraphQLString), balance: req(GraphQLFloat), available: req(GraphQLFloat), status: req(GraphQLString),
    version: req(GraphQLInt), asOf: req(GraphQLString)
  })
})

export const Provider = new GraphQLObjectType({
  name: 'Provider',
  fields: plain({ id: req(GraphQLID), name: req(GraphQLString), type: req(GraphQLString), city: req(GraphQLString), phone: req(GraphQLString), acceptsMedcard: req(GraphQLBoolean), networkTier: req(GraphQLString) })
})

export const PaymentType = new GraphQLObjectType<Payment, GraphqlContext>({
  name: 'Payment',
  fields: {
    ...plain({
      id: req(GraphQLID), payerId: req(GraphQLID), walletId: GraphQLID, providerId: req(GraphQLID), amount: req(GraphQLFloat), currency: req(GraphQLString),
      method: req(GraphQLString), status: req(GraphQLString), description: req(GraphQLString), createdAt: req(GraphQLString), completedAt: GraphQLString
    }),
    provider: { type: Provider, resolve: (p, _args, ctx) => ctx.store.findProvider(p.providerId) ?? null },
    transactions: {
      type: listOf(Transaction),
      description: 'The wallet ledger lines of the payment (the payment, its refund), newest first; none for other methods',
      resolve: (p, _args, ctx) => p.walletId === null ? [] : ctx.store.listTransactions().filter((t) => t.paymentId === p.id)
    }
  }
})

const ReceiptProvider = new GraphQLObjectType({
  name: 'ReceiptProvider',
  fields: plain({ id: req(GraphQLID), name: GraphQLString, city: GraphQLString })
})

export const Receipt = new GraphQLObjectType({
  name: 'Receipt',
  fields: plain({
    receiptNumber: req(GraphQLString), paymentId: req(GraphQLID), payerId: req(GraphQLID), provider: req(ReceiptProvider), amount: req(GraphQLFloat),
    currency: req(GraphQLString), method: req(GraphQLString), walletId: GraphQLID, status: req(GraphQLString), description: req(GraphQLString),
    paidAt: GraphQLString, issuedAt: req(GraphQLString)
  })
})

const Benefit = new GraphQLObjectType({
  name: 'Benefit',
  fields: plain({ category: req(GraphQLString), coveragePercent: req(GraphQLFloat), annualLimit: req(GraphQLFloat), used: req(GraphQLFloat), remaining: req(GraphQLFloat) })
})

export const MedCardType = new GraphQLObjectType<MedCard, GraphqlContext>({
  name: 'MedCard',
  fields: {
    ...plain({
      id: req(GraphQLID), ownerId: req(GraphQLID), memberName: req(GraphQLString), insurer: req(GraphQLString), plan: req(GraphQLString),
      policyNumber: req(GraphQLString), status: req(GraphQLString), currency: req(GraphQLString), validFrom: req(GraphQLString), validTo: req(GraphQLString)
    }),
    benefits: { type: listOf(Benefit), resolve: (card, _args, ctx) => medcardBenefits(ctx.store, card) }
  }
})

export const MedCardBenefits = new GraphQLObjectType({
  name: 'MedCardBenefits',
  fields: plain({ medcardId: req(GraphQLID), plan: req(GraphQLString), status: req(GraphQLString), currency: req(GraphQLString), validTo: req(GraphQLString), benefits: listOf(Benefit) })
})

const ClaimEvent = new GraphQLObjectType({
  name: 'ClaimEvent',
  fields: plain({ status: req(GraphQLString), at: req(GraphQLString), note: req(GraphQLString) })
})

export const ClaimType = new GraphQLObjectType<Claim, GraphqlContext>({
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

// ---- what mutations answer --------------------------------------------------------------
const TransferLeg = new GraphQLObjectType({
  name: 'TransferLeg',
  description: 'The receiving side of a transfer: its ids only (its balance is not the sender\'s business)',
  fields: plain({ walletId: req(GraphQLID), transactionId: GraphQLID })
})

export const WalletChange = new GraphQLObjectType({
  name: 'WalletChange',
  description: 'What a wallet command changed: the wallet right after it, the ledger line when money moved, the receiving side of a transfer',
  fields: plain({ wallet: req(Wallet), transaction: Transaction, counterparty: TransferLeg })
})

// ---- what subscriptions deliver ------------------------------------------------------------
export const WalletEvent = new GraphQLObjectType({
  name: 'WalletEvent',
  description: 'One change to a wallet, with the wallet as it is right after the change',
  fields: plain({
    event: req(GraphQLString), walletId: req(GraphQLID), change: GraphQLString, amount: GraphQLFloat, transactionId: GraphQLID, reason: GraphQLString, wallet: req(Wallet)
  })
})

export const PaymentUpdate = new GraphQLObjectType({
  name: 'PaymentUpdate',
  description: 'A payment made or refunded, with the payment as it is right after',
  fields: plain({ event: req(GraphQLString), paymentId: req(GraphQLID), status: req(GraphQLString), reason: GraphQLString, payment: req(PaymentType) })
})

export const ClaimUpdate = new GraphQLObjectType({
  name: 'ClaimUpdate',
  description: 'A claim submitted or moved on (in review, approved, rejected), with the claim as it is right after',
  fields: plain({ event: req(GraphQLString), claimId: req(GraphQLID), medcardId: req(GraphQLID), status: req(GraphQLString), claim: req(ClaimType) })
})

export const MedCardUpdate = new GraphQLObjectType({
  name: 'MedCardUpdate',
  description: 'A MedCard suspended or reactivated, with the card as it is right after',
  fields: plain({ event: req(GraphQLString), medcardId: req(GraphQLID), status: req(GraphQLString), reason: GraphQLString, medcard: req(MedCardType) })
})
