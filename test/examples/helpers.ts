// Start both sample services on real sockets (port 0) over one fresh store,
// closed again when the test ends.
import type { Test } from 'tap'
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildCommandService } from '../../examples/command-service.js'
import { buildQueryService } from '../../examples/query-service.js'
import { createStore, type Store, type StoreEvent } from '../../examples/store.js'
import { WebSocket } from 'ws'
import { once } from 'node:events'

export const SECRET = 'test-secret-with-at-least-32-characters!'

interface Teardown { teardown: (fn: () => unknown) => void }

export interface Backends {
  store: Store
  command: FastifyInstance
  query: FastifyInstance
  commandUrl: string
  queryUrl: string
}

export function urlOf (app: FastifyInstance): string {
  const { port } = app.server.address() as AddressInfo
  return `http://127.0.0.1:${port}`
}

export async function startBackends (t: Teardown, opts: { issuer?: string, audience?: string, now?: () => number } = {}): Promise<Backends> {
  const store = createStore({ now: opts.now })
  const command = buildCommandService({ store, jwtSecret: SECRET, issuer: opts.issuer, audience: opts.audience })
  const query = buildQueryService({ store })
  t.teardown(async () => await Promise.all([command.close(), query.close()]))
  await command.listen({ host: '127.0.0.1', port: 0 })
  await query.listen({ host: '127.0.0.1', port: 0 })
  return { store, command, query, commandUrl: urlOf(command), queryUrl: urlOf(query) }
}

export interface JsonResponse<T = any> {
  status: number
  contentType: string
  headers: Headers
  body: T
}

/** fetch + JSON, with optional consumer identity as the gateway would send it. */
export async function call<T = any> (url: string, init: { method?: string, body?: unknown, consumer?: string, roles?: string, token?: string, headers?: Record<string, string> } = {}): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.consumer !== undefined) headers['x-consumer-id'] = init.consumer
  if (init.roles !== undefined) headers['x-consumer-roles'] = init.roles
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  const res = await fetch(url, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) })
  const text = await res.text()
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}

/** Verifies an HS256 JWT independently of @fastify/jwt and returns its claims. */
export function verifyHs256 (token: string, secret: string): Record<string, unknown> {
  const [header, payload, signature] = token.split('.')
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest()
  const actual = Buffer.from(signature, 'base64url')
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new Error('bad signature')
  const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))
  if (h.alg !== 'HS256') throw new Error(`unexpected alg ${h.alg}`)
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
}

/** What a function threw (undefined when it returned). */
export function thrownBy (fn: () => unknown): unknown {
  try { fn() } catch (err) { return err }
  return undefined
}

/** Every event the store emits from now on, in order. */
export function recordEvents (store: Store): StoreEvent[] {
  const events: StoreEvent[] = []
  store.on('event', (e) => events.push(e))
  return events
}

/** The socket's JSON messages, awaited one at a time in arrival order (none missed between awaits). */
export function messageQueue (ws: WebSocket): () => Promise<Record<string, any>> {
  const messages: Array<Record<string, any>> = []
  const waiters: Array<() => void> = []
  ws.on('message', (data) => { messages.push(JSON.parse(String(data))); waiters.shift()?.() })
  return async () => {
    if (messages.length === 0) await new Promise<void>((resolve) => waiters.push(resolve))
    return messages.shift() as Record<string, any>
  }
}

/**
 * A raw graphql-transport-ws socket for `consumerId`, open and acknowledged
 * (connection_init → connection_ack checked), with its message queue.
 */
export async function openGraphqlSocket (t: Test, url: string, consumerId: string): Promise<{ ws: WebSocket, nextMessage: () => Promise<Record<string, any>> }> {
  const ws = new WebSocket(url, 'graphql-transport-ws', { headers: { 'x-consumer-id': consumerId } })
  t.teardown(() => ws.terminate())
  const nextMessage = messageQueue(ws)
  await once(ws, 'open')
  t.equal(ws.protocol, 'graphql-transport-ws')
  ws.send(JSON.stringify({ type: 'connection_init' }))
  t.same(await nextMessage(), { type: 'connection_ack' })
  return { ws, nextMessage }
}
