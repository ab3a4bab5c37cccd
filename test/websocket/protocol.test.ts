// The /ws JSON protocol (plugins/websocket/protocol.ts): parsing client messages,
// each refusal and its error code, who may subscribe and see what, and the event frame.
import t, { type Test } from 'tap'
import { parseClientMessage, ProtocolError, maySubscribe, seesAllSubjects, entitled, matches, eventFrame, type EventFilter } from '../../plugins/websocket/protocol.js'
import { CHANNELS, type Channel } from '../../plugins/websocket/options.js'
import type { StreamEvent } from '../../plugins/websocket/event-log.js'
import { makeConsumer } from '../../plugins/auth/consumer.js'

/** Parses `text` expecting a ProtocolError; returns it for further checks. */
function refusal (t: Test, text: string, code: string, what = text): ProtocolError {
  try {
    const parsed = parseClientMessage(text)
    t.fail(`${what}: expected ${code}, parsed as ${JSON.stringify(parsed)}`)
  } catch (err) {
    t.type(err, ProtocolError, `${what}: a ProtocolError`)
    t.equal((err as ProtocolError).code, code, `${what}: ${code}`)
    return err as ProtocolError
  }
  return new ProtocolError('invalid_message', 'unreachable')
}

const event = (over: Partial<StreamEvent> = {}): StreamEvent =>
  ({ id: '1700000000000-0', channel: 'wallet', event: 'wallet.updated', subject: 'u-1', data: { balance: 10 }, ts: 1700000000000, ...over })

const plain = makeConsumer('u-1', 'authenticated', [], 'jwt')
const admin = makeConsumer('ops-1', 'authenticated', ['admin'], 'jwt')
const support = makeConsumer('agent-1', 'premium', ['support'], 'api-key')
const analyst = makeConsumer('an-1', 'authenticated', ['analyst'], 'jwt')
const other = makeConsumer('u-2', 'authenticated', ['wallet:read', 'billing'], 'api-key')

t.test('subscribe: channel, optional filter and lastEventId', async (t) => {
  t.same(parseClientMessage('{"type":"subscribe","channel":"wallet"}'), { type: 'subscribe', channel: 'wallet', filter: null, lastEventId: null })
  for (const channel of CHANNELS) {
    t.same(parseClientMessage(JSON.stringify({ type: 'subscribe', channel })), { type: 'subscribe', channel, filter: null, lastEventId: null }, `channel ${channel}`)
  }
  t.same(parseClientMessage('{"type":"subscribe","channel":"wallet","filter":{"event":"wallet.updated"}}'),
    { type: 'subscribe', channel: 'wallet', filter: { event: ['wallet.updated'] }, lastEventId: null, filterAsSent: { event: 'wallet.updated' } },
    'a single value becomes a list; the filter as sent is kept for the ack')
  t.same(parseClientMessage('{"type":"subscribe","channel":"payment","filter":{"event":["payment.settled","payment.failed"],"subject":"u-1"}}'),
    { type: 'subscribe', channel: 'payment', filter: { event: ['payment.settled', 'payment.failed'], subject: ['u-1'] }, lastEventId: null, filterAsSent: { event: ['payment.settled', 'payment.failed'], subject: 'u-1' } },
    'lists and both event fields')
  t.same((parseClientMessage('{"type":"subscribe","channel":"wallet","filter":{"walletId":"w-alice-1","amount":[10,12.5],"frozen":false,"meta.kind":"x","_id":"a","Z-9":"b"}}') as { filter: EventFilter }).filter,
    { walletId: ['w-alice-1'], amount: [10, 12.5], frozen: [false], 'meta.kind': ['x'], _id: ['a'], 'Z-9': ['b'] }, 'fields of data, with string, number and boolean values')
  t.same(parseClientMessage('{"type":"subscribe","channel":"wallet","filter":null,"lastEventId":null}'),
    { type: 'subscribe', channel: 'wallet', filter: null, lastEventId: null }, 'null filter and lastEventId mean none')
  t.same(parseClientMessage('{"type":"subscribe","channel":"medcard","lastEventId":"1700000000000-3"}'),
    { type: 'subscribe', channel: 'medcard', filter: null, lastEventId: '1700000000000-3' })
  t.equal((parseClientMessage('{"type":"subscribe","channel":"wallet","lastEventId":"1700000000000"}') as { lastEventId: string }).lastEventId, '1700000000000', 'an id without its sequence part')
  t.equal((parseClientMessage('{"type":"subscribe","channel":"wallet","lastEventId":"0"}') as { lastEventId: string }).lastEventId, '0', '"0": from the start')
  const values = Array.from({ length: 50 }, (_, i) => `e${i}`)
  const tenFields = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, i]))
  t.same((parseClientMessage(JSON.stringify({ type: 'subscribe', channel: 'wallet', filter: { event: values, subject: 's'.repeat(200), ['n'.repeat(64)]: 1 } })) as { filter: EventFilter }).filter,
    { event: values, subject: ['s'.repeat(200)], ['n'.repeat(64)]: [1] }, '50 values, 200-character values and 64-character names are the limits, accepted')
  t.equal(Object.keys((parseClientMessage(JSON.stringify({ type: 'subscribe', channel: 'wallet', filter: tenFields })) as { filter: EventFilter }).filter).length, 10, '10 fields accepted')
})

t.test('unsubscribe, resume, ping', async (t) => {
  t.same(parseClientMessage('{"type":"unsubscribe","channel":"payment"}'), { type: 'unsubscribe', channel: 'payment' })
  t.same(parseClientMessage('{"type":"resume","lastEventId":"1700000000000-12"}'), { type: 'resume', lastEventId: '1700000000000-12' })
  t.same(parseClientMessage('{"type":"ping"}'), { type: 'ping' })
  t.same(parseClientMessage(' {"type":"ping","nonce":1} '), { type: 'ping' }, 'extra fields and whitespace are ignored')
})

t.test('invalid_message: not JSON, not an object, no string type', async (t) => {
  for (const text of ['', 'ping', '{"type":"ping"', '{type:"ping"}', 'null', '42', '"ping"', 'true', '[]', '[{"type":"ping"}]', '{}', '{"type":1}', '{"type":null}', '{"type":["ping"]}', '{"channel":"wallet"}']) {
    const err = refusal(t, text, 'invalid_message', JSON.stringify(text))
    t.match(err.message, /JSON objects with a "type"/)
  }
})

t.test('unknown_type: a type that is not subscribe, unsubscribe, resume or ping', async (t) => {
  for (const type of ['subscribed', 'PING', 'Subscribe', 'event', '']) {
    const err = refusal(t, JSON.stringify({ type }), 'unknown_type', `type ${JSON.stringify(type)}`)
    t.match(err.message, /expected subscribe, unsubscribe, resume or ping/)
  }
  const long = refusal(t, JSON.stringify({ type: 'x'.repeat(1000) }), 'unknown_type', 'a long type')
  t.ok(long.message.length < 200, 'the echoed type is truncated')
  t.equal(long.channel, undefined)
})

t.test('unknown_channel: missing, not a string, or not one of the channels', async (t) => {
  for (const type of ['subscribe', 'unsubscribe']) {
    const missing = refusal(t, JSON.stringify({ type }), 'unknown_channel', `${type} without channel`)
    t.match(missing.message, /"channel" must be one of wallet, payment, medcard, claim, analytics/)
    t.equal(missing.channel, undefined, 'no channel to name')
    t.equal(refusal(t, JSON.stringify({ type, channel: 1 }), 'unknown_channel', `${type} channel 1`).channel, undefined)
    t.equal(refusal(t, JSON.stringify({ type, channel: ['wallet'] }), 'unknown_channel', `${type} channel list`).channel, undefined)
    t.equal(refusal(t, JSON.stringify({ type, channel: 'loyalty' }), 'unknown_channel', `${type} channel loyalty`).channel, 'loyalty', 'the channel asked for is named')
    t.equal(refusal(t, JSON.stringify({ type, channel: 'Wallet' }), 'unknown_channel', `${type} channel Wallet`).channel, 'Wallet', 'channels are case-sensitive')
    t.equal(refusal(t, JSON.stringify({ type, channel: 'c'.repeat(500) }), 'unknown_channel', `${type} long channel`).channel, 'c'.repeat(50), 'truncated to 50 characters')
  }
  t.equal(refusal(t, '{"type":"subscribe","channel":"nope","filter":7}', 'unknown_channel', 'the channel is checked before the filter').code, 'unknown_channel')
})

t.test('invalid_filter: bad shapes, bad field names, too many fields or values, bad values', async (t) => {
  const cases: Array<[string, string]> = [
    ['a string', '"wallet.updated"'],
    ['a number', '7'],
    ['true', 'true'],
    ['a list', '["wallet.updated"]'],
    ['an empty object', '{}'],
    ['11 fields', JSON.stringify(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`f${i}`, i])))],
    ['an empty field name', '{"":"x"}'],
    ['a field name starting with a digit', '{"1st":"x"}'],
    ['a field name with a space', '{"wallet id":"x"}'],
    ['a field name with $', '{"$where":"x"}'],
    ['a field name of 65 characters', JSON.stringify({ ['n'.repeat(65)]: 'x' })],
    ['an empty list', '{"event":[]}'],
    ['an empty string', '{"event":""}'],
    ['null value', '{"subject":null}'],
    ['an object value', '{"event":{"in":["a"]}}'],
    ['a nested list', '{"event":[["a"]]}'],
    ['a list with null', '{"walletId":["w-1",null]}'],
    ['a list with an empty string', '{"subject":["u-1",""]}'],
    ['an infinite number', '{"amount":1e400}'],
    ['51 values', JSON.stringify({ event: Array.from({ length: 51 }, (_, i) => `e${i}`) })],
    ['a value of 201 characters', JSON.stringify({ subject: 'u'.repeat(201) })]
  ]
  for (const [name, filter] of cases) {
    const err = refusal(t, `{"type":"subscribe","channel":"payment","filter":${filter}}`, 'invalid_filter', name)
    t.equal(err.channel, 'payment', `${name}: names the channel`)
    t.match(err.message, /"filter"/, `${name}: says what is wrong`)
  }
  t.match(refusal(t, '{"type":"subscribe","channel":"wallet","filter":{"$where":1}}', 'invalid_filter').message, /not "\$where"/, 'names the bad field')
})

t.test('a filter field named like an Object.prototype member is a plain field: matching never throws', async (t) => {
  // JSON.parse makes "__proto__" an own key; the filter built from it must not take it as its prototype
  const e = event({ data: { walletId: 'w-1' } })
  for (const field of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    for (const value of ['x', 1, true, ['a', 2, false]]) {
      const text = `{"type":"subscribe","channel":"wallet","filter":{${JSON.stringify(field)}:${JSON.stringify(value)}}}`
      let parsed: ReturnType<typeof parseClientMessage>
      try {
        parsed = parseClientMessage(text)
      } catch (err) {
        // refusing such a name is fine too
        t.equal((err as ProtocolError).code, 'invalid_filter', `${field}=${JSON.stringify(value)}: refused as invalid_filter`)
        continue
      }
      const filter = (parsed as { filter: EventFilter }).filter
      let result: boolean | undefined
      t.doesNotThrow(() => { result = matches(filter, e) }, `${field}=${JSON.stringify(value)}: matches does not throw`)
      t.equal(result, false, `${field}=${JSON.stringify(value)}: an event whose data lacks the field does not match`)
      t.doesNotThrow(() => entitled(plain, 'wallet', filter, e), `${field}=${JSON.stringify(value)}: entitled does not throw`)
    }
  }
})

t.test('invalid_event_id: lastEventId of subscribe and resume', async (t) => {
  for (const lastEventId of ['abc', '', '-1', '1-2-3', '1700000000000-', '-0', '1.5-0', ' 1-0', '1'.repeat(21), 1700000000000, true, {}, ['1-0']]) {
    const err = refusal(t, JSON.stringify({ type: 'subscribe', channel: 'wallet', lastEventId }), 'invalid_event_id', `subscribe lastEventId ${JSON.stringify(lastEventId)}`)
    t.match(err.message, /"lastEventId" must be an event id/)
    refusal(t, JSON.stringify({ type: 'resume', lastEventId }), 'invalid_event_id', `resume lastEventId ${JSON.stringify(lastEventId)}`)
  }
  refusal(t, '{"type":"resume"}', 'invalid_event_id', 'resume without lastEventId')
  refusal(t, '{"type":"resume","lastEventId":null}', 'invalid_event_id', 'resume with a null lastEventId')
})

t.test('ProtocolError: the error message sent to the client', async (t) => {
  t.same(new ProtocolError('not_subscribed', 'not subscribed to wallet', 'wallet').toJSON(), { type: 'error', code: 'not_subscribed', message: 'not subscribed to wallet', channel: 'wallet' })
  t.same(new ProtocolError('invalid_message', 'bad').toJSON(), { type: 'error', code: 'invalid_message', message: 'bad' }, 'no channel key when there is none')
  const err = new ProtocolError('forbidden', 'no')
  t.ok(err instanceof Error)
  t.equal(err.name, 'ProtocolError')
  t.same(JSON.parse(JSON.stringify(err)), { type: 'error', code: 'forbidden', message: 'no' }, 'JSON.stringify uses toJSON')
})

t.test('maySubscribe: analytics needs analyst or admin, the other channels anyone', async (t) => {
  for (const channel of CHANNELS) {
    const analytics = channel === 'analytics'
    t.equal(maySubscribe(plain, channel), !analytics, `plain consumer, ${channel}`)
    t.equal(maySubscribe(other, channel), !analytics, `consumer with unrelated roles, ${channel}`)
    t.equal(maySubscribe(support, channel), !analytics, `support, ${channel}`)
    t.equal(maySubscribe(analyst, channel), true, `analyst, ${channel}`)
    t.equal(maySubscribe(admin, channel), true, `admin, ${channel}`)
  }
  t.equal(maySubscribe(makeConsumer('x', 'authenticated', ['Analyst', 'administrator'], 'jwt'), 'analytics'), false, 'role names match exactly')
})

t.test('seesAllSubjects: admin and support everywhere, an analyst on analytics only', async (t) => {
  for (const channel of CHANNELS) {
    t.equal(seesAllSubjects(admin, channel), true, `admin, ${channel}`)
    t.equal(seesAllSubjects(support, channel), true, `support, ${channel}`)
    t.equal(seesAllSubjects(plain, channel), false, `plain, ${channel}`)
    t.equal(seesAllSubjects(other, channel), false, `unrelated roles, ${channel}`)
    t.equal(seesAllSubjects(analyst, channel), channel === 'analytics', `analyst, ${channel}`)
  }
})

t.test('entitled: channel, then subject (unless it sees all), then filter', async (t) => {
  const own = event({ subject: 'u-1' })
  const someoneElse = event({ subject: 'u-2' })
  t.equal(entitled(plain, 'wallet', null, own), true, 'its own subject')
  t.equal(entitled(plain, 'wallet', null, someoneElse), false, 'another subject')
  t.equal(entitled(other, 'wallet', null, someoneElse), true, 'u-2 sees u-2')
  t.equal(entitled(plain, 'payment', null, own), false, 'an event of another channel')
  t.equal(entitled(admin, 'wallet', null, someoneElse), true, 'admin sees every subject')
  t.equal(entitled(support, 'wallet', null, someoneElse), true, 'support sees every subject')
  t.equal(entitled(analyst, 'wallet', null, someoneElse), false, 'an analyst on wallet: only its own')
  t.equal(entitled(analyst, 'analytics', null, event({ channel: 'analytics', subject: 'u-9' })), true, 'an analyst on analytics: every subject')
  t.equal(entitled(plain, 'analytics', null, event({ channel: 'analytics', subject: 'u-1' })), true, 'the subject rule alone (maySubscribe guards analytics)')
  t.equal(entitled(plain, 'wallet', { event: ['wallet.updated'] }, own), true, 'filter matches')
  t.equal(entitled(plain, 'wallet', { event: ['wallet.credited'] }, own), false, 'filter does not match')
  t.equal(entitled(admin, 'wallet', { subject: ['u-3'] }, someoneElse), false, 'an admin narrowed by subject')
  t.equal(entitled(admin, 'wallet', { subject: ['u-2', 'u-3'] }, someoneElse), true)
  t.equal(entitled(plain, 'wallet', { subject: ['u-2'] }, someoneElse), false, 'a filter never widens what a consumer sees')
})

t.test('matches: every listed field must equal one of its values', async (t) => {
  const e = event({ event: 'wallet.updated', subject: 'u-1', data: { walletId: 'w-1', amount: 12.5, frozen: false, nested: { walletId: 'w-2' }, tags: ['a'] } })
  t.equal(matches(null, e), true, 'no filter')
  t.equal(matches({}, e), true, 'empty filter')
  t.equal(matches({ event: ['wallet.updated'] }, e), true)
  t.equal(matches({ event: ['wallet.credited', 'wallet.updated'] }, e), true, 'one of a list')
  t.equal(matches({ event: ['wallet.credited'] }, e), false)
  t.equal(matches({ event: ['wallet'] }, e), false, 'no prefix matching')
  t.equal(matches({ event: ['Wallet.Updated'] }, e), false, 'case-sensitive')
  t.equal(matches({ subject: ['u-1'] }, e), true)
  t.equal(matches({ subject: ['u-2'] }, e), false)
  t.equal(matches({ event: ['wallet.updated'], subject: ['u-1'] }, e), true, 'both fields match')
  t.equal(matches({ event: ['wallet.updated'], subject: ['u-2'] }, e), false, 'both fields must match')
  t.equal(matches({ event: ['x'], subject: ['u-1'] }, e), false)
  t.equal(matches({ walletId: ['w-1'] }, e), true, 'a top-level field of data')
  t.equal(matches({ walletId: ['w-2', 'w-3'] }, e), false)
  t.equal(matches({ amount: [12.5] }, e), true, 'a number')
  t.equal(matches({ amount: ['12.5'] }, e), false, 'no type coercion')
  t.equal(matches({ frozen: [false] }, e), true, 'a boolean')
  t.equal(matches({ frozen: ['false'] }, e), false)
  t.equal(matches({ missing: ['x'] }, e), false, 'a field data does not have')
  t.equal(matches({ 'nested.walletId': ['w-2'] }, e), false, 'top-level fields only: no paths')
  t.equal(matches({ tags: ['a'] }, e), false, 'a list in data is not a scalar')
  t.equal(matches({ walletId: ['w-1'], event: ['wallet.updated'], subject: ['u-1'] }, e), true, 'data and event fields together')
  t.equal(matches({ walletId: ['w-1'] }, event({ data: null })), false, 'null data has no fields')
  t.equal(matches({ walletId: ['w-1'] }, event({ data: ['w-1'] })), false, 'a list as data has no fields')
  t.equal(matches({ length: [1] }, event({ data: 'x' })), false, 'a string as data has no fields')
  t.equal(matches({ event: ['from-data'] }, event({ event: 'wallet.updated', data: { event: 'from-data' } })), false, 'event and subject are the event\'s own, never data\'s')
})

t.test('eventFrame: the event message, serialized once as a Buffer; ts in ISO 8601', async (t) => {
  const e = event({ id: '1700000000123-4', channel: 'claim', event: 'claim.approved', subject: 'u-7', data: { claimId: 'c1', amount: 12.5, tags: ['a'], nested: { ok: true } }, ts: 1700000000123 })
  const frame = eventFrame(e)
  t.ok(Buffer.isBuffer(frame), 'a Buffer')
  t.equal(frame.toString(), '{"type":"event","id":"1700000000123-4","channel":"claim","event":"claim.approved","subject":"u-7","data":{"claimId":"c1","amount":12.5,"tags":["a"],"nested":{"ok":true}},"ts":"2023-11-14T22:13:20.123Z"}',
    'exactly type, id, channel, event, subject, data, ts')
  t.same(JSON.parse(eventFrame(event({ data: null })).toString()).data, null, 'null data stays null')
  t.same(JSON.parse(eventFrame(event({ data: 'text' })).toString()).data, 'text', 'any JSON value')
  const withExtra = { ...event(), extra: 'not sent' } as StreamEvent
  t.notOk('extra' in JSON.parse(eventFrame(withExtra).toString()), 'only the protocol fields are sent')
  t.same(Object.keys(JSON.parse(eventFrame(event({ channel: 'analytics' as Channel })).toString())), ['type', 'id', 'channel', 'event', 'subject', 'data', 'ts'])
  t.equal(JSON.parse(eventFrame(event({ ts: 0 })).toString()).ts, '1970-01-01T00:00:00.000Z')
})
