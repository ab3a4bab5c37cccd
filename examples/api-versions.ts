// The API versions the sample services serve, and everything that differs
// between them. Each service registers the same handlers once per version
// (under /v1 and /v2); a handler asks its version how to read an amount and
// how to write a resource that holds money. That is v2's one breaking change:
// money is { amountMinor, currency } in integer minor units instead of a
// decimal number, in REST responses about wallets, balances, transactions and
// payments, and in command bodies (amountMinor instead of amount). Auth and
// GraphQL are the same in both versions; claims, MedCards and analytics keep
// their decimal amounts in v2 too.
import { moneyV1, moneyV2, type Amount, type MoneyFormat, MAX_AMOUNT, MAX_AMOUNT_MINOR } from './money.js'
import type { Page } from './pagination.js'
import { ProblemError } from './problem.js'
import type { Currency, Payment, TransactionView, WalletChange, WalletView } from './store.js'

/** How a version writes the resources whose amounts change shape between versions. */
export interface Representation {
  wallet: (w: WalletView) => object
  transaction: (t: TransactionView) => object
  /** GET /api/wallets/:walletId/balance */
  balance: (w: WalletView) => object
  payment: (p: Payment) => object
  receipt: (r: { amount: number, currency: Currency }) => object
  /** what a command changed: the wallet and, when money moved, the transaction */
  change: (c: WalletChange) => object
  page: <T>(page: Page<T>, item: (x: T) => object) => { items: object[], nextCursor: string | null }
  /** the amounts a store conflict reports (insufficient-funds, wallet-not-empty) */
  problem: (err: ProblemError, currency: Currency) => ProblemError
}

/** How a version's money commands (deposit, withdraw, transfer) take their amount. */
export interface AmountInput {
  /** the body field: `amount` in v1, `amountMinor` in v2 */
  field: 'amount' | 'amountMinor'
  schema: Record<string, unknown>
  read: (body: Record<string, unknown>) => Amount
}

export interface ApiVersion {
  name: 'v1' | 'v2'
  /** the path prefix every route of this version is registered under */
  prefix: '/v1' | '/v2'
  present: Representation
  amountInput: AmountInput
}

// the extensions of a store ProblemError that carry an amount
const PROBLEM_AMOUNTS = ['balance', 'requested'] as const

/**
 * One set of writers for every version, parameterised by how an amount is
 * written. Each replaces a money field in place (spread, then the same key),
 * so with v1's identity format the JSON is exactly the store's view.
 */
function representation (money: MoneyFormat): Representation {
  const wallet = (w: WalletView) => ({ ...w, balance: money(w.balance, w.currency) })
  const transaction = (t: TransactionView) => ({ ...t, amount: money(t.amount, t.currency), balanceAfter: money(t.balanceAfter, t.currency) })
  return {
    wallet,
    transaction,
    // a frozen or closed wallet still holds its balance but none of it can be spent
    balance: (w) => ({
      walletId: w.id, currency: w.currency, balance: money(w.balance, w.currency), available: money(w.status === 'active' ? w.balance : 0, w.currency), status: w.status, version: w.version, asOf: w.updatedAt
    }),
    payment: (p) => ({ ...p, amount: money(p.amount, p.currency) }),
    receipt: (r) => ({ ...r, amount: money(r.amount, r.currency) }),
    change: (c) => ({ ...c, wallet: wallet(c.wallet), ...(c.transaction === undefined ? {} : { transaction: transaction(c.transaction) }) }),
    page: (page, item) => ({ items: page.items.map(item), nextCursor: page.nextCursor }),
    problem: (err, currency) => {
      const extensions = err.extensions
      if (extensions === undefined || !PROBLEM_AMOUNTS.some((key) => typeof extensions[key] === 'number')) return err
      const converted = Object.fromEntries(Object.entries(extensions).map(([key, value]) =>
        [key, (PROBLEM_AMOUNTS as readonly string[]).includes(key) && typeof value === 'number' ? money(value, currency) : value]))
      return new ProblemError(err.status, err.slug, err.message, { headers: err.headers, extensions: converted })
    }
  }
}

export const V1: ApiVersion = {
  name: 'v1',
  prefix: '/v1',
  present: representation(moneyV1),
  amountInput: {
    field: 'amount',
    // multipleOf 0.01 only works with Ajv's multipleOfPrecision set (the command service sets it):
    // 0.07 / 0.01 is 7.000000000000001 in binary floating point.
    schema: { type: 'number', exclusiveMinimum: 0, maximum: MAX_AMOUNT, multipleOf: 0.01 },
    read: (body) => body.amount as number
  }
}

export const V2: ApiVersion = {
  name: 'v2',
  prefix: '/v2',
  present: representation(moneyV2),
  amountInput: {
    field: 'amountMinor',
    // integer minor units: 12550 is 125.50; no decimals, so no float rounding to guard against
    schema: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT_MINOR },
    read: (body) => ({ minor: body.amountMinor as number })
  }
}

/** Every version the sample services serve, oldest first. */
export const API_VERSIONS: readonly ApiVersion[] = [V1, V2]
