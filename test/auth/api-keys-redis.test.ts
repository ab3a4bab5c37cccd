// API keys stored in Redis: shared by every instance (created on one, accepted and
// revoked everywhere), only digests stored, and what happens while Redis is down.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { startUpstream, startGateway, servicesFor, specRoutes, call, until, startRedisServer, uniquePrefix, type StartedGateway } from '../helpers.js'
import { REVALIDATE_MS } from '../../plugins/auth/api-keys.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'
const ADMIN = 'test-admin-token-0123456789'
const PROBLEM = 'application/problem+json; charset=utf-8'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

const CONFIG_KEY = 'config-file-key-0123456789'
const CONSUMERS = [{ id: 'from-config', tier: 'premium', roles: ['admin'], apiKeys: [sha256(CONFIG_KEY)] }]

const admin = { authorization: `Bearer ${ADMIN}` }
const wallet = (gw: StartedGateway, key: string) => call(`${gw.url}/v1/api/wallets/w1`, { headers: { 'x-api-key': key } })
const createKey = (gw: StartedGateway, body: unknown) =>
  call(`${gw.adminUrl}/admin/api-keys`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(body) })
const revokeKey = (gw: StartedGateway, hash: string) => call(`${gw.adminUrl}/admin/api-keys/${hash}`, { method: 'DELETE', headers: admin })
const listKeys = (gw: StartedGateway) => call(`${gw.adminUrl}/admin/api-keys`, { headers: admin })

async function gateway (t: Test, upUrl: string, redisUrl: string, keyPrefix: string): Promise<StartedGateway> {
  return startGateway(t, { services: servicesFor(upUrl), routes: specRoutes(), server: { adminToken: ADMIN }, consumers: CONSUMERS, redis: { url: redisUrl, keyPrefix } })
}

/** A direct client on the shared Redis; the test's keys are deleted at teardown. */
function sharedClient (t: Test, prefix: string): Redis {
  const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    await client.quit()
  })
  return client
}

t.test('two instances share the keys in Redis: created on A, accepted on B at once; revoked on A, refused on B within 1 s', async (t) => {
  const prefix = uniquePrefix()
  const redis = sharedClient(t, prefix)
  const up = await startUpstream(t)
  const a = await gateway(t, up.url, SHARED_REDIS, prefix)
  const b = await gateway(t, up.url, SHARED_REDIS, prefix)

  const created = await createKey(a, { consumerId: 'shared-partner', tier: 'premium', roles: ['analyst'] })
  t.equal(created.status, 201)
  const { key, hash } = created.json()
  t.equal(hash, sha256(key))

  const onB = await wallet(b, key)
  t.equal(onB.status, 200, 'B accepts a key created on A on its very first request')
  t.match(up.requests.at(-1)!.headers, { 'x-consumer-id': 'shared-partner', 'x-consumer-tier': 'premium', 'x-consumer-roles': 'analyst' })
  t.equal((await wallet(a, key)).status, 200, 'A accepts it too')
  t.equal((await call(`${b.url}/v1/api/analytics/x`, { headers: { 'x-api-key': key } })).status, 200, 'B applies its roles')

  // only the digest is stored: the key itself appears nowhere under the prefix
  const stored = await redis.hgetall(`${prefix}apikeys`)
  t.same(Object.keys(stored), [hash], 'the field is the SHA-256 digest')
  t.match(JSON.parse(stored[hash]!), { consumerId: 'shared-partner', tier: 'premium', roles: ['analyst'], createdAt: created.json().createdAt })
  t.notOk(JSON.stringify(stored).includes(key), 'the key is nowhere in the Redis hash')
  for (const name of await redis.keys(`${prefix}*`)) {
    t.notOk(name.includes(key), `Redis key name ${name} does not contain the key`)
    if ((await redis.type(name)) === 'hash') t.notOk(JSON.stringify(await redis.hgetall(name)).includes(key), `${name} does not contain the key`)
  }

  // worst case for B: its cached answer is brand new when the key is revoked (B asks
  // Redis again once the previous answer is REVALIDATE_MS old)
  await sleep(REVALIDATE_MS + 50)
  t.equal((await wallet(b, key)).status, 200, 'B checked the key with Redis just before the revocation')
  const started = Date.now()
  const revoked = await revokeKey(a, hash)
  t.equal(revoked.status, 204)
  const onA = await wallet(a, key)
  t.equal(onA.status, 401, 'A refuses the key at once')
  t.match(onA.json(), { code: 'GW_AUTH_INVALID_API_KEY' })
  let last: Awaited<ReturnType<typeof wallet>> | undefined
  await until(async () => (last = await wallet(b, key)).status !== 200, 3000, 'B to refuse the revoked key')
  const delay = Date.now() - started
  t.comment(`revocation on A honoured on B after ${delay} ms (REVALIDATE_MS = ${REVALIDATE_MS})`)
  t.equal(last!.status, 401, 'B refuses the revoked key')
  t.match(last!.json(), { code: 'GW_AUTH_INVALID_API_KEY' })
  t.ok(delay < 1200, `B refused it within 1 s (+ margin): ${delay} ms`)
  t.equal((await wallet(b, key)).status, 401, 'and keeps refusing it')
  t.equal((await wallet(a, key)).status, 401)
  t.same(await redis.hgetall(`${prefix}apikeys`), {}, 'the record is gone from Redis')

  const again = await revokeKey(b, hash)
  t.equal(again.status, 404, 'revoking it again on B: not found')
  t.match(again.json(), { code: 'GW_AUTH_API_KEY_NOT_FOUND' })
})

t.test('GET /admin/api-keys lists the keys in Redis and those from the config file, never a key', async (t) => {
  const prefix = uniquePrefix()
  sharedClient(t, prefix)
  const up = await startUpstream(t)
  const a = await gateway(t, up.url, SHARED_REDIS, prefix)
  const b = await gateway(t, up.url, SHARED_REDIS, prefix)
  const one = (await createKey(a, { consumerId: 'one', roles: ['x'] })).json()
  const two = (await createKey(b, { consumerId: 'two', tier: 'premium' })).json()

  for (const [name, gw] of [['A', a], ['B', b]] as const) {
    const res = await listKeys(gw)
    t.equal(res.status, 200)
    const { apiKeys } = res.json()
    t.equal(apiKeys.length, 3, `${name} lists 3 keys`)
    t.match(apiKeys.find((k: any) => k.hash === sha256(CONFIG_KEY)), { consumerId: 'from-config', tier: 'premium', roles: ['admin'], source: 'config' }, `${name}: the config key`)
    t.match(apiKeys.find((k: any) => k.hash === one.hash), { consumerId: 'one', tier: 'authenticated', roles: ['x'], source: 'admin', createdAt: one.createdAt }, `${name}: the key created on A`)
    t.match(apiKeys.find((k: any) => k.hash === two.hash), { consumerId: 'two', tier: 'premium', roles: [], source: 'admin', createdAt: two.createdAt }, `${name}: the key created on B`)
    for (const k of [one.key, two.key, CONFIG_KEY]) t.notOk(res.text.includes(k), `${name}: no key in the listing`)
  }
  const config = await revokeKey(a, sha256(CONFIG_KEY))
  t.equal(config.status, 409, 'a config-file key cannot be revoked through the API')
  t.match(config.json(), { code: 'GW_AUTH_API_KEY_IN_CONFIG' })
})

t.test('Redis down: keys in use keep working, unknown keys get 503, admin changes 503; Redis back: it heals by itself', async (t) => {
  const server = await startRedisServer(t)
  const up = await startUpstream(t)
  const gw = await gateway(t, up.url, server.url, uniquePrefix())
  const { key, hash } = (await createKey(gw, { consumerId: 'steady', roles: ['analyst'] })).json()
  t.equal((await wallet(gw, key)).status, 200, 'the key works while Redis is up')
  const unknownBefore = await wallet(gw, 'hpk_never-issued-before-the-outage')
  t.equal(unknownBefore.status, 401, 'an unknown key is a 401 while Redis answers')

  await server.kill()
  // past REVALIDATE_MS the instance must ask Redis again: the failure falls back to the recent answer
  await sleep(REVALIDATE_MS + 100)
  for (let i = 0; i < 3; i++) {
    const res = await wallet(gw, key)
    t.equal(res.status, 200, `a key in use keeps working with Redis down (request ${i + 1})`)
  }
  t.match(up.requests.at(-1)!.headers, { 'x-consumer-id': 'steady', 'x-consumer-roles': 'analyst' })
  t.equal((await wallet(gw, CONFIG_KEY)).status, 200, 'a config-file key does not need Redis')
  const negative = await wallet(gw, 'hpk_never-issued-before-the-outage')
  t.equal(negative.status, 401, 'an unknown key Redis answered for recently stays refused (401)')

  const unknown = await wallet(gw, 'hpk_first-seen-during-the-outage')
  t.equal(unknown.status, 503, 'a key never seen cannot be checked: 503, not 401 or 500')
  t.equal(unknown.headers['content-type'], PROBLEM)
  t.match(unknown.json(), { status: 503, code: 'GW_AUTH_UNAVAILABLE' })
  t.equal(unknown.headers['retry-after'], '1')
  t.notOk(unknown.text.includes('hpk_first-seen'), 'the key is not echoed')
  const publicRoute = await call(`${gw.url}/v1/auth/login`, { headers: { 'x-api-key': 'hpk_first-seen-during-the-outage' } })
  t.equal(publicRoute.status, 200, 'a public route still answers: the unverifiable key leaves the caller anonymous')
  t.equal(up.requests.at(-1)!.headers['x-consumer-tier'], 'anonymous')

  const create = await createKey(gw, { consumerId: 'during-outage' })
  t.equal(create.status, 503, 'creating a key with Redis down: 503')
  t.equal(create.headers['content-type'], PROBLEM)
  t.match(create.json(), { status: 503, code: 'GW_AUTH_STORE_UNAVAILABLE' })
  t.notOk('key' in create.json(), 'no key is handed out that was not stored')
  const revoke = await revokeKey(gw, hash)
  t.equal(revoke.status, 503, 'revoking with Redis down: 503 (the revocation could not be recorded)')
  t.match(revoke.json(), { code: 'GW_AUTH_STORE_UNAVAILABLE' })
  const list = await listKeys(gw)
  t.equal(list.status, 503, 'listing with Redis down: 503')
  t.match(list.json(), { code: 'GW_AUTH_STORE_UNAVAILABLE' })

  // back, empty (nothing persisted): the client reconnects by itself (backoff up to 2 s)
  await server.restart()
  const backSince = Date.now()
  let fresh: any
  await until(async () => {
    const res = await createKey(gw, { consumerId: 'after-outage', tier: 'premium' })
    if (res.status === 201) fresh = res.json()
    else t.equal(res.status, 503, 'until reconnected: 503')
    return res.status === 201
  }, 6000, 'creating a key after Redis is back')
  t.comment(`admin API healed ${Date.now() - backSince} ms after redis-server answered again`)
  t.equal((await wallet(gw, fresh.key)).status, 200, 'a key created after the outage works')
  t.match(up.requests.at(-1)!.headers, { 'x-consumer-id': 'after-outage', 'x-consumer-tier': 'premium' })
  t.equal((await wallet(gw, 'hpk_first-seen-during-the-outage')).status, 401, 'an unknown key is a 401 again')
  // the restarted Redis is empty: the old record is gone, and the stale cached answer is no longer used
  t.equal((await wallet(gw, key)).status, 401, 'the key whose record was lost is refused once Redis answers')
  const listed = await listKeys(gw)
  t.equal(listed.status, 200)
  t.same(listed.json().apiKeys.map((k: any) => k.consumerId).sort(), ['after-outage', 'from-config'])
})
