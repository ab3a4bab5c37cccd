// EventLog.read (the blocking read every gateway instance tails the log with) and
// lastId (where a tail starts), on both stores; then StreamTail, which follows the log
// from where it stood at start and keeps its position across a Redis outage.
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { createEventLog, InvalidEventIdError, type EventLog, type StreamEvent } from '../../plugins/websocket/event-log.js'
import { StreamTail } from '../../plugins/websocket/stream-tail.js'
import { createRedisClient, closeRedis } from '../../src/redis.js'
import { until, uniquePrefix, startRedisServer } from '../helpers.js'

const SHARED_REDIS = 'redis://127.0.0.1:6379'

interface Opened {
  log: EventLog
  /** resolves once a read is blocked waiting for entries (so an append comes after it) */
  blocked: () => Promise<void>
}

interface Backend {
  name: 'memory' | 'redis'
  open: (t: Test) => Promise<Opened>
}

const memory: Backend = {
  name: 'memory',
  // read registers its waiter synchronously, before its promise is returned
  open: async () => ({ log: createEventLog({ redis: null, key: 'unused', maxLen: 1000 }), blocked: async () => {} })
}

const redis: Backend = {
  name: 'redis',
  open: async (t) => {
    const key = `${uniquePrefix()}events`
    const connectionName = `event-log-read-${Math.random().toString(36).slice(2)}`
    const client = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
    // XREAD BLOCK holds its connection: its own, as in the gateway
    const blocking = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1, connectionName, commandTimeout: 20_000 })
    t.teardown(async () => {
      await client.del(key)
      await client.quit()
      blocking.disconnect()
    })
    const log = createEventLog({ redis: client, blocking, key, maxLen: 1000 })
    // CLIENT LIST shows the blocking connection as running XREAD once Redis has it blocked
    const blocked = () => until(async () => {
      const list = (await client.client('LIST')) as string
      return list.split('\n').some((line) => line.includes(`name=${connectionName} `) && / cmd=xread /.test(line))
    }, 5000, 'the XREAD BLOCK to be blocked in Redis')
    return { log, blocked }
  }
}

const ev = (i: number, channel = 'wallet') => ({ channel, event: 'wallet.updated', subject: `u-${i}`, data: { i } })
const ids = (events: readonly StreamEvent[]) => events.map((e) => e.id)

for (const backend of [memory, redis]) {
  t.test(`${backend.name}: lastId is "0-0" when empty, then the newest id`, async (t) => {
    const { log } = await backend.open(t)
    t.equal(await log.lastId(), '0-0', 'empty log')
    const first = await log.append(ev(1))
    t.equal(await log.lastId(), first)
    const appended = [first]
    for (let i = 2; i <= 5; i++) appended.push(await log.append(ev(i)))
    t.equal(await log.lastId(), appended.at(-1), 'the newest of several')
    t.same(ids(await log.read('0', 100, 1000)), appended, 'read from "0" sees every entry, oldest first')
  })

  t.test(`${backend.name}: read returns the entries after the id at once when there are some`, async (t) => {
    const { log } = await backend.open(t)
    const appended: string[] = []
    for (let i = 0; i < 6; i++) appended.push(await log.append(ev(i)))
    const started = Date.now()
    const got = await log.read(appended[1]!, 100, 10_000)
    t.ok(Date.now() - started < 2000, `answered without waiting for the block (${Date.now() - started} ms)`)
    t.same(ids(got), appended.slice(2), 'strictly after the id, in order')
    t.match(got[0], { id: appended[2], channel: 'wallet', event: 'wallet.updated', subject: 'u-2', data: { i: 2 } })
    t.same(ids(await log.read(appended[1]!, 2, 10_000)), appended.slice(2, 4), 'at most count')
    t.same(ids(await log.read('0-0', 3, 10_000)), appended.slice(0, 3), '"0-0" is the start')
    await t.rejects(log.read('not-an-id', 10, 100), InvalidEventIdError, 'a malformed id is refused')
    await t.rejects(log.read('1-2-3', 10, 100), InvalidEventIdError)
  })

  t.test(`${backend.name}: read waits, and returns as soon as an entry is appended`, async (t) => {
    const { log, blocked } = await backend.open(t)
    const before = await log.append(ev(0))
    const started = Date.now()
    const waiting = log.read(before, 100, 20_000)
    let settled = false
    void waiting.then(() => { settled = true }, () => { settled = true })
    await blocked()
    t.notOk(settled, 'nothing after the id yet: the read waits')
    const appended = await log.append(ev(1))
    const got = await waiting
    const elapsed = Date.now() - started
    t.same(ids(got), [appended], 'the appended entry, and only the one after the id')
    t.match(got[0], { channel: 'wallet', subject: 'u-1', data: { i: 1 } })
    t.ok(elapsed < 10_000, `returned on the append, long before the 20 s block (${elapsed} ms)`)

    // waiting from the newest id (what a tail does) sees the next append too
    const last = await log.lastId()
    t.equal(last, appended)
    const next = log.read(last, 100, 20_000)
    await blocked()
    const third = await log.append(ev(2))
    t.same(ids(await next), [third])
  })

  t.test(`${backend.name}: read returns [] after blockMs when nothing comes`, async (t) => {
    const { log } = await backend.open(t)
    const only = await log.append(ev(0))
    const started = Date.now()
    t.same(await log.read(only, 100, 300), [], 'nothing after the newest entry')
    const elapsed = Date.now() - started
    t.ok(elapsed >= 250, `waited for the block (${elapsed} ms)`)
    t.ok(elapsed < 5000, `and not much longer (${elapsed} ms)`)
    const fromEmpty = Date.now()
    t.same(await log.read(await log.lastId(), 10, 200), [], 'again from lastId')
    t.ok(Date.now() - fromEmpty >= 150)
  })
}

t.test('memory: a read waiting after an id later than an appended entry never returns that entry', async (t) => {
  // a reader waiting after an id in the future (say, one from another log) gets nothing up to that id
  let clock = 1_700_000_000_000
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 100, now: () => clock })
  const waiting = log.read('1700000005000-0', 10, 300)
  await log.append(ev(1))
  t.same(await waiting, [], 'the appended entry is before the id')
  clock += 10_000
  const later = log.read('1700000005000-0', 10, 10_000)
  const id = await log.append(ev(2))
  t.same(ids(await later), [id])
})

t.test('memory: close() wakes a waiting read with []', async (t) => {
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 100 })
  const only = await log.append(ev(0))
  const started = Date.now()
  const waiting = log.read(only, 10, 30_000)
  const fromStart = log.read('0', 10, 30_000)
  t.same(ids(await fromStart), [only], 'an entry there: answered at once')
  log.close()
  t.same(await waiting, [], 'woken with nothing')
  t.ok(Date.now() - started < 5000, `at once, not after the 30 s block (${Date.now() - started} ms)`)
  t.same(await log.read(only, 10, 30_000), [], 'a read after close returns [] at once')
  t.equal(await log.lastId(), only, 'lastId still answers (the newest id given out)')
})

// ---------------------------------------------------------------------------- StreamTail

interface Recorded {
  warn: Array<{ obj: object, msg: string }>
  info: Array<{ obj: object, msg: string }>
}

function recordingLogger (): Recorded & { logger: { warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void } } {
  const warn: Recorded['warn'] = []
  const info: Recorded['info'] = []
  return { warn, info, logger: { warn: (obj, msg) => warn.push({ obj, msg }), info: (obj, msg) => info.push({ obj, msg }) } }
}

/** the log, counting the reads made on it (each retry of the tail is one) */
function counting (log: EventLog): { log: EventLog, reads: () => number } {
  let reads = 0
  return {
    reads: () => reads,
    log: {
      append: (e) => log.append(e),
      range: (afterId, count) => log.range(afterId, count),
      read: (afterId, count, blockMs) => { reads++; return log.read(afterId, count, blockMs) },
      lastId: () => log.lastId(),
      close: () => log.close()
    }
  }
}

/** a tail whose delivered events are collected, in order, batch boundaries kept */
function collectingTail (log: EventLog, logger: ReturnType<typeof recordingLogger>['logger'], opts: { blockMs?: number, batch?: number } = {}) {
  const delivered: StreamEvent[] = []
  const batches: number[] = []
  const tail = new StreamTail({
    log,
    deliver: (events) => { batches.push(events.length); delivered.push(...events) },
    logger,
    ...opts
  })
  return { tail, delivered, batches }
}

t.test('StreamTail, memory: delivers what is appended after its start, in order; stop() resolves', async (t) => {
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 10_000 })
  const before: string[] = []
  for (let i = 0; i < 5; i++) before.push(await log.append(ev(i)))
  const rec = recordingLogger()
  const { tail, delivered, batches } = collectingTail(log, rec.logger, { blockMs: 30_000, batch: 7 })
  tail.start()
  tail.start() // idempotent: one loop
  await until(() => tail.position !== null, 2000, 'the tail to take its position')
  t.equal(tail.position, before.at(-1), 'it starts at the newest entry')

  const after: string[] = []
  for (let i = 0; i < 40; i++) after.push(await log.append(ev(100 + i, i % 2 === 0 ? 'wallet' : 'claim')))
  await until(() => delivered.length >= after.length, 5000, 'the appended events')
  t.same(ids(delivered), after, 'every event appended after the start, once, in order; none from before')
  t.ok(batches.every((n) => n >= 1 && n <= 7), `batches bounded by "batch" (${batches.join(',')})`)
  t.match(delivered[1], { channel: 'claim', subject: 'u-101', data: { i: 101 } })
  t.equal(tail.position, after.at(-1), 'position is the last delivered id')

  // a burst appended while the tail waits arrives complete
  const burst = await Promise.all(Array.from({ length: 25 }, (_, i) => log.append(ev(200 + i))))
  await until(() => delivered.length >= after.length + burst.length, 5000, 'the burst')
  t.same(ids(delivered).slice(after.length), burst)
  t.same(rec.warn, [], 'no warning')

  // the gateway closes the log, then stops the tail: the read in flight returns at once
  const started = Date.now()
  log.close()
  await tail.stop()
  t.ok(Date.now() - started < 5000, `stop() resolved promptly (${Date.now() - started} ms), not after the 30 s block`)
  await tail.stop() // again: still resolves
})

t.test('StreamTail, memory: an empty log starts at "0-0" and delivers the first event', async (t) => {
  const log = createEventLog({ redis: null, key: 'unused', maxLen: 100 })
  const rec = recordingLogger()
  const { tail, delivered } = collectingTail(log, rec.logger, { blockMs: 30_000 })
  tail.start()
  t.teardown(async () => { log.close(); await tail.stop() })
  await until(() => tail.position !== null, 2000, 'the tail to take its position')
  t.equal(tail.position, '0-0')
  const first = await log.append(ev(1))
  await until(() => delivered.length === 1, 5000, 'the first event')
  t.equal(delivered[0]!.id, first)
})

t.test('StreamTail, redis (shared): delivers what is appended after its start, in order, across batches', async (t) => {
  const key = `${uniquePrefix()}events`
  const quiet = { warn () {}, info () {} } as unknown as FastifyBaseLogger
  const client = createRedisClient({ url: SHARED_REDIS, log: quiet })
  const blocking = createRedisClient({ url: SHARED_REDIS, log: quiet, name: 'events', commandTimeout: 31_000 })
  const log = createEventLog({ redis: client, blocking, key, maxLen: 100_000 })
  // the gateway's clients fail fast until connected (no offline queue)
  await until(() => client.status === 'ready' && blocking.status === 'ready', 5000, 'the clients to connect')
  const before: string[] = []
  for (let i = 0; i < 3; i++) before.push(await log.append(ev(i)))
  const rec = recordingLogger()
  const { tail, delivered } = collectingTail(log, rec.logger, { blockMs: 30_000, batch: 50 })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) { log.close(); blocking.disconnect(); await tail.stop() }
    await client.del(key).catch(() => {})
    await closeRedis(client)
    blocking.disconnect()
  })
  tail.start()
  await until(() => tail.position !== null, 5000, 'the tail to take its position')
  t.equal(tail.position, before.at(-1), 'it starts at the newest entry')

  // written as a backend does, with its own client (and a pipeline: many at once)
  const backend = new Redis(SHARED_REDIS, { maxRetriesPerRequest: 1 })
  t.teardown(() => backend.quit())
  const pipeline = backend.pipeline()
  for (let i = 0; i < 300; i++) pipeline.xadd(key, 'MAXLEN', '~', '100000', '*', 'channel', 'payment', 'event', 'payment.settled', 'subject', `u-${i}`, 'data', JSON.stringify({ i }))
  const written = (await pipeline.exec())!.map(([err, id]) => { if (err) throw err; return id as string })
  await until(() => delivered.length >= written.length, 10_000, 'the 300 events')
  t.same(ids(delivered), written, 'all 300, in order, none from before the start')
  t.match(delivered[299], { channel: 'payment', event: 'payment.settled', subject: 'u-299', data: { i: 299 } })
  t.same(rec.warn, [])

  // the gateway's shutdown: close the log, drop the blocking connection, stop
  const started = Date.now()
  log.close()
  blocking.disconnect()
  await tail.stop()
  stopped = true
  t.ok(Date.now() - started < 5000, `stop() resolved promptly (${Date.now() - started} ms), not after the 30 s block`)
})

t.test('StreamTail, redis killed and restarted: one warning, retries, then delivers from the same position', async (t) => {
  const server = await startRedisServer(t)
  const key = `${uniquePrefix()}events`
  const quiet = { warn () {}, info () {} } as unknown as FastifyBaseLogger
  // the gateway's own client settings: fail fast, reconnect forever
  const client = createRedisClient({ url: server.url, log: quiet })
  const blocking = createRedisClient({ url: server.url, log: quiet, name: 'events', commandTimeout: 3000 })
  const { log, reads } = counting(createEventLog({ redis: client, blocking, key, maxLen: 10_000 }))
  const rec = recordingLogger()
  const { tail, delivered } = collectingTail(log, rec.logger, { blockMs: 2000 })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) { log.close(); blocking.disconnect(); await tail.stop() }
    client.disconnect()
  })
  await until(() => client.status === 'ready' && blocking.status === 'ready', 5000, 'the clients to connect')

  const early = await log.append(ev(0))
  tail.start()
  await until(() => tail.position !== null, 5000, 'the tail to take its position')
  t.equal(tail.position, early)
  const beforeKill = [await log.append(ev(1)), await log.append(ev(2))]
  await until(() => delivered.length === 2, 5000, 'the events before the outage')
  t.same(ids(delivered), beforeKill)

  await server.kill()
  await until(() => rec.warn.length >= 1, 10_000, 'the warning')
  t.match(rec.warn[0], { msg: /event stream unreadable/, obj: { position: beforeKill[1] } })
  // failed reads, backing off (100, 200, 400, 800 ms...): the retries go on, the warning is not repeated
  const readsAtWarning = reads()
  await until(() => reads() >= readsAtWarning + 5, 10_000, 'five more retries during the outage')
  t.equal(rec.warn.length, 1, 'one warning for the whole outage')
  t.equal(tail.position, beforeKill[1], 'the position is kept')

  await server.restart()
  // a backend (its own client) writes right away, while the tail may still be backing off:
  // the tail reads on from its position, so these are not skipped
  const backend = new Redis(server.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => backend.disconnect())
  const afterRestart: string[] = []
  for (let i = 0; i < 5; i++) {
    afterRestart.push((await backend.xadd(key, 'MAXLEN', '~', '10000', '*', 'channel', 'claim', 'event', 'claim.approved', 'subject', `u-${i}`, 'data', JSON.stringify({ i })))!)
  }
  await until(() => delivered.length >= beforeKill.length + afterRestart.length, 10_000, 'the events written after the restart')
  t.same(ids(delivered), [...beforeKill, ...afterRestart], 'every event after the restart, in order, nothing skipped, nothing twice')
  t.equal(rec.warn.length, 1, 'still one warning')
  t.ok(rec.info.some((l) => /readable again/.test(l.msg)), 'recovery is logged at info')

  // and it keeps tailing (appended through the main client, which reconnects on its own backoff)
  await until(() => client.status === 'ready', 10_000, 'the main client to reconnect')
  const live = await log.append(ev(9))
  await until(() => delivered.length === beforeKill.length + afterRestart.length + 1, 5000, 'a live event after recovery')
  t.equal(delivered.at(-1)!.id, live)

  const started = Date.now()
  log.close()
  blocking.disconnect()
  await tail.stop()
  stopped = true
  t.ok(Date.now() - started < 5000, `stop() resolved (${Date.now() - started} ms)`)
})

t.test('StreamTail: stop() during a Redis outage (while backing off) resolves', async (t) => {
  const server = await startRedisServer(t)
  const quiet = { warn () {}, info () {} } as unknown as FastifyBaseLogger
  const client = createRedisClient({ url: server.url, log: quiet })
  const blocking = createRedisClient({ url: server.url, log: quiet, name: 'events', commandTimeout: 3000 })
  t.teardown(() => { client.disconnect(); blocking.disconnect() })
  const log = createEventLog({ redis: client, blocking, key: `${uniquePrefix()}events`, maxLen: 100 })
  const rec = recordingLogger()
  const { tail } = collectingTail(log, rec.logger, { blockMs: 2000 })
  await until(() => client.status === 'ready', 5000, 'the client to connect')
  tail.start()
  await until(() => tail.position !== null, 5000, 'the tail to take its position')
  await server.kill()
  await until(() => rec.warn.length === 1, 10_000, 'the warning')
  const started = Date.now()
  log.close()
  blocking.disconnect()
  await tail.stop()
  t.ok(Date.now() - started < 3000, `stop() resolved (${Date.now() - started} ms)`)
})
