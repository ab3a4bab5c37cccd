// The store's payment, claim and MedCard commands (store-care.ts): their rules,
// their events, and that a refused command changes nothing and emits nothing.
import t from 'tap'
import { thrownBy, recordEvents } from './helpers.js'
import { ProblemError } from '../../examples/problem.js'
import { createStore, type StoreEvent } from '../../examples/store.js'
import { medcardBenefits } from '../../examples/read-models.js'


const summary = (e: StoreEvent) => [e.channel, e.event, e.subject]

t.test('a wallet payment debits the wallet with a ledger line that references it, then announces it', async (t) => {
  const store = createStore()
  const events = recordEvents(store)
  const { payment, wallet, transaction } = store.createPayment('u-admin', { providerId: 'prv-alex-lab', amount: 99.95, method: 'wallet', walletId: 'w-alice-1' })
  t.match(payment, { id: 'pay-0028', payerId: 'u-alice', walletId: 'w-alice-1', providerId: 'prv-alex-lab', amount: 99.95, currency: 'EGP', method: 'wallet', status: 'completed', description: 'Payment to Alexandria Diagnostics Lab' })
  t.equal(payment.completedAt, payment.createdAt)
  t.equal(wallet?.balance, 4702.8)
  t.match(transaction, { walletId: 'w-alice-1', type: 'payment', amount: 99.95, reference: 'pay-0028', paymentId: 'pay-0028' })
  t.equal(store.listPayments()[0].id, 'pay-0028', 'newest first')
  t.same(events.map(summary), [['wallet', 'wallet.updated', 'u-alice'], ['analytics', 'analytics.transaction.recorded', 'u-alice'], ['payment', 'payment.completed', 'u-alice']])
  t.same(events[2].data, { paymentId: 'pay-0028', status: 'completed', payment: { ...payment } })
  t.not(events[2].data.payment, payment, 'the event carries a copy')
})

t.test('card and MedCard payments complete at once, Fawry cash stays pending; none touches a wallet', async (t) => {
  const store = createStore()
  const before = store.listWallets()
  const card = store.createPayment('u-bob', { providerId: 'prv-cairo-care', amount: 120, method: 'card' })
  const medcard = store.createPayment('u-bob', { providerId: 'prv-nile-pharmacy', amount: { minor: 4550 }, method: 'medcard', currency: 'USD' })
  const fawry = store.createPayment('u-bob', { providerId: 'prv-maadi-pharmacy', amount: 30, method: 'fawry', description: 'Vitamins' })
  t.match(card, { payment: { payerId: 'u-bob', walletId: null, currency: 'EGP', status: 'completed' } })
  t.equal(card.wallet, undefined)
  t.match(medcard.payment, { amount: 45.5, currency: 'USD', status: 'completed' })
  t.match(fawry.payment, { status: 'pending', completedAt: null, description: 'Vitamins' })
  t.same(store.listWallets(), before)
})

t.test('a refused payment changes nothing and emits nothing', async (t) => {
  const store = createStore()
  const events = recordEvents(store)
  const payments = store.listPayments().length
  const wallets = store.listWallets()
  const attempts: Array<[() => unknown, number, string]> = [
    [() => store.createPayment('u-alice', { providerId: 'prv-nowhere', amount: 1, method: 'card' }), 404, 'provider-not-found'],
    [() => store.createPayment('u-alice', { providerId: 'prv-delta-eye', amount: 1, method: 'medcard' }), 409, 'provider-not-in-network'],
    [() => store.createPayment('u-alice', { providerId: 'prv-alex-lab', amount: 1, method: 'wallet' }), 400, 'wallet-required'],
    [() => store.createPayment('u-alice', { providerId: 'prv-alex-lab', amount: 1, method: 'card', walletId: 'w-alice-1' }), 400, 'wallet-not-applicable'],
    [() => store.createPayment('u-alice', { providerId: 'prv-alex-lab', amount: 1, method: 'wallet', walletId: 'w-alice-1', currency: 'USD' }), 409, 'currency-mismatch'],
    [() => store.createPayment('u-bob', { providerId: 'prv-alex-lab', amount: 1, method: 'wallet', walletId: 'w-bob-2' }), 409, 'wallet-frozen'],
    [() => store.createPayment('u-carol', { providerId: 'prv-alex-lab', amount: 1e6, method: 'wallet', walletId: 'w-carol-1' }), 409, 'insufficient-funds'],
    [() => store.createPayment('u-carol', { providerId: 'prv-alex-lab', amount: 0.001, method: 'card' }), 400, 'invalid-amount'],
    [() => store.refundPayment('pay-9999'), 404, 'payment-not-found'],
    [() => store.refundPayment(store.listPayments().find((p) => p.status === 'pending')!.id), 409, 'payment-not-refundable'],
    [() => store.refundPayment(store.listPayments().find((p) => p.status === 'refunded')!.id), 409, 'payment-not-refundable']
  ]
  for (const [attempt, status, slug] of attempts) {
    const thrown = thrownBy(attempt)
    t.ok(thrown instanceof ProblemError, `${slug} is a ProblemError`)
    t.match(thrown, { status, slug })
  }
  t.equal(store.listPayments().length, payments)
  t.same(store.listWallets(), wallets)
  t.same(events, [])
})

t.test('a refund credits a wallet payment back, once, and only to an active wallet', async (t) => {
  const store = createStore()
  const { payment } = store.createPayment('u-bob', { providerId: 'prv-cairo-care', amount: 250, method: 'wallet', walletId: 'w-bob-1' })
  const balance = store.findWallet('w-bob-1')!.balance
  store.freeze('w-bob-1', 'review')
  t.match(thrownBy(() => store.refundPayment(payment.id)), { status: 409, slug: 'wallet-frozen' })
  t.equal(store.findPayment(payment.id)?.status, 'completed', 'still refundable')
  store.unfreeze('w-bob-1')

  const events = recordEvents(store)
  const refund = store.refundPayment(payment.id, 'Appointment cancelled')
  t.match(refund, { payment: { id: payment.id, status: 'refunded' }, wallet: { balance: balance + 250 }, transaction: { type: 'refund', amount: 250, paymentId: payment.id, description: `Refund of ${payment.id}` } })
  t.same(events.map(summary), [['wallet', 'wallet.updated', 'u-bob'], ['analytics', 'analytics.transaction.recorded', 'u-bob'], ['payment', 'payment.refunded', 'u-bob']])
  t.match(events[2].data, { paymentId: payment.id, status: 'refunded', reason: 'Appointment cancelled' })
  t.match(thrownBy(() => store.refundPayment(payment.id)), { status: 409, slug: 'payment-not-refundable' })

  const card = store.createPayment('u-bob', { providerId: 'prv-cairo-care', amount: 10, method: 'card' }).payment
  t.same(Object.keys(store.refundPayment(card.id)), ['payment'], 'an off-wallet refund moves no wallet money')
})

t.test('a claim is submitted, reviewed and approved for what the plan covers', async (t) => {
  const store = createStore()
  const events = recordEvents(store)
  const card = store.findMedcard('mc-alice-1')!
  const lab = () => medcardBenefits(store, card).find((b) => b.category === 'lab')!
  t.match(lab(), { coveragePercent: 80, annualLimit: 5000, used: 512 })

  const claim = store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-alex-lab', category: 'lab', amount: 640 })
  t.match(claim, { id: 'cl-0008', ownerId: 'u-alice', status: 'submitted', approvedAmount: null, currency: 'EGP', description: 'lab services at Alexandria Diagnostics Lab', history: [{ status: 'submitted', note: 'Claim received' }] })
  t.equal(store.listClaims()[0].id, 'cl-0008', 'newest first')
  store.reviewClaim(claim.id)
  const approved = store.approveClaim(claim.id)
  t.match(approved, { status: 'approved', approvedAmount: 512 }, '80% of 640')
  t.same(approved.history.map((h) => h.status), ['submitted', 'in_review', 'approved'])
  t.equal(lab().used, 1024)
  t.same(events.map(summary), [['claim', 'claim.submitted', 'u-alice'], ['claim', 'claim.in_review', 'u-alice'], ['claim', 'claim.approved', 'u-alice']])
  t.equal((events[0].data.claim as { history: unknown[] }).history.length, 1, 'each event carries the claim as it was then')

  // what is left of the annual limit caps an approval
  const big = store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-alex-lab', category: 'lab', amount: 4900, description: 'MRI' })
  store.reviewClaim(big.id)
  t.match(thrownBy(() => store.approveClaim(big.id, 4000)), { status: 409, slug: 'benefit-limit-exceeded', extensions: { remaining: 3976, requested: 4000 } })
  t.match(thrownBy(() => store.approveClaim(big.id, 5000)), { status: 409, slug: 'approved-amount-exceeds-claim' })
  t.match(thrownBy(() => store.approveClaim(big.id, -1)), { status: 400, slug: 'invalid-amount' })
  t.match(store.approveClaim(big.id), { approvedAmount: 3920 }, '80% of 4900, within the 3976 left')
})

t.test('a claim is rejected with a reason; a decided claim moves no further', async (t) => {
  const store = createStore()
  const rejected = store.rejectClaim('cl-0003', 'Cosmetic treatment')
  t.match(rejected, { status: 'rejected', approvedAmount: null })
  t.same(rejected.history.at(-1)?.note, 'Cosmetic treatment')
  const events = recordEvents(store)
  const attempts: Array<[() => unknown, number, string]> = [
    [() => store.reviewClaim('cl-0003'), 409, 'claim-status-conflict'],
    [() => store.approveClaim('cl-0003'), 409, 'claim-status-conflict'],
    [() => store.rejectClaim('cl-0001', 'late'), 409, 'claim-status-conflict'],
    [() => store.approveClaim('cl-0009'), 404, 'claim-not-found'],
    [() => store.submitClaim({ medcardId: 'mc-missing', providerId: 'prv-alex-lab', category: 'lab', amount: 1 }), 404, 'medcard-not-found'],
    [() => store.submitClaim({ medcardId: 'mc-carol-1', providerId: 'prv-alex-lab', category: 'lab', amount: 1 }), 409, 'medcard-suspended'],
    [() => store.submitClaim({ medcardId: 'mc-alice-0', providerId: 'prv-alex-lab', category: 'lab', amount: 1 }), 409, 'medcard-expired'],
    [() => store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-nowhere', category: 'lab', amount: 1 }), 404, 'provider-not-found'],
    [() => store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-delta-eye', category: 'optical', amount: 1 }), 409, 'provider-not-in-network'],
    [() => store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-cairo-care', category: 'optical', amount: 1 }), 409, 'benefit-not-covered'],
    [() => store.submitClaim({ medcardId: 'mc-alice-1', providerId: 'prv-cairo-care', category: 'lab', amount: 0 }), 400, 'invalid-amount']
  ]
  for (const [attempt, status, slug] of attempts) t.match(thrownBy(attempt), { status, slug }, slug)
  t.match(thrownBy(() => store.reviewClaim('cl-0001')), { extensions: { claimStatus: 'paid' } })
  t.same(events, [], 'nothing announced')
  t.equal(store.listClaims().length, 7)
})

t.test('a MedCard is suspended and reactivated; an expired one is neither', async (t) => {
  let now = Date.now()
  const store = createStore({ now: () => now })
  const events = recordEvents(store)
  t.match(store.suspendMedcard('mc-bob-1', 'Card lost'), { id: 'mc-bob-1', status: 'suspended' })
  t.match(thrownBy(() => store.suspendMedcard('mc-bob-1', 'again')), { status: 409, slug: 'medcard-already-suspended' })
  t.match(thrownBy(() => store.submitClaim({ medcardId: 'mc-bob-1', providerId: 'prv-alex-lab', category: 'lab', amount: 1 })), { slug: 'medcard-suspended' })
  t.match(store.reactivateMedcard('mc-bob-1'), { status: 'active' })
  t.match(thrownBy(() => store.reactivateMedcard('mc-bob-1')), { status: 409, slug: 'medcard-not-suspended' })
  t.same(events.map(summary), [['medcard', 'medcard.suspended', 'u-bob'], ['medcard', 'medcard.reactivated', 'u-bob']])
  t.match(events[0].data, { medcardId: 'mc-bob-1', status: 'suspended', reason: 'Card lost', medcard: { id: 'mc-bob-1', status: 'suspended' } })

  t.match(thrownBy(() => store.suspendMedcard('mc-alice-0', 'lost')), { status: 409, slug: 'medcard-expired' })
  t.match(thrownBy(() => store.reactivateMedcard('mc-nowhere')), { status: 404, slug: 'medcard-not-found' })
  now += 400 * 86_400_000
  t.match(thrownBy(() => store.reactivateMedcard('mc-carol-1')), { status: 409, slug: 'medcard-expired' }, 'past its validTo, whatever its status says')
})
