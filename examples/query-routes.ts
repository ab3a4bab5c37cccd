// The query service's 20 REST read operations, at /api/... relative to the
// API version's prefix: the query service registers them under /v1 and /v2.
// They differ only in how money is written (api-versions.ts): wallets,
// balances, transactions, payments and receipts show a decimal in v1 and
// { amountMinor, currency } in v2. Every list is cursor-paginated and scoped
// to the caller: without admin/support a consumer sees only what it owns, and
// a stranger's resource answers 404 (not 403) so ids cannot be probed.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Representation } from './api-versions.js'
import { canSee, consumerFromHeaders } from './consumer.js'
import { notFound } from './problem.js'
import { pageQueryProperties, paginate, type PageQuery } from './pagination.js'
import { analyticsSummary, claimsByStatus, medcardBenefits, paymentReceipt, paymentsByMethod, transactionsDaily } from './read-models.js'
import {
  CLAIM_STATUSES, CURRENCIES, MEDCARD_STATUSES, PAYMENT_METHODS, PAYMENT_STATUSES, PROVIDER_TYPES, TRANSACTION_TYPES,
  type Currency, type Store
} from './store.js'

const ID = { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' } as const
const idParams = (name: string) => ({ type: 'object', required: [name], properties: { [name]: ID } }) as const
const listQuery = (filters: Record<string, unknown> = {}) => ({ type: 'object', properties: { ...pageQueryProperties, ...filters } }) as const
const oneOf = (values: readonly string[]) => ({ type: 'string', enum: values }) as const

type Req<P = Record<string, string>, Q = PageQuery> = FastifyRequest<{ Params: P, Querystring: Q }>

export function registerQueryRoutes (app: FastifyInstance, store: Store, present: Representation): void {
  const visible = (request: FastifyRequest) => {
    const consumer = consumerFromHeaders(request.headers, store)
    return (ownerId: string) => canSee(consumer, ownerId)
  }
  /** The item if it exists and the caller may see it; otherwise the same 404 either way. */
  const visibleOr404 = <T extends { ownerId: string }>(request: FastifyRequest, kind: string, id: string, item: T | undefined): T => {
    if (item === undefined || !visible(request)(item.ownerId)) throw notFound(kind, id)
    return item
  }
  const payerVisibleOr404 = (request: FastifyRequest, id: string) => {
    const p = store.findPayment(id)
    if (p === undefined || !visible(request)(p.payerId)) throw notFound('payment', id)
    return p
  }

  // ---- wallets ---------------------------------------------------------------
  app.get('/api/wallets', {
    schema: { querystring: listQuery({ ownerId: ID, status: oneOf(['active', 'frozen', 'closed']), currency: oneOf(CURRENCIES) }) }
  }, async (request: Req<object, PageQuery & { ownerId?: string, status?: string, currency?: string }>) => {
    const may = visible(request)
    const q = request.query
    return present.page(paginate(store.listWallets().filter((w) => may(w.ownerId) &&
      (q.ownerId === undefined || w.ownerId === q.ownerId) && (q.status === undefined || w.status === q.status) && (q.currency === undefined || w.currency === q.currency)), q), present.wallet)
  })

  app.get('/api/wallets/:walletId', { schema: { params: idParams('walletId') } }, async (request: Req<{ walletId: string }>) =>
    present.wallet(visibleOr404(request, 'wallet', request.params.walletId, store.findWallet(request.params.walletId))))

  app.get('/api/wallets/:walletId/balance', { schema: { params: idParams('walletId') } }, async (request: Req<{ walletId: string }>) =>
    present.balance(visibleOr404(request, 'wallet', request.params.walletId, store.findWallet(request.params.walletId))))

  app.get('/api/wallets/:walletId/transactions', {
    schema: { params: idParams('walletId'), querystring: listQuery({ type: oneOf(TRANSACTION_TYPES) }) }
  }, async (request: Req<{ walletId: string }, PageQuery & { type?: string }>) => {
    const w = visibleOr404(request, 'wallet', request.params.walletId, store.findWallet(request.params.walletId))
    const type = request.query.type
    return present.page(paginate(store.listTransactions().filter((t) => t.walletId === w.id && (type === undefined || t.type === type)), request.query), present.transaction)
  })

  // ---- transactions ------------------------------------------------------------
  app.get('/api/transactions', {
    schema: { querystring: listQuery({ walletId: ID, type: oneOf(TRANSACTION_TYPES) }) }
  }, async (request: Req<object, PageQuery & { walletId?: string, type?: string }>) => {
    const may = visible(request)
    const { walletId, type } = request.query
    return present.page(paginate(store.listTransactions().filter((t) => may(t.ownerId) &&
      (walletId === undefined || t.walletId === walletId) && (type === undefined || t.type === type)), request.query), present.transaction)
  })

  app.get('/api/transactions/:transactionId', { schema: { params: idParams('transactionId') } }, async (request: Req<{ transactionId: string }>) =>
    present.transaction(visibleOr404(request, 'transaction', request.params.transactionId, store.findTransaction(request.params.transactionId))))

  // ---- payments ----------------------------------------------------------------
  app.get('/api/payments', {
    schema: { querystring: listQuery({ status: oneOf(PAYMENT_STATUSES), method: oneOf(PAYMENT_METHODS), walletId: ID }) }
  }, async (request: Req<object, PageQuery & { status?: string, method?: string, walletId?: string }>) => {
    const may = visible(request)
    const q = request.query
    return present.page(paginate(store.listPayments().filter((p) => may(p.payerId) &&
      (q.status === undefined || p.status === q.status) && (q.method === undefined || p.method === q.method) && (q.walletId === undefined || p.walletId === q.walletId)), q), present.payment)
  })

  app.get('/api/payments/:paymentId', { schema: { params: idParams('paymentId') } }, async (request: Req<{ paymentId: string }>) =>
    present.payment(payerVisibleOr404(request, request.params.paymentId)))

  app.get('/api/payments/:paymentId/receipt', { schema: { params: idParams('paymentId') } }, async (request: Req<{ paymentId: string }>) =>
    present.receipt(paymentReceipt(store, payerVisibleOr404(request, request.params.paymentId))))

  // ---- MedCards ----------------------------------------------------------------
  app.get('/api/medcards', { schema: { querystring: listQuery({ status: oneOf(MEDCARD_STATUSES) }) } }, async (request: Req<object, PageQuery & { status?: string }>) => {
    const may = visible(request)
    const status = request.query.status
    return paginate(store.listMedcards().filter((m) => may(m.ownerId) && (status === undefined || m.status === status)), request.query)
  })

  app.get('/api/medcards/:medcardId', { schema: { params: idParams('medcardId') } }, async (request: Req<{ medcardId: string }>) =>
    visibleOr404(request, 'medcard', request.params.medcardId, store.findMedcard(request.params.medcardId)))

  app.get('/api/medcards/:medcardId/benefits', { schema: { params: idParams('medcardId') } }, async (request: Req<{ medcardId: string }>) => {
    const card = visibleOr404(request, 'medcard', request.params.medcardId, store.findMedcard(request.params.medcardId))
    return { medcardId: card.id, plan: card.plan, status: card.status, currency: card.currency, validTo: card.validTo, benefits: medcardBenefits(store, card) }
  })

  // ---- claims ------------------------------------------------------------------
  app.get('/api/claims', {
    schema: { querystring: listQuery({ status: oneOf(CLAIM_STATUSES), medcardId: ID }) }
  }, async (request: Req<object, PageQuery & { status?: string, medcardId?: string }>) => {
    const may = visible(request)
    const { status, medcardId } = request.query
    return paginate(store.listClaims().filter((c) => may(c.ownerId) &&
      (status === undefined || c.status === status) && (medcardId === undefined || c.medcardId === medcardId)), request.query)
  })

  app.get('/api/claims/:claimId', { schema: { params: idParams('claimId') } }, async (request: Req<{ claimId: string }>) =>
    visibleOr404(request, 'claim', request.params.claimId, store.findClaim(request.params.claimId)))

  app.get('/api/claims/:claimId/history', { schema: { params: idParams('claimId') } }, async (request: Req<{ claimId: string }>) => {
    const claim = visibleOr404(request, 'claim', request.params.claimId, store.findClaim(request.params.claimId))
    return { claimId: claim.id, status: claim.status, items: claim.history }
  })

  // ---- providers (a public directory: not scoped to the caller) ----------------
  app.get('/api/providers', {
    schema: { querystring: listQuery({ type: oneOf(PROVIDER_TYPES), city: { type: 'string', minLength: 1, maxLength: 64 }, acceptsMedcard: { type: 'boolean' } }) }
  }, async (request: Req<object, PageQuery & { type?: string, city?: string, acceptsMedcard?: boolean }>) => {
    const { type, city, acceptsMedcard } = request.query
    return paginate(store.listProviders().filter((p) => (type === undefined || p.type === type) &&
      (city === undefined || p.city.toLowerCase() === city.toLowerCase()) && (acceptsMedcard === undefined || p.acceptsMedcard === acceptsMedcard)), request.query)
  })

  // ---- analytics: platform-wide aggregates; the gateway limits these to analyst/admin
  app.get('/api/analytics/summary', async () => analyticsSummary(store))

  app.get('/api/analytics/transactions/daily', {
    schema: { querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 1, maximum: 90, default: 7 }, currency: { ...oneOf(CURRENCIES), default: 'EGP' } } } }
  }, async (request: Req<object, { days: number, currency: Currency }>) => transactionsDaily(store, request.query.days, request.query.currency))

  app.get('/api/analytics/payments/by-method', async () => paymentsByMethod(store))

  app.get('/api/analytics/claims/by-status', async () => claimsByStatus(store))
}
