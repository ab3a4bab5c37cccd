// Deterministic seed data. Timestamps are relative to `now` so the analytics
// endpoints (last N days) have something to show whenever the demo starts;
// balances are derived from the seeded transactions, so the ledger adds up.
import { hashPassword } from './password.js'
import type {
  BenefitRule, Claim, ClaimHistoryEntry, ClaimStatus, Currency, MedCard, Payment, PaymentMethod,
  PaymentStatus, Provider, SeedData, TransactionRecord, TransactionType, User, WalletRecord
} from './store-types.js'

export const DEMO_PASSWORD = 'demo-password'
const DAY = 86_400_000

const PROVIDERS: Provider[] = [
  { id: 'prv-cairo-care', name: 'Cairo Care Hospital', type: 'hospital', city: 'Cairo', phone: '+20 2 2345 6789', acceptsMedcard: true, networkTier: 'premium' },
  { id: 'prv-nile-pharmacy', name: 'Nile Pharmacy', type: 'pharmacy', city: 'Giza', phone: '+20 2 3567 1234', acceptsMedcard: true, networkTier: 'standard' },
  { id: 'prv-alex-lab', name: 'Alexandria Diagnostics Lab', type: 'lab', city: 'Alexandria', phone: '+20 3 4876 5432', acceptsMedcard: true, networkTier: 'standard' },
  { id: 'prv-heliopolis-clinic', name: 'Heliopolis Family Clinic', type: 'clinic', city: 'Cairo', phone: '+20 2 2690 1122', acceptsMedcard: true, networkTier: 'standard' },
  { id: 'prv-delta-eye', name: 'Delta Eye Center', type: 'clinic', city: 'Mansoura', phone: '+20 50 223 4455', acceptsMedcard: false, networkTier: 'standard' },
  { id: 'prv-red-sea-medical', name: 'Red Sea Medical Center', type: 'hospital', city: 'Hurghada', phone: '+20 65 344 7788', acceptsMedcard: true, networkTier: 'premium' },
  { id: 'prv-zamalek-dental', name: 'Zamalek Dental Studio', type: 'clinic', city: 'Cairo', phone: '+20 2 2735 9900', acceptsMedcard: true, networkTier: 'premium' },
  { id: 'prv-maadi-pharmacy', name: 'Maadi Pharmacy', type: 'pharmacy', city: 'Cairo', phone: '+20 2 2358 6677', acceptsMedcard: true, networkTier: 'standard' }
]

const PLAN_BENEFITS: Record<MedCard['plan'], BenefitRule[]> = {
  silver: [
    { category: 'inpatient', coveragePercent: 70, annualLimit: 50_000 },
    { category: 'outpatient', coveragePercent: 60, annualLimit: 5_000 },
    { category: 'pharmacy', coveragePercent: 50, annualLimit: 3_000 },
    { category: 'lab', coveragePercent: 60, annualLimit: 2_000 }
  ],
  gold: [
    { category: 'inpatient', coveragePercent: 80, annualLimit: 150_000 },
    { category: 'outpatient', coveragePercent: 80, annualLimit: 15_000 },
    { category: 'pharmacy', coveragePercent: 70, annualLimit: 8_000 },
    { category: 'lab', coveragePercent: 80, annualLimit: 5_000 },
    { category: 'dental', coveragePercent: 50, annualLimit: 4_000 }
  ],
  platinum: [
    { category: 'inpatient', coveragePercent: 100, annualLimit: 500_000 },
    { category: 'outpatient', coveragePercent: 90, annualLimit: 40_000 },
    { category: 'pharmacy', coveragePercent: 90, annualLimit: 20_000 },
    { category: 'lab', coveragePercent: 100, annualLimit: 15_000 },
    { category: 'dental', coveragePercent: 80, annualLimit: 10_000 },
    { category: 'optical', coveragePercent: 80, annualLimit: 6_000 }
  ]
}

type LedgerLine = [daysAgo: number, type: TransactionType, amount: number, description: string, providerId?: string, counterparty?: string]

// w-alice-1 gets a long history so cursor pagination has several pages to walk.
function aliceMainLedger (): LedgerLine[] {
  const lines: LedgerLine[] = [[24, 'deposit', 5000, 'Salary top-up']]
  for (let i = 1; i <= 21; i++) {
    if (i % 5 === 0) lines.push([24 - i, 'deposit', 750, 'Card top-up'])
    else {
      const provider = PROVIDERS[i % PROVIDERS.length]
      lines.push([24 - i, 'payment', 40 + i * 12.25, `Payment to ${provider.name}`, provider.id])
    }
  }
  lines.push([1, 'withdrawal', 300, 'ATM withdrawal'])
  return lines
}

const LEDGERS: Record<string, LedgerLine[]> = {
  'w-alice-1': aliceMainLedger(),
  'w-alice-2': [[12, 'deposit', 200, 'Transfer from abroad'], [6, 'payment', 35.5, 'Payment to Red Sea Medical Center', 'prv-red-sea-medical']],
  'w-bob-1': [
    [20, 'deposit', 20000, 'Salary top-up'],
    [15, 'payment', 1250, 'Payment to Cairo Care Hospital', 'prv-cairo-care'],
    [9, 'transfer_out', 500, 'Transfer to carol', undefined, 'w-carol-1'],
    [4, 'payment', 860.75, 'Payment to Zamalek Dental Studio', 'prv-zamalek-dental'],
    [2, 'refund', 120, 'Refund from Nile Pharmacy']
  ],
  'w-bob-2': [[18, 'deposit', 300, 'Savings']],
  'w-carol-1': [
    [16, 'deposit', 1000, 'Salary top-up'],
    [9, 'transfer_in', 500, 'Transfer from bob', undefined, 'w-bob-1'],
    [3, 'payment', 120, 'Payment to Alexandria Diagnostics Lab', 'prv-alex-lab']
  ]
}

export function seedData (now: number): SeedData {
  const iso = (daysAgo: number, minute = 0): string => new Date(now - daysAgo * DAY + minute * 60_000).toISOString()
  const user = (name: string, roles: string[], tier: User['tier']): User => {
    const passwordSalt = `seed:${name}`
    return { id: `u-${name}`, username: name, roles, tier, passwordSalt, passwordHash: hashPassword(DEMO_PASSWORD, passwordSalt) }
  }
  const users = [
    user('alice', ['customer'], 'authenticated'),
    user('bob', ['customer'], 'premium'),
    user('carol', ['analyst'], 'authenticated'),
    user('admin', ['admin'], 'authenticated')
  ]

  const wallet = (id: string, ownerId: string, currency: Currency, daysAgo: number): WalletRecord =>
    ({ id, ownerId, currency, balanceMinor: 0, status: 'active', frozenReason: null, createdAt: iso(daysAgo), updatedAt: iso(daysAgo), version: 1 })
  const wallets = [
    wallet('w-alice-1', 'u-alice', 'EGP', 25),
    wallet('w-alice-2', 'u-alice', 'USD', 13),
    wallet('w-bob-1', 'u-bob', 'EGP', 21),
    wallet('w-bob-2', 'u-bob', 'EGP', 19),
    wallet('w-carol-1', 'u-carol', 'EGP', 17)
  ]
  const byId = new Map(wallets.map((w) => [w.id, w]))

  // Replay every ledger line in time order, as the write side would have.
  const lines = Object.entries(LEDGERS)
    .flatMap(([walletId, ledger]) => ledger.map((line, index) => ({ walletId, line, createdAt: iso(line[0], index) })))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.walletId.localeCompare(b.walletId))
  const transactions: TransactionRecord[] = []
  const payments: Payment[] = []
  for (const { walletId, line: [, type, amount, description, providerId, counterparty], createdAt } of lines) {
    const w = byId.get(walletId) as WalletRecord
    const amountMinor = Math.round(amount * 100)
    const credit = type === 'deposit' || type === 'transfer_in' || type === 'refund'
    w.balanceMinor += credit ? amountMinor : -amountMinor
    w.updatedAt = createdAt
    w.version++
    let paymentId: string | null = null
    if (type === 'payment' && providerId !== undefined) {
      paymentId = `pay-${String(payments.length + 1).padStart(4, '0')}`
      payments.push({ id: paymentId, payerId: w.ownerId, walletId, providerId, amount, currency: w.currency, method: 'wallet', status: 'completed', description, createdAt, completedAt: createdAt })
    }
    transactions.push({
      id: `t-${String(transactions.length + 1).padStart(5, '0')}`,
      walletId,
      ownerId: w.ownerId,
      type,
      amountMinor,
      currency: w.currency,
      balanceAfterMinor: w.balanceMinor,
      reference: paymentId,
      description,
      counterpartyWalletId: counterparty ?? null,
      paymentId,
      createdAt
    })
  }
  const bob2 = byId.get('w-bob-2') as WalletRecord
  bob2.status = 'frozen'
  bob2.frozenReason = 'Unusual activity under review'
  bob2.version++

  // Payments that never touched a wallet: card, MedCard co-pay, Fawry cash.
  const offWallet: Array<[string, string, number, PaymentMethod, PaymentStatus, number]> = [
    ['u-alice', 'prv-heliopolis-clinic', 450, 'card', 'completed', 11],
    ['u-alice', 'prv-nile-pharmacy', 180.4, 'medcard', 'completed', 8],
    ['u-bob', 'prv-cairo-care', 3200, 'card', 'refunded', 14],
    ['u-bob', 'prv-zamalek-dental', 950, 'fawry', 'pending', 1],
    ['u-carol', 'prv-alex-lab', 260, 'card', 'failed', 5],
    ['u-carol', 'prv-maadi-pharmacy', 75.25, 'fawry', 'completed', 2]
  ]
  for (const [payerId, providerId, amount, method, status, daysAgo] of offWallet) {
    const createdAt = iso(daysAgo, 30)
    payments.push({ id: `pay-${String(payments.length + 1).padStart(4, '0')}`, payerId, walletId: null, providerId, amount, currency: 'EGP', method, status, description: `Payment to ${providerName(providerId)}`, createdAt, completedAt: status === 'pending' || status === 'failed' ? null : createdAt })
  }
  payments.sort((a, b) => a.createdAt.localeCompare(b.createdAt))

  const medcard = (id: string, ownerId: string, memberName: string, plan: MedCard['plan'], status: MedCard['status'], fromDaysAgo: number, toDaysAhead: number): MedCard =>
    ({ id, ownerId, memberName, insurer: 'HealthPay Care', plan, policyNumber: `HPC-${id.toUpperCase().replace(/-/g, '')}`, status, currency: 'EGP', validFrom: iso(fromDaysAgo).slice(0, 10), validTo: iso(-toDaysAhead).slice(0, 10), benefits: PLAN_BENEFITS[plan].map((b) => ({ ...b })) })
  const medcards = [
    medcard('mc-alice-0', 'u-alice', 'Alice Hassan', 'silver', 'expired', 730, -365),
    medcard('mc-alice-1', 'u-alice', 'Alice Hassan', 'gold', 'active', 120, 245),
    medcard('mc-bob-1', 'u-bob', 'Bob Mansour', 'platinum', 'active', 200, 165),
    medcard('mc-carol-1', 'u-carol', 'Carol Adel', 'silver', 'suspended', 90, 275)
  ]

  const STEP_NOTES: Record<ClaimStatus, string> = {
    submitted: 'Claim received', in_review: 'Assigned to a medical reviewer', approved: 'Approved per plan coverage', rejected: 'Service not covered by plan', paid: 'Paid to provider'
  }
  const claim = (n: number, medcardId: string, ownerId: string, providerId: string, category: Claim['category'], amount: number, path: ClaimStatus[], daysAgo: number, approvedAmount: number | null): Claim => {
    const history: ClaimHistoryEntry[] = path.map((status, step) => ({ status, at: iso(daysAgo - step, step * 7), note: STEP_NOTES[status] }))
    const last = history[history.length - 1]
    return { id: `cl-${String(n).padStart(4, '0')}`, medcardId, ownerId, providerId, category, amount, approvedAmount, currency: 'EGP', status: last.status, description: `${category} services at ${providerName(providerId)}`, submittedAt: history[0].at, updatedAt: last.at, history }
  }
  const claims = [
    claim(1, 'mc-alice-1', 'u-alice', 'prv-cairo-care', 'inpatient', 18_500, ['submitted', 'in_review', 'approved', 'paid'], 20, 14_800),
    claim(2, 'mc-alice-1', 'u-alice', 'prv-alex-lab', 'lab', 640, ['submitted', 'in_review', 'approved'], 9, 512),
    claim(3, 'mc-alice-1', 'u-alice', 'prv-zamalek-dental', 'dental', 2_400, ['submitted'], 1, null),
    claim(4, 'mc-bob-1', 'u-bob', 'prv-red-sea-medical', 'outpatient', 1_900, ['submitted', 'in_review', 'approved', 'paid'], 15, 1_710),
    claim(5, 'mc-bob-1', 'u-bob', 'prv-delta-eye', 'optical', 3_100, ['submitted', 'in_review', 'rejected'], 10, null),
    claim(6, 'mc-bob-1', 'u-bob', 'prv-nile-pharmacy', 'pharmacy', 780.5, ['submitted', 'in_review'], 3, null),
    claim(7, 'mc-carol-1', 'u-carol', 'prv-heliopolis-clinic', 'outpatient', 520, ['submitted', 'in_review', 'approved', 'paid'], 40, 312)
  ].sort((a, b) => a.submittedAt.localeCompare(b.submittedAt))

  return { users, wallets, transactions, payments, medcards, claims, providers: PROVIDERS.map((p) => ({ ...p })) }
}

function providerName (id: string): string {
  return PROVIDERS.find((p) => p.id === id)?.name ?? id
}
