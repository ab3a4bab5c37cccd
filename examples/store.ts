// The one in-memory data store behind both sample services. The command
// service's REST commands and the query service's GraphQL mutations write
// through the command methods (one set of rules either way); everything else
// only reads. In the demo both share this module's `store`, so a write is
// visible to the read side at once and every change is announced on `event`.
// Payments, MedCards and claims live in a CareDesk (store-care.ts).
import { EventEmitter } from 'node:events'
import { createHash, randomBytes } from 'node:crypto'
import { amountToMinor, fromMinor, type Amount } from './money.js'
import { CareDesk } from './store-care.js'
import { ProblemError, notFound } from './problem.js'
import { passwordMatches, hashPassword } from './password.js'
import { DEMO_PASSWORD, seedData } from './seed.js'
import type {
  Claim, ClaimInput, Currency, MedCard, Payment, PaymentChange, PaymentInput, Provider, PublicUser, StoreEvent,
  TransactionRecord, TransactionType, TransactionView, User, WalletChange, WalletRecord, WalletView
} from './store-types.js'

export * from './store-types.js'
export { DEMO_PASSWORD }
export { fromMinor, toMinor, type Amount } from './money.js'

export interface StoreOptions {
  /** the clock; tests pass a fixed one */
  now?: () => number
}

const REFRESH_TOKEN_TTL_MS = 7 * 86_400_000
// Generous for a demo, but a bound: the store lives in memory and a client
// looping on "create wallet" must not be able to grow it without limit.
const MAX_WALLETS_PER_OWNER = 20
const DUMMY_SALT = 'seed:dummy'

export function walletView (w: WalletRecord): WalletView {
  return { id: w.id, ownerId: w.ownerId, currency: w.currency, balance: fromMinor(w.balanceMinor), status: w.status, frozenReason: w.frozenReason, createdAt: w.createdAt, updatedAt: w.updatedAt, version: w.version }
}

export function transactionView (t: TransactionRecord): TransactionView {
  const { amountMinor, balanceAfterMinor, ...rest } = t
  return { ...rest, amount: fromMinor(amountMinor), balanceAfter: fromMinor(balanceAfterMinor) }
}

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex')

export class Store extends EventEmitter<{ event: [StoreEvent] }> {
  readonly now: () => number
  private readonly users = new Map<string, User>()
  private readonly usersByName = new Map<string, User>()
  private readonly wallets = new Map<string, WalletRecord>()
  /** oldest first; lists read it backwards (newest first) */
  private readonly transactions: TransactionRecord[]
  private readonly transactionsById = new Map<string, TransactionRecord>()
  private readonly care: CareDesk
  /** refresh tokens by SHA-256 hash: the store never holds a usable token */
  private readonly refreshTokens = new Map<string, { userId: string, expiresAt: number }>()
  private transactionSeq: number

  constructor (opts: StoreOptions = {}) {
    super()
    // every live GraphQL subscription is one listener; the default cap of 10 would warn
    this.setMaxListeners(0)
    this.now = opts.now ?? Date.now
    const seed = seedData(this.now())
    for (const u of seed.users) { this.users.set(u.id, u); this.usersByName.set(u.username, u) }
    for (const w of seed.wallets) this.wallets.set(w.id, w)
    this.transactions = seed.transactions
    for (const t of this.transactions) this.transactionsById.set(t.id, t)
    this.transactionSeq = this.transactions.length
    this.care = new CareDesk({
      isoNow: () => this.isoNow(),
      announce: (channel, event, subject, data) => this.announce(channel, event, subject, data),
      assertPayable: (walletId, amount, currency) => {
        const w = this.activeWallet(walletId)
        if (currency !== undefined && currency !== w.currency) {
          throw new ProblemError(409, 'currency-mismatch', `Wallet ${w.id} holds ${w.currency}; it cannot pay in ${currency}`)
        }
        const minor = amountToMinor(amount)
        this.assertFunds(w, minor)
        return { minor, ownerId: w.ownerId, currency: w.currency }
      },
      post: (walletId, type, minor, description, paymentId) => this.post(this.activeWallet(walletId), type, minor, paymentId, description, null, paymentId)
    }, seed)
  }

  private isoNow (): string {
    return new Date(this.now()).toISOString()
  }

  // ---- users and refresh tokens ------------------------------------------

  authenticate (username: string, password: string): PublicUser | undefined {
    const user = this.usersByName.get(username)
    // hash even for an unknown name so response time does not reveal which names exist
    const ok = passwordMatches(password, user?.passwordSalt ?? DUMMY_SALT, user?.passwordHash ?? hashPassword(DEMO_PASSWORD + '\0', DUMMY_SALT))
    return user !== undefined && ok ? this.publicUser(user) : undefined
  }

  getUser (id: string): PublicUser | undefined {
    const user = this.users.get(id)
    return user === undefined ? undefined : this.publicUser(user)
  }

  private publicUser (u: User): PublicUser {
    return { id: u.id, username: u.username, roles: [...u.roles], tier: u.tier }
  }

  issueRefreshToken (userId: string): string {
    this.dropExpiredRefreshTokens()
    const token = randomBytes(32).toString('base64url')
    this.refreshTokens.set(hashToken(token), { userId, expiresAt: this.now() + REFRESH_TOKEN_TTL_MS })
    return token
  }

  /** Single use: the token is revoked whether or not it was still valid. */
  consumeRefreshToken (token: string): PublicUser | undefined {
    const key = hashToken(token)
    const entry = this.refreshTokens.get(key)
    this.refreshTokens.delete(key)
    if (entry === undefined || entry.expiresAt <= this.now()) return undefined
    return this.getUser(entry.userId)
  }

  revokeRefreshToken (token: string): boolean {
    return this.refreshTokens.delete(hashToken(token))
  }

  private dropExpiredRefreshTokens (): void {
    const now = this.now()
    for (const [key, entry] of this.refreshTokens) if (entry.expiresAt <= now) this.refreshTokens.delete(key)
  }

  // ---- reads ---------------------------------------------------------------

  listWallets (): WalletView[] {
    return [...this.wallets.values()].map(walletView)
  }

  findWallet (id: string): WalletView | undefined {
    const w = this.wallets.get(id)
    return w === undefined ? undefined : walletView(w)
  }

  /** newest first */
  listTransactions (): TransactionView[] {
    const out: TransactionView[] = []
    for (let i = this.transactions.length - 1; i >= 0; i--) out.push(transactionView(this.transactions[i]))
    return out
  }

  findTransaction (id: string): TransactionView | undefined {
    const t = this.transactionsById.get(id)
    return t === undefined ? undefined : transactionView(t)
  }

  /** newest first */
  listPayments (): readonly Payment[] { return [...this.care.payments].reverse() }
  findPayment (id: string): Payment | undefined { return this.care.findPayment(id) }
  listMedcards (): readonly MedCard[] { return this.care.medcards }
  findMedcard (id: string): MedCard | undefined { return this.care.findMedcard(id) }
  /** newest first */
  listClaims (): readonly Claim[] { return [...this.care.claims].reverse() }
  findClaim (id: string): Claim | undefined { return this.care.findClaim(id) }
  listProviders (): readonly Provider[] { return this.care.providers }
  findProvider (id: string): Provider | undefined { return this.care.findProvider(id) }

  // ---- commands (the write side) ------------------------------------------

  createWallet (ownerId: string, currency: Currency): WalletChange {
    const owned = [...this.wallets.values()].filter((w) => w.ownerId === ownerId).length
    if (owned >= MAX_WALLETS_PER_OWNER) {
      throw new ProblemError(409, 'wallet-limit-reached', `Owner ${ownerId} already has ${owned} wallets (the limit is ${MAX_WALLETS_PER_OWNER})`)
    }
    const stem = `w-${ownerId.replace(/^u-/, '')}`
    let n = owned + 1
    while (this.wallets.has(`${stem}-${n}`)) n++
    const at = this.isoNow()
    const w: WalletRecord = { id: `${stem}-${n}`, ownerId, currency, balanceMinor: 0, status: 'active', frozenReason: null, createdAt: at, updatedAt: at, version: 1 }
    this.wallets.set(w.id, w)
    const wallet = walletView(w)
    this.announce('wallet', 'wallet.created', ownerId, { walletId: w.id, wallet })
    return { wallet }
  }

  // An Amount is a v1 decimal (major units) or a v2 { minor } integer; either is
  // checked where the decimal alone used to be, so the order of errors is unchanged.
  deposit (walletId: string, amount: Amount, reference?: string): WalletChange {
    const w = this.activeWallet(walletId)
    return this.post(w, 'deposit', amountToMinor(amount), reference ?? null, 'Deposit', null)
  }

  withdraw (walletId: string, amount: Amount, reference?: string): WalletChange {
    const w = this.activeWallet(walletId)
    const minor = amountToMinor(amount)
    this.assertFunds(w, minor)
    return this.post(w, 'withdrawal', minor, reference ?? null, 'Withdrawal', null)
  }

  /** Both legs or neither: every check runs before either wallet changes. */
  transfer (fromId: string, toId: string, amount: Amount, reference?: string): WalletChange & { counterparty: WalletChange } {
    if (fromId === toId) throw new ProblemError(400, 'transfer-to-same-wallet', 'toWalletId must differ from the source wallet')
    const from = this.activeWallet(fromId)
    const to = this.activeWallet(toId)
    if (from.currency !== to.currency) {
      throw new ProblemError(409, 'currency-mismatch', `Cannot transfer ${from.currency} from ${from.id} to ${to.id}, which holds ${to.currency}`)
    }
    const minor = amountToMinor(amount)
    this.assertFunds(from, minor)
    const out = this.post(from, 'transfer_out', minor, reference ?? null, `Transfer to ${to.id}`, to.id)
    const into = this.post(to, 'transfer_in', minor, reference ?? null, `Transfer from ${from.id}`, from.id)
    return { ...out, counterparty: into }
  }

  freeze (walletId: string, reason: string): WalletChange {
    const w = this.existingWallet(walletId)
    if (w.status === 'closed') throw closedError(w)
    if (w.status === 'frozen') throw new ProblemError(409, 'wallet-already-frozen', `Wallet ${w.id} is already frozen`)
    w.status = 'frozen'
    w.frozenReason = reason
    return this.stateChanged(w, 'wallet.frozen', { reason })
  }

  unfreeze (walletId: string): WalletChange {
    const w = this.existingWallet(walletId)
    if (w.status === 'closed') throw closedError(w)
    if (w.status === 'active') throw new ProblemError(409, 'wallet-not-frozen', `Wallet ${w.id} is not frozen`)
    w.status = 'active'
    w.frozenReason = null
    return this.stateChanged(w, 'wallet.unfrozen', {})
  }

  close (walletId: string): WalletChange {
    const w = this.activeWallet(walletId)
    if (w.balanceMinor !== 0) {
      throw new ProblemError(409, 'wallet-not-empty', `Wallet ${w.id} still holds ${fromMinor(w.balanceMinor)} ${w.currency}; withdraw or transfer it before closing`, { extensions: { balance: fromMinor(w.balanceMinor) } })
    }
    w.status = 'closed'
    return this.stateChanged(w, 'wallet.closed', {})
  }

  // ---- payments, claims and MedCards (store-care.ts has the rules) -------------

  createPayment (payerId: string, input: PaymentInput): PaymentChange { return this.care.createPayment(payerId, input) }
  refundPayment (paymentId: string, reason?: string): PaymentChange { return this.care.refundPayment(paymentId, reason) }
  submitClaim (input: ClaimInput): Claim { return this.care.submitClaim(input) }
  reviewClaim (claimId: string): Claim { return this.care.reviewClaim(claimId) }
  approveClaim (claimId: string, approvedAmount?: Amount): Claim { return this.care.approveClaim(claimId, approvedAmount) }
  rejectClaim (claimId: string, reason: string): Claim { return this.care.rejectClaim(claimId, reason) }
  suspendMedcard (medcardId: string, reason: string): MedCard { return this.care.suspendMedcard(medcardId, reason) }
  reactivateMedcard (medcardId: string): MedCard { return this.care.reactivateMedcard(medcardId) }

  private existingWallet (id: string): WalletRecord {
    const w = this.wallets.get(id)
    if (w === undefined) throw notFound('wallet', id)
    return w
  }

  private activeWallet (id: string): WalletRecord {
    const w = this.existingWallet(id)
    if (w.status === 'closed') throw closedError(w)
    if (w.status === 'frozen') {
      throw new ProblemError(409, 'wallet-frozen', `Wallet ${w.id} is frozen${w.frozenReason === null ? '' : ` (${w.frozenReason})`}; it accepts no money movement until unfrozen`)
    }
    return w
  }

  private assertFunds (w: WalletRecord, minor: number): void {
    if (w.balanceMinor < minor) {
      throw new ProblemError(409, 'insufficient-funds', `Wallet ${w.id} holds ${fromMinor(w.balanceMinor)} ${w.currency}, less than the ${fromMinor(minor)} requested`,
        { extensions: { balance: fromMinor(w.balanceMinor), requested: fromMinor(minor), currency: w.currency } })
    }
  }

  private post (w: WalletRecord, type: TransactionType, minor: number, reference: string | null, description: string, counterparty: string | null, paymentId: string | null = null): WalletChange {
    const credit = type === 'deposit' || type === 'transfer_in' || type === 'refund'
    const at = this.isoNow()
    w.balanceMinor += credit ? minor : -minor
    w.updatedAt = at
    w.version++
    const t: TransactionRecord = {
      id: `t-${String(++this.transactionSeq).padStart(5, '0')}`,
      walletId: w.id,
      ownerId: w.ownerId,
      type,
      amountMinor: minor,
      currency: w.currency,
      balanceAfterMinor: w.balanceMinor,
      reference,
      description,
      counterpartyWalletId: counterparty,
      paymentId,
      createdAt: at
    }
    this.transactions.push(t)
    this.transactionsById.set(t.id, t)
    const wallet = walletView(w)
    const transaction = transactionView(t)
    this.announce('wallet', 'wallet.updated', w.ownerId, { walletId: w.id, change: type, amount: transaction.amount, transactionId: t.id, wallet })
    this.announce('analytics', 'analytics.transaction.recorded', w.ownerId, { transactionId: t.id, walletId: w.id, type, amount: transaction.amount, currency: w.currency, at })
    return { wallet, transaction }
  }

  private stateChanged (w: WalletRecord, event: string, extra: Record<string, unknown>): WalletChange {
    w.updatedAt = this.isoNow()
    w.version++
    const wallet = walletView(w)
    this.announce('wallet', event, w.ownerId, { walletId: w.id, ...extra, wallet })
    return { wallet }
  }

  // Synchronous on purpose: by the time a command's HTTP answer leaves, every
  // subscriber has seen the event. Listeners must therefore not throw.
  private announce (channel: StoreEvent['channel'], event: string, subject: string, data: Record<string, unknown>): void {
    this.emit('event', { channel, event, subject, data })
  }
}

function closedError (w: WalletRecord): ProblemError {
  return new ProblemError(409, 'wallet-closed', `Wallet ${w.id} is closed`)
}

export function createStore (opts: StoreOptions = {}): Store {
  return new Store(opts)
}

/** The process-wide store the services use when none is passed in. */
export const store = createStore()
