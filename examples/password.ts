// Demo passwords are still stored the way real ones should be: salted scrypt,
// compared in constant time, so the sample does not teach a bad habit.
import { scryptSync, timingSafeEqual } from 'node:crypto'

const KEY_LENGTH = 32
// Each store created by a test would otherwise pay four scrypt runs for the
// same seed users; the (salt, password) pair fully determines the hash.
const memo = new Map<string, Buffer>()

export function hashPassword (password: string, salt: string): Buffer {
  const key = `${salt}\0${password}`
  let hash = memo.get(key)
  if (hash === undefined) {
    hash = scryptSync(password, salt, KEY_LENGTH)
    if (memo.size < 64) memo.set(key, hash)
  }
  return hash
}

export function passwordMatches (password: string, salt: string, expected: Buffer): boolean {
  // not memoised: a login attempt must cost the attacker the full scrypt run
  const actual = scryptSync(password, salt, KEY_LENGTH)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}
