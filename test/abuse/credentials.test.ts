// Abuse suite (issue 11), credentials and the identity headers derived from them:
// JWT algorithm confusion in every spelling (alg none, HS* "signed" with the RS256
// public key in any of its encodings, algorithms the key fits but the list does not
// allow, keys embedded in the token header, kid injection against a JWKS), oversized
// tokens and claims, expiry at the edge of the clock skew; client-sent X-Consumer-* and
// X-Forwarded-* in any spelling; the anonymous rate-limit key under spoofed
// X-Forwarded-For with and without TRUST_PROXY; and the API-key lookup's design.
// test/auth/jwt.test.ts, test/auth/jwks.test.ts, test/proxy/forwarding.test.ts and
// test/rate-limit/gateway.test.ts hold the plain cases; this file is the hostile ones.
import t, { type Test } from 'tap'
import net from 'node:net'
import { readFileSync } from 'node:fs'
import { generateKeyPairSync, createHmac, sign as cryptoSign, constants, type KeyObject } from 'node:crypto'
import { Redis } from 'ioredis'
import {
  startUpstream, startGateway, servicesFor, specRoutes, call, signToken, unsignedToken, bearer, until, uniquePrefix,
  TEST_SECRET, type SimpleResponse, type StartedGateway, type Upstream
} from '../helpers.js'
import { ApiKeyRegistry, sha256Hex } from '../../plugins/auth/api-keys.js'

const now = () => Math.floor(Date.now() / 1000)
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ed = generateKeyPairSync('ed25519')
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString()
const RSA_PEM = spki(rsa.publicKey)
const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url')

let serial = 0
/** claims of a token never sent before (fresh jti: the verified-token cache cannot answer) */
const fresh = (extra: Record<string, unknown> = {}) => ({ sub: 'u-abuse', exp: now() + 600, jti: `j-${++serial}`, ...extra })

/** A JWS with exactly this header and payload, HMAC-signed with any byte string as the secret. */
function hmacToken (header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer, hash = 'sha256'): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

/** A JWS with exactly this header (anything in it) and payload, RSA-signed (PKCS#1 v1.5, or PSS). */
function rsaToken (header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject, hash = 'sha256', pss = false): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
  const signature = cryptoSign(hash, Buffer.from(input), pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key)
  return `${input}.${signature.toString('base64url')}`
}

interface Setup { up: Upstream, gw: StartedGateway, get: (token: string) => Promise<SimpleResponse> }

async function jwtGateway (t: Test, jwt: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Setup> {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt, ...extra })
  return { up, gw, get: (token) => call(`${gw.url}/v1/api/wallets/w1`, { headers: bearer(token) }) }
}

/** 401 problem+json GW_AUTH_INVALID_TOKEN with its Bearer challenge; the upstream never called. */
async function refused (t: Test, s: Setup, token: string, detail: RegExp, what: string): Promise<SimpleResponse> {
  const before = s.up.requests.length
  const res = await s.get(token)
  t.equal(res.status, 401, `${what}: 401 (never a 500)`)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', `${what}: problem+json`)
  const body = res.headers['content-type']?.toString().startsWith('application/problem+json') ? res.json() : {}
  t.equal(body.code, 'GW_AUTH_INVALID_TOKEN', `${what}: GW_AUTH_INVALID_TOKEN`)
  t.match(body.detail, detail, `${what}: ${body.detail}`)
  t.match(res.headers['www-authenticate'], /^Bearer realm="healthpay", error="invalid_token", error_description="[\x20-\x7e]*"$/, `${what}: WWW-Authenticate`)
  t.equal(s.up.requests.length, before, `${what}: the upstream was not called`)
  return res
}

async function accepted (t: Test, s: Setup, token: string, what: string): Promise<void> {
  const res = await s.get(token)
  t.equal(res.status, 200, `${what}: 200`)
}

// ---------------------------------------------------------------------------
// JWT algorithm confusion

t.test('alg "none" in every spelling, with or without a signature, is refused by both key families', async (t) => {
  const s = await jwtGateway(t, { secret: TEST_SECRET, publicKey: RSA_PEM })
  await accepted(t, s, signToken(fresh()), 'control: HS256')
  await accepted(t, s, signToken(fresh(), { alg: 'RS256', key: rsa.privateKey }), 'control: RS256')
  const admin = fresh({ sub: 'u-admin', roles: ['admin'] })
  for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ', ' none']) {
    for (const signature of ['', 'x', hmacToken({ alg: 'HS256' }, admin, TEST_SECRET).split('.')[2]!]) {
      await refused(t, s, unsignedToken({ alg, typ: 'JWT' }, admin, signature), /algorithm .*not accepted/, `alg ${JSON.stringify(alg)}, signature ${JSON.stringify(signature.slice(0, 6))}`)
    }
  }
  // an alg that is not a string, or none hidden behind a duplicate key (JSON.parse keeps the last)
  for (const alg of [null, ['HS256'], { name: 'HS256' }, 256, true]) {
    await refused(t, s, unsignedToken({ alg }, admin, 'x'), /no "alg"|not a JWT|malformed/, `alg ${JSON.stringify(alg)}`)
  }
  const payload = b64url(JSON.stringify(admin))
  await refused(t, s, `${b64url('{"alg":"HS256","alg":"none"}')}.${payload}.`, /"none" is not accepted/, 'duplicate alg, none last')
  const dupInput = `${b64url('{"alg":"none","alg":"HS256"}')}.${payload}`
  const dup = `${dupInput}.${createHmac('sha256', TEST_SECRET).update(dupInput).digest('base64url')}`
  await accepted(t, s, dup, 'duplicate alg, HS256 last and really HS256-signed: the same reading everywhere, so it verifies')
  t.equal(s.up.requests.filter((r) => r.headers['x-consumer-id'] === 'u-admin').length, 1, 'only the genuinely signed token became u-admin')
})

t.test('HS* "signed" with the RS256 public key, in any encoding, when only JWT_PUBLIC_KEY is configured', async (t) => {
  // the classic confusion: the verifier's key (a public PEM) used as an HMAC secret
  const s = await jwtGateway(t, { publicKey: RSA_PEM })
  await accepted(t, s, signToken(fresh(), { alg: 'RS256', key: rsa.privateKey }), 'control: RS256 with the private key')
  const jwk = JSON.stringify(rsa.publicKey.export({ format: 'jwk' }))
  const secrets: Array<[string, string | Buffer]> = [
    ['SPKI PEM as configured', RSA_PEM],
    ['SPKI PEM without its final newline', RSA_PEM.trimEnd()],
    ['PKCS#1 PEM', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['SPKI DER', rsa.publicKey.export({ type: 'spki', format: 'der' })],
    ['the base64 body of the PEM', RSA_PEM.replace(/-----[^-]+-----|\s/g, '')],
    ['the key as a JWK', jwk]
  ]
  for (const [name, secret] of secrets) {
    for (const [alg, hash] of [['HS256', 'sha256'], ['HS384', 'sha384'], ['HS512', 'sha512']] as const) {
      const token = hmacToken({ alg, typ: 'JWT' }, fresh({ sub: 'u-admin', roles: ['admin'] }), secret, hash)
      await refused(t, s, token, /not accepted|no JWT_SECRET/, `${alg} keyed with ${name}`)
    }
    // the same confusion naming RS256: an HMAC where an RSA signature belongs
    const token = hmacToken({ alg: 'RS256' }, fresh({ sub: 'u-admin' }), secret)
    await refused(t, s, token, /signature|malformed/, `"RS256" with an HMAC keyed with ${name}`)
  }
})

t.test('an algorithm the key could verify but the allow-list does not name is refused', async (t) => {
  const s = await jwtGateway(t, { algorithms: ['RS256'], publicKey: RSA_PEM })
  await accepted(t, s, signToken(fresh(), { alg: 'RS256', key: rsa.privateKey }), 'control: RS256')
  const claims = fresh({ sub: 'u-admin' })
  await refused(t, s, rsaToken({ alg: 'RS384' }, claims, rsa.privateKey, 'sha384'), /"RS384" is not accepted \(allowed: RS256\)/, 'RS384 by the same key')
  await refused(t, s, rsaToken({ alg: 'RS512' }, claims, rsa.privateKey, 'sha512'), /"RS512" is not accepted/, 'RS512 by the same key')
  await refused(t, s, rsaToken({ alg: 'PS256' }, claims, rsa.privateKey, 'sha256', true), /"PS256" is not accepted/, 'PS256 by the same key')
  await refused(t, s, signToken(claims, { alg: 'ES256', key: ec.privateKey }), /"ES256" is not accepted/, 'ES256')
  await refused(t, s, signToken(claims, { alg: 'EdDSA', key: ed.privateKey }), /"EdDSA" is not accepted/, 'EdDSA')
  await refused(t, s, signToken(claims), /"HS256" is not accepted/, 'HS256')
  await refused(t, s, unsignedToken({ alg: 'rs256' }, claims, 'x'), /algorithm of the token is not accepted/, 'rs256 (algorithm names are case-sensitive)')
  await refused(t, s, unsignedToken({ alg: 'RS256\u0000' }, claims, 'x'), /algorithm of the token is not accepted/, 'RS256 followed by a NUL')
})

t.test('keys carried in the token header (jwk, jku, x5u, x5c) are never trusted nor fetched', async (t) => {
  const lure = await startUpstream(t) // a key server of the attacker's: it must never be contacted
  const s = await jwtGateway(t, { publicKey: RSA_PEM })
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' })
  const headers: Array<[string, Record<string, unknown>]> = [
    ['jwk', { alg: 'RS256', jwk: attackerJwk }],
    ['jku', { alg: 'RS256', jku: `${lure.url}/jwks.json` }],
    ['x5u', { alg: 'RS256', x5u: `${lure.url}/cert.pem` }],
    ['x5c', { alg: 'RS256', x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] }],
    ['jwk with kid', { alg: 'RS256', kid: 'attacker', jwk: attackerJwk, jku: `${lure.url}/jwks.json` }]
  ]
  for (const [name, header] of headers) {
    await refused(t, s, rsaToken(header, fresh({ sub: 'u-admin', roles: ['admin'] }), attacker.privateKey), /signature does not match/, `signed by the attacker, ${name} in the header`)
  }
  t.equal(lure.requests.length, 0, 'no URL from a token header was fetched')
})

t.test('kid injection against a JWKS: path tricks, odd types and long kids are 401s, never fetched or echoed', async (t) => {
  const jwks = await startUpstream(t, (req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'RS256' }] }))
  })
  const s = await jwtGateway(t, { jwksUrl: `${jwks.url}/.well-known/jwks.json`, jwksCooldownMs: 60_000 })
  await accepted(t, s, rsaToken({ alg: 'RS256', kid: 'k1' }, fresh(), rsa.privateKey), 'control: kid k1')
  const fetchesAfterLoad = jwks.requests.length

  const injected = ['../../etc/passwd', '/etc/passwd', '..%2f..%2fetc%2fpasswd', 'k1/../k1', 'k1\u0000', 'k1\r\nX-Injected: 1', "k1' OR '1'='1", '${jndi:ldap://x}', '__proto__', 'constructor', 'K1', ' k1', 'x'.repeat(256)]
  for (const kid of injected) {
    // a real signature by the real key: only the kid is wrong
    const res = await refused(t, s, rsaToken({ alg: 'RS256', kid }, fresh({ sub: 'u-admin' }), rsa.privateKey), /kid\) is not in the JWKS/, `kid ${JSON.stringify(kid.slice(0, 24))}`)
    t.equal(res.headers['x-injected'], undefined, 'nothing from the kid becomes a header')
    if (kid.length > 8) t.notOk(res.text.includes(kid) || String(res.headers['www-authenticate']).includes(kid), 'the kid is not echoed')
  }
  for (const kid of ['x'.repeat(257), 'x'.repeat(4000), 42, null, ['k1'], { k: 'k1' }, true]) {
    await refused(t, s, rsaToken({ alg: 'RS256', kid }, fresh(), rsa.privateKey), /kid|malformed/, `kid ${JSON.stringify(kid).slice(0, 24)}`)
  }
  // the kid of a JWKS key on an HS256 token: HS* never looks at the JWKS (no JWT_SECRET here)
  await refused(t, s, hmacToken({ alg: 'HS256', kid: 'k1' }, fresh(), RSA_PEM), /no JWT_SECRET/, 'HS256 naming the RSA key\'s kid')
  t.ok(jwks.requests.length - fetchesAfterLoad <= 1, `forged kids cost at most one JWKS fetch within the cooldown (${jwks.requests.length - fetchesAfterLoad})`)
  t.ok(jwks.requests.every((r) => r.method === 'GET' && r.url === '/.well-known/jwks.json'), 'every fetch was of the configured URL: no kid ever became part of a URL')
  await accepted(t, s, rsaToken({ alg: 'RS256', kid: 'k1' }, fresh(), rsa.privateKey), 'the real kid still works afterwards')
})

// ---------------------------------------------------------------------------
// oversized tokens and claims

/** Writes raw bytes; resolves with what came back and how the connection ended (a reset is fine here). */
async function rawAttempt (url: string, bytes: string): Promise<{ raw: string, error?: string }> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  let raw = ''
  let error: string | undefined
  socket.on('data', (chunk: Buffer) => { raw += chunk.toString('latin1') })
  socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
  socket.write(bytes, () => {})
  // not events.once: it rejects on 'error', and a reset while uploading is an expected end here
  await new Promise((resolve) => socket.once('close', resolve))
  return { raw, error }
}

t.test('a 1 MB JWT (and a 1 MB API key) is refused fast, never a 500, and the gateway stays responsive', async (t) => {
  const s = await jwtGateway(t, { secret: TEST_SECRET })
  const valid = signToken(fresh())
  const megabyte = b64url(Buffer.alloc(768 * 1024, 7)) // 1 MiB of base64url
  const token = `${b64url('{"alg":"HS256"}')}.${megabyte}.${b64url('sig')}`
  const started = Date.now()
  const attempts = Array.from({ length: 8 }, (_, i) => rawAttempt(s.gw.url, `GET /v1/api/wallets/w${i} HTTP/1.1\r\nHost: x\r\n${i % 2 === 0 ? `Authorization: Bearer ${token}` : `X-API-Key: ${megabyte}`}\r\nConnection: close\r\n\r\n`))
  // while the uploads are in flight, the gateway answers others
  const health = await call(`${s.gw.url}/health`)
  t.equal(health.status, 200, '/health answers during the uploads')
  const results = await Promise.all(attempts)
  const elapsed = Date.now() - started
  for (const [i, { raw, error }] of results.entries()) {
    const status = /^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]
    t.ok(status === '431' || status === '401' || (status === undefined && error !== undefined) || (status === undefined && raw === ''),
      `attempt ${i}: refused (${status ?? `connection ended: ${error ?? 'closed'}`})`)
    t.not(status, '500', `attempt ${i}: not a 500`)
    if (status === '431') t.match(raw, /"code":"GW_REQUEST_HEADERS_TOO_LARGE"/)
  }
  // generous: each refusal takes milliseconds; this only catches a parser or verifier that chews on the megabyte
  t.ok(elapsed < 10_000, `eight 1 MB credentials settled in ${elapsed} ms`)
  t.equal(s.up.requests.length, 0, 'none reached the upstream')
  t.equal((await s.get(valid)).status, 200, 'a valid token works right after')
  t.equal((await call(`${s.gw.url}/ready`)).status, 200, '/ready too')

  // just under Node's header limit: the gateway's own 8 kB cut, for many distinct tokens at once
  const near = await Promise.all(Array.from({ length: 40 }, (_, i) => s.get(`${b64url('{"alg":"HS256"}')}.${b64url(`${i}`.padEnd(9000, 'x'))}.sig`)))
  t.same([...new Set(near.map((r) => r.status))], [401], '40 tokens of 12 kB: all 401')
  t.match(near[0]!.json(), { code: 'GW_AUTH_INVALID_TOKEN', detail: /longer than 8192/ })
})

t.test('claims: 10,000 roles, a huge scope, 51 roles, a huge or deeply nested claim', async (t) => {
  const s = await jwtGateway(t, { secret: TEST_SECRET })
  // 10,000 roles do not fit under Node's header limit: 431 (or a reset), not a 500
  const tenThousand = signToken(fresh({ roles: Array.from({ length: 10_000 }, (_, i) => `role-${i}`) }))
  t.ok(tenThousand.length > 16_384)
  const big = await s.get(tenThousand).catch((err: Error) => err)
  if (big instanceof Error) t.pass(`10,000 roles: connection cut while sending (${big.message})`)
  else t.equal(big.status, 431, '10,000 roles: 431')
  // as many roles as fit under the 8 kB cut: still refused, by the roles rule
  await refused(t, s, signToken(fresh({ roles: Array.from({ length: 500 }, (_, i) => `r${i}`) })), /roles claim/, '500 roles')
  await refused(t, s, signToken(fresh({ scope: Array.from({ length: 2000 }, () => 'a').join(' ') })), /roles claim/, 'a scope of 2,000 roles')
  await refused(t, s, signToken(fresh({ roles: Array.from({ length: 51 }, (_, i) => `r${i}`) })), /at most 50/, '51 roles')
  await refused(t, s, signToken(fresh({ roles: Array.from({ length: 20 }, (_, i) => ({ name: `r${i}` })) })), /roles claim/, 'roles as objects')
  await refused(t, s, signToken(fresh({ sub: 'u'.repeat(257) })), /sub claim/, 'a 257-character sub')
  await refused(t, s, signToken(fresh({ pad: 'p'.repeat(7000) })), /longer than 8192/, 'a 7 kB claim: over the cut once encoded')

  // what fits is accepted, and only the consumer's own fields travel as X-Consumer-*
  const fifty = Array.from({ length: 50 }, (_, i) => `role-${i}`)
  let nested: unknown = 'bottom'
  for (let i = 0; i < 2000; i++) nested = [nested]
  const extras: Array<[string, Record<string, unknown>]> = [
    ['50 roles', { roles: fifty }],
    ['a 5 kB claim', { note: 'n'.repeat(5000) }],
    ['an array nested 2,000 deep', { nested }],
    ['500 claims', Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`c${i}`, i]))],
    ['a __proto__ claim', JSON.parse('{"__proto__":{"roles":["admin"],"tier":"premium"}}')]
  ]
  for (const [what, claims] of extras) {
    const before = s.up.requests.length
    const res = await s.get(signToken(fresh({ sub: `u-${what.replace(/\W+/g, '-')}`, ...claims })))
    t.equal(res.status, 200, `${what}: accepted`)
    const h = s.up.requests[before]?.headers ?? {}
    t.equal(h['x-consumer-tier'], 'authenticated', `${what}: tier authenticated`)
    t.equal(h['x-consumer-roles'], what === '50 roles' ? fifty.join(',') : undefined, `${what}: exactly the roles claimed`)
  }
})

t.test('expiry at the edge of the clock skew: exp + skew is the last second', async (t) => {
  // margins of seconds on the side that could flip with a slow machine; refusals only get surer with time
  const s = await jwtGateway(t, { secret: TEST_SECRET, clockSkewSeconds: 10 })
  await accepted(t, s, signToken(fresh({ exp: now() - 3 })), 'expired 3 s ago, skew 10 s')
  await refused(t, s, signToken(fresh({ exp: now() - 11 })), /expired at/, 'expired 11 s ago, skew 10 s')
  await accepted(t, s, signToken(fresh({ nbf: now() + 3 })), 'valid in 3 s, skew 10 s')
  await refused(t, s, signToken(fresh({ nbf: now() + 20 })), /not valid before/, 'valid in 20 s, skew 10 s')
  const strict = await jwtGateway(t, { secret: TEST_SECRET, clockSkewSeconds: 0 })
  await refused(t, strict, signToken(fresh({ exp: now() - 1 })), /expired at/, 'expired 1 s ago, no skew')
  const byDefault = await jwtGateway(t, { secret: TEST_SECRET })
  await refused(t, byDefault, signToken(fresh({ exp: now() - 31 })), /expired at/, 'expired 31 s ago, default skew 30 s')
  await refused(t, byDefault, signToken(fresh({ exp: now() - 10 * 365 * 86_400 })), /expired at/, 'expired ten years ago')
  await refused(t, byDefault, hmacToken({ alg: 'HS256' }, { sub: 'u-1', exp: null }, TEST_SECRET), /exp claim must be a number/, 'exp = null (what JSON makes of Infinity)')
  await refused(t, byDefault, hmacToken({ alg: 'HS256' }, { sub: 'u-1', exp: [now() + 600] }, TEST_SECRET), /exp claim/, 'exp as an array')
  await refused(t, byDefault, hmacToken({ alg: 'HS256' }, { sub: 'u-1', exp: String(now() + 600) }, TEST_SECRET), /exp claim must be a number/, 'exp as a numeric string')
  await refused(t, byDefault, hmacToken({ alg: 'HS256' }, { sub: 'u-1', exp: -1 }, TEST_SECRET), /expired/, 'exp = -1')
})

// ---------------------------------------------------------------------------
// identity headers sent by the client

/** One raw request (headers exactly as written: any case, repeated, underscores), answered by the gateway. */
async function rawRequest (gw: StartedGateway, path: string, headerLines: string[]): Promise<string> {
  const { raw } = await rawAttempt(gw.url, `GET ${path} HTTP/1.1\r\nHost: api.example\r\n${headerLines.join('\r\n')}\r\nConnection: close\r\n\r\n`)
  return raw
}

const CONSUMER_SPOOF = [
  'X-Consumer-Id: admin',
  'x-consumer-id: root, admin',
  'X-CONSUMER-ID: admin',
  'X-Consumer-Roles: admin,analyst',
  'x-consumer-roles: admin',
  'X-Consumer-Roles: analyst, admin',
  'X-Consumer-Tier: premium',
  'x-consumer-tier: premium,premium',
  'X_Consumer_Id: admin',
  'x_consumer_roles: admin',
  'X-Consumer_Tier: premium',
  'X_CONSUMER_ROLES: admin'
]

/** The consumer headers the upstream got, and any other header whose name mentions "consumer". */
function consumerHeaders (up: Upstream, index: number) {
  const h = up.requests[index]!.headers
  const others = Object.keys(h).filter((name) => /consumer/i.test(name) && !['x-consumer-id', 'x-consumer-tier', 'x-consumer-roles'].includes(name))
  return { id: h['x-consumer-id'], tier: h['x-consumer-tier'], roles: h['x-consumer-roles'], others }
}

t.test('client-sent X-Consumer-* in any case, repeated, with commas or underscores never reach the upstream', async (t) => {
  const KEY = 'hpk_abuse-spoof-key-0123456789abcdef'
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    consumers: [{ id: 'svc-key', tier: 'premium', roles: ['ops'], apiKeys: [sha256Hex(KEY)] }],
    rateLimit: { enabled: true, anonymous: 100, authenticated: 200, premium: 300, windowMs: 60_000 }
  })
  const cases: Array<[string, string, string[], { id: string | undefined, tier: string, roles: string | undefined }]> = [
    ['JWT without roles', '/v1/api/wallets/w1', [`Authorization: Bearer ${signToken(fresh({ sub: 'u-plain' }))}`], { id: 'u-plain', tier: 'authenticated', roles: undefined }],
    ['JWT with roles', '/v1/api/wallets/w1', [`Authorization: Bearer ${signToken(fresh({ sub: 'u-roles', roles: ['support'] }))}`], { id: 'u-roles', tier: 'authenticated', roles: 'support' }],
    ['API key', '/v1/api/wallets/w1', [`X-API-Key: ${KEY}`], { id: 'svc-key', tier: 'premium', roles: 'ops' }],
    ['anonymous on a public route', '/v1/auth/login', [], { id: undefined, tier: 'anonymous', roles: undefined }]
  ]
  for (const [what, path, credentials, expected] of cases) {
    for (const order of ['spoof first', 'spoof last']) {
      const before = up.requests.length
      const lines = order === 'spoof first' ? [...CONSUMER_SPOOF, ...credentials] : [...credentials, ...CONSUMER_SPOOF]
      const raw = await rawRequest(gw, path, lines)
      t.match(raw, /^HTTP\/1\.1 200 /, `${what} (${order}): 200`)
      t.equal(up.requests.length, before + 1)
      const got = consumerHeaders(up, before)
      t.same({ id: got.id, tier: got.tier, roles: got.roles }, expected, `${what} (${order}): exactly the gateway's own X-Consumer-* (single values)`)
      t.same(got.others, [], `${what} (${order}): no underscore or other spelling got through`)
    }
  }
  // a spoofed role grants nothing; a spoofed tier buys no bigger budget
  const before = up.requests.length
  const forbidden = await rawRequest(gw, '/v1/api/analytics/summary', [`Authorization: Bearer ${signToken(fresh({ sub: 'u-plain' }))}`, ...CONSUMER_SPOOF])
  t.match(forbidden, /^HTTP\/1\.1 403 /, 'X-Consumer-Roles: analyst does not open the analytics route')
  t.match(forbidden, /"code":"GW_AUTH_FORBIDDEN"/)
  t.equal(up.requests.length, before, 'the 403 never reached the upstream')
  const anonymous = await call(`${gw.url}/v1/auth/login`, { headers: { 'x-consumer-tier': 'premium', 'x-consumer-id': 'svc-key' } })
  t.equal(anonymous.headers['ratelimit-policy'], '"anonymous";q=100;w=60', 'a spoofed tier or id leaves the caller anonymous for the limiter')
  const noCredentials = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-consumer-id': 'svc-key', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'admin' } })
  t.equal(noCredentials.status, 401, 'consumer headers are not credentials')
})

t.test('X-Forwarded-For/-Host/-Proto and Forwarded from an untrusted peer are replaced, whatever their spelling', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const raw = await rawRequest(gw, '/v1/api/x', [
    'X-Forwarded-For: 6.6.6.6',
    'x-forwarded-for: 7.7.7.7, 8.8.8.8',
    'X-FORWARDED-FOR: 9.9.9.9',
    'X_Forwarded_For: 6.6.6.6',
    'X-Forwarded-Proto: https',
    'x-forwarded-proto: https',
    'X_Forwarded_Proto: https',
    'X-Forwarded-Host: evil.example',
    'X-Forwarded-Host: evil2.example',
    'x_forwarded_host: evil.example',
    'Forwarded: for=6.6.6.6;proto=https;host=evil.example',
    'forwarded: for=7.7.7.7'
  ])
  t.match(raw, /^HTTP\/1\.1 200 /)
  const h = up.requests[0]!.headers
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For is the socket address alone')
  t.equal(h['x-forwarded-proto'], 'http', 'X-Forwarded-Proto is how the client reached the gateway')
  t.equal(h['x-forwarded-host'], 'api.example', 'X-Forwarded-Host is the client\'s Host')
  t.equal(h.forwarded, undefined, 'Forwarded is dropped')
  t.same(Object.keys(h).filter((name) => /forwarded/i.test(name)).sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'], 'no underscore spelling got through')
})

// ---------------------------------------------------------------------------
// the anonymous rate-limit key and TRUST_PROXY

const W = 60_000
const frozen = () => 1000 * W + 15_000

async function limitedGateway (t: Test, trustProxy?: unknown): Promise<{ up: Upstream, gw: StartedGateway }> {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    rateLimit: { enabled: true, anonymous: 3, authenticated: 100, premium: 100, windowMs: W },
    ...(trustProxy !== undefined ? { server: { trustProxy } } : {})
  }, { now: frozen })
  return { up, gw }
}

const login = (gw: StartedGateway, headers: Record<string, string>) => call(`${gw.url}/v1/auth/login`, { headers })

t.test('TRUST_PROXY unset: rotating spoofed client-address headers buys no fresh rate-limit budget', async (t) => {
  const { up, gw } = await limitedGateway(t)
  const spoofs: Array<Record<string, string>> = [
    { 'x-forwarded-for': '203.0.113.1' },
    { 'x-forwarded-for': '203.0.113.2, 198.51.100.2' },
    { forwarded: 'for=203.0.113.3', 'x-real-ip': '203.0.113.3' },
    { 'x-forwarded-for': '2001:db8::4', 'x-client-ip': '203.0.113.4', 'true-client-ip': '203.0.113.4', 'cf-connecting-ip': '203.0.113.4' },
    { 'x-forwarded-for': '203.0.113.5' },
    { 'x-forwarded-for': 'unknown' }
  ]
  const statuses: number[] = []
  for (const headers of spoofs) statuses.push((await login(gw, headers)).status)
  t.same(statuses, [200, 200, 200, 429, 429, 429], 'one budget of 3 for the socket address, whatever the headers say')
  t.ok(up.requests.every((r) => r.headers['x-forwarded-for'] === '127.0.0.1'), 'the upstream was told the socket address each time')
})

t.test('TRUST_PROXY names the peer: the X-Forwarded-For client is the key, and only the part the trusted proxy vouches for', async (t) => {
  const { gw } = await limitedGateway(t, ['127.0.0.1'])
  const remaining = async (xff: string) => {
    const res = await login(gw, { 'x-forwarded-for': xff })
    return res.status === 429 ? 'refused' : res.headers['x-ratelimit-remaining']
  }
  t.same([await remaining('203.0.113.10'), await remaining('203.0.113.11'), await remaining('203.0.113.12')], ['2', '2', '2'], 'three clients behind the proxy: three budgets')
  // a client prepending addresses of its choice: the proxy appended the real one last
  const chain = []
  for (const fake of ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4']) chain.push(await remaining(`${fake}, 203.0.113.20`))
  t.same(chain, ['2', '1', '0', 'refused'], 'spoofed hops in front of the real client share the real client\'s budget')
  // IPv6 clients count by their /64
  const v6 = []
  for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::ffff', '2001:db8:1:2:abcd::7', '2001:db8:1:2::9']) v6.push(await remaining(address))
  t.same(v6, ['2', '1', '0', 'refused'], 'rotating addresses inside one /64 does not help')
  t.equal(await remaining('2001:db8:1:3::1'), '2', 'the next /64 is another client')
})

t.test('TRUST_PROXY as a hop count trusts exactly that many hops', async (t) => {
  const { gw } = await limitedGateway(t, 1)
  const statuses = []
  for (const fake of ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4']) statuses.push((await login(gw, { 'x-forwarded-for': `${fake}, 203.0.113.30` })).status)
  t.same(statuses, [200, 200, 200, 429], 'one trusted hop: the address it appended is the key')
})

t.test('TRUST_PROXY naming other addresses: the loopback peer is not trusted, its X-Forwarded-For is ignored', async (t) => {
  const { up, gw } = await limitedGateway(t, ['10.0.0.0/8', '192.168.0.0/16'])
  const statuses = []
  for (const ip of ['203.0.113.40', '203.0.113.41', '203.0.113.42', '203.0.113.43']) statuses.push((await login(gw, { 'x-forwarded-for': ip, 'x-forwarded-proto': 'https' })).status)
  t.same(statuses, [200, 200, 200, 429], 'one budget for the socket address')
  t.equal(up.requests[0]!.headers['x-forwarded-for'], '127.0.0.1', 'and its X-Forwarded-* are replaced')
  t.equal(up.requests[0]!.headers['x-forwarded-proto'], 'http')
})

// ---------------------------------------------------------------------------
// API keys: the design that makes lookup timing useless to an attacker
//
// No wall-clock measurement here, on purpose: what a timing attack would exploit is
// an early-exit string comparison of the presented key against a stored one, a
// difference of nanoseconds per matching character, far below the scheduling and
// network jitter of a shared test machine (the README measures ±20 % between runs).
// A timing test would either be flaky or assert nothing. What is asserted instead is
// the design that removes the signal: the presented key is hashed (SHA-256) before
// anything is looked up, the tables and Redis are keyed by that digest — whose bytes
// an attacker cannot steer toward a stored digest — and the final comparison is
// crypto.timingSafeEqual. Keys that differ early or late are refused identically.

const KEY = 'hpk_abuse-design-key-0123456789abcdefghij'
const variants: Array<[string, string]> = [
  ['last character changed', KEY.slice(0, -1) + (KEY.endsWith('j') ? 'k' : 'j')],
  ['first character changed', 'x' + KEY.slice(1)],
  ['one character longer', KEY + 'a'],
  ['one character shorter', KEY.slice(0, -1)],
  ['upper case', KEY.toUpperCase()],
  ['its SHA-256 digest', sha256Hex(KEY)]
]

/** What a refusal exposes: status, code, message, reason and challenge (no per-request fields). */
function refusalOf (fn: () => unknown): Record<string, unknown> {
  try {
    fn()
  } catch (err) {
    const e = err as { statusCode?: number, code?: string, message?: string, reason?: string, headers?: unknown }
    return { statusCode: e.statusCode, code: e.code, message: e.message, reason: e.reason, headers: e.headers }
  }
  return { accepted: true }
}

t.test('API keys in process: the registry only ever holds digests and refuses near-misses identically', async (t) => {
  const registry = new ApiKeyRegistry({
    consumers: [{ id: 'svc-design', tier: 'authenticated', roles: [], apiKeys: [sha256Hex(KEY)], jwtSecrets: [] }],
    redis: null,
    keyPrefix: 'unused:',
    log: { warn: () => {} }
  })
  const consumer = registry.authenticate(KEY)
  t.match(consumer, { id: 'svc-design', via: 'api-key' }, 'the key is recognised from its digest alone (the registry never saw the key)')
  const reference = refusalOf(() => registry.authenticate(variants[0]![1]))
  t.match(reference, { statusCode: 401, code: 'GW_AUTH_INVALID_API_KEY', reason: 'unknown_key' })
  for (const [what, key] of variants) t.same(refusalOf(() => registry.authenticate(key)), reference, `${what}: the same refusal`)
  const listed = await registry.list()
  t.same(listed.map((r) => r.hash), [sha256Hex(KEY)], 'the registry lists the digest')
  t.notOk(JSON.stringify(listed).includes(KEY), 'and never the key')

  // the lookup path as loaded: the raw key is used for its syntax check and for
  // hashing, nothing else; lookups use the digest
  const body = ApiKeyRegistry.prototype.authenticate.toString()
  const params = /^[^(]*\(([^)]*)\)/.exec(body)![1]!.trim().split(/\s*[:,]/)[0]!
  // code only: string literals (messages mention "key") blanked out
  const code = body.slice(body.indexOf('{')).replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''")
  const uses = code.match(new RegExp(`\\b${params}\\b`, 'g')) ?? []
  t.equal(uses.length, 2, `the presented key (${params}) is used exactly twice in authenticate()`)
  t.match(body, new RegExp(`sha256Hex\\(${params}\\)`), 'once to hash it')
  t.match(body, new RegExp(`KEY_SYNTAX\\.test\\(${params}\\)`), 'once to check its syntax')
  t.match(body, /\.get\(hash\)/, 'tables are looked up by the digest')
  const source = readFileSync(new URL('../../plugins/auth/api-keys.ts', import.meta.url), 'utf8')
  const accept = source.slice(source.indexOf('function accept'))
  t.match(accept.slice(0, accept.indexOf('\n}')), /timingSafeEqual\(/, 'the final comparison is crypto.timingSafeEqual')
})

t.test('API keys in Redis: only digests are stored and sent; near-misses are refused like any unknown key', async (t) => {
  const prefix = uniquePrefix()
  const client = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 })
  // (monitor() opens a connection of its own in MONITOR mode: both are closed at teardown)
  const watcher = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 })
  const monitor = await watcher.monitor()
  const commands: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => { if (args.some((a) => a.startsWith(prefix))) commands.push(args) })
  t.teardown(async () => {
    monitor.disconnect()
    watcher.disconnect()
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    await client.quit()
  })
  await client.hset(`${prefix}apikeys`, sha256Hex(KEY), JSON.stringify({ consumerId: 'svc-redis', tier: 'premium', roles: ['ops'] }))
  const registry = new ApiKeyRegistry({ consumers: [], redis: client, keyPrefix: prefix, log: { warn: () => {} } })
  t.match(await registry.authenticate(KEY), { id: 'svc-redis', tier: 'premium' }, 'found under its digest')
  const refusals = []
  for (const [what, key] of variants) {
    const outcome = await Promise.resolve().then(() => registry.authenticate(key)).then(() => ({ accepted: true }), (err) => refusalOf(() => { throw err }))
    refusals.push(outcome)
    t.match(outcome, { statusCode: 401, code: 'GW_AUTH_INVALID_API_KEY', reason: 'unknown_key' }, `${what}: refused`)
  }
  t.equal(new Set(refusals.map((r) => JSON.stringify(r))).size, 1, 'every near-miss gets the same refusal')
  await until(() => commands.filter((c) => c[0]?.toLowerCase() === 'hget').length >= 1 + variants.length, 5000, 'the HGETs to show in MONITOR')
  const sent = JSON.stringify(commands)
  t.ok(commands.some((c) => c[0]?.toLowerCase() === 'hget' && c[2] === sha256Hex(KEY)), 'Redis was asked for the digest')
  for (const [what, key] of [['the key', KEY], ...variants.slice(0, 5)] as Array<[string, string]>) {
    t.notOk(sent.includes(key), `${what} itself never reached Redis`)
  }
  t.same(Object.keys(await client.hgetall(`${prefix}apikeys`)), [sha256Hex(KEY)], 'the Redis hash holds the digest only')
})

t.test('API keys through the gateway: a key off by its first or its last character gets the very same problem', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), consumers: [{ id: 'svc-design', tier: 'authenticated', apiKeys: [sha256Hex(KEY)] }] })
  t.equal((await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-key': KEY } })).status, 200, 'control: the key works')
  const answers = []
  for (const [what, key] of variants) {
    const res = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-key': key, 'x-request-id': 'same-id' } })
    t.equal(res.status, 401, `${what}: 401`)
    t.notOk(res.text.includes(key), `${what}: the key is not echoed`)
    answers.push(JSON.stringify([res.headers['www-authenticate'], res.headers['content-type'], res.json()]))
  }
  t.equal(new Set(answers).size, 1, 'every near-miss: identical body and challenge')
  t.equal(up.requests.length, 1, 'none of them reached the upstream')
})
