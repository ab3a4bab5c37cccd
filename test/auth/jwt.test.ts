// Bearer tokens: which are accepted, which are refused and why, for HS256 (JWT_SECRET)
// and RS256/ES256 (JWT_PUBLIC_KEY). JWKS has its own file.
import t, { type Test } from 'tap'
import { generateKeyPairSync, createHmac } from 'node:crypto'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, unsignedToken, bearer, TEST_SECRET } from '../helpers.js'

const now = () => Math.floor(Date.now() / 1000)
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pem = (k: typeof rsa.publicKey) => k.export({ type: 'spki', format: 'pem' }).toString()

async function gateway (t: Test, jwt: Record<string, unknown> = {}) {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), jwt: { secret: TEST_SECRET, issuer: 'https://auth.healthpay.test', audience: 'healthpay-api', ...jwt } })
  const get = (token: string) => call(`${gw.url}/v1/api/wallets/w1`, { headers: bearer(token) })
  return { up, gw, get }
}

/** HS256 over any payload (the signer refuses ill-typed claims; the gateway must too) */
function hs256 (payload: Record<string, unknown>): string {
  const input = unsignedToken({ alg: 'HS256', typ: 'JWT' }, payload).slice(0, -1)
  return `${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`
}

const claims = { iss: 'https://auth.healthpay.test', aud: 'healthpay-api' }

/** a refusal: 401 problem, the challenge, the reason in the detail, the token nowhere */
function refused (t: Test, res: Awaited<ReturnType<typeof call>>, token: string, detail: RegExp, what: string) {
  t.equal(res.status, 401, `${what}: 401`)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { status: 401, code: 'GW_AUTH_INVALID_TOKEN', detail }, `${what}: ${res.json().detail}`)
  t.match(res.headers['www-authenticate'], /^Bearer realm="healthpay", error="invalid_token", error_description="[^"]+"$/)
  const signature = token.split('.')[2]
  if (signature && signature.length >= 16) t.notOk(res.text.includes(signature) || String(res.headers['www-authenticate']).includes(signature), `${what}: the token is not echoed`)
}

t.test('a valid HS256 token: consumer id, tier and roles reach the upstream; the token is forwarded', async (t) => {
  const { up, get } = await gateway(t)
  const token = signToken({ ...claims, sub: 'u-alice', roles: ['support', 'billing'], tier: 'premium' })
  const res = await get(token)
  t.equal(res.status, 200)
  const h = up.requests[0]!.headers
  t.equal(h['x-consumer-id'], 'u-alice')
  t.equal(h['x-consumer-tier'], 'premium')
  t.equal(h['x-consumer-roles'], 'support,billing')
  t.equal(h.authorization, `Bearer ${token}`, 'Authorization is forwarded by default')
})

t.test('roles from a space-separated scope; tier defaults to authenticated', async (t) => {
  const { up, get } = await gateway(t)
  t.equal((await get(signToken({ ...claims, scope: 'wallets:read analyst' }))).status, 200)
  t.equal((await get(signToken({ ...claims, tier: 'gold' }))).status, 200)
  t.equal(up.requests[0]!.headers['x-consumer-roles'], 'wallets:read,analyst')
  t.equal(up.requests[0]!.headers['x-consumer-tier'], 'authenticated')
  t.equal(up.requests[1]!.headers['x-consumer-roles'], undefined, 'no roles, no header')
  t.equal(up.requests[1]!.headers['x-consumer-tier'], 'authenticated', 'an unknown tier counts as authenticated')
})

t.test('time claims: exp required and checked, nbf checked, both with 30 s of clock skew', async (t) => {
  const { get } = await gateway(t)
  t.equal((await get(signToken({ ...claims, exp: now() - 10 }))).status, 200, 'expired 10 s ago: inside the skew')
  t.equal((await get(signToken({ ...claims, nbf: now() + 10 }))).status, 200, 'valid in 10 s: inside the skew')
  let token = signToken({ ...claims, exp: now() - 60 })
  refused(t, await get(token), token, /expired at/, 'expired a minute ago')
  token = signToken({ ...claims, nbf: now() + 120 })
  refused(t, await get(token), token, /not valid before/, 'not valid for two minutes')
  token = signToken({ ...claims, exp: undefined })
  refused(t, await get(token), token, /exp claim is required/, 'no exp')
  token = hs256({ ...claims, sub: 'u-1', exp: 'tomorrow' })
  refused(t, await get(token), token, /exp claim must be a number/, 'exp not a number')
})

t.test('issuer and audience must match when configured, and be present', async (t) => {
  const { get } = await gateway(t)
  let token = signToken({ ...claims, iss: 'https://evil.test' })
  refused(t, await get(token), token, /issuer/, 'wrong issuer')
  token = signToken({ ...claims, iss: undefined })
  refused(t, await get(token), token, /iss claim is required/, 'no issuer')
  token = signToken({ ...claims, aud: 'another-api' })
  refused(t, await get(token), token, /audience/, 'wrong audience')
  token = signToken({ ...claims, aud: undefined })
  refused(t, await get(token), token, /aud claim is required/, 'no audience')
  t.equal((await get(signToken({ ...claims, aud: ['other', 'healthpay-api'] }))).status, 200, 'an aud array containing ours')
})

t.test('forged, unsigned and malformed tokens are refused', async (t) => {
  const { up, get } = await gateway(t)
  let token = signToken(claims, { key: 'another-secret-that-is-32-characters-long' })
  refused(t, await get(token), token, /signature does not match/, 'signed with another secret')
  const [h, , s] = signToken(claims).split('.')
  token = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'u-admin', roles: ['admin'], exp: now() + 60 })).toString('base64url')}.${s}`
  refused(t, await get(token), token, /signature does not match/, 'payload swapped under a valid signature')
  token = unsignedToken({ alg: 'none', typ: 'JWT' }, { ...claims, sub: 'u-admin', exp: now() + 60 })
  refused(t, await get(token), token, /algorithm "none" is not accepted/, 'alg none')
  token = unsignedToken({ alg: 'HS256' }, { ...claims, exp: now() + 60 })
  refused(t, await get(token), token, /signature/, 'HS256 without a signature')
  token = unsignedToken({ alg: 'XX99<script>' }, { ...claims, exp: now() + 60 }, 'abc')
  refused(t, await get(token), token, /algorithm of the token is not accepted/, 'an unknown alg is not echoed')
  for (const junk of ['abc', 'a.b', 'a.b.c', '%%%.e30.x', `${Buffer.from('{"alg":"HS256"').toString('base64url')}.e30.x`, unsignedToken({ typ: 'JWT' }, {}, 'x'), unsignedToken({ alg: 'HS256', kid: 42 }, {}, 'x')]) {
    refused(t, await get(junk), junk, /not a JWT|malformed|no "alg"|kid/, `junk ${JSON.stringify(junk.slice(0, 20))}`)
  }
  const long = signToken({ ...claims, pad: 'x'.repeat(9000) })
  refused(t, await get(long), long, /longer than 8192/, 'a 9 kB token')
  t.equal(up.requests.length, 0, 'the upstream never saw any of them')
})

t.test('an empty bearer and a 1 MB token never reach the verifier as a 500', async (t) => {
  const { gw } = await gateway(t)
  const empty = await call(`${gw.url}/v1/api/w`, { headers: { authorization: 'Bearer ' } })
  t.equal(empty.status, 401)
  t.match(empty.json(), { code: 'GW_AUTH_INVALID_TOKEN', detail: /no token/ })
  const huge = await call(`${gw.url}/v1/api/w`, { headers: { authorization: `Bearer ${'a'.repeat(1 << 20)}` } }).catch((err: Error) => err)
  // Node's header limit (16 kB) answers first: 431, or the connection is cut while the client still sends
  if (!(huge instanceof Error)) t.equal(huge.status, 431)
  else t.pass(`connection refused mid-upload: ${huge.message}`)
})

t.test('claims that cannot be sent upstream are refused, not forwarded', async (t) => {
  const { up, get } = await gateway(t)
  let token = signToken({ ...claims, sub: 'u-1\r\nx-consumer-roles: admin' })
  refused(t, await get(token), token, /sub claim/, 'CRLF in sub')
  token = signToken({ ...claims, sub: undefined })
  refused(t, await get(token), token, /sub claim/, 'no sub')
  token = signToken({ ...claims, sub: 'ünïcode' })
  refused(t, await get(token), token, /sub claim/, 'non-ASCII sub')
  token = signToken({ ...claims, roles: ['admin,support'] })
  refused(t, await get(token), token, /roles claim/, 'a comma inside a role')
  token = hs256({ ...claims, sub: 'u-1', exp: now() + 60, roles: 'admin' })
  refused(t, await get(token), token, /roles claim/, 'roles not an array')
  t.equal(up.requests.length, 0)
})

t.test('RS256 and ES256 from JWT_PUBLIC_KEY; HS/RS confusion is refused', async (t) => {
  for (const [name, pair, alg] of [['RS256', rsa, 'RS256'], ['ES256', ec, 'ES256']] as const) {
    t.test(name, async (t) => {
      const { up, get } = await gateway(t, { publicKey: pem(pair.publicKey) })
      t.equal((await get(signToken({ ...claims, sub: `u-${alg}` }, { alg, key: pair.privateKey }))).status, 200)
      t.equal(up.requests[0]!.headers['x-consumer-id'], `u-${alg}`)
      // the classic confusion: an HS256 token "signed" with the public key as HMAC secret
      let token = signToken(claims, { alg: 'HS256', key: pem(pair.publicKey) })
      refused(t, await get(token), token, /signature does not match/, 'HS256 signed with the public key')
      const other = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' })
      token = signToken(claims, { alg, key: other.privateKey })
      refused(t, await get(token), token, /signature does not match/, 'signed by another key')
    })
  }
})

t.test('the algorithm allow-list is enforced, and algorithms without a key are refused', async (t) => {
  const { get } = await gateway(t, { algorithms: ['RS256'], publicKey: pem(rsa.publicKey) })
  let token = signToken(claims)
  refused(t, await get(token), token, /algorithm "HS256" is not accepted \(allowed: RS256\)/, 'HS256 not allowed')
  const noSecret = await gateway(t, { secret: undefined, algorithms: ['HS256', 'ES256'], publicKey: pem(ec.publicKey) })
  token = signToken(claims)
  refused(t, await noSecret.get(token), token, /no JWT_SECRET/, 'HS256 allowed but no secret')
  token = signToken(claims, { alg: 'RS256', key: rsa.privateKey })
  refused(t, await noSecret.get(token), token, /"RS256" is not accepted/, 'RS256 not on the list')
})

t.test('a verified token is cached until it expires, then refused', async (t) => {
  const { get, gw } = await gateway(t)
  // with 30 s of skew, exp 28 s before the current second is valid for 1 to 2 s more
  // (exp now() - 29 left anywhere from 0 to 1 s: a run starting late in a second failed)
  const token = signToken({ ...claims, exp: now() - 28 })
  t.equal((await get(token)).status, 200)
  const started = Date.now()
  let status = 200
  while (status === 200 && Date.now() - started < 4000) {
    status = (await get(token)).status
    if (status === 200) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.equal(status, 401, 'the cached entry expired with the token')
  t.ok(Date.now() - started < 3000, `refused ${Date.now() - started} ms later`)
  void gw
})

t.test('start-up warnings: none for the default algorithm list with a key, one when no key at all, one for a chosen list naming algorithms without a key', async (t) => {
  const up = await startUpstream(t)
  const warnings = async (jwt: Record<string, unknown>) => {
    const lines: string[] = []
    await startGateway(t, { services: servicesFor(up.url), server: { logLevel: 'warn' }, jwt }, { logStream: { write: (l: string) => lines.push(l) } })
    return lines.map((l) => JSON.parse(l)).filter((l) => /JWT/.test(l.msg))
  }
  t.same(await warnings({ secret: TEST_SECRET }), [], 'JWT_SECRET and the default list (HS256, RS256, ES256): nothing to warn about')
  t.match(await warnings({}), [{ level: 40, msg: /^no JWT key configured: every bearer token is refused/ }])
  t.match(await warnings({ secret: TEST_SECRET, algorithms: ['HS256', 'RS384'] }), [{ level: 40, algorithms: ['RS384'], msg: /^JWT_ALGORITHMS names algorithms without a key/ }])
})
