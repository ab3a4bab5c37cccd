// Every conversion between the sample services' money representations, in one
// place. The store keeps wallet and transaction money in integer minor units
// (piastres/cents); API v1 shows money as a decimal number in major units
// (125.5), API v2 as an object in minor units ({ amountMinor: 12550, currency:
// 'EGP' }). All three currencies (EGP, USD, EUR) have 2 decimals.
import { ProblemError } from './problem.js'
import type { Currency } from './store-types.js'

/** Money as API v2 shows it, under the field name v1 uses for the decimal. */
export interface MoneyV2 {
  amountMinor: number
  currency: Currency
}

/** An amount a command moves: a number is a decimal in major units (API v1), `{ minor }` an integer of minor units (API v2). */
export type Amount = number | { minor: number }

const MINOR_PER_MAJOR = 100
export const MAX_AMOUNT = 1_000_000_000
export const MAX_AMOUNT_MINOR = MAX_AMOUNT * MINOR_PER_MAJOR

/** A v1 decimal amount as minor units; 400 `invalid-amount` unless positive, at most 2 decimals and at most MAX_AMOUNT. */
export function toMinor (amount: number): number {
  const minor = Math.round(amount * MINOR_PER_MAJOR)
  if (!Number.isFinite(amount) || amount <= 0 || amount > MAX_AMOUNT || Math.abs(amount * MINOR_PER_MAJOR - minor) > 1e-6) {
    throw new ProblemError(400, 'invalid-amount', `amount must be a positive number with at most 2 decimals and at most ${MAX_AMOUNT}; got ${amount}`)
  }
  return minor
}

/** A v2 amount in minor units, checked the same way: 400 `invalid-amount` unless a positive integer of at most MAX_AMOUNT_MINOR. */
export function checkedMinor (amountMinor: number): number {
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0 || amountMinor > MAX_AMOUNT_MINOR) {
    throw new ProblemError(400, 'invalid-amount', `amountMinor must be a positive integer of at most ${MAX_AMOUNT_MINOR}; got ${amountMinor}`)
  }
  return amountMinor
}

export const amountToMinor = (amount: Amount): number => typeof amount === 'number' ? toMinor(amount) : checkedMinor(amount.minor)

export const fromMinor = (minor: number): number => minor / MINOR_PER_MAJOR

/**
 * A decimal in major units as minor units, without validation (it may be 0 or
 * negative). Exact for every value fromMinor produced: (n / 100) * 100 is
 * within far less than 0.5 of n for any amount the store can hold.
 */
export const minorUnits = (amount: number): number => Math.round(amount * MINOR_PER_MAJOR)

export const toMoneyV2 = (minor: number, currency: Currency): MoneyV2 => ({ amountMinor: minor, currency })

/**
 * How one API version writes an amount the read side holds as a decimal in
 * major units: v1 as that number, unchanged; v2 as a MoneyV2 object.
 */
export type MoneyFormat = (amount: number, currency: Currency) => number | MoneyV2

export const moneyV1: MoneyFormat = (amount) => amount
export const moneyV2: MoneyFormat = (amount, currency) => toMoneyV2(minorUnits(amount), currency)
