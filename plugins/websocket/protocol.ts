// The /ws JSON protocol (SPEC.md §5) and who may see what. Pure: no Fastify, no sockets.
//
// client → server  {"type":"subscribe","channel":"wallet","filter":{"event":"wallet.updated"},"lastEventId":"…"}
//                  {"type":"unsubscribe","channel":"wallet"}
//                  {"type":"resume","lastEventId":"…"}          (replays for every current subscription)
//                  {"type":"ping"}
// server → client  {"type":"subscribed"|"unsubscribed","channel",…}  {"type":"pong"}
//                  {"type":"event","id","channel","event","subject","data","ts"}   (ts: ISO 8601, from the id)
//                  {"type":"error","code","message"[,"channel"]}
import { CHANNELS, type Channel } from './options.js'
import { parseEventId, type StreamEvent } from './event-log.js'
import type { Consumer } from '../auth/consumer.js'

export type ClientMessage =
  | { type: 'subscribe', channel: Channel, filter: EventFilter | null, lastEventId: string | null, filterAsSent?: unknown }
  | { type: 'unsubscribe', channel: Channel }
  | { type: 'resume', lastEventId: string }
  | { type: 'ping' }

/**
 * What a subscriber narrowed its subscription to: every listed field must equal one
 * of its values. `event` and `subject` are the event's own; any other name is a
 * top-level field of its `data` (`{"walletId":"w-alice-1"}`).
 */
export type EventFilter = Readonly<Record<string, readonly FilterValue[]>>
export type FilterValue = string | number | boolean

export type ProtocolErrorCode =
  | 'invalid_message' | 'message_too_large' | 'unknown_type' | 'unknown_channel'
  | 'invalid_filter' | 'invalid_event_id' | 'forbidden' | 'not_subscribed' | 'replay_failed'

export class ProtocolError extends Error {
  constructor (readonly code: ProtocolErrorCode, message: string, readonly channel?: string) {
    super(message)
    this.name = 'ProtocolError'
  }

  /** the error message sent to the client */
  toJSON (): Record<string, string> {
    return this.channel === undefined
      ? { type: 'error', code: this.code, message: this.message }
      : { type: 'error', code: this.code, message: this.message, channel: this.channel }
  }
}

const MAX_FILTER_FIELDS = 10
const MAX_FILTER_VALUES = 50
const MAX_FILTER_VALUE_LENGTH = 200
const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/
/** names that are not data: on a plain object they reach its prototype */
const RESERVED_FIELDS = new Set(['__proto__', 'constructor', 'prototype'])

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function channelOf (value: unknown): Channel {
  if (typeof value === 'string' && (CHANNELS as readonly string[]).includes(value)) return value as Channel
  throw new ProtocolError('unknown_channel', `"channel" must be one of ${CHANNELS.join(', ')}`, typeof value === 'string' ? value.slice(0, 50) : undefined)
}

function eventIdOf (value: unknown): string {
  if (typeof value === 'string' && parseEventId(value) !== undefined) return value
  throw new ProtocolError('invalid_event_id', '"lastEventId" must be an event id as received ("<ms>-<seq>", e.g. "1700000000000-0")')
}

function filterOf (value: unknown, channel: Channel): EventFilter | null {
  if (value === undefined || value === null) return null
  const bad = (why: string) => new ProtocolError('invalid_filter', `"filter" ${why}; e.g. {"event":"wallet.updated"}, {"event":["a","b"]} or {"walletId":"w-1"}`, channel)
  if (!isObject(value)) throw bad('must be an object')
  const fields = Object.entries(value)
  if (fields.length === 0 || fields.length > MAX_FILTER_FIELDS) throw bad(`must name 1 to ${MAX_FILTER_FIELDS} fields`)
  const filter: Record<string, FilterValue[]> = Object.create(null)
  for (const [field, wanted] of fields) {
    if (!FIELD_NAME.test(field) || RESERVED_FIELDS.has(field)) throw bad(`field names are letters, digits, "_", "." or "-" (at most 64), not "${field.slice(0, 50)}"`)
    const values = Array.isArray(wanted) ? wanted : [wanted]
    const scalar = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= MAX_FILTER_VALUE_LENGTH) || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
    if (values.length === 0 || values.length > MAX_FILTER_VALUES || !values.every(scalar)) {
      throw bad(`."${field}" must be a string (1 to ${MAX_FILTER_VALUE_LENGTH} characters), number or boolean, or a list of 1 to ${MAX_FILTER_VALUES} of them`)
    }
    filter[field] = values as FilterValue[]
  }
  return filter
}

/** One client text message → what it asks for; throws a ProtocolError saying what is wrong. */
export function parseClientMessage (text: string): ClientMessage {
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    throw new ProtocolError('invalid_message', 'messages are JSON objects with a "type", e.g. {"type":"subscribe","channel":"wallet"}')
  }
  if (!isObject(message) || typeof message.type !== 'string') {
    throw new ProtocolError('invalid_message', 'messages are JSON objects with a "type", e.g. {"type":"subscribe","channel":"wallet"}')
  }
  switch (message.type) {
    case 'subscribe': {
      const channel = channelOf(message.channel)
      const lastEventId = message.lastEventId === undefined || message.lastEventId === null ? null : eventIdOf(message.lastEventId)
      const filter = filterOf(message.filter, channel)
      return filter === null ? { type: 'subscribe', channel, filter, lastEventId } : { type: 'subscribe', channel, filter, lastEventId, filterAsSent: message.filter }
    }
    case 'unsubscribe':
      return { type: 'unsubscribe', channel: channelOf(message.channel) }
    case 'resume':
      return { type: 'resume', lastEventId: eventIdOf(message.lastEventId) }
    case 'ping':
      return { type: 'ping' }
    default:
      throw new ProtocolError('unknown_type', `unknown message type "${message.type.slice(0, 50)}": expected subscribe, unsubscribe, resume or ping`)
  }
}

const PRIVILEGED = ['admin', 'support']
const ANALYTICS = ['analyst', 'admin']

/** May this consumer subscribe to the channel at all? (analytics needs analyst or admin) */
export function maySubscribe (consumer: Consumer, channel: Channel): boolean {
  return channel !== 'analytics' || consumer.roles.some((r) => ANALYTICS.includes(r))
}

/**
 * Does the consumer see every event of the channel, or only those about itself?
 * admin and support see every subject; on analytics (aggregates, not one
 * customer's data) an analyst sees the whole channel too.
 */
export function seesAllSubjects (consumer: Consumer, channel: Channel): boolean {
  return consumer.roles.some((r) => PRIVILEGED.includes(r)) || (channel === 'analytics' && maySubscribe(consumer, channel))
}

/** Is this event for the subscriber: its subject (unless it sees all), then its filter. */
export function entitled (consumer: Consumer, channel: Channel, filter: EventFilter | null, e: StreamEvent): boolean {
  if (e.channel !== channel) return false
  if (e.subject !== consumer.id && !seesAllSubjects(consumer, channel)) return false
  return matches(filter, e)
}

export function matches (filter: EventFilter | null, e: StreamEvent): boolean {
  if (filter === null) return true
  for (const field in filter) {
    const actual = field === 'event' ? e.event : field === 'subject' ? e.subject : isObject(e.data) && Object.hasOwn(e.data, field) ? e.data[field] : undefined
    if (!filter[field]!.includes(actual as FilterValue)) return false
  }
  return true
}

/** The event as sent to subscribers: serialized once, sent to each of them. */
export function eventFrame (e: StreamEvent): Buffer {
  return Buffer.from(JSON.stringify({ type: 'event', id: e.id, channel: e.channel, event: e.event, subject: e.subject, data: e.data, ts: new Date(e.ts).toISOString() }))
}
