// POST /admin/events: publish an event for WebSocket subscribers through the event log.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { startGateway, servicesFor, call, until, startRedisServer, uniquePrefix, type StartedGateway } from '../helpers.js'
import { parseEventId, compareEventIds } from '../../plugins/websocket/event-log.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'
const TOKEN = 'test-admin-token-0123456789'
const PROBLEM = /^application\/problem\+json/
const admin = { authorization: `Bearer ${TOKEN}` }

const publish = (gw: StartedGateway, body: unknown, headers: Record<string, string> = {}) =>
  call(`${gw.adminUrl}/admin/events`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })

const gateway = (t: Test, overrides: Record<string, unknown> = {}, deps = {}) =>
  startGateway(t, { services: servicesFor('http://127.0.0.1:1'), server: { adminToken: TOKEN }, ...overrides }, deps)

const walletUpdated = { channel: 'wallet', event: 'wallet.updated', subject: 'u-42', data: { walletId: 'w1', balance: 1250 } }

t.test('in memory: 202 with the entry id; later events get larger ids; the log holds them', async (t) => {
  const gw = await gateway(t)
  const first = await publish(gw, walletUpdated)
  t.equal(first.status, 202)
  const a = first.json()
  t.match(a, { channel: 'wallet', event: 'wallet.updated', subject: 'u-42' })
  t.match(a.id, /^\d+-\d+$/)
  t.same(Object.keys(a).sort(), ['channel', 'event', 'id', 'subject'])

  const second = await publish(gw, { channel: 'claim', event: 'claim.approved', subject: 'u-7' })
  t.equal(second.status, 202)
  const b = second.json()
  t.ok(compareEventIds(parseEventId(a.id)!, parseEventId(b.id)!) < 0, `${b.id} > ${a.id}`)

  const withNull = await publish(gw, { channel: 'analytics', event: 'report.ready', subject: 'analyst-1', data: null })
  t.equal(withNull.status, 202, 'data may be any JSON value, null included')

  const logged = await gw.context.events.range('0', 10)
  t.same(logged.map((e) => [e.id, e.channel, e.event, e.subject, e.data]), [
    [a.id, 'wallet', 'wallet.updated', 'u-42', { walletId: 'w1', balance: 1250 }],
    [b.id, 'claim', 'claim.approved', 'u-7', {}],
    [withNull.json().id, 'analytics', 'report.ready', 'analyst-1', null]
  ], 'in order; data defaults to {}')
})

t.test('with Redis: the entry is in the stream <keyPrefix>events with the fields backends use', async (t) => {
  const prefix = uniquePrefix()
  const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    await client.del(`${prefix}events`)
    await client.quit()
  })
  const gw = await gateway(t, { redis: { url: SHARED_REDIS, keyPrefix: prefix } })
  const res = await publish(gw, walletUpdated)
  t.equal(res.status, 202)
  const { id } = res.json()
  const entries = await client.xrange(`${prefix}events`, '-', '+')
  t.same(entries, [[id, ['channel', 'wallet', 'event', 'wallet.updated', 'subject', 'u-42', 'data', '{"walletId":"w1","balance":1250}']]])

  const second = (await publish(gw, { channel: 'payment', event: 'payment.settled', subject: 'u-42' })).json()
  t.ok(compareEventIds(parseEventId(id)!, parseEventId(second.id)!) < 0, 'ids increase')
  t.same((await gw.context.events.range(id, 10)).map((e) => [e.id, e.data]), [[second.id, {}]], 'the gateway reads it back')
})

t.test('bad requests: 400/413/415 problem+json with a code, never a 500', async (t) => {
  const gw = await gateway(t)
  const cases: Array<[string, unknown, number, string, RegExp?, Record<string, string>?]> = [
    ['missing channel', { event: 'wallet.updated', subject: 'u-1' }, 400, 'GW_REQUEST_INVALID', /channel/],
    ['unknown channel', { ...walletUpdated, channel: 'loyalty' }, 400, 'GW_REQUEST_INVALID', /channel must be one of "wallet", "payment", "medcard", "claim", "analytics"/],
    ['unknown key', { ...walletUpdated, priority: 'high' }, 400, 'GW_REQUEST_INVALID', /unknown field "priority"/],
    ['bad event name', { ...walletUpdated, event: 'Wallet Updated' }, 400, 'GW_REQUEST_INVALID', /event must match pattern/],
    ['event name too long', { ...walletUpdated, event: 'a'.repeat(101) }, 400, 'GW_REQUEST_INVALID', /event/],
    ['empty subject', { ...walletUpdated, subject: '' }, 400, 'GW_REQUEST_INVALID', /subject/],
    ['subject too long', { ...walletUpdated, subject: 'u'.repeat(201) }, 400, 'GW_REQUEST_INVALID', /subject/],
    ['subject with a control character', { ...walletUpdated, subject: 'u-1\n' }, 400, 'GW_REQUEST_INVALID', /subject/],
    ['channel not a string', { ...walletUpdated, channel: 1 }, 400, 'GW_REQUEST_INVALID'],
    ['body an array', [walletUpdated], 400, 'GW_REQUEST_INVALID'],
    ['body not JSON', '{"channel": "wallet",', 400, 'GW_REQUEST_INVALID_JSON'],
    ['empty JSON body', '', 400, 'GW_REQUEST_INVALID_JSON'],
    ['text/plain body', 'wallet.updated', 415, 'GW_REQUEST_UNSUPPORTED_MEDIA_TYPE', undefined, { 'content-type': 'text/plain' }],
    ['form body', 'channel=wallet', 415, 'GW_REQUEST_UNSUPPORTED_MEDIA_TYPE', undefined, { 'content-type': 'application/x-www-form-urlencoded' }],
    ['data over 64 KiB', { ...walletUpdated, data: 'x'.repeat(65_535) }, 413, 'GW_EVENT_TOO_LARGE', /65537 bytes.*at most 65536/]
  ]
  for (const [name, body, status, code, detail, headers] of cases) {
    const res = await publish(gw, body, headers)
    t.equal(res.status, status, `${name}: ${status}`)
    t.match(res.headers['content-type'], PROBLEM, `${name}: problem+json`)
    t.match(res.json(), { status, code, ...(detail ? { detail } : {}) }, `${name}: ${code}`)
  }
  const atLimit = await publish(gw, { ...walletUpdated, data: 'x'.repeat(65_534) })
  t.equal(atLimit.status, 202, 'exactly 64 KiB of data is accepted')
  t.same((await gw.context.events.range('0', 10)).length, 1, 'nothing refused reached the log')
})

t.test('without the admin token: 401 and nothing published', async (t) => {
  const gw = await gateway(t)
  const res = await call(`${gw.adminUrl}/admin/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(walletUpdated) })
  t.equal(res.status, 401)
  t.match(res.json(), { code: 'GW_ADMIN_UNAUTHORIZED' })
  const invalidToo = await call(`${gw.adminUrl}/admin/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })
  t.equal(invalidToo.status, 401, 'the token is checked before the body')
  t.same(await gw.context.events.range('0', 10), [])
})

t.test('Redis down: 503 GW_EVENTS_UNAVAILABLE, logged at warn without the data; Redis back: published again', async (t) => {
  const server = await startRedisServer(t)
  const lines: Array<Record<string, unknown>> = []
  const gw = await gateway(t, { redis: { url: server.url, keyPrefix: uniquePrefix() }, server: { adminToken: TOKEN, logLevel: 'warn' } }, {
    logStream: { write: (line: string) => lines.push(JSON.parse(line)) }
  })
  t.equal((await publish(gw, walletUpdated)).status, 202, 'published while Redis is up')

  await server.kill()
  const secretData = { cardNumber: 'card-data-that-must-not-be-logged' }
  const res = await publish(gw, { ...walletUpdated, data: secretData })
  t.equal(res.status, 503)
  t.match(res.headers['content-type'], PROBLEM)
  t.equal(res.headers['retry-after'], '1')
  t.match(res.json(), { status: 503, code: 'GW_EVENTS_UNAVAILABLE', detail: /not published/ })
  const warning = lines.find((l) => l.msg === 'event not published: the event stream is unreachable')
  t.ok(warning, 'a warn line says why')
  t.match(warning, { level: 40, channel: 'wallet', event: 'wallet.updated', subject: 'u-42' })
  t.notOk(JSON.stringify(lines).includes('card-data-that-must-not-be-logged'), 'the event data is in no log line')
  t.notOk(lines.some((l) => l.level === 50), 'nothing logged as an error (no 500)')

  await server.restart()
  let after: Awaited<ReturnType<typeof publish>> | undefined
  await until(async () => (after = await publish(gw, walletUpdated)).status === 202, 6000, 'publishing after Redis is back')
  t.match(after!.json(), { channel: 'wallet', id: /^\d+-\d+$/ })
})
