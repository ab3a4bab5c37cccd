// Bearer tokens checked against a JWKS: a real JWKS endpoint (node:http on port 0)
// whose key set, status and availability each test changes, and a gateway whose
// routes need authentication in front of an echo upstream.
import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import {
  startUpstream, startGateway, servicesFor, specRoutes, call, until, freePort,
  signToken, bearer, TEST_SECRET, type Upstream, type StartedGateway, type SimpleResponse
} from '../helpers.js'

// ---------------------------------------------------------------------------
// keys and tokens

const rsa1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const rsa3 = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec1 = generateKeyPairSync('ec', { namedCurve: 'P-256' })

type Jwk = Record<string, unknown>

/** The public JWK of a key pair, as a JWKS publishes it. */
const jwk = (pair: { publicKey: KeyObject }, kid: string, alg?: string, extra: Jwk = {}): Jwk =>
  ({ ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig', ...(alg !== undefined ? { alg } : {}), ...extra })

let serial = 0
/** A token never issued before (a fresh jti), so the gateway's verified-token cache cannot answer for it. */
const token = (pair: { privateKey: KeyObject }, alg: string, kid: string | undefined, sub = 'u-1'): string =>
  signToken({ sub, jti: `t-${++serial}` }, { alg, key: pair.privateKey, ...(kid !== undefined ? { kid } : {}) })

// ---------------------------------------------------------------------------
// a JWKS endpoint of our own

type Mode = 'ok' | '500' | 'garbage' | 'no-keys' | 'huge' | 'hold'

interface JwksServer {
  url: string
  port: number
  /** the published set: replace or mutate it to rotate keys */
  keys: Jwk[]
  /** GET requests received */
  gets: number
  /** ok: the set; 500; garbage: 200 with invalid JSON; no-keys: 200 JSON without "keys"; huge: a valid set over 1 MB; hold: no answer until release() */
  mode: Mode
  /** answers the held requests (with the set, as `ok`) */
  release: () => void
  close: () => Promise<void>
}

async function startJwks (t: Test, keys: Jwk[], port = 0): Promise<JwksServer> {
  const held: Array<() => void> = []
  const state: JwksServer = {
    url: '',
    port: 0,
    keys,
    gets: 0,
    mode: 'ok',
    release: () => { for (const answer of held.splice(0)) answer() },
    close: async () => {
      if (!server.listening) return
      held.length = 0
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  }
  const answer = (res: http.ServerResponse, mode: Mode) => {
    if (mode === '500') { res.statusCode = 500; res.end('{"error":"boom"}'); return }
    res.setHeader('content-type', 'application/json')
    if (mode === 'garbage') { res.end('{"keys": [ not json'); return }
    if (mode === 'no-keys') { res.end('{"issuer":"https://idp.example"}'); return }
    if (mode === 'huge') { res.end(JSON.stringify({ keys: [], padding: 'x'.repeat(1_100_000) })); return }
    res.end(JSON.stringify({ keys: state.keys }))
  }
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/.well-known/jwks.json') { res.statusCode = 404; res.end(); return }
    state.gets++
    if (state.mode === 'hold') held.push(() => answer(res, 'ok'))
    else answer(res, state.mode)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  state.port = (server.address() as net.AddressInfo).port
  state.url = `http://127.0.0.1:${state.port}/.well-known/jwks.json`
  t.teardown(state.close)
  return state
}

// ---------------------------------------------------------------------------
// a gateway that needs credentials on /v1/api

interface Setup { gw: StartedGateway, up: Upstream }

async function gatewayWithJwks (t: Test, jwksUrl: string, jwt: Record<string, unknown> = {}): Promise<Setup> {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { jwksUrl, algorithms: ['RS256', 'ES256'], ...jwt }
  })
  return { gw, up }
}

const wallet = (gw: StartedGateway, tok: string): Promise<SimpleResponse> => call(`${gw.url}/v1/api/wallets/w1`, { headers: bearer(tok) })

/** The token is accepted and its sub reaches the upstream as X-Consumer-Id. */
async function accepted (t: Test, { gw, up }: Setup, tok: string, sub: string, what: string): Promise<void> {
  const seen = up.requests.length
  const res = await wallet(gw, tok)
  t.equal(res.status, 200, `${what}: 200`)
  t.equal(up.requests[seen]?.headers['x-consumer-id'], sub, `${what}: X-Consumer-Id ${sub} reaches the upstream`)
}

/** The token is refused: 401 GW_AUTH_INVALID_TOKEN with a Bearer challenge, and the upstream is not called. */
async function refused (t: Test, { gw, up }: Setup, tok: string, detail: RegExp, what: string): Promise<SimpleResponse> {
  const seen = up.requests.length
  const res = await wallet(gw, tok)
  t.equal(res.status, 401, `${what}: 401`)
  t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
  const body = res.status === 401 ? res.json() : {}
  t.equal(body.code, 'GW_AUTH_INVALID_TOKEN', `${what}: code`)
  t.match(body.detail, detail, `${what}: detail`)
  t.match(res.headers['www-authenticate'], /^Bearer realm="healthpay", error="invalid_token"/, `${what}: challenge`)
  t.equal(up.requests.length, seen, `${what}: the upstream is not called`)
  return res
}

const NOT_IN_JWKS = /key id \(kid\) is not in the JWKS/
const WRONG_ALG_FOR_KID = /JWKS key named by the token's kid is not for the token's algorithm/
const NO_SINGLE_KEY = /names no key id \(kid\) and the JWKS has no single matching key/

// ---------------------------------------------------------------------------

t.test('RS256 and ES256 tokens whose kid is in the JWKS are accepted; the consumer id reaches the upstream', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256'), jwk(ec1, 'e1', 'ES256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 60_000 })

  await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-rsa'), 'u-rsa', 'RS256 token, kid k1')
  await accepted(t, s, token(ec1, 'ES256', 'e1', 'u-ec'), 'u-ec', 'ES256 token, kid e1')
  const again = token(rsa1, 'RS256', 'k1', 'u-again')
  await accepted(t, s, again, 'u-again', 'a second RS256 token')
  await accepted(t, s, again, 'u-again', 'the same token again (from the verified-token cache)')
  t.equal(jwks.gets, 1, 'one JWKS fetch served all of them')

  // a known kid does not make any signature good
  await refused(t, s, token(rsa2, 'RS256', 'k1'), /signature does not match/, 'kid k1 but signed by another RSA key')
  await refused(t, s, token(rsa1, 'RS256', 'e1'), WRONG_ALG_FOR_KID, 'RS256 token naming the EC key e1')
  await refused(t, s, token(ec1, 'ES256', 'k1'), WRONG_ALG_FOR_KID, 'ES256 token naming the RSA key k1')
  const expired = signToken({ sub: 'u-old', exp: Math.floor(Date.now() / 1000) - 3600 }, { alg: 'RS256', key: rsa1.privateKey, kid: 'k1' })
  await refused(t, s, expired, /expired/, 'an expired token signed by k1')
})

t.test('key rotation: a new kid is fetched on first sight; a key gone from the set is revoked, cached tokens included', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1 })

  const cachedK1 = token(rsa1, 'RS256', 'k1', 'u-k1')
  await accepted(t, s, cachedK1, 'u-k1', 'k1 token before the rotation')
  t.equal(jwks.gets, 1)

  jwks.keys = [jwk(rsa1, 'k1', 'RS256'), jwk(rsa2, 'k2', 'RS256')]
  await accepted(t, s, token(rsa2, 'RS256', 'k2', 'u-k2'), 'u-k2', 'k2 token once k2 is published')
  t.equal(jwks.gets, 2, 'the unknown kid k2 cost exactly one fetch')
  await accepted(t, s, token(rsa2, 'RS256', 'k2', 'u-k2b'), 'u-k2b', 'another k2 token')
  await accepted(t, s, cachedK1, 'u-k1', 'k1 still verifies while it is published')
  t.equal(jwks.gets, 2, 'known kids cost no fetch')

  // k1 is withdrawn; the next fetch (here: triggered by an unknown kid) sees it gone
  jwks.keys = [jwk(rsa2, 'k2', 'RS256')]
  await refused(t, s, token(rsa3, 'RS256', 'k9'), NOT_IN_JWKS, 'unknown kid k9')
  t.equal(jwks.gets, 3)
  await refused(t, s, cachedK1, NOT_IN_JWKS, 'the k1 token accepted (and cached) before the rotation')
  await refused(t, s, token(rsa1, 'RS256', 'k1'), NOT_IN_JWKS, 'a fresh k1 token')
  await accepted(t, s, token(rsa2, 'RS256', 'k2', 'u-k2c'), 'u-k2c', 'k2 tokens still verify')
})

t.test('key rotation picked up by the background refresh, without any unknown kid', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 60_000, jwksRefreshMs: 100 })

  const cachedK1 = token(rsa1, 'RS256', 'k1', 'u-k1')
  await accepted(t, s, cachedK1, 'u-k1', 'k1 token before the rotation')
  const fetched = jwks.gets
  jwks.keys = [jwk(rsa2, 'k2', 'RS256')]
  await until(() => jwks.gets > fetched, 3000, 'a background JWKS refresh')
  await until(async () => (await wallet(s.gw, cachedK1)).status === 401, 3000, 'the cached k1 token to be refused')
  await refused(t, s, cachedK1, NOT_IN_JWKS, 'the cached k1 token after the refresh')
  await refused(t, s, token(rsa1, 'RS256', 'k1'), NOT_IN_JWKS, 'a fresh k1 token after the refresh')
  await accepted(t, s, token(rsa2, 'RS256', 'k2', 'u-k2'), 'u-k2', 'k2 (learnt by the refresh, not by a cooldown-bound miss)')
})

t.test('a key replaced under the same kid: what the old key verified is no longer accepted', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1 })

  const oldToken = token(rsa1, 'RS256', 'k1', 'u-old')
  await accepted(t, s, oldToken, 'u-old', 'token of the original k1')
  // the compromised key material is replaced, keeping the kid
  jwks.keys = [jwk(rsa2, 'k1', 'RS256')]
  await refused(t, s, token(rsa3, 'RS256', 'k9'), NOT_IN_JWKS, 'unknown kid k9 (triggers the fetch)')
  t.equal(jwks.gets, 2)
  await accepted(t, s, token(rsa2, 'RS256', 'k1', 'u-new'), 'u-new', 'token of the new k1')
  await refused(t, s, token(rsa1, 'RS256', 'k1'), /signature does not match/, 'a fresh token of the old k1')
  // the set's kids and algorithms did not change, but the key behind k1 did: the token
  // verified with the old key must not stay accepted from the verified-token cache
  const res = await wallet(s.gw, oldToken)
  t.equal(res.status, 401, 'the old-k1 token accepted (and cached) before the replacement is refused')
  if (res.status === 401) t.match(res.json().detail, /signature does not match/)
})

t.test('rate bound: unknown kids refetch the JWKS at most once per cooldown; concurrent misses share one fetch', async (t) => {
  t.test('cooldown 60 s: ten forged kids after the initial load cost at most one fetch', async (t) => {
    const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 60_000 })
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-1'), 'u-1', 'k1 token (initial load)')
    t.equal(jwks.gets, 1)
    for (let i = 0; i < 10; i++) {
      const res = await refused(t, s, token(rsa2, 'RS256', `forged-${i}`), NOT_IN_JWKS, `forged kid ${i}`)
      t.match(res.headers['www-authenticate'], /error_description="[^"]*kid[^"]*not in the JWKS"/)
    }
    t.ok(jwks.gets <= 2, `at most one extra JWKS fetch (got ${jwks.gets - 1})`)
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-2'), 'u-2', 'k1 still verifies')
  })

  t.test('cooldown 400 ms: a stream of forged kids fetches about once per cooldown, not once per request', async (t) => {
    const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 400 })
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-1'), 'u-1', 'k1 token (initial load)')
    const started = Date.now()
    let requests = 0
    while (Date.now() - started < 1000) {
      const res = await wallet(s.gw, token(rsa2, 'RS256', `forged-${requests++}`))
      if (res.status !== 401) t.fail(`forged kid answered ${res.status}`)
    }
    const elapsed = Date.now() - started
    const extra = jwks.gets - 1
    t.ok(requests >= 20, `enough forged requests (${requests})`)
    t.ok(extra >= 1, 'once the cooldown passed, a miss fetches again')
    t.ok(extra <= Math.ceil(elapsed / 400) + 1, `${extra} extra fetches for ${requests} forged kids in ${elapsed} ms`)
  })

  t.test('concurrent misses share one fetch', async (t) => {
    const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')])
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1 })
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-1'), 'u-1', 'k1 token (initial load)')
    t.equal(jwks.gets, 1)

    jwks.mode = 'hold'
    const pending = Array.from({ length: 10 }, (_, i) => wallet(s.gw, token(rsa2, 'RS256', `forged-${i}`)))
    await until(() => jwks.gets === 2, 3000, 'the shared JWKS fetch')
    // leave the others time to arrive: any fetch of their own would show up (and be held) here
    await new Promise((resolve) => setTimeout(resolve, 200))
    jwks.mode = 'ok'
    jwks.release()
    const results = await Promise.all(pending)
    t.same(results.map((r) => r.status), Array(10).fill(401), 'all ten refused')
    t.ok(results.every((r) => NOT_IN_JWKS.test(r.json().detail)), 'all for the kid not being in the JWKS')
    t.equal(jwks.gets, 2, 'ten concurrent unknown kids, one fetch')
    t.equal(s.up.requests.length, 1, 'none reached the upstream')
  })
})

t.test('the JWKS endpoint failing: keys already cached keep verifying, fresh tokens included', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256'), jwk(ec1, 'e1', 'ES256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1, jwksRefreshMs: 50, jwksTimeoutMs: 300 })
  const seenBefore = token(rsa1, 'RS256', 'k1', 'u-seen')
  await accepted(t, s, seenBefore, 'u-seen', 'k1 token while the JWKS is up')

  for (const mode of ['500', 'garbage', 'no-keys', 'huge'] as const) {
    jwks.mode = mode
    const fetched = jwks.gets
    await until(() => jwks.gets >= fetched + 3, 3000, `three failed background refreshes (${mode})`)
    await refused(t, s, token(rsa2, 'RS256', 'k9'), NOT_IN_JWKS, `${mode}: unknown kid (its fetch fails too)`)
    await accepted(t, s, token(rsa1, 'RS256', 'k1', `u-rs-${mode}`), `u-rs-${mode}`, `${mode}: a fresh RS256 token`)
    await accepted(t, s, token(ec1, 'ES256', 'e1', `u-ec-${mode}`), `u-ec-${mode}`, `${mode}: a fresh ES256 token`)
    await accepted(t, s, seenBefore, 'u-seen', `${mode}: the token seen before`)
  }

  // an endpoint that accepts the request and never answers: the fetch times out
  jwks.mode = 'hold'
  const fetched = jwks.gets
  await until(() => jwks.gets > fetched, 3000, 'a fetch to hang')
  await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-hang'), 'u-hang', 'hanging JWKS: a fresh k1 token does not wait for it')
  await refused(t, s, token(rsa2, 'RS256', 'k9'), NOT_IN_JWKS, 'hanging JWKS: unknown kid, after the timeout')

  // the endpoint gone altogether
  await jwks.close()
  await refused(t, s, token(rsa2, 'RS256', 'k9'), NOT_IN_JWKS, 'closed JWKS: unknown kid (its fetch is refused)')
  await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-closed'), 'u-closed', 'closed JWKS: a fresh RS256 token')
  await accepted(t, s, token(ec1, 'ES256', 'e1', 'u-closed-ec'), 'u-closed-ec', 'closed JWKS: a fresh ES256 token')
  await accepted(t, s, seenBefore, 'u-seen', 'closed JWKS: the token seen before')
})

t.test('JWKS unreachable since start-up: 503 GW_AUTH_UNAVAILABLE with Retry-After, then tokens verify once it is up', async (t) => {
  const unavailable = async (s: Setup, tok: string, what: string) => {
    const res = await wallet(s.gw, tok)
    t.equal(res.status, 503, `${what}: 503`)
    t.equal(res.json().code, 'GW_AUTH_UNAVAILABLE', `${what}: code`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${what}: problem+json`)
    t.ok(Number(res.headers['retry-after']) >= 1, `${what}: Retry-After ${String(res.headers['retry-after'])}`)
    t.equal(s.up.requests.length, 0, `${what}: the upstream is not called`)
  }

  t.test('a miss refetches (cooldown 1 ms): the first token after the endpoint comes up verifies', async (t) => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}/.well-known/jwks.json`
    const s = await gatewayWithJwks(t, url, { jwksCooldownMs: 1 })
    await unavailable(s, token(rsa1, 'RS256', 'k1'), 'RS256 token')
    await unavailable(s, token(ec1, 'ES256', 'e1'), 'ES256 token')
    await unavailable(s, token(rsa1, 'RS256', undefined), 'RS256 token without kid')

    const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256'), jwk(ec1, 'e1', 'ES256')], port)
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-rs'), 'u-rs', 'RS256 token once the JWKS is up')
    await accepted(t, s, token(ec1, 'ES256', 'e1', 'u-ec'), 'u-ec', 'ES256 token once the JWKS is up')
    t.equal(jwks.gets, 1)
    await refused(t, s, token(rsa2, 'RS256', 'k9'), NOT_IN_JWKS, 'now an unknown kid is a 401, not a 503')
  })

  t.test('the background refresh picks the endpoint up (long cooldown)', async (t) => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}/.well-known/jwks.json`
    const s = await gatewayWithJwks(t, url, { jwksCooldownMs: 60_000, jwksRefreshMs: 100 })
    await unavailable(s, token(rsa1, 'RS256', 'k1'), 'RS256 token')
    const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256')], port)
    await until(() => jwks.gets >= 1, 3000, 'the background refresh to reach the JWKS')
    await until(async () => (await wallet(s.gw, token(rsa1, 'RS256', 'k1'))).status === 200, 3000, 'tokens to verify')
    await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-late'), 'u-late', 'RS256 token after the refresh')
  })
})

t.test('keys the JWKS must never be used for', async (t) => {
  const octSecret = 'a-shared-secret-published-as-an-oct-jwk!'
  const oct: Jwk = { kty: 'oct', k: Buffer.from(octSecret).toString('base64url'), kid: 'hs', use: 'sig', alg: 'HS256' }
  const octNoAlg: Jwk = { kty: 'oct', k: Buffer.from(octSecret).toString('base64url'), kid: 'hs2' }
  const withPrivate: Jwk = { ...rsa2.privateKey.export({ format: 'jwk' }), kid: 'priv', use: 'sig', alg: 'RS256' }
  const forEncryption = jwk(rsa3, 'enc', 'RS256', { use: 'enc' })
  const keys = () => [oct, octNoAlg, withPrivate, forEncryption, jwk(rsa1, 'rs', 'RS256'), jwk(ec1, 'e1', 'ES256')]
  const hsToken = (kid: string) => signToken({ sub: 'u-hs', jti: `t-${++serial}` }, { alg: 'HS256', key: octSecret, kid })

  t.test('HS256 not allowed', async (t) => {
    const jwks = await startJwks(t, keys())
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1 })
    await accepted(t, s, token(rsa1, 'RS256', 'rs', 'u-rs'), 'u-rs', 'control: the RS256 key of the same set')
    await refused(t, s, hsToken('hs'), /algorithm "HS256" is not accepted/, 'HS256 token signed with the oct key, kid hs')
    await refused(t, s, token(rsa1, 'RS256', 'hs'), NOT_IN_JWKS, 'RS256 token naming the oct kid')
  })

  t.test('HS256 allowed but no JWT_SECRET: an oct JWK is not a secret', async (t) => {
    const jwks = await startJwks(t, keys())
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1, algorithms: ['HS256', 'RS256', 'PS256', 'ES256'] })
    await accepted(t, s, token(rsa1, 'RS256', 'rs', 'u-rs'), 'u-rs', 'control: the RS256 key of the same set')
    await refused(t, s, hsToken('hs'), /no JWT_SECRET is configured/, 'HS256 token, kid hs')
    await refused(t, s, hsToken('hs2'), /no JWT_SECRET is configured/, 'HS256 token, kid hs2 (oct without alg)')
  })

  t.test('HS256 allowed with a JWT_SECRET: HS tokens are checked against that secret only', async (t) => {
    const jwks = await startJwks(t, keys())
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1, algorithms: ['HS256', 'RS256', 'ES256'], secret: TEST_SECRET })
    await refused(t, s, hsToken('hs'), /signature does not match/, 'HS256 token signed with the oct key')
    await accepted(t, s, signToken({ sub: 'u-secret' }, { alg: 'HS256', kid: 'hs' }), 'u-secret', 'control: HS256 token signed with JWT_SECRET')
  })

  t.test('a JWK with private material, a JWK for encryption, and alg pinned to RS256', async (t) => {
    const jwks = await startJwks(t, keys())
    const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1, algorithms: ['RS256', 'PS256', 'ES256'] })
    await accepted(t, s, token(rsa1, 'RS256', 'rs', 'u-rs'), 'u-rs', 'control: RS256 token, kid rs')
    await refused(t, s, token(rsa2, 'RS256', 'priv'), NOT_IN_JWKS, 'token of the key published with "d"')
    await refused(t, s, token(rsa3, 'RS256', 'enc'), NOT_IN_JWKS, 'token of the key published with use "enc"')
    await refused(t, s, token(rsa1, 'PS256', 'rs'), WRONG_ALG_FOR_KID, 'PS256 token, kid rs (a key whose alg is RS256)')
    await refused(t, s, token(rsa1, 'PS256', undefined), NO_SINGLE_KEY, 'PS256 token without kid')
    await refused(t, s, token(ec1, 'ES256', 'rs'), WRONG_ALG_FOR_KID, 'ES256 token naming the RSA key')
  })
})

t.test('a token without kid is accepted only when exactly one key of the set fits its algorithm', async (t) => {
  const jwks = await startJwks(t, [jwk(rsa1, 'k1', 'RS256'), jwk(ec1, 'e1', 'ES256')])
  const s = await gatewayWithJwks(t, jwks.url, { jwksCooldownMs: 1 })

  const noKid = token(rsa1, 'RS256', undefined, 'u-nokid')
  await accepted(t, s, noKid, 'u-nokid', 'RS256 token without kid, one RSA key in the set')
  await accepted(t, s, token(ec1, 'ES256', undefined, 'u-nokid-ec'), 'u-nokid-ec', 'ES256 token without kid, one EC key in the set')
  await refused(t, s, token(rsa2, 'RS256', undefined), /signature does not match/, 'RS256 token without kid signed by a key not in the set')

  // a second RSA key: an RS256 token without kid no longer designates one key
  jwks.keys = [jwk(rsa1, 'k1', 'RS256'), jwk(rsa2, 'k2', 'RS256'), jwk(ec1, 'e1', 'ES256')]
  await accepted(t, s, token(rsa2, 'RS256', 'k2', 'u-k2'), 'u-k2', 'k2 token (fetches the new set)')
  await refused(t, s, noKid, NO_SINGLE_KEY, 'the RS256 token without kid accepted (and cached) before')
  await refused(t, s, token(rsa1, 'RS256', undefined), NO_SINGLE_KEY, 'a fresh RS256 token without kid, signed by k1')
  await refused(t, s, token(rsa2, 'RS256', undefined), NO_SINGLE_KEY, 'a fresh RS256 token without kid, signed by k2')
  await accepted(t, s, token(ec1, 'ES256', undefined, 'u-nokid-ec2'), 'u-nokid-ec2', 'ES256 without kid: still one EC key')
  await accepted(t, s, token(rsa1, 'RS256', 'k1', 'u-k1'), 'u-k1', 'RS256 with kid k1 still verifies')
})
