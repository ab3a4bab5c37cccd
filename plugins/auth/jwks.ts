// A JSON Web Key Set fetched from JWKS_URL and cached by `kid`.
// - A token with an unknown kid fetches the set again, at most once per cooldown
//   (so forged kids cannot turn the gateway into a JWKS flooder); concurrent misses
//   share one fetch.
// - The set is also refreshed in the background; a failed fetch keeps the keys
//   already cached, so tokens keep verifying while the JWKS endpoint is down.
// - Only public signing keys are used: `oct` (symmetric) and private keys are
//   ignored, so an HS* token can never be checked against a JWKS entry.
import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { request } from 'undici'
import type { JwtAlgorithm } from './options.js'
import { maskUrl } from '../../src/redaction.js'

export interface JwksKey<V> {
  kid: string | undefined
  algorithms: readonly JwtAlgorithm[]
  verifier: V
  /** the key material (SPKI PEM): a key replaced under the same kid is a change too */
  pem: string
}

export interface JwksOptions<V> {
  url: string
  timeoutMs: number
  cooldownMs: number
  refreshMs: number
  /** the allow-list: a key is used only for these algorithms */
  allowed: readonly JwtAlgorithm[]
  /** builds what verifies tokens with one key (a PEM public key) */
  makeVerifier: (pem: string, algorithms: JwtAlgorithm[]) => V
  /** called after the set changed (the token cache must forget removed keys) */
  onChange?: () => void
  log: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  now?: () => number
}

const MAX_BYTES = 1_048_576

/** What a key of this type and curve can verify when the JWK names no `alg`. */
function algorithmsFor (jwk: JsonWebKey): JwtAlgorithm[] {
  switch (jwk.kty) {
    case 'RSA': return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'EC': return jwk.crv === 'P-256' ? ['ES256'] : jwk.crv === 'P-384' ? ['ES384'] : jwk.crv === 'P-521' ? ['ES512'] : []
    case 'OKP': return jwk.crv === 'Ed25519' ? ['EdDSA'] : []
    default: return []
  }
}

export class JwksCache<V> {
  private keys: Array<JwksKey<V>> = []
  private lastAttempt = -Infinity
  private loaded = false
  private inflight: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly now: () => number

  constructor (private readonly opts: JwksOptions<V>) {
    this.now = opts.now ?? Date.now
  }

  /** First fetch (not awaited: the gateway starts even if the JWKS endpoint is down) and the refresh timer. */
  start (): void {
    void this.refresh()
    this.timer = setInterval(() => { void this.refresh() }, this.opts.refreshMs)
    this.timer.unref()
  }

  close (): void {
    clearInterval(this.timer)
  }

  /** true once the set was fetched successfully at least once */
  get ready (): boolean {
    return this.loaded
  }

  /**
   * The key for a token header. Returns the key, or a Promise of it when the kid is
   * unknown and a fetch is allowed; undefined when there is no such key.
   */
  find (kid: string | undefined, alg: JwtAlgorithm): JwksKey<V> | undefined | Promise<JwksKey<V> | undefined> {
    const hit = this.match(kid, alg)
    if (hit !== undefined) return hit
    // a fetch under way (the first one at start-up, say) may bring the key; until
    // the set has loaded once, retry at most every second (clients are told Retry-After: 1)
    const cooldown = this.loaded ? this.opts.cooldownMs : Math.min(this.opts.cooldownMs, 1000)
    if (this.inflight === undefined && this.now() - this.lastAttempt < cooldown) return undefined
    return this.refresh().then(() => this.match(kid, alg))
  }

  /** Is there a key with this kid at all (whatever its algorithms)? For error messages. */
  hasKid (kid: string): boolean {
    return this.keys.some((k) => k.kid === kid)
  }

  private match (kid: string | undefined, alg: JwtAlgorithm): JwksKey<V> | undefined {
    if (kid !== undefined) return this.keys.find((k) => k.kid === kid && k.algorithms.includes(alg))
    // no kid in the token: acceptable only when exactly one key fits
    const fitting = this.keys.filter((k) => k.algorithms.includes(alg))
    return fitting.length === 1 ? fitting[0] : undefined
  }

  refresh (): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => { this.inflight = undefined })
    return this.inflight
  }

  private async fetchKeys (): Promise<void> {
    this.lastAttempt = this.now()
    try {
      const res = await request(this.opts.url, {
        headers: { accept: 'application/json' },
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
        signal: AbortSignal.timeout(this.opts.timeoutMs)
      })
      let size = 0
      const chunks: Buffer[] = []
      for await (const chunk of res.body) {
        size += chunk.length
        if (size > MAX_BYTES) { res.body.destroy(); throw new Error(`JWKS larger than ${MAX_BYTES} bytes`) }
        chunks.push(chunk)
      }
      if (res.statusCode !== 200) throw new Error(`JWKS endpoint answered ${res.statusCode}`)
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { keys?: unknown }
      if (!Array.isArray(body.keys)) throw new Error('JWKS document has no "keys" array')
      const keys = body.keys.flatMap((jwk) => this.importKey(jwk as JsonWebKey))
      const fingerprint = (list: Array<JwksKey<V>>) => JSON.stringify(list.map((k) => [k.kid, k.algorithms, k.pem]))
      const changed = fingerprint(keys) !== fingerprint(this.keys)
      this.keys = keys
      if (!this.loaded || changed) this.opts.log.info({ jwksKeys: keys.map((k) => k.kid ?? '(no kid)') }, 'JWKS loaded')
      this.loaded = true
      if (changed) this.opts.onChange?.()
    } catch (err) {
      this.opts.log.warn({ jwksUrl: maskUrl(this.opts.url), error: (err as Error).message, cachedKeys: this.keys.length }, 'JWKS fetch failed: keeping the keys already cached')
    }
  }

  private importKey (jwk: JsonWebKey): Array<JwksKey<V>> {
    if (typeof jwk !== 'object' || jwk === null) return []
    if ((jwk.use !== undefined && jwk.use !== 'sig') || jwk.kty === 'oct' || 'd' in jwk) return []
    const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
    let algorithms = typeof jwk.alg === 'string' ? algorithmsFor(jwk).filter((a) => a === jwk.alg) : algorithmsFor(jwk)
    algorithms = algorithms.filter((a) => this.opts.allowed.includes(a))
    if (algorithms.length === 0) return []
    try {
      const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
      return [{ kid, algorithms, pem, verifier: this.opts.makeVerifier(pem, algorithms) }]
    } catch (err) {
      this.opts.log.warn({ kid, error: (err as Error).message }, 'JWKS key ignored: it could not be imported')
      return []
    }
  }
}
