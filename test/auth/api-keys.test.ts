// API keys with the in-memory store (no Redis): keys configured by their SHA-256
// digest, keys created and revoked through the admin API, refusals that never echo
// the key, precedence over Authorization, config validation of consumers; and the
// registry's Redis cache rules (REVALIDATE_MS, MAX_STALE_MS) against a stub client.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { startUpstream, startGateway, servicesFor, specRoutes, call, rawExchange, type Upstream, type StartedGateway } from '../helpers.js'
import { resolveConfig, ConfigError } from '../../src/config/index.js'
import { ApiKeyRegistry, REVALIDATE_MS, MAX_STALE_MS } from '../../plugins/auth/api-keys.js'
import type { Redis } from 'ioredis'

const ADMIN = 'test-admin-token-0123456789'
const PROBLEM = 'application/problem+json; charset=utf-8'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

// keys of the config-file consumers: only their digests go into the config
const ALICE_KEY = 'alice-key-0123456789abcdef'
const BOB_KEY = 'bob-premium-key-0123456789'
const CONSUMERS = [
  { id: 'alice', tier: 'authenticated', roles: ['wallet:read', 'analyst'], apiKeys: [sha256(ALICE_KEY)] },
  { id: 'bob', tier: 'premium', roles: ['ops'], apiKeys: [sha256(BOB_KEY)] }
]

const admin = { authorization: `Bearer ${ADMIN}` }
const json = { ...admin, 'content-type': 'application/json' }

async function setup (t: Test): Promise<{ up: Upstream, gw: StartedGateway }> {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), server: { adminToken: ADMIN }, consumers: CONSUMERS })
  return { up, gw }
}

const wallet = (gw: StartedGateway, headers: Record<string, string>) => call(`${gw.url}/v1/api/wallets/w1`, { headers })
const createKey = (gw: StartedGateway, body: unknown, headers: Record<string, string> = json) =>
  call(`${gw.adminUrl}/admin/api-keys`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) })

/** A 401 for an API key: the problem, its challenge, and no trace of the key presented. */
function assertKeyRefused (t: Test, res: { status: number, headers: Record<string, unknown>, text: string, json: () => any }, presented: string | undefined, what: string) {
  t.equal(res.status, 401, `${what}: 401`)
  t.equal(res.headers['content-type'], PROBLEM, `${what}: problem+json`)
  t.match(res.json(), { status: 401, code: 'GW_AUTH_INVALID_API_KEY' }, `${what}: code`)
  t.match(String(res.headers['www-authenticate']), /^Key realm="healthpay", error="invalid_key"/, `${what}: challenge`)
  if (presented !== undefined && presented.trim() !== '') {
    t.notOk(res.text.includes(presented), `${what}: the body does not contain the key`)
    t.notOk(JSON.stringify(res.headers).includes(presented), `${what}: the headers do not contain the key`)
  }
}

t.test('a key configured by its SHA-256 digest authenticates; tier and roles go upstream', async (t) => {
  const { up, gw } = await setup(t)
  const res = await wallet(gw, { 'x-api-key': ALICE_KEY })
  t.equal(res.status, 200)
  t.equal(up.requests.length, 1)
  t.match(up.requests[0]!.headers, { 'x-consumer-id': 'alice', 'x-consumer-tier': 'authenticated', 'x-consumer-roles': 'wallet:read,analyst' })

  const premium = await wallet(gw, { 'x-api-key': BOB_KEY })
  t.equal(premium.status, 200)
  t.match(up.requests[1]!.headers, { 'x-consumer-id': 'bob', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'ops' })

  // the role policy applies to API-key consumers too
  t.equal((await call(`${gw.url}/v1/api/analytics/x`, { headers: { 'x-api-key': ALICE_KEY } })).status, 200, 'analyst may read analytics')
  const forbidden = await call(`${gw.url}/v1/api/analytics/x`, { headers: { 'x-api-key': BOB_KEY } })
  t.equal(forbidden.status, 403, 'a consumer without analyst/admin may not')
  t.match(forbidden.json(), { code: 'GW_AUTH_FORBIDDEN' })
  t.equal(up.requests.length, 3, 'the forbidden request did not reach the upstream')

  // the digest itself is not a key
  assertKeyRefused(t, await wallet(gw, { 'x-api-key': sha256(ALICE_KEY) }), sha256(ALICE_KEY), 'the digest presented as a key')
  t.equal(up.requests.length, 3)
})

t.test('POST /admin/api-keys creates a key that works at once; GET lists its hash, never the key', async (t) => {
  const { up, gw } = await setup(t)
  const before = Date.now()
  const res = await createKey(gw, { consumerId: 'partner-1', tier: 'premium', roles: ['analyst', 'wallet:write'] })
  t.equal(res.status, 201)
  t.equal(res.headers['cache-control'], 'no-store', 'the key is shown once and must not be cached')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['consumerId', 'createdAt', 'hash', 'key', 'roles', 'tier'])
  t.match(body, { consumerId: 'partner-1', tier: 'premium', roles: ['analyst', 'wallet:write'] })
  t.type(body.key, 'string')
  t.ok(body.key.length >= 32, 'a long random key')
  t.equal(body.hash, sha256(body.key), 'hash is the SHA-256 hex digest of the key')
  t.match(body.hash, /^[0-9a-f]{64}$/)
  t.equal(res.headers.location, `/admin/api-keys/${body.hash}`)
  const created = Date.parse(body.createdAt)
  t.ok(created >= before - 1000 && created <= Date.now() + 1000, 'createdAt is now (ISO 8601)')

  const use = await wallet(gw, { 'x-api-key': body.key })
  t.equal(use.status, 200, 'the new key works on the public port at once')
  t.match(up.requests[0]!.headers, { 'x-consumer-id': 'partner-1', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'analyst,wallet:write' })
  t.equal((await call(`${gw.url}/v1/api/analytics/x`, { headers: { 'x-api-key': body.key } })).status, 200, 'its roles count for route policies')

  // tier and roles default: authenticated, no roles (then no X-Consumer-Roles header)
  const plain = await createKey(gw, { consumerId: 'partner-2' })
  t.equal(plain.status, 201)
  t.match(plain.json(), { consumerId: 'partner-2', tier: 'authenticated', roles: [] })
  t.equal((await wallet(gw, { 'x-api-key': plain.json().key })).status, 200)
  const headers = up.requests.at(-1)!.headers
  t.match(headers, { 'x-consumer-id': 'partner-2', 'x-consumer-tier': 'authenticated' })
  t.notOk('x-consumer-roles' in headers, 'no roles header for a consumer without roles')

  const list = await call(`${gw.adminUrl}/admin/api-keys`, { headers: admin })
  t.equal(list.status, 200)
  const { apiKeys } = list.json()
  t.match(apiKeys, Array)
  t.match(apiKeys.find((k: any) => k.hash === body.hash), { hash: body.hash, consumerId: 'partner-1', tier: 'premium', roles: ['analyst', 'wallet:write'], source: 'admin', createdAt: body.createdAt })
  t.match(apiKeys.find((k: any) => k.hash === sha256(ALICE_KEY)), { consumerId: 'alice', source: 'config' }, 'config-file keys are listed too')
  t.match(apiKeys.find((k: any) => k.hash === sha256(BOB_KEY)), { consumerId: 'bob', tier: 'premium', source: 'config' })
  t.equal(apiKeys.length, 4)
  for (const k of apiKeys) t.notOk('key' in k, `no key field on ${k.consumerId}`)
  t.notOk(list.text.includes(body.key), 'the listing never contains the created key')
  t.notOk(list.text.includes(plain.json().key), 'nor the other one')
  t.notOk(list.text.includes(ALICE_KEY), 'nor a configured key')
})

t.test('DELETE /admin/api-keys/:hash revokes; unknown → 404, config keys → 409, bad hash → 400', async (t) => {
  const { up, gw } = await setup(t)
  const { key, hash } = (await createKey(gw, { consumerId: 'temp' })).json()
  t.equal((await wallet(gw, { 'x-api-key': key })).status, 200)

  const del = await call(`${gw.adminUrl}/admin/api-keys/${hash}`, { method: 'DELETE', headers: admin })
  t.equal(del.status, 204)
  t.equal(del.text, '')
  assertKeyRefused(t, await wallet(gw, { 'x-api-key': key }), key, 'a revoked key')
  t.equal(up.requests.length, 1)

  const again = await call(`${gw.adminUrl}/admin/api-keys/${hash}`, { method: 'DELETE', headers: admin })
  t.equal(again.status, 404)
  t.equal(again.headers['content-type'], PROBLEM)
  t.match(again.json(), { status: 404, code: 'GW_AUTH_API_KEY_NOT_FOUND' })

  const config = await call(`${gw.adminUrl}/admin/api-keys/${sha256(ALICE_KEY)}`, { method: 'DELETE', headers: admin })
  t.equal(config.status, 409)
  t.match(config.json(), { status: 409, code: 'GW_AUTH_API_KEY_IN_CONFIG' })
  t.equal((await wallet(gw, { 'x-api-key': ALICE_KEY })).status, 200, 'the config key still works')

  for (const bad of ['not-a-hash', sha256('x').toUpperCase(), sha256('x').slice(0, 63)]) {
    const res = await call(`${gw.adminUrl}/admin/api-keys/${bad}`, { method: 'DELETE', headers: admin })
    t.equal(res.status, 400, `DELETE /admin/api-keys/${bad}`)
    t.equal(res.headers['content-type'], PROBLEM)
    t.match(res.json(), { status: 400, code: 'GW_REQUEST_INVALID' })
  }
  const listed = (await call(`${gw.adminUrl}/admin/api-keys`, { headers: admin })).json().apiKeys
  t.notOk(listed.some((k: any) => k.hash === hash), 'the revoked key is no longer listed')
})

t.test('bad create bodies are 400 problems naming what is wrong; admin endpoints need the token', async (t) => {
  const { gw } = await setup(t)
  const cases: Array<[string, unknown, RegExp]> = [
    ['missing consumerId', { tier: 'premium' }, /body must have required property 'consumerId'/],
    ['unknown field', { consumerId: 'c', tier: 'premium', key: 'my-own-key' }, /body has an unknown field "key"/],
    ['tier anonymous', { consumerId: 'c', tier: 'anonymous' }, /^body\/tier must be one of "authenticated", "premium"$/],
    ['role with a comma', { consumerId: 'c', roles: ['a,b'] }, /body\/roles\/0 must match pattern/],
    ['roles not an array', { consumerId: 'c', roles: 'analyst' }, /body\/roles must be array/],
    ['consumerId with a newline', { consumerId: 'a\nb' }, /body\/consumerId must match pattern/],
    ['empty consumerId', { consumerId: '' }, /body\/consumerId must match pattern/]
  ]
  for (const [what, body, names] of cases) {
    const res = await createKey(gw, body)
    t.equal(res.status, 400, what)
    t.equal(res.headers['content-type'], PROBLEM, `${what}: problem+json`)
    t.match(res.json(), { status: 400, code: 'GW_REQUEST_INVALID', detail: names }, `${what}: names the problem`)
  }
  const badJson = await createKey(gw, '{"consumerId":')
  t.equal(badJson.status, 400, 'invalid JSON')
  t.match(badJson.json(), { code: 'GW_REQUEST_INVALID_JSON' })

  const form = await createKey(gw, 'consumerId=c', { ...admin, 'content-type': 'application/x-www-form-urlencoded' })
  t.equal(form.status, 415, 'a non-JSON content type is 415')
  t.equal(form.headers['content-type'], PROBLEM)
  t.match(form.json(), { status: 415, code: 'GW_REQUEST_UNSUPPORTED_MEDIA_TYPE' })

  const listed = (await call(`${gw.adminUrl}/admin/api-keys`, { headers: admin })).json().apiKeys
  t.equal(listed.length, 2, 'none of the bad requests created a key')

  const anyHash = sha256('whatever')
  for (const [method, path, headers, body] of [
    ['POST', '/admin/api-keys', { 'content-type': 'application/json' }, JSON.stringify({ consumerId: 'c' })],
    ['POST', '/admin/api-keys', { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}x` }, JSON.stringify({ consumerId: 'c' })],
    ['GET', '/admin/api-keys', {}, undefined],
    ['GET', '/admin/api-keys', { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` }, undefined],
    ['DELETE', `/admin/api-keys/${sha256(ALICE_KEY)}`, {}, undefined],
    ['DELETE', `/admin/api-keys/${anyHash}`, { 'x-api-key': ALICE_KEY }, undefined]
  ] as Array<[string, string, Record<string, string>, string | undefined]>) {
    const res = await call(`${gw.adminUrl}${path}`, { method, headers, body })
    t.equal(res.status, 401, `${method} ${path} without the admin token (${Object.keys(headers).join(', ') || 'no headers'})`)
    t.match(res.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
  }
  t.equal((await call(`${gw.adminUrl}/admin/api-keys`, { headers: admin })).json().apiKeys.length, 2, 'nothing was created without the token')
  t.equal((await wallet(gw, { 'x-api-key': ALICE_KEY })).status, 200, 'nothing was revoked without the token')
  t.equal((await call(`${gw.url}/admin/api-keys`, { headers: admin })).status, 404, 'the admin API is not on the public port')
})

t.test('unknown, empty, malformed and oversized keys are refused with 401 that never echoes the key', async (t) => {
  const { up, gw } = await setup(t)
  const keys: Array<[string, string]> = [
    ['an unknown key', 'hpk_this-key-was-never-issued-0123456789'],
    ['an empty key', ''],
    ['a key with inner spaces', 'alice key 0123456789'],
    ['a key with a tab', `${ALICE_KEY}\tx`],
    ['a 257-character key', 'k'.repeat(257)],
    ['a 10 kB key', 'K'.repeat(10 * 1024)],
    ['a key with non-ASCII characters', 'clé-secrète-0123456789'],
    ['a configured key with trailing junk', `${ALICE_KEY}x`]
  ]
  for (const [what, key] of keys) {
    const res = await call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-key': key } })
    assertKeyRefused(t, res, key, what)
  }
  // control characters an HTTP client will not send: write the bytes ourselves (never a 500)
  for (const [what, ch] of [['\\x01', '\x01'], ['DEL', '\x7f'], ['NUL', '\x00']] as const) {
    const key = `secret-${ch}-key-0123456789`
    const raw = await rawExchange(gw.url, `GET /v1/api/wallets/w1 HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\nConnection: close\r\n\r\n`)
    t.match(raw, /^HTTP\/1\.1 400 /, `a key with ${what}: 400, Node's parser refuses the header before any route`)
    t.match(raw, /content-type: application\/problem\+json/i, `a key with ${what}: problem+json`)
    t.match(raw, /"code":"GW_REQUEST_MALFORMED"/, `a key with ${what}: GW_REQUEST_MALFORMED`)
    t.notOk(raw.includes('secret-'), `a key with ${what}: not echoed`)
  }
  // a key beyond Node's header limit (16 kB) is refused by the parser before any route: 431, not 500
  const huge = 'H'.repeat(20 * 1024)
  const raw = await rawExchange(gw.url, `GET /v1/api/wallets/w1 HTTP/1.1\r\nHost: x\r\nX-API-Key: ${huge}\r\nConnection: close\r\n\r\n`)
  t.match(raw, /^HTTP\/1\.1 431 /, 'a 20 kB key: 431')
  t.match(raw, /"code":"GW_REQUEST_HEADERS_TOO_LARGE"/)
  t.notOk(raw.includes('HHHHHHHH'), 'not echoed')

  t.equal(up.requests.length, 0, 'nothing reached the upstream')

  // on a public route a refused key leaves the caller anonymous (no 401)
  const pub = await call(`${gw.url}/v1/auth/login`, { method: 'POST', headers: { 'x-api-key': 'nope-0123456789' } })
  t.equal(pub.status, 200)
  t.equal(up.requests[0]!.headers['x-consumer-tier'], 'anonymous')
  t.notOk('x-consumer-id' in up.requests[0]!.headers)
})

t.test('no key ever reaches the logs, even at trace level', async (t) => {
  const lines: string[] = []
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: specRoutes(), server: { adminToken: ADMIN, logLevel: 'trace' }, consumers: CONSUMERS },
    { logStream: { write: (line: string) => lines.push(line) } })
  const { key, hash } = (await createKey(gw, { consumerId: 'logged' })).json()
  t.equal((await wallet(gw, { 'x-api-key': key })).status, 200)
  t.equal((await wallet(gw, { 'x-api-key': ALICE_KEY })).status, 200)
  const unknown = 'hpk_unknown-key-for-the-logs-0123456789'
  t.equal((await wallet(gw, { 'x-api-key': unknown })).status, 401)
  t.equal((await call(`${gw.adminUrl}/admin/api-keys/${hash}`, { method: 'DELETE', headers: admin })).status, 204)
  t.equal((await wallet(gw, { 'x-api-key': key })).status, 401)
  const logs = lines.join('')
  t.ok(lines.length > 10, 'something was logged')
  t.match(logs, hash, 'the hash is logged (created, revoked)')
  for (const secret of [key, ALICE_KEY, unknown, ADMIN]) t.notOk(logs.includes(secret), 'the key / admin token is not in the logs')
})

t.test('Authorization: Bearer takes precedence over X-API-Key: a bad bearer token with a valid key is refused (GW_AUTH_INVALID_TOKEN)', async (t) => {
  const { up, gw } = await setup(t)
  for (const authorization of ['Bearer x', 'bearer x', 'Bearer', 'Bearer    ']) {
    const res = await wallet(gw, { authorization, 'x-api-key': ALICE_KEY })
    t.equal(res.status, 401, JSON.stringify(authorization))
    t.match(res.json(), { code: 'GW_AUTH_INVALID_TOKEN' }, `${JSON.stringify(authorization)}: the token is judged, not the key`)
    t.match(String(res.headers['www-authenticate']), /^Bearer realm="healthpay", error="invalid_token"/)
    t.notOk(res.text.includes(ALICE_KEY))
  }
  t.equal(up.requests.length, 0)
})

t.test('Authorization with another scheme (Basic) is not the gateway\'s: the key authenticates and Authorization goes upstream unchanged', async (t) => {
  const { up, gw } = await setup(t)
  const basic = `Basic ${Buffer.from('user:pass').toString('base64')}`
  const res = await wallet(gw, { authorization: basic, 'x-api-key': BOB_KEY })
  t.equal(res.status, 200)
  t.equal(up.requests[0]!.headers.authorization, basic, 'forwarded unchanged')
  t.match(up.requests[0]!.headers, { 'x-consumer-id': 'bob', 'x-consumer-tier': 'premium' })
  // a scheme that merely starts with "Bearer" is another scheme too
  const other = await wallet(gw, { authorization: 'BearerX abc', 'x-api-key': BOB_KEY })
  t.equal(other.status, 200)
  t.equal(up.requests[1]!.headers.authorization, 'BearerX abc')
  // Basic without a key is no credential
  const none = await wallet(gw, { authorization: basic })
  t.equal(none.status, 401)
  t.match(none.json(), { code: 'GW_AUTH_MISSING_CREDENTIALS' })
})

t.test('client-sent X-Consumer-* headers never reach the upstream as such', async (t) => {
  const { up, gw } = await setup(t)
  const res = await wallet(gw, { 'x-api-key': ALICE_KEY, 'x-consumer-id': 'root', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'admin' })
  t.equal(res.status, 200)
  t.match(up.requests[0]!.headers, { 'x-consumer-id': 'alice', 'x-consumer-tier': 'authenticated', 'x-consumer-roles': 'wallet:read,analyst' })
  const spoof = await call(`${gw.url}/v1/api/analytics/x`, { headers: { 'x-api-key': BOB_KEY, 'x-consumer-roles': 'admin' } })
  t.equal(spoof.status, 403, 'a client-sent roles header grants nothing')
})

t.test('config validation: consumers list key digests, unique ids, each digest once', async (t) => {
  const base = { routes: specRoutes(), services: { command: { targets: [{ url: 'http://127.0.0.1:3000' }] } } }
  const problemsOf = (consumers: unknown[]): readonly string[] => {
    try {
      resolveConfig({ ...base, consumers })
    } catch (err) {
      t.type(err, ConfigError)
      return (err as ConfigError).problems
    }
    return []
  }

  t.same(problemsOf(CONSUMERS), [], 'the fixture consumers are valid')
  const resolved = resolveConfig({ ...base, consumers: [{ id: 'c', apiKeys: [sha256('k')] }] })
  t.match(resolved.consumers[0], { id: 'c', tier: 'authenticated', roles: [] }, 'tier and roles default')

  const rawKey = 'raw-api-key-pasted-by-mistake-123'
  let error: unknown
  try { resolveConfig({ ...base, consumers: [{ id: 'c', apiKeys: [rawKey] }] }) } catch (err) { error = err }
  t.type(error, ConfigError, 'a raw key is refused')
  const message = (error as ConfigError).message
  t.match(message, /consumers\[0\]\.apiKeys\[0\]/, 'names the entry')
  t.match(message, /SHA-256 hex digest/, 'says a SHA-256 hex digest is expected')
  t.notMatch(message, rawKey, 'the raw key (a secret) is not echoed into the error message, which ends up in logs')

  t.match(problemsOf([{ id: 'c', apiKeys: [sha256('k').toUpperCase()] }]), [/SHA-256 hex digest/], 'upper-case hex is refused (64 lowercase hex digits)')
  t.match(problemsOf([{ id: 'c', apiKeys: [sha256('k').slice(1)] }]), [/SHA-256 hex digest/], '63 hex digits are refused')

  const dupIds = problemsOf([{ id: 'same', apiKeys: [sha256('a')] }, { id: 'same', apiKeys: [sha256('b')] }])
  t.equal(dupIds.length, 1)
  t.match(dupIds[0], /consumers\[1\]\.id.*not already used by consumers\[0\]/, 'duplicate consumer ids are refused')

  const dupHash = problemsOf([{ id: 'a', apiKeys: [sha256('shared')] }, { id: 'b', apiKeys: [sha256('shared')] }])
  t.equal(dupHash.length, 1)
  t.match(dupHash[0], /consumers\[1\]\.apiKeys\[0\].*not already given to consumer a/, 'the same digest on two consumers is refused')

  t.match(problemsOf([{ id: 'c', tier: 'anonymous' }]), [/consumers\[0\]\.tier/], 'tier anonymous is not a consumer tier')
  t.match(problemsOf([{ id: 'c', roles: ['a,b'] }]), [/consumers\[0\]\.roles\[0\]/], 'role names cannot hold commas')
  t.match(problemsOf([{ id: 'c', apiKeys: [], key: 'x' }]), [/consumers\[0\]\.key: unknown key/], 'unknown consumer fields are refused')
})

t.test('ApiKeyRegistry with a stub Redis: answers kept REVALIDATE_MS, stale answers used at most MAX_STALE_MS while Redis fails', async (t) => {
  // a fake clock, shared by the registry and its caches
  const realNow = Date.now
  let offset = 0
  const records = new Map<string, string>()
  let failing = false
  let hgets = 0
  const stub = {
    hget: async (_key: string, field: string) => {
      hgets++
      if (failing) throw new Error('Connection is closed.')
      return records.get(field) ?? null
    }
  }
  const warnings: object[] = []
  const registry = new ApiKeyRegistry({ consumers: CONSUMERS as any, redis: stub as unknown as Redis, keyPrefix: 'p:', log: { warn: (obj) => warnings.push(obj) }, now: () => realNow() + offset })
  const key = 'hpk_stub-key-0123456789'
  records.set(sha256(key), JSON.stringify({ consumerId: 'stubbed', tier: 'premium', roles: ['r1'] }))
  const code = async (fn: () => unknown) => { try { await fn(); return 'accepted' } catch (err) { return (err as { code: string }).code } }
  const at = (ms: number) => { offset = ms }

  const configured = registry.authenticate(ALICE_KEY)
  t.notOk(configured instanceof Promise, 'a config key is answered synchronously, without Redis')
  t.match(configured, { id: 'alice', tier: 'authenticated', via: 'api-key' })
  t.equal(hgets, 0)
  const [c1, c2] = await Promise.all([registry.authenticate(key), registry.authenticate(key)])
  t.match(c1, { id: 'stubbed', tier: 'premium', roles: ['r1'], via: 'api-key' })
  t.equal(c2, c1)
  t.equal(hgets, 1, 'concurrent lookups of one key share one HGET')
  t.notOk(registry.authenticate(key) instanceof Promise, 'a fresh answer is served from memory')
  t.equal(hgets, 1)

  records.delete(sha256(key)) // revoked on another instance
  at(REVALIDATE_MS - 50)
  t.equal(await code(() => registry.authenticate(key)), 'accepted', 'within REVALIDATE_MS the remembered answer stands')
  at(REVALIDATE_MS + 1)
  t.equal(await code(() => registry.authenticate(key)), 'GW_AUTH_INVALID_API_KEY', 'after REVALIDATE_MS the revocation is seen')
  t.equal(hgets, 2)

  const other = 'hpk_other-stub-key-0123456789'
  records.set(sha256(other), JSON.stringify({ consumerId: 'other', tier: 'authenticated', roles: [] }))
  at(1000)
  t.equal(await code(() => registry.authenticate(other)), 'accepted')
  failing = true
  at(1000 + 30_000)
  t.equal(await code(() => registry.authenticate(other)), 'accepted', 'Redis failing: a 30 s old answer is used')
  t.equal(await code(() => registry.authenticate(key)), 'GW_AUTH_INVALID_API_KEY', 'Redis failing: a recent refusal stands')
  t.equal(await code(() => registry.authenticate('hpk_never-seen-0123456789')), 'GW_AUTH_UNAVAILABLE', 'Redis failing: a key never seen gets 503')
  at(1000 + MAX_STALE_MS + 10)
  t.equal(await code(() => registry.authenticate(other)), 'GW_AUTH_UNAVAILABLE', 'Redis failing: an answer older than MAX_STALE_MS is not used')
  failing = false
  t.equal(await code(() => registry.authenticate(other)), 'accepted', 'Redis back: checked again')

  const broken = 'hpk_broken-record-0123456789'
  records.set(sha256(broken), '{"consumerId": 42')
  t.equal(await code(() => registry.authenticate(broken)), 'GW_AUTH_INVALID_API_KEY', 'an unreadable record refuses the key')
  t.match(warnings, [{ hash: sha256(broken) }], 'and is logged by its hash')
  t.notOk(JSON.stringify(warnings).includes(broken), 'never by the key')
})

t.test('a flood of random keys cannot evict the keys in use (and their answers while Redis is down)', async (t) => {
  const records = new Map<string, string>()
  let failing = false
  const stub = {
    hget: async (_key: string, field: string) => {
      if (failing) throw new Error('Connection is closed.')
      return records.get(field) ?? null
    }
  }
  let offset = 0
  const registry = new ApiKeyRegistry({ consumers: [], redis: stub as unknown as Redis, keyPrefix: 'p:', log: { warn: () => {} }, now: () => Date.now() + offset })
  const key = 'hpk_in-use-0123456789'
  records.set(sha256(key), JSON.stringify({ consumerId: 'steady', tier: 'authenticated', roles: [] }))
  t.match(await registry.authenticate(key), { id: 'steady' })
  for (let i = 0; i < 12_000; i++) {
    await Promise.resolve(registry.authenticate(`hpk_random-${i}-0123456789`)).catch(() => {})
  }
  failing = true
  offset = REVALIDATE_MS + 1 // the answer must be checked again, and Redis fails
  t.match(await registry.authenticate(key), { id: 'steady' }, 'still served from the recent answer with Redis down')
})
