// The records the sample backends keep. Money on wallets and transactions is
// held in minor units (piastres/cents) so balances never drift by float error;
// the *View types are what API v1 returns, in major units (API v2 writes their
// money fields as { amountMinor, currency }: see money.ts and api-versions.ts).
import type { Amount } from './money.js'

export type Channel = 'wallet' | 'payment' | 'medcard' | 'claim' | 'analytics'

/** What the store emits on `event`; the shape the gateway's `/ws` stream carries. */
export interface StoreEvent {
  channel: Channel
  event: string
  /** the user id the event is about: the gateway only delivers it to that consumer (or admin/support) */
  subject: string
  data: Record<string, unknown>
}

export type Tier = 'authenticated' | 'premium'

export interface User {
  id: string
  username: string
  roles: string[]
  tier: Tier
  passwordSalt: string
  passwordHash: Buffer
}

export interface PublicUser {
  id: string
  username: string
  roles: string[]
  tier: Tier
}

export const CURRENCIES = ['EGP', 'USD', 'EUR'] as const
export type Currency = typeof CURRENCIES[number]

export type WalletStatus = 'active' | 'frozen' | 'closed'

export interface WalletRecord {
  id: string
  ownerId: string
  currency: Currency
  balanceMinor: number
  status: WalletStatus
  frozenReason: string | null
  createdAt: string
  updatedAt: string
  /** bumped on every change, so a read-side consumer can order or dedupe updates */
  version: number
}

export interface WalletView {
  id: string
  ownerId: string
  currency: Currency
  balance: number
  status: WalletStatus
  frozenReason: string | null
  createdAt: string
  updatedAt: string
  version: number
}

export const TRANSACTION_TYPES = ['deposit', 'withdrawal', 'transfer_in', 'transfer_out', 'payment', 'refund'] as const
export type TransactionType = typeof TRANSACTION_TYPES[number]

export interface TransactionRecord {
  id: string
  walletId: string
  ownerId: string
  type: TransactionType
  amountMinor: number
  currency: Currency
  balanceAfterMinor: number
  reference: string | null
  description: string
  counterpartyWalletId: string | null
  paymentId: string | null
  createdAt: string
}

export interface TransactionView {
  id: string
  walletId: string
  ownerId: string
  type: TransactionType
  amount: number
  currency: Currency
  balanceAfter: number
  reference: string | null
  description: string
  counterpartyWalletId: string | null
  paymentId: string | null
  createdAt: string
}

export const PAYMENT_METHODS = ['wallet', 'card', 'medcard', 'fawry'] as const
export type PaymentMethod = typeof PAYMENT_METHODS[number]
export const PAYMENT_STATUSES = ['pending', 'completed', 'failed', 'refunded'] as const
export type PaymentStatus = typeof PAYMENT_STATUSES[number]

export interface Payment {
  id: string
  payerId: string
  walletId: string | null
  providerId: string
  amount: number
  currency: Currency
  method: PaymentMethod
  status: PaymentStatus
  description: string
  createdAt: string
  completedAt: string | null
}

export const BENEFIT_CATEGORIES = ['inpatient', 'outpatient', 'pharmacy', 'lab', 'dental', 'optical'] as const
export type BenefitCategory = typeof BENEFIT_CATEGORIES[number]

export interface BenefitRule {
  category: BenefitCategory
  coveragePercent: number
  annualLimit: number
}

export const MEDCARD_STATUSES = ['active', 'suspended', 'expired'] as const
export type MedCardStatus = typeof MEDCARD_STATUSES[number]

export interface MedCard {
  id: string
  ownerId: string
  memberName: string
  insurer: string
  plan: 'silver' | 'gold' | 'platinum'
  policyNumber: string
  status: MedCardStatus
  currency: Currency
  validFrom: string
  validTo: string
  benefits: BenefitRule[]
}

export const CLAIM_STATUSES = ['submitted', 'in_review', 'approved', 'rejected', 'paid'] as const
export type ClaimStatus = typeof CLAIM_STATUSES[number]

export interface ClaimHistoryEntry {
  status: ClaimStatus
  at: string
  note: string
}

export interface Claim {
  id: string
  medcardId: string
  ownerId: string
  providerId: string
  category: BenefitCategory
  amount: number
  approvedAmount: number | null
  currency: Currency
  status: ClaimStatus
  description: string
  submittedAt: string
  updatedAt: string
  history: ClaimHistoryEntry[]
}

export const PROVIDER_TYPES = ['hospital', 'clinic', 'pharmacy', 'lab'] as const
export type ProviderType = typeof PROVIDER_TYPES[number]

export interface Provider {
  id: string
  name: string
  type: ProviderType
  city: string
  phone: string
  acceptsMedcard: boolean
  networkTier: 'standard' | 'premium'
}

export interface SeedData {
  users: User[]
  wallets: WalletRecord[]
  /** oldest first */
  transactions: TransactionRecord[]
  payments: Payment[]
  medcards: MedCard[]
  claims: Claim[]
  providers: Provider[]
}

// ---- inputs and results of the commands ---------------------------------------------

export interface PaymentInput {
  providerId: string
  /** checked like a deposit's amount */
  amount: Amount
  method: PaymentMethod
  /** required for method `wallet` (and the only method it applies to) */
  walletId?: string
  /** for a wallet payment, the wallet's currency (a different one is a conflict); otherwise EGP unless given */
  currency?: Currency
  description?: string
}

/** What a wallet command changed: the wallet and, when money moved, the ledger line. */
export interface WalletChange {
  wallet: WalletView
  transaction?: TransactionView
}

export interface PaymentChange {
  payment: Payment
  /** the wallet and its ledger line, when money moved on a wallet */
  wallet?: WalletView
  transaction?: TransactionView
}

export interface ClaimInput {
  medcardId: string
  providerId: string
  category: BenefitCategory
  /** checked like a deposit's amount */
  amount: Amount
  description?: string
}
