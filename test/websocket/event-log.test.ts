// The event log: the Redis stream and its in-memory twin pass the same cases.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { createEventLog, parseEventId, compareEventIds, InvalidEventIdError, type EventLog } from '../../plugins/websocket/event-log.js'
import { uniquePrefix } from '../helpers.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'

interface Backend {
  name: 'memory' | 'redis'
  open: (t: Test, maxLen: number) => Promise<{ log: EventLog, key: string, redis: Redis | null }>
}

const memory: Backend = {
  name: 'memory',
  open: async (_t, maxLen) => ({ log: createEventLog({ redis: null, key: 'unused', maxLen }), key: 'unused', redis: null })
}

const redis: Backend = {
  name: 'redis',
  open: async (t, maxLen) => {
    const key = `${uniquePrefix()}events`
    const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
    t.teardown(async () => {
      await client.del(key)
      await client.quit()
    })
    return { log: createEventLog({ redis: client, key, maxLen }), key, redis: client }
  }
}

const ev = (i: number, channel = 'wallet') => ({ channel, event: 'wallet.updated', subject: `u-${i}`, data: { i, nested: { ok: true } } })
const order = (id: string) => parseEventId(id)!

for (const backend of [memory, redis]) {
  t.test(`${backend.name}: ids increase; range is exclusive, ordered and bounded by count`, async (t) => {
    const { log } = await backend.open(t, 1000)
    const ids: string[] = []
    for (let i = 0; i < 25; i++) ids.push(await log.append(ev(i)))
    for (let i = 1; i < ids.length; i++) t.ok(compareEventIds(order(ids[i - 1]!), order(ids[i]!)) < 0, `${ids[i - 1]} < ${ids[i]}`)

    const all = await log.range('0', 100)
    t.same(all.map((e) => e.id), ids, "'0' reads from the start, oldest first")
    t.same(await log.range('0-0', 100), all, "'0-0' is the same as '0'")
    t.match(all[3], { id: ids[3], channel: 'wallet', event: 'wallet.updated', subject: 'u-3', data: { i: 3, nested: { ok: true } } })
    t.equal(all[3]!.ts, Number(ids[3]!.split('-')[0]), 'ts is the ms part of the id')
    t.ok(Math.abs(all[0]!.ts - Date.now()) < 60_000, 'ts is a wall-clock time')

    const after = await log.range(ids[9]!, 5)
    t.same(after.map((e) => e.id), ids.slice(10, 15), 'strictly after the given id, at most count')
    t.same((await log.range(ids.at(-1)!, 10)), [], 'nothing after the last one')
    t.same((await log.range(ids[20]!, 100)).map((e) => e.id), ids.slice(21), 'fewer than count at the end')
    t.same(await log.range('0', 0), [], 'count 0: nothing')

    // paging with the last id seen reads every entry once
    const paged: string[] = []
    let cursor = '0'
    for (let page = await log.range(cursor, 7); page.length > 0; page = await log.range(cursor, 7)) {
      paged.push(...page.map((e) => e.id))
      cursor = page.at(-1)!.id
    }
    t.same(paged, ids, 'paging sees every entry once, in order')

    // an id between entries (a client that saw an entry since trimmed) still works
    const [ms] = order(ids[12]!)
    t.ok((await log.range(`${ms}`, 100)).every((e) => compareEventIds(order(e.id), [ms, 0]) > 0), 'an id without seq means <ms>-0')

    await t.rejects(log.range('not-an-id', 1), InvalidEventIdError)
    await t.rejects(log.range('1-2-3', 1), InvalidEventIdError)
  })

  t.test(`${backend.name}: data of every JSON kind round-trips`, async (t) => {
    const { log } = await backend.open(t, 100)
    const values = [{}, null, 0, 'text', [1, 'two', { three: 3 }], { unicode: 'Zürich ✓', deep: { a: [{ b: null }] } }, true]
    for (const data of values) await log.append({ channel: 'claim', event: 'claim.filed', subject: 's', data })
    t.same((await log.range('0', 100)).map((e) => e.data), values)
    // readers get their own copies
    const [first] = await log.range('0', 1)
    ;(first!.data as Record<string, unknown>).mutated = true
    t.same((await log.range('0', 1))[0]!.data, {}, 'a reader mutating its copy changes nothing')
  })

  t.test(`${backend.name}: MAXLEN keeps the log bounded, dropping the oldest`, async (t) => {
    const maxLen = 50
    const { log, key, redis } = await backend.open(t, maxLen)
    const ids: string[] = []
    for (let i = 0; i < 1000; i++) ids.push(await log.append(ev(i)))
    const kept = await log.range('0', 10_000)
    if (redis === null) {
      t.equal(kept.length, maxLen, 'memory trims exactly')
    } else {
      // MAXLEN ~ trims whole macro nodes (100 entries each by default): approximately
      const length = await redis.xlen(key)
      t.ok(length >= maxLen && length <= maxLen + 100, `XLEN ${length} within [${maxLen}, ${maxLen + 100}]`)
      t.equal(kept.length, length)
    }
    t.same(kept.map((e) => e.id), ids.slice(ids.length - kept.length), 'the newest are kept, in order')
    t.same((await log.range(ids[0]!, 10)).map((e) => e.id), kept.slice(0, 10).map((e) => e.id), 'reading after a trimmed id starts at the oldest kept')
  })
}

t.test('redis: an entry a backend wrote with XADD is readable; malformed entries are skipped', async (t) => {
  const { log, key, redis: client } = await redis.open(t, 1000)
  const first = await log.append(ev(1))
  const backendId = await client!.xadd(key, '*', 'channel', 'payment', 'event', 'payment.settled', 'subject', 'u-7', 'data', JSON.stringify({ amount: 1250, currency: 'EUR' }))
  // a producer with a bug: missing fields, data that is not JSON, a field order of its own
  await client!.xadd(key, '*', 'channel', 'payment', 'event', 'payment.settled', 'data', '{}')
  await client!.xadd(key, '*', 'channel', 'payment', 'event', 'payment.settled', 'subject', 'u-7', 'data', '{not json')
  await client!.xadd(key, '*', 'noise', 'x')
  const reordered = await client!.xadd(key, '*', 'data', '[1,2]', 'subject', 'u-8', 'extra', 'ignored', 'event', 'medcard.issued', 'channel', 'medcard')
  const last = await log.append(ev(2))

  const all = await log.range('0', 100)
  t.same(all.map((e) => e.id), [first, backendId, reordered, last], 'the malformed entries are skipped, not thrown')
  t.same(all[1], { id: backendId, channel: 'payment', event: 'payment.settled', subject: 'u-7', data: { amount: 1250, currency: 'EUR' }, ts: Number(backendId!.split('-')[0]) })
  t.match(all[2], { channel: 'medcard', event: 'medcard.issued', subject: 'u-8', data: [1, 2] })

  // what the gateway writes is what backends write: the documented fields, data as JSON
  const [[, fields]] = (await client!.xrange(key, first, first)) as Array<[string, string[]]>
  t.same(fields, ['channel', 'wallet', 'event', 'wallet.updated', 'subject', 'u-1', 'data', JSON.stringify(ev(1).data)])

  // a page made only of malformed entries does not look like the end of the log
  t.same((await log.range(backendId!, 1)).map((e) => e.id), [reordered], 'count 1 after the backend entry skips three bad ones')
  t.same((await log.range(backendId!, 2)).map((e) => e.id), [reordered, last])
})

t.test('memory: ids are <ms>-<seq>, increasing even when the clock stalls or goes backwards', async (t) => {
  let clock = 1_700_000_000_000
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 100, now: () => clock })
  const add = () => log.append(ev(0))
  t.equal(await add(), '1700000000000-0')
  t.equal(await add(), '1700000000000-1', 'same ms: seq + 1')
  clock -= 5000
  t.equal(await add(), '1700000000000-2', 'clock went back: the last ms, seq + 1')
  clock += 10_000
  t.equal(await add(), '1700000005000-0', 'a later ms starts at seq 0')
  clock = 9 // numerically smaller, though "9-..." > "1700..." as strings
  t.equal(await add(), '1700000005000-1')
  t.same((await log.range('1700000000000-1', 10)).map((e) => e.id), ['1700000000000-2', '1700000005000-0', '1700000005000-1'])
  t.same((await log.range('9-0', 10)).length, 5, '"9-0" is before every id: compared as numbers, not strings')
  t.same(await log.range('99999999999999-0', 10), [], 'an id after every entry: nothing')
})

t.test('memory: trimming is exact across many appends and compactions', async (t) => {
  let clock = 1000
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 3, now: () => clock++ })
  const ids: string[] = []
  for (let i = 0; i < 5000; i++) ids.push(await log.append(ev(i)))
  t.same((await log.range('0', 10)).map((e) => e.id), ids.slice(-3))
  t.same((await log.range(ids.at(-2)!, 10)).map((e) => e.id), ids.slice(-1))
  log.close()
  await t.rejects(log.append(ev(0)), { name: 'EventLogClosedError' }, 'closed: appends are refused')
})

t.test('redis: append and range fail (reject) while Redis is unreachable', async (t) => {
  const client = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true, retryStrategy: () => null })
  client.on('error', () => {})
  t.teardown(() => client.disconnect())
  const log = createEventLog({ redis: client, key: 'x', maxLen: 10 })
  await t.rejects(log.append(ev(0)))
  await t.rejects(log.range('0', 10))
})

t.test('parseEventId', async (t) => {
  t.same(parseEventId('0'), [0, 0])
  t.same(parseEventId('1700000000000-12'), [1700000000000, 12])
  for (const bad of ['', '-1', '1-', 'a-1', '1.5-0', '1-2-3', ' 1-0', '1'.repeat(21)]) t.equal(parseEventId(bad), undefined, JSON.stringify(bad))
})
