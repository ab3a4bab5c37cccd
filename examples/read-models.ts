// Derived views of the store that both the REST routes and GraphQL serve:
// MedCard benefit usage, payment receipts and the analytics aggregates.
// Money is summed in minor units and converted once, so totals are exact.
import { fromMinor, minorUnits as minor } from './money.js'
import { ProblemError } from './problem.js'
import {
  CLAIM_STATUSES, PAYMENT_METHODS, TRANSACTION_TYPES,
  type BenefitCategory, type Currency, type MedCard, type Payment, type Store
} from './store.js'

const DAY = 86_400_000

export interface BenefitUsage {
  category: BenefitCategory
  coveragePercent: number
  annualLimit: number
  used: number
  remaining: number
}

/** Usage counts what the insurer approved (approved or paid claims) on this card. */
export function medcardBenefits (store: Store, card: MedCard): BenefitUsage[] {
  const usedMinor = new Map<BenefitCategory, number>()
  for (const c of store.listClaims()) {
    if (c.medcardId !== card.id || c.approvedAmount === null || (c.status !== 'approved' && c.status !== 'paid')) continue
    usedMinor.set(c.category, (usedMinor.get(c.category) ?? 0) + minor(c.approvedAmount))
  }
  return card.benefits.map((b) => {
    const used = usedMinor.get(b.category) ?? 0
    return { ...b, used: fromMinor(used), remaining: fromMinor(Math.max(0, minor(b.annualLimit) - used)) }
  })
}

export function paymentReceipt (store: Store, p: Payment) {
  // Only money that actually moved gets a receipt; a pending or failed payment has none yet.
  if (p.status !== 'completed' && p.status !== 'refunded') {
    throw new ProblemError(409, 'receipt-not-available', `Payment ${p.id} is ${p.status}; a receipt exists only for completed or refunded payments`)
  }
  const provider = store.findProvider(p.providerId)
  return {
    receiptNumber: `RCPT-${p.id.toUpperCase()}`,
    paymentId: p.id,
    payerId: p.payerId,
    provider: provider === undefined ? { id: p.providerId, name: null, city: null } : { id: provider.id, name: provider.name, city: provider.city },
    amount: p.amount,
    currency: p.currency,
    method: p.method,
    walletId: p.walletId,
    status: p.status,
    description: p.description,
    paidAt: p.completedAt,
    issuedAt: new Date(store.now()).toISOString()
  }
}

function addTo<K> (map: Map<K, number>, key: K, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value)
}

const totals = (map: Map<Currency, number>) => [...map].map(([currency, sum]) => ({ currency, amount: fromMinor(sum) }))

export function analyticsSummary (store: Store) {
  const wallets = store.listWallets()
  const balances = new Map<Currency, number>()
  for (const w of wallets) addTo(balances, w.currency, minor(w.balance))
  const transactions = store.listTransactions()
  const byType = Object.fromEntries(TRANSACTION_TYPES.map((t) => [t, transactions.filter((x) => x.type === t).length]))
  const payments = store.listPayments()
  const paid = new Map<Currency, number>()
  for (const p of payments) if (p.status === 'completed') addTo(paid, p.currency, minor(p.amount))
  const claims = store.listClaims()
  const approved = new Map<Currency, number>()
  for (const c of claims) if (c.approvedAmount !== null) addTo(approved, c.currency, minor(c.approvedAmount))
  return {
    generatedAt: new Date(store.now()).toISOString(),
    wallets: {
      total: wallets.length,
      active: wallets.filter((w) => w.status === 'active').length,
      frozen: wallets.filter((w) => w.status === 'frozen').length,
      closed: wallets.filter((w) => w.status === 'closed').length,
      balances: totals(balances)
    },
    transactions: { total: transactions.length, byType },
    payments: { total: payments.length, completed: payments.filter((p) => p.status === 'completed').length, completedVolume: totals(paid) },
    claims: { total: claims.length, open: claims.filter((c) => c.status === 'submitted' || c.status === 'in_review').length, approvedAmount: totals(approved) },
    medcards: { total: store.listMedcards().length, active: store.listMedcards().filter((m) => m.status === 'active').length }
  }
}

const CREDIT_TYPES = new Set(['deposit', 'transfer_in', 'refund'])

/** One bucket per UTC day for the last `days` days (today included), empty days as zeros. */
export function transactionsDaily (store: Store, days: number, currency: Currency) {
  const today = Math.floor(store.now() / DAY) * DAY
  const first = today - (days - 1) * DAY
  const buckets = new Map<string, { count: number, credit: number, debit: number }>()
  for (let d = first; d <= today; d += DAY) buckets.set(new Date(d).toISOString().slice(0, 10), { count: 0, credit: 0, debit: 0 })
  for (const t of store.listTransactions()) {
    if (t.currency !== currency) continue
    const bucket = buckets.get(t.createdAt.slice(0, 10))
    if (bucket === undefined) continue
    bucket.count++
    if (CREDIT_TYPES.has(t.type)) bucket.credit += minor(t.amount)
    else bucket.debit += minor(t.amount)
  }
  return {
    currency,
    from: new Date(first).toISOString().slice(0, 10),
    to: new Date(today).toISOString().slice(0, 10),
    items: [...buckets].map(([date, b]) => ({ date, count: b.count, credits: fromMinor(b.credit), debits: fromMinor(b.debit), net: fromMinor(b.credit - b.debit) }))
  }
}

export function paymentsByMethod (store: Store) {
  const payments = store.listPayments()
  return {
    items: PAYMENT_METHODS.map((method) => {
      const mine = payments.filter((p) => p.method === method)
      const volume = new Map<Currency, number>()
      for (const p of mine) if (p.status === 'completed') addTo(volume, p.currency, minor(p.amount))
      return { method, count: mine.length, completed: mine.filter((p) => p.status === 'completed').length, completedVolume: totals(volume) }
    })
  }
}

export function claimsByStatus (store: Store) {
  const claims = store.listClaims()
  return {
    items: CLAIM_STATUSES.map((status) => {
      const mine = claims.filter((c) => c.status === status)
      return {
        status,
        count: mine.length,
        claimedAmount: fromMinor(mine.reduce((s, c) => s + minor(c.amount), 0)),
        approvedAmount: fromMinor(mine.reduce((s, c) => s + minor(c.approvedAmount ?? 0), 0))
      }
    })
  }
}
