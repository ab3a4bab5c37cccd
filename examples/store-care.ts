// The care side of the store: payments to providers, MedCards and their claims.
// The Store owns one CareDesk and delegates to it. Money that moves on a wallet
// (a wallet payment, its refund) goes through the Store's own ledger, so it is
// checked, recorded and announced exactly like a withdrawal or a deposit; every
// other change is announced here, on the `payment`, `claim` or `medcard` channel,
// with a copy of the changed record (what the GraphQL subscriptions deliver).
import { amountToMinor, fromMinor, minorUnits, type Amount } from './money.js'
import { ProblemError, notFound } from './problem.js'
import type {
  BenefitCategory, Channel, Claim, ClaimInput, ClaimStatus, Currency, MedCard, Payment, PaymentChange, PaymentInput, Provider,
  SeedData, WalletChange
} from './store-types.js'

/** What the care side needs of the wallet side. */
export interface CareHost {
  isoNow: () => string
  announce: (channel: Channel, event: string, subject: string, data: Record<string, unknown>) => void
  /** the checks of a withdrawal (the wallet exists and is active, the currency if given, the funds): the amount in minor units and the wallet's owner */
  assertPayable: (walletId: string, amount: Amount, currency: Currency | undefined) => { minor: number, ownerId: string, currency: Currency }
  /** a ledger line on an active wallet that references the payment: a debit (`payment`) or a credit (`refund`) */
  post: (walletId: string, type: 'payment' | 'refund', minor: number, description: string, paymentId: string) => WalletChange
}

export class CareDesk {
  /** oldest first, like every list here; the Store's reads reverse them */
  readonly payments: Payment[]
  readonly medcards: MedCard[]
  readonly claims: Claim[]
  readonly providers: Provider[]
  private paymentSeq: number
  private claimSeq: number

  constructor (private readonly host: CareHost, seed: Pick<SeedData, 'payments' | 'medcards' | 'claims' | 'providers'>) {
    this.payments = seed.payments
    this.medcards = seed.medcards
    this.claims = seed.claims
    this.providers = seed.providers
    this.paymentSeq = this.payments.length
    this.claimSeq = this.claims.length
  }

  findPayment (id: string): Payment | undefined { return this.payments.find((p) => p.id === id) }
  findMedcard (id: string): MedCard | undefined { return this.medcards.find((m) => m.id === id) }
  findClaim (id: string): Claim | undefined { return this.claims.find((c) => c.id === id) }
  findProvider (id: string): Provider | undefined { return this.providers.find((p) => p.id === id) }

  // ---- payments --------------------------------------------------------------

  /**
   * A payment to a provider. From a wallet (method `wallet`) it is debited at once
   * and completed, and the payer is the wallet's owner; by card or MedCard co-pay
   * it completes at once; Fawry cash stays pending (paid later at an outlet).
   */
  createPayment (payerId: string, input: PaymentInput): PaymentChange {
    const provider = this.existingProvider(input.providerId)
    if (input.method === 'medcard' && !provider.acceptsMedcard) throw notInNetwork(provider)
    const description = input.description ?? `Payment to ${provider.name}`
    const at = this.host.isoNow()
    if (input.method !== 'wallet') {
      if (input.walletId !== undefined) throw new ProblemError(400, 'wallet-not-applicable', `walletId applies to method "wallet" only, not "${input.method}"`)
      const minor = amountToMinor(input.amount)
      const status = input.method === 'fawry' ? 'pending' : 'completed'
      const payment: Payment = {
        id: this.nextPaymentId(), payerId, walletId: null, providerId: provider.id, amount: fromMinor(minor), currency: input.currency ?? 'EGP',
        method: input.method, status, description, createdAt: at, completedAt: status === 'completed' ? at : null
      }
      this.payments.push(payment)
      this.paymentChanged(payment, {})
      return { payment }
    }
    if (input.walletId === undefined) throw new ProblemError(400, 'wallet-required', 'A payment with method "wallet" needs walletId')
    const { minor, ownerId, currency } = this.host.assertPayable(input.walletId, input.amount, input.currency)
    const payment: Payment = {
      id: this.nextPaymentId(), payerId: ownerId, walletId: input.walletId, providerId: provider.id, amount: fromMinor(minor), currency,
      method: 'wallet', status: 'completed', description, createdAt: at, completedAt: at
    }
    this.payments.push(payment)
    const change = this.host.post(input.walletId, 'payment', minor, description, payment.id)
    this.paymentChanged(payment, {})
    return { payment, ...change }
  }

  /** A completed payment, refunded; a wallet payment is credited back to its wallet, which must be active. */
  refundPayment (paymentId: string, reason?: string): PaymentChange {
    const p = this.findPayment(paymentId)
    if (p === undefined) throw notFound('payment', paymentId)
    if (p.status !== 'completed') throw new ProblemError(409, 'payment-not-refundable', `Payment ${p.id} is ${p.status}; only a completed payment can be refunded`)
    const change = p.walletId === null ? {} : this.host.post(p.walletId, 'refund', minorUnits(p.amount), `Refund of ${p.id}`, p.id)
    p.status = 'refunded'
    this.paymentChanged(p, reason === undefined ? {} : { reason })
    return { payment: p, ...change }
  }

  // ---- claims ------------------------------------------------------------------

  /** A claim on an active MedCard, at a provider that accepts MedCards, for a category the card's plan covers. */
  submitClaim (input: ClaimInput): Claim {
    const card = this.usableMedcard(input.medcardId)
    const provider = this.existingProvider(input.providerId)
    if (!provider.acceptsMedcard) throw notInNetwork(provider)
    if (!card.benefits.some((b) => b.category === input.category)) {
      throw new ProblemError(409, 'benefit-not-covered', `The ${card.plan} plan of MedCard ${card.id} does not cover ${input.category}`)
    }
    const minor = amountToMinor(input.amount)
    const at = this.host.isoNow()
    const claim: Claim = {
      id: `cl-${String(++this.claimSeq).padStart(4, '0')}`, medcardId: card.id, ownerId: card.ownerId, providerId: provider.id, category: input.category,
      amount: fromMinor(minor), approvedAmount: null, currency: card.currency, status: 'submitted',
      description: input.description ?? `${input.category} services at ${provider.name}`, submittedAt: at, updatedAt: at,
      history: [{ status: 'submitted', at, note: 'Claim received' }]
    }
    this.claims.push(claim)
    this.host.announce('claim', 'claim.submitted', claim.ownerId, claimEventData(claim))
    return claim
  }

  reviewClaim (claimId: string): Claim {
    return this.moveClaim(this.claimIn(claimId, ['submitted'], 'taken into review'), 'in_review', 'Assigned to a medical reviewer')
  }

  /**
   * Approves a claim under review for `approvedAmount`, by default what the plan
   * covers: its percentage of the claim, capped by what is left of the category's
   * annual limit (approved and paid claims count against it).
   */
  approveClaim (claimId: string, approvedAmount?: Amount): Claim {
    const claim = this.claimIn(claimId, ['in_review'], 'approved')
    const rule = this.existingMedcard(claim.medcardId).benefits.find((b) => b.category === claim.category)
    const claimed = minorUnits(claim.amount)
    const remaining = rule === undefined ? 0 : Math.max(0, minorUnits(rule.annualLimit) - this.benefitUsedMinor(claim.medcardId, claim.category))
    const minor = approvedAmount === undefined ? Math.min(Math.round(claimed * (rule?.coveragePercent ?? 0) / 100), remaining) : amountToMinor(approvedAmount)
    if (minor > claimed) {
      throw new ProblemError(409, 'approved-amount-exceeds-claim', `Claim ${claim.id} is for ${claim.amount} ${claim.currency}, less than the ${fromMinor(minor)} to approve`)
    }
    if (minor > remaining || minor === 0) {
      throw new ProblemError(409, 'benefit-limit-exceeded', `Only ${fromMinor(remaining)} ${claim.currency} of the ${claim.category} benefit of MedCard ${claim.medcardId} is left this year`,
        { extensions: { remaining: fromMinor(remaining), requested: fromMinor(minor), currency: claim.currency } })
    }
    claim.approvedAmount = fromMinor(minor)
    return this.moveClaim(claim, 'approved', 'Approved per plan coverage')
  }

  rejectClaim (claimId: string, reason: string): Claim {
    return this.moveClaim(this.claimIn(claimId, ['submitted', 'in_review'], 'rejected'), 'rejected', reason)
  }

  // ---- MedCards ------------------------------------------------------------------

  /** A lost card or a lapsed premium: a suspended card takes no claims. */
  suspendMedcard (medcardId: string, reason: string): MedCard {
    const card = this.existingMedcard(medcardId)
    if (this.isExpired(card)) throw expiredCard(card)
    if (card.status === 'suspended') throw new ProblemError(409, 'medcard-already-suspended', `MedCard ${card.id} is already suspended`)
    card.status = 'suspended'
    this.host.announce('medcard', 'medcard.suspended', card.ownerId, { medcardId: card.id, status: card.status, reason, medcard: { ...card } })
    return card
  }

  reactivateMedcard (medcardId: string): MedCard {
    const card = this.existingMedcard(medcardId)
    if (this.isExpired(card)) throw expiredCard(card)
    if (card.status === 'active') throw new ProblemError(409, 'medcard-not-suspended', `MedCard ${card.id} is not suspended`)
    card.status = 'active'
    this.host.announce('medcard', 'medcard.reactivated', card.ownerId, { medcardId: card.id, status: card.status, medcard: { ...card } })
    return card
  }

  // ---- helpers -------------------------------------------------------------------

  private nextPaymentId (): string {
    return `pay-${String(++this.paymentSeq).padStart(4, '0')}`
  }

  private paymentChanged (p: Payment, extra: Record<string, unknown>): void {
    this.host.announce('payment', `payment.${p.status}`, p.payerId, { paymentId: p.id, status: p.status, ...extra, payment: { ...p } })
  }

  private existingProvider (id: string): Provider {
    const p = this.findProvider(id)
    if (p === undefined) throw notFound('provider', id)
    return p
  }

  private existingMedcard (id: string): MedCard {
    const card = this.findMedcard(id)
    if (card === undefined) throw notFound('medcard', id)
    return card
  }

  private isExpired (card: MedCard): boolean {
    return card.status === 'expired' || card.validTo < this.host.isoNow().slice(0, 10)
  }

  private usableMedcard (id: string): MedCard {
    const card = this.existingMedcard(id)
    if (this.isExpired(card)) throw expiredCard(card)
    if (card.status === 'suspended') throw new ProblemError(409, 'medcard-suspended', `MedCard ${card.id} is suspended; it takes no claims until reactivated`)
    return card
  }

  /** What the insurer approved (approved or paid claims) on one card and category, in minor units. */
  private benefitUsedMinor (medcardId: string, category: BenefitCategory): number {
    return this.claims
      .filter((c) => c.medcardId === medcardId && c.category === category && (c.status === 'approved' || c.status === 'paid'))
      .reduce((sum, c) => sum + minorUnits(c.approvedAmount ?? 0), 0)
  }

  private claimIn (id: string, from: ClaimStatus[], verb: string): Claim {
    const claim = this.findClaim(id)
    if (claim === undefined) throw notFound('claim', id)
    if (!from.includes(claim.status)) {
      throw new ProblemError(409, 'claim-status-conflict', `Claim ${claim.id} is ${claim.status}; only a claim that is ${from.join(' or ')} can be ${verb}`,
        { extensions: { claimStatus: claim.status } })
    }
    return claim
  }

  private moveClaim (claim: Claim, to: ClaimStatus, note: string): Claim {
    const at = this.host.isoNow()
    claim.status = to
    claim.updatedAt = at
    claim.history.push({ status: to, at, note })
    this.host.announce('claim', `claim.${to}`, claim.ownerId, claimEventData(claim))
    return claim
  }
}

function notInNetwork (p: Provider): ProblemError {
  return new ProblemError(409, 'provider-not-in-network', `${p.name} (${p.id}) does not accept MedCards`)
}

function expiredCard (card: MedCard): ProblemError {
  return new ProblemError(409, 'medcard-expired', `MedCard ${card.id} expired on ${card.validTo}`)
}

/** A claim event carries a copy: the claim itself changes on (its history grows). */
function claimEventData (c: Claim): Record<string, unknown> {
  return { claimId: c.id, medcardId: c.medcardId, status: c.status, claim: { ...c, history: c.history.map((h) => ({ ...h })) } }
}
