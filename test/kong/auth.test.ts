// Kong consumers and auth plugins, end to end: key-auth (key names, header / query,
// hide_credentials, anonymous), jwt (HS256 / RS256 secrets, where the token travels,
// claims_to_verify, maximum_expiration, algorithm pinning), acl allow / deny, Kong's
// upstream headers, key-auth + jwt on one route, and keys hashed on load.
import t, { type Test } from 'tap'
import { createHash, createHmac, generateKeyPairSync } from 'node:crypto'
import { startUpstream, call, signToken, bearer, unsignedToken, type Upstream, type SimpleResponse } from '../helpers.js'
import { startKongGateway, loadKong } from './helpers.js'

type Obj = Record<string, unknown>

/** a Kong declarative file (JSON is YAML): multi-line PEM keys need no indenting */
const kong = (doc: Obj): string => JSON.stringify({ _format_version: '3.0', ...doc })

/** one service at `url` with one route per entry: path → the route's plugins (strip_path: false) */
function service (url: string, routes: Record<string, Obj[]>): Obj {
  return {
    name: 'svc',
    url,
    routes: Object.entries(routes).map(([path, plugins], i) => ({ name: `r${i}`, paths: [path], strip_path: false, plugins }))
  }
}

const now = (): number => Math.floor(Date.now() / 1000)

function problem (t: Test, res: SimpleResponse, status: number, code: string, what: string): void {
  t.equal(res.status, status, `${what}: ${status}`)
  t.match(res.headers['content-type'], /application\/problem\+json/, `${what}: problem+json`)
  let body: { code?: string } = {}
  try { body = res.json() } catch {}
  t.equal(body.code, code, `${what}: ${code}`)
}

const last = (up: Upstream) => up.requests.at(-1)!

/** a JWT with the header and claims given, HMAC-signed with `secret` under the header's alg (any bytes as the secret) */
function hmacToken (header: Obj, payload: Obj, secret: string, hash = 'sha256'): string {
  const part = (o: Obj) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${part(header)}.${part(payload)}`
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}

const ALICE_KEY = 'alice-plaintext-key-0f9e8d7c6b5a'
const BOB_KEY = 'bob-plaintext-key-1a2b3c4d5e6f'
const CAROL_KEY = 'carol-plaintext-key-99887766'
const HS_SECRET = 'hs-user-secret-of-at-least-32-characters-x'
const VISITOR_ID = 'f4b3f0a2-6c2d-4a4e-9b1e-0d8f3c2a7b11'

/** alice: nested key with an id, acls; bob: top-level key (no id), acls; carol: nested key, no groups */
const keyConsumers = (): { consumers: Obj[], keyauth_credentials: Obj[] } => ({
  consumers: [
    { username: 'alice', custom_id: 'cust-alice', keyauth_credentials: [{ id: 'alice-key-1', key: ALICE_KEY }], acls: [{ group: 'admins' }, { group: 'staff' }] },
    { username: 'bob', acls: [{ group: 'partners' }] },
    { username: 'carol', keyauth_credentials: [{ key: CAROL_KEY }] }
  ],
  keyauth_credentials: [{ key: BOB_KEY, consumer: { username: 'bob' } }]
})

t.test('key-auth: nested and top-level credentials, default key_names in header and query, unknown and missing keys', async (t) => {
  const up = await startUpstream(t)
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/keyed': [{ name: 'key-auth' }],
      '/open': []
    })],
    ...keyConsumers()
  }))
  t.same(gw.warnings, [])

  // nested credential with an id, in the apikey header
  const alice = await call(`${gw.url}/keyed/a`, { headers: { apikey: ALICE_KEY } })
  t.equal(alice.status, 200, 'a nested key in the apikey header')
  let seen = last(up)
  t.equal(seen.url, '/keyed/a')
  t.equal(seen.headers['x-consumer-id'], 'alice', 'no Kong id in the file: the username is the id')
  t.equal(seen.headers['x-consumer-username'], 'alice')
  t.equal(seen.headers['x-consumer-custom-id'], 'cust-alice')
  t.equal(seen.headers['x-credential-identifier'], 'alice-key-1', 'the key-auth credential\'s id')
  t.equal(seen.headers['x-anonymous-consumer'], undefined)
  t.equal(seen.headers.apikey, ALICE_KEY, 'hide_credentials defaults to false: the key goes upstream, as in Kong')

  // top-level credential (consumer: {username}), in ?apikey=, other query kept
  const bob = await call(`${gw.url}/keyed/b?x=1&apikey=${encodeURIComponent(BOB_KEY)}&y=2`)
  t.equal(bob.status, 200, 'a top-level key in ?apikey=')
  seen = last(up)
  t.equal(seen.headers['x-consumer-username'], 'bob')
  t.equal(seen.headers['x-consumer-id'], 'bob')
  t.equal(seen.headers['x-consumer-custom-id'], undefined, 'bob has no custom_id')
  t.equal(seen.headers['x-credential-identifier'], createHash('sha256').update(BOB_KEY).digest('hex').slice(0, 16), 'a key without id: the first 16 hex digits of its digest')
  t.equal(seen.url, `/keyed/b?x=1&apikey=${encodeURIComponent(BOB_KEY)}&y=2`, 'not hidden: the query goes upstream unchanged')

  // unknown key, in the header and in the query
  const before = up.requests.length
  const unknown = await call(`${gw.url}/keyed/a`, { headers: { apikey: 'no-such-key-anywhere' } })
  problem(t, unknown, 401, 'GW_AUTH_INVALID_API_KEY', 'an unknown key in the header')
  t.match(String(unknown.headers['www-authenticate']), /^Key realm=/)
  t.notOk(unknown.text.includes('no-such-key-anywhere'), 'the refused key is not echoed')
  problem(t, await call(`${gw.url}/keyed/a?apikey=no-such-key-anywhere`), 401, 'GW_AUTH_INVALID_API_KEY', 'an unknown key in the query')

  // no key at all
  const missing = await call(`${gw.url}/keyed/a`)
  problem(t, missing, 401, 'GW_AUTH_MISSING_CREDENTIALS', 'no key')
  const challenges = ([] as string[]).concat(missing.headers['www-authenticate'] as string | string[] ?? [])
  t.ok(challenges.some((c) => /^Key realm="/.test(c)), 'WWW-Authenticate offers the Key scheme')
  problem(t, await call(`${gw.url}/keyed/a`, { headers: { 'x-api-key': ALICE_KEY } }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'X-API-Key is not a key name of this route')
  problem(t, await call(`${gw.url}/keyed/a`, { headers: { apikey: '' } }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'an empty apikey header')
  problem(t, await call(`${gw.url}/keyed/a`, { headers: bearer(signToken()) }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'a bearer token on a key-auth-only route')
  t.equal(up.requests.length, before, 'nothing refused reached the upstream')

  // a route without an auth plugin is public: client-sent consumer headers are still dropped
  const open = await call(`${gw.url}/open`, {
    headers: { 'x-consumer-id': 'spoof', 'x-consumer-username': 'admin', 'x-consumer-custom-id': 'spoof', 'x-credential-identifier': 'spoof', 'x-anonymous-consumer': 'false', 'x-consumer-roles': 'admins' }
  })
  t.equal(open.status, 200)
  seen = last(up)
  for (const h of ['x-consumer-id', 'x-consumer-username', 'x-consumer-custom-id', 'x-credential-identifier', 'x-anonymous-consumer', 'x-consumer-roles']) {
    t.equal(seen.headers[h], undefined, `client-sent ${h} is removed on a public route`)
  }
})

t.test('key-auth: custom key_names, key_in_query: false, key_in_header: false', async (t) => {
  const up = await startUpstream(t)
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/custom': [{ name: 'key-auth', config: { key_names: ['X-Partner-Key', 'token'] } }],
      '/header-only': [{ name: 'key-auth', config: { key_in_query: false } }],
      '/query-only': [{ name: 'key-auth', config: { key_in_header: false } }]
    })],
    ...keyConsumers()
  }))

  t.equal((await call(`${gw.url}/custom`, { headers: { 'x-partner-key': ALICE_KEY } })).status, 200, 'the first custom name, as a header (case-insensitive)')
  t.equal(last(up).headers['x-consumer-username'], 'alice')
  t.equal((await call(`${gw.url}/custom`, { headers: { token: BOB_KEY } })).status, 200, 'the second custom name, as a header')
  t.equal(last(up).headers['x-consumer-username'], 'bob')
  t.equal((await call(`${gw.url}/custom?token=${encodeURIComponent(CAROL_KEY)}`)).status, 200, 'a custom name in the query')
  t.equal(last(up).headers['x-consumer-username'], 'carol')
  problem(t, await call(`${gw.url}/custom`, { headers: { apikey: ALICE_KEY } }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'apikey is not a name once key_names is set')
  problem(t, await call(`${gw.url}/custom?apikey=${ALICE_KEY}`), 401, 'GW_AUTH_MISSING_CREDENTIALS', '?apikey= is not a name once key_names is set')
  problem(t, await call(`${gw.url}/custom`, { headers: { 'x-partner-key': 'wrong-key-123' } }), 401, 'GW_AUTH_INVALID_API_KEY', 'an unknown key under a custom name')

  t.equal((await call(`${gw.url}/header-only`, { headers: { apikey: ALICE_KEY } })).status, 200, 'key_in_query: false still reads the header')
  problem(t, await call(`${gw.url}/header-only?apikey=${ALICE_KEY}`), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'key_in_query: false ignores ?apikey=')

  t.equal((await call(`${gw.url}/query-only?apikey=${ALICE_KEY}`)).status, 200, 'key_in_header: false still reads the query')
  problem(t, await call(`${gw.url}/query-only`, { headers: { apikey: ALICE_KEY } }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'key_in_header: false ignores the apikey header')
})

t.test('key-auth hide_credentials: the key header and query parameter do not reach the upstream, other parameters do', async (t) => {
  const up = await startUpstream(t)
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/hidden': [{ name: 'key-auth', config: { key_names: ['apikey', 'x-partner-key'], hide_credentials: true } }]
    })],
    ...keyConsumers()
  }))

  t.equal((await call(`${gw.url}/hidden/x?a=1&apikey=${encodeURIComponent(ALICE_KEY)}&b=two`)).status, 200)
  let seen = last(up)
  t.equal(seen.url, '/hidden/x?a=1&b=two', 'the key parameter is removed, the others kept in order')
  t.equal(seen.headers['x-consumer-username'], 'alice', 'the consumer is still identified')

  t.equal((await call(`${gw.url}/hidden/x?apikey=${encodeURIComponent(ALICE_KEY)}`)).status, 200)
  t.equal(last(up).url, '/hidden/x', 'a query holding only the key: no "?" left')

  t.equal((await call(`${gw.url}/hidden/y?keep=me`, { headers: { 'x-partner-key': BOB_KEY, 'x-other': 'stays' } })).status, 200)
  seen = last(up)
  t.equal(seen.headers['x-partner-key'], undefined, 'the key header is removed')
  t.equal(seen.headers['x-other'], 'stays')
  t.equal(seen.url, '/hidden/y?keep=me')
  t.equal(seen.headers['x-consumer-username'], 'bob')
  for (const key of [ALICE_KEY, BOB_KEY]) {
    t.notOk(up.requests.some((r) => r.url.includes(key) || JSON.stringify(r.headers).includes(key)), 'the key is in no upstream request')
  }
})

t.test('anonymous (by username and by Kong id): no key or a bad one proceeds as that consumer, a good key as its owner', async (t) => {
  const up = await startUpstream(t)
  const { consumers, keyauth_credentials } = keyConsumers()
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/by-name': [{ name: 'key-auth', config: { anonymous: 'guest' } }],
      '/by-id': [{ name: 'key-auth', config: { anonymous: VISITOR_ID } }],
      '/jwt-anon': [{ name: 'jwt', config: { anonymous: 'guest' } }]
    })],
    consumers: [...consumers, { username: 'guest', custom_id: 'guest-cid' }, { id: VISITOR_ID, username: 'visitor' }],
    keyauth_credentials
  }))

  let res = await call(`${gw.url}/by-name`)
  t.equal(res.status, 200, 'no key: proceeds')
  let seen = last(up)
  t.equal(seen.headers['x-consumer-username'], 'guest')
  t.equal(seen.headers['x-consumer-id'], 'guest')
  t.equal(seen.headers['x-consumer-custom-id'], 'guest-cid')
  t.equal(seen.headers['x-anonymous-consumer'], 'true')
  t.equal(seen.headers['x-credential-identifier'], undefined, 'no credential was used')

  res = await call(`${gw.url}/by-name`, { headers: { apikey: 'not-a-key-of-anyone' } })
  t.equal(res.status, 200, 'an invalid key also proceeds as anonymous (Kong 3)')
  t.equal(last(up).headers['x-consumer-username'], 'guest')
  t.equal(last(up).headers['x-anonymous-consumer'], 'true')

  res = await call(`${gw.url}/by-name`, { headers: { apikey: ALICE_KEY, 'x-anonymous-consumer': 'true', 'x-consumer-username': 'guest' } })
  t.equal(res.status, 200)
  seen = last(up)
  t.equal(seen.headers['x-consumer-username'], 'alice', 'a valid key: its consumer, not the anonymous one')
  t.equal(seen.headers['x-anonymous-consumer'], undefined, 'and a client-sent X-Anonymous-Consumer is dropped')

  res = await call(`${gw.url}/by-id`)
  t.equal(res.status, 200, 'anonymous given by the consumer\'s Kong id')
  seen = last(up)
  t.equal(seen.headers['x-consumer-id'], VISITOR_ID, 'X-Consumer-ID is the Kong id')
  t.equal(seen.headers['x-consumer-username'], 'visitor')
  t.equal(seen.headers['x-anonymous-consumer'], 'true')
  res = await call(`${gw.url}/by-id?apikey=bogus-key-value`)
  t.equal(res.status, 200)
  t.equal(last(up).headers['x-consumer-username'], 'visitor')

  // the jwt plugin's anonymous
  res = await call(`${gw.url}/jwt-anon`, { headers: bearer(unsignedToken({ alg: 'none', typ: 'JWT' }, { iss: 'whoever' })) })
  t.equal(res.status, 200, 'an invalid token proceeds as anonymous')
  t.equal(last(up).headers['x-consumer-username'], 'guest')
  t.equal(last(up).headers['x-anonymous-consumer'], 'true')
})

t.test('jwt: HS256 and RS256 secrets, key_claim_name, where the token travels, algorithm pinning', async (t) => {
  const up = await startUpstream(t)
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaPublicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/jwt': [{ name: 'jwt' }],
      '/custom': [{ name: 'jwt', config: { key_claim_name: 'client_key', uri_param_names: ['token'], cookie_names: ['session_jwt'], header_names: ['X-Jwt'] } }]
    })],
    consumers: [
      { username: 'hs-user', custom_id: 'hs-cid', jwt_secrets: [{ key: 'hs-issuer', algorithm: 'HS256', secret: HS_SECRET }] },
      { id: 'c0ffee00-0000-4000-8000-000000000001', username: 'rs-user' }
    ],
    jwt_secrets: [{ key: 'rs-issuer', algorithm: 'RS256', rsa_public_key: rsaPublicPem, consumer: { username: 'rs-user' } }]
  }))
  t.same(gw.warnings, [])

  const hs = signToken({ iss: 'hs-issuer' }, { key: HS_SECRET })
  let res = await call(`${gw.url}/jwt/a`, { headers: bearer(hs) })
  t.equal(res.status, 200, 'HS256, Authorization: Bearer')
  let seen = last(up)
  t.equal(seen.headers['x-consumer-username'], 'hs-user')
  t.equal(seen.headers['x-consumer-id'], 'hs-user')
  t.equal(seen.headers['x-consumer-custom-id'], 'hs-cid')
  t.equal(seen.headers['x-credential-identifier'], 'hs-issuer', 'the jwt secret\'s key')
  t.equal(seen.headers.authorization, `Bearer ${hs}`, 'the jwt plugin has no hide_credentials: the token goes upstream, as in Kong')

  res = await call(`${gw.url}/jwt/a?jwt=${hs}&q=1`)
  t.equal(res.status, 200, 'the default uri_param_names: ?jwt=')
  t.equal(last(up).headers['x-consumer-username'], 'hs-user')

  const rs = signToken({ iss: 'rs-issuer' }, { alg: 'RS256', key: rsa.privateKey })
  res = await call(`${gw.url}/jwt/b`, { headers: bearer(rs) })
  t.equal(res.status, 200, 'RS256 with the top-level secret\'s rsa_public_key')
  seen = last(up)
  t.equal(seen.headers['x-consumer-username'], 'rs-user')
  t.equal(seen.headers['x-consumer-id'], 'c0ffee00-0000-4000-8000-000000000001')
  t.equal(seen.headers['x-credential-identifier'], 'rs-issuer')

  // refusals
  const before = up.requests.length
  problem(t, await call(`${gw.url}/jwt/a`), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'no token')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: 'hs-issuer' }, { key: 'some-other-secret-of-32-characters-or-more' })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'a wrong HS signature')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: 'rs-issuer' }, { alg: 'RS256', key: other.privateKey })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'RS256 signed by another key')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: 'nobody' }, { key: HS_SECRET })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'an iss naming no secret')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: undefined }, { key: HS_SECRET })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'no iss claim')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: 'hs-issuer' }, { alg: 'HS512', key: HS_SECRET })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'HS512 with the HS256 secret: not the secret\'s algorithm')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(signToken({ iss: 'hs-issuer' }, { alg: 'RS256', key: rsa.privateKey })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'RS256 for an HS256 secret')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(hmacToken({ alg: 'HS256', typ: 'JWT' }, { iss: 'rs-issuer', exp: now() + 600 }, rsaPublicPem)) }), 401, 'GW_AUTH_INVALID_TOKEN', 'HS256 keyed with the RS256 public key (algorithm confusion)')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(unsignedToken({ alg: 'none', typ: 'JWT' }, { iss: 'hs-issuer', exp: now() + 600 })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'alg: none')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: bearer(unsignedToken({ alg: 'none', typ: 'JWT' }, { iss: 'rs-issuer', exp: now() + 600 })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'alg: none naming the RS256 secret')
  const invalid = await call(`${gw.url}/jwt/a`, { headers: bearer('not.a.jwt') })
  problem(t, invalid, 401, 'GW_AUTH_INVALID_TOKEN', 'garbage')
  t.match(String(invalid.headers['www-authenticate']), /^Bearer realm=".*error="invalid_token"/)
  t.equal(up.requests.length, before, 'nothing refused reached the upstream')

  // key_claim_name, uri_param_names, cookie_names, header_names
  const byClientKey = signToken({ client_key: 'hs-issuer', iss: undefined }, { key: HS_SECRET })
  res = await call(`${gw.url}/custom?token=${byClientKey}`)
  t.equal(res.status, 200, 'key_claim_name: client_key, in ?token=')
  t.equal(last(up).headers['x-consumer-username'], 'hs-user')
  res = await call(`${gw.url}/custom`, { headers: { cookie: `theme=dark; session_jwt=${byClientKey}; other=1` } })
  t.equal(res.status, 200, 'in the session_jwt cookie')
  t.equal(last(up).headers['x-consumer-username'], 'hs-user')
  const rsByClientKey = signToken({ client_key: 'rs-issuer' }, { alg: 'RS256', key: rsa.privateKey })
  res = await call(`${gw.url}/custom`, { headers: { 'x-jwt': `Bearer ${rsByClientKey}` } })
  t.equal(res.status, 200, 'in the X-Jwt header as "Bearer <token>"')
  t.equal(last(up).headers['x-consumer-username'], 'rs-user')

  problem(t, await call(`${gw.url}/custom?token=${hs}`), 401, 'GW_AUTH_INVALID_TOKEN', 'a token with iss only, where the key claim is client_key')
  problem(t, await call(`${gw.url}/custom`, { headers: bearer(byClientKey) }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'Authorization is not read once header_names is set')
  problem(t, await call(`${gw.url}/custom?jwt=${byClientKey}`), 401, 'GW_AUTH_MISSING_CREDENTIALS', '?jwt= is not read once uri_param_names is set')
  t.equal((await call(`${gw.url}/custom`, { headers: { 'x-jwt': byClientKey } })).status, 401, 'X-Jwt without "Bearer " is no token')
  problem(t, await call(`${gw.url}/jwt/a`, { headers: { cookie: `session_jwt=${hs}` } }), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'no cookie_names by default')
})

t.test('jwt key_claim_name is looked up in the claims, then in the token header (Kong: claims[name] or header[name])', async (t) => {
  const up = await startUpstream(t)
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, { '/kid': [{ name: 'jwt', config: { key_claim_name: 'kid' } }] })],
    consumers: [{ username: 'hs-user', jwt_secrets: [{ key: 'hs-issuer', secret: HS_SECRET }] }]
  }))
  const inClaims = signToken({ kid: 'hs-issuer' }, { key: HS_SECRET })
  t.equal((await call(`${gw.url}/kid`, { headers: bearer(inClaims) })).status, 200, 'kid as a claim')
  const inHeader = signToken({}, { key: HS_SECRET, kid: 'hs-issuer' })
  const res = await call(`${gw.url}/kid`, { headers: bearer(inHeader) })
  t.equal(res.status, 200, 'kid in the JWT header, the usual place for it')
  if (res.status === 200) t.equal(last(up).headers['x-credential-identifier'], 'hs-issuer')
  problem(t, await call(`${gw.url}/kid`, { headers: bearer(signToken({}, { key: HS_SECRET, kid: 'nobody' })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'a kid naming no secret')
})

t.test('jwt time claims: none checked by default, claims_to_verify exp / nbf, maximum_expiration', async (t) => {
  const up = await startUpstream(t)
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/default': [{ name: 'jwt' }],
      '/exp': [{ name: 'jwt', config: { claims_to_verify: ['exp'] } }],
      '/nbf': [{ name: 'jwt', config: { claims_to_verify: ['nbf'] } }],
      '/max': [{ name: 'jwt', config: { claims_to_verify: ['exp'], maximum_expiration: 300 } }]
    })],
    consumers: [{ username: 'hs-user', jwt_secrets: [{ key: 'hs-issuer', secret: HS_SECRET }] }]
  }))
  const token = (claims: Obj) => bearer(signToken({ iss: 'hs-issuer', ...claims }, { key: HS_SECRET }))
  const expired = token({ exp: now() - 600 })
  const notYet = token({ nbf: now() + 600 })
  const noExp = token({ exp: undefined })

  t.equal((await call(`${gw.url}/default`, { headers: expired })).status, 200, 'default: an expired token is accepted, as in Kong')
  t.equal(last(up).headers['x-consumer-username'], 'hs-user', 'the algorithm defaults to HS256')
  t.equal((await call(`${gw.url}/default`, { headers: notYet })).status, 200, 'default: nbf is not checked')
  t.equal((await call(`${gw.url}/default`, { headers: noExp })).status, 200, 'default: no exp needed')

  problem(t, await call(`${gw.url}/exp`, { headers: expired }), 401, 'GW_AUTH_INVALID_TOKEN', 'claims_to_verify exp: expired')
  problem(t, await call(`${gw.url}/exp`, { headers: noExp }), 401, 'GW_AUTH_INVALID_TOKEN', 'claims_to_verify exp: no exp claim')
  t.equal((await call(`${gw.url}/exp`, { headers: token({ exp: now() + 600 }) })).status, 200, 'claims_to_verify exp: a valid exp')
  t.equal((await call(`${gw.url}/exp`, { headers: notYet })).status, 200, 'claims_to_verify exp: nbf not checked')

  problem(t, await call(`${gw.url}/nbf`, { headers: notYet }), 401, 'GW_AUTH_INVALID_TOKEN', 'claims_to_verify nbf: not yet valid')
  t.equal((await call(`${gw.url}/nbf`, { headers: token({ nbf: now() - 60 }) })).status, 200, 'claims_to_verify nbf: nbf past')
  t.equal((await call(`${gw.url}/nbf`, { headers: token({ nbf: now() - 60, exp: now() - 600 }) })).status, 200, 'claims_to_verify nbf: exp not checked')

  problem(t, await call(`${gw.url}/max`, { headers: token({ exp: now() + 3600 }) }), 401, 'GW_AUTH_INVALID_TOKEN', 'maximum_expiration 300: exp an hour ahead')
  t.equal((await call(`${gw.url}/max`, { headers: token({ exp: now() + 120 }) })).status, 200, 'maximum_expiration 300: exp two minutes ahead')
  problem(t, await call(`${gw.url}/max`, { headers: expired }), 401, 'GW_AUTH_INVALID_TOKEN', 'maximum_expiration: still expired is expired')
})

t.test('acl: allow and deny groups from consumers\' acls; groups go upstream in X-Consumer-Roles', async (t) => {
  const up = await startUpstream(t)
  const { consumers, keyauth_credentials } = keyConsumers()
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/group-admins': [{ name: 'key-auth' }, { name: 'acl', config: { allow: ['admins'] } }],
      '/no-partners': [{ name: 'key-auth' }, { name: 'acl', config: { deny: ['partners'] } }],
      '/jwt-staff': [{ name: 'jwt' }, { name: 'acl', config: { allow: ['staff', 'ops'] } }]
    })],
    consumers: [...consumers, { username: 'hs-user', jwt_secrets: [{ key: 'hs-issuer', secret: HS_SECRET }] }],
    keyauth_credentials,
    acls: [{ group: 'ops', consumer: { username: 'hs-user' } }]
  }))
  t.same(gw.warnings, [])

  let res = await call(`${gw.url}/group-admins`, { headers: { apikey: ALICE_KEY, 'x-consumer-roles': 'root' } })
  t.equal(res.status, 200, 'alice is in admins')
  t.equal(last(up).headers['x-consumer-roles'], 'admins,staff', 'her groups, not the client-sent header')
  const before = up.requests.length
  problem(t, await call(`${gw.url}/group-admins`, { headers: { apikey: BOB_KEY } }), 403, 'GW_AUTH_FORBIDDEN', 'bob (partners) on allow: [admins]')
  problem(t, await call(`${gw.url}/group-admins`, { headers: { apikey: CAROL_KEY } }), 403, 'GW_AUTH_FORBIDDEN', 'carol (no groups) on allow: [admins]')
  problem(t, await call(`${gw.url}/group-admins`), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'no key on an acl route: 401 before 403')

  problem(t, await call(`${gw.url}/no-partners`, { headers: { apikey: BOB_KEY } }), 403, 'GW_AUTH_FORBIDDEN', 'bob on deny: [partners]')
  t.equal(up.requests.length, before, 'nothing refused reached the upstream')
  t.equal((await call(`${gw.url}/no-partners`, { headers: { apikey: ALICE_KEY } })).status, 200, 'alice on deny: [partners]')
  t.equal((await call(`${gw.url}/no-partners`, { headers: { apikey: CAROL_KEY } })).status, 200, 'carol (no groups) on deny: [partners]')
  t.equal(last(up).headers['x-consumer-roles'], undefined, 'no groups: no X-Consumer-Roles')

  res = await call(`${gw.url}/jwt-staff`, { headers: bearer(signToken({ iss: 'hs-issuer' }, { key: HS_SECRET })) })
  t.equal(res.status, 200, 'a jwt consumer whose group comes from a top-level acls entry')
  t.equal(last(up).headers['x-consumer-roles'], 'ops')
})

t.test('acl: a client-sent X-Consumer-Groups (Kong\'s groups header) does not reach the upstream; hide_groups_header hides the groups', async (t) => {
  const up = await startUpstream(t)
  const { consumers, keyauth_credentials } = keyConsumers()
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, {
      '/staff': [{ name: 'key-auth' }, { name: 'acl', config: { allow: ['staff'] } }],
      '/staff-hidden': [{ name: 'key-auth' }, { name: 'acl', config: { allow: ['staff'], hide_groups_header: true } }]
    })],
    consumers,
    keyauth_credentials
  }))
  t.equal((await call(`${gw.url}/staff`, { headers: { apikey: ALICE_KEY, 'x-consumer-groups': 'root, superusers' } })).status, 200)
  const groups = last(up).headers['x-consumer-groups']
  t.ok(groups === undefined || !String(groups).includes('root'), `a Kong upstream reading X-Consumer-Groups must not see the client's value (saw ${JSON.stringify(groups)})`)
  t.equal(groups, 'admins, staff', 'the acl plugin sends the consumer\'s groups, as Kong does')

  t.equal((await call(`${gw.url}/staff-hidden`, { headers: { apikey: ALICE_KEY } })).status, 200)
  const seen = last(up).headers
  t.equal(seen['x-consumer-groups'], undefined, 'hide_groups_header: true: no X-Consumer-Groups')
  t.equal(seen['x-consumer-roles'], 'admins,staff', 'the gateway\'s own X-Consumer-Roles is always sent (docs/migrating-from-kong.md)')
})

t.test('key-auth and jwt on one route: either credential is enough (documented difference from Kong)', async (t) => {
  const up = await startUpstream(t)
  const { consumers, keyauth_credentials } = keyConsumers()
  const gw = await startKongGateway(t, kong({
    services: [service(up.url, { '/both': [{ name: 'key-auth' }, { name: 'jwt', config: { claims_to_verify: ['exp'] } }] })],
    consumers: [...consumers, { username: 'hs-user', jwt_secrets: [{ key: 'hs-issuer', secret: HS_SECRET }] }],
    keyauth_credentials
  }))
  const jwt = bearer(signToken({ iss: 'hs-issuer' }, { key: HS_SECRET }))

  t.equal((await call(`${gw.url}/both`, { headers: { apikey: ALICE_KEY } })).status, 200, 'a key alone')
  t.equal(last(up).headers['x-consumer-username'], 'alice')
  t.equal((await call(`${gw.url}/both`, { headers: jwt })).status, 200, 'a token alone')
  t.equal(last(up).headers['x-consumer-username'], 'hs-user')
  t.equal(last(up).headers['x-credential-identifier'], 'hs-issuer')
  t.equal((await call(`${gw.url}/both`, { headers: { ...jwt, apikey: ALICE_KEY } })).status, 200, 'both')
  problem(t, await call(`${gw.url}/both`), 401, 'GW_AUTH_MISSING_CREDENTIALS', 'neither')
  problem(t, await call(`${gw.url}/both`, { headers: { apikey: 'unknown-key-000' } }), 401, 'GW_AUTH_INVALID_API_KEY', 'an unknown key alone')
  problem(t, await call(`${gw.url}/both`, { headers: bearer(signToken({ iss: 'hs-issuer', exp: now() - 600 }, { key: HS_SECRET })) }), 401, 'GW_AUTH_INVALID_TOKEN', 'an expired token alone')
})

t.test('keys are hashed on load: no plaintext key in the config, GET /admin/config shows none and redacts the jwt secret', async (t) => {
  const up = await startUpstream(t)
  const ADMIN_TOKEN = 'admin-token-for-kong-auth-tests-0123'
  const rsaPublicPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const { consumers, keyauth_credentials } = keyConsumers()
  const yaml = kong({
    services: [service(up.url, { '/keyed': [{ name: 'key-auth' }], '/jwt': [{ name: 'jwt' }] })],
    consumers: [...consumers, { username: 'hs-user', jwt_secrets: [{ key: 'hs-issuer', secret: HS_SECRET }, { key: 'rs-issuer', algorithm: 'RS256', rsa_public_key: rsaPublicPem }] }],
    keyauth_credentials
  })
  const digest = (key: string) => createHash('sha256').update(key).digest('hex')

  const { config } = loadKong(t, yaml)
  const text = JSON.stringify(config)
  for (const key of [ALICE_KEY, BOB_KEY, CAROL_KEY]) {
    t.notOk(text.includes(key), `${key.slice(0, 8)}… is nowhere in the loaded config`)
    t.ok(text.includes(digest(key)), `${key.slice(0, 8)}… is there as its SHA-256 digest`)
  }

  const gw = await startKongGateway(t, yaml, { ADMIN_TOKEN })
  t.equal((await call(`${gw.url}/keyed`, { headers: { apikey: BOB_KEY } })).status, 200, 'the hashed top-level key still authenticates')
  t.equal((await call(`${gw.url}/keyed`, { headers: { apikey: ALICE_KEY } })).status, 200, 'the hashed nested key still authenticates')

  t.equal((await call(`${gw.adminUrl}/admin/config`)).status, 401, 'the admin API needs its token')
  const res = await call(`${gw.adminUrl}/admin/config`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(res.status, 200)
  for (const key of [ALICE_KEY, BOB_KEY, CAROL_KEY]) t.notOk(res.text.includes(key), `${key.slice(0, 8)}… is not in GET /admin/config`)
  t.notOk(res.text.includes(HS_SECRET), 'the HS256 secret is not in GET /admin/config')
  t.notOk(res.text.includes(ADMIN_TOKEN), 'nor the admin token')
  const body = res.json()
  const hsUser = body.consumers.find((c: any) => c.id === 'hs-user')
  t.equal(hsUser.jwtSecrets.find((s: any) => s.key === 'hs-issuer').secret, '[redacted]', 'the jwt secret is redacted')
  t.equal(hsUser.jwtSecrets.find((s: any) => s.key === 'rs-issuer').publicKey, rsaPublicPem, 'a public key is not a secret')
  const alice = body.consumers.find((c: any) => c.id === 'alice')
  t.same(alice.apiKeys, [{ hash: digest(ALICE_KEY), id: 'alice-key-1' }], 'keys appear as digests')

  const keys = await call(`${gw.adminUrl}/admin/api-keys`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(keys.status, 200)
  for (const key of [ALICE_KEY, BOB_KEY, CAROL_KEY]) t.notOk(keys.text.includes(key), `${key.slice(0, 8)}… is not in GET /admin/api-keys`)
  t.ok(keys.text.includes(digest(BOB_KEY)), 'GET /admin/api-keys lists the digests')
})
