// POST /admin/events: publish an event to WebSocket subscribers (SPEC.md §5) by
// appending it to the event log, exactly as a backend's XADD would.
import { Type, type Static } from '@sinclair/typebox'
import createError from '@fastify/error'
import type { FastifyInstance } from 'fastify'
import { CHANNELS } from '../websocket/options.js'
import { CONSUMER_ID_PATTERN } from '../auth/options.js'
import type { EventLog } from '../websocket/event-log.js'

/** Serialized `data` above this is refused: every subscriber's buffer would carry it. */
export const MAX_EVENT_DATA_BYTES = 64 * 1024

const EventTooLarge = createError<[number, number]>('GW_EVENT_TOO_LARGE', 'The event data is %d bytes as JSON; at most %d are allowed (publish a reference to large content instead)', 413)
const EventsUnavailable = createError('GW_EVENTS_UNAVAILABLE', 'The event stream (Redis) is unreachable: the event was not published; retry', 503)

const PublishBody = Type.Object({
  channel: Type.Union(CHANNELS.map((c) => Type.Literal(c))),
  event: Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z][a-z0-9_.-]*$' }),
  // the consumer id the event is about: the same characters a consumer id may have
  subject: Type.String({ minLength: 1, maxLength: 200, pattern: CONSUMER_ID_PATTERN }),
  data: Type.Optional(Type.Unknown())
}, { additionalProperties: false })

export function eventRoutes (scope: FastifyInstance, events: EventLog): void {
  scope.post<{ Body: Static<typeof PublishBody> }>('/events', { schema: { body: PublishBody } }, async (request, reply) => {
    const { channel, event, subject } = request.body
    const data = 'data' in request.body ? request.body.data : {}
    const bytes = Buffer.byteLength(JSON.stringify(data))
    if (bytes > MAX_EVENT_DATA_BYTES) throw new EventTooLarge(bytes, MAX_EVENT_DATA_BYTES)
    let id: string
    try {
      id = await events.append({ channel, event, subject, data })
    } catch (err) {
      // the message only: ioredis errors carry the command's arguments, the event data among them
      request.log.warn({ channel, event, subject, error: (err as Error).message }, 'event not published: the event stream is unreachable')
      throw Object.assign(new EventsUnavailable(), { headers: { 'retry-after': '1' } })
    }
    request.log.debug({ id, channel, event, subject }, 'event published')
    return reply.code(202).send({ id, channel, event, subject })
  })
}
