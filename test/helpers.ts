// Shared test fixtures: real upstream servers on port 0, a gateway built from a
// config object and torn down with the test, small HTTP helpers.
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { request as undiciRequest } from 'undici'
import { createSigner } from 'fast-jwt'
import { spawn } from 'node:child_process'
import { Redis } from 'ioredis'
import WebSocket, { WebSocketServer } from 'ws'
import type { KeyObject } from 'node:crypto'
import { buildGateway, type Gateway, type GatewayDeps } from '../src/gateway.js'
import { resolveConfig, loadConfig, ConfigError } from '../src/config/index.js'
import { defaultRoutes } from '../plugins/proxy/options.js'

type Test = { teardown: (fn: () => unknown) => void }

export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

export interface Upstream {
  url: string
  port: number
  server: http.Server
  /** requests seen, /health checks excluded */
  requests: RecordedRequest[]
  /** connections currently open to this upstream */
  sockets: Set<net.Socket>
  close: () => Promise<void>
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void

/** Default handler: echoes what it received as JSON, plus which upstream answered. */
export const echo = (name: string): UpstreamHandler => (req, res, body) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, body }))
}

export async function startUpstream (t: Test, handler: UpstreamHandler = echo('upstream'), opts: { host?: string, port?: number, health?: () => number } = {}): Promise<Upstream> {
  const requests: RecordedRequest[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      if (req.url === '/health') { res.statusCode = opts.health?.() ?? 200; res.end('ok'); return }
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      handler(req, res, body)
    })
  })
  const sockets = new Set<net.Socket>()
  server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })
  const host = opts.host ?? '127.0.0.1'
  server.listen(opts.port ?? 0, host)
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  const close = async () => {
    if (!server.listening) return
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  t.teardown(close)
  return { url: `http://${host}:${port}`, port, server, requests, sockets, close }
}

/** The SPEC routes with their auth policies, for tests of auth. */
export const specRoutes = defaultRoutes

/**
 * The SPEC routes made public and not validated: what testConfig uses unless
 * `routes` is given, so tests of other concerns need no credentials and may send
 * any body (test/auth/ uses specRoutes(); test/validation/ turns validation on).
 */
export const openRoutes = (): unknown[] => defaultRoutes().map((r) => ({ ...(r as object), auth: 'public', roles: [], validate: false }))

/** A config for tests: loopback, random ports, quiet logs, active checks off unless asked, open routes, no rate limits. */
export function testConfig (overrides: Record<string, any> = {}): ReturnType<typeof resolveConfig> {
  const services = Object.fromEntries(Object.entries(overrides.services ?? {}).map(([name, s]: [string, any]) => [name, {
    ...s,
    targets: (s.targets ?? []).map((u: string | object) => (typeof u === 'string' ? { url: u } : u)),
    healthCheck: { enabled: false, ...s.healthCheck }
  }]))
  return resolveConfig({
    routes: openRoutes(),
    ...overrides,
    server: { host: '127.0.0.1', port: 0, adminHost: '127.0.0.1', adminPort: 0, logLevel: 'silent', ...overrides.server },
    // tests of other concerns send more than 100 requests a minute: rate limit tests enable it
    rateLimit: { enabled: false, ...overrides.rateLimit },
    services
  })
}

export interface StartedGateway extends Gateway {
  url: string
  adminUrl: string
}

export async function startGateway (t: Test, overrides: Record<string, any> = {}, deps: GatewayDeps = {}): Promise<StartedGateway> {
  const gateway = await buildGateway(testConfig(overrides), deps)
  t.teardown(() => gateway.close())
  const { publicUrl, adminUrl } = await gateway.listen()
  return Object.assign(gateway, { url: publicUrl, adminUrl })
}

/** Two services, both pointing at the given upstreams, with the default routes. */
export function servicesFor (command: string[] | string, query: string[] | string = command, extra: Record<string, unknown> = {}) {
  const list = (v: string[] | string) => (Array.isArray(v) ? v : [v])
  return { command: { targets: list(command), ...extra }, query: { targets: list(query), ...extra } }
}

export interface SimpleResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => any
}

/** One request on a fresh connection (no pooling), so tests see exactly one exchange. */
export async function call (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<SimpleResponse> {
  const res = await undiciRequest(url, { method: (opts.method ?? 'GET') as any, headers: opts.headers, body: opts.body, reset: true })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) }
}

export async function freePort (): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Polls a condition without fixed sleeps; fails after `ms`. */
export async function until (condition: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Which upstream answered (the `echo(name)` handler puts its name in the body). */
export const answeredBy = (res: { json: () => { upstream: string } }): string => res.json().upstream

/**
 * Writes `parts` on a fresh socket (each one write, in order, each after the previous
 * was flushed; a function in between is awaited first) and collects everything until
 * the server closes the connection, or `deadlineMs` (then `closed` is false).
 */
export async function rawSocketExchange (url: string, parts: Array<string | Buffer | (() => Promise<unknown>)>, deadlineMs: number): Promise<{ raw: string, closed: boolean }> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  const closed = once(socket, 'close')
  // the server may close while we still write (a refused request): not an error here
  socket.on('error', () => {})
  let raw = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { raw += chunk })
  await once(socket, 'connect')
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; socket.destroy() }, deadlineMs)
  for (const part of parts) {
    if (socket.destroyed) break
    if (typeof part === 'function') await part()
    else await new Promise<void>((resolve) => socket.write(part, () => resolve()))
  }
  await closed
  clearTimeout(timer)
  return { raw, closed: !timedOut }
}

/**
 * Writes raw bytes to the gateway and returns everything it sends back until it
 * closes the connection (send `Connection: close` for a normal request), or with
 * `oneResponse` only the first complete response, closing the socket then: for what an
 * HTTP client library would refuse to send.
 */
export async function rawExchange (url: string, bytes: string, opts: { oneResponse?: boolean } = {}): Promise<string> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  // one response: read as latin1 so Content-Length counts bytes; else as before (utf8)
  if (opts.oneResponse === true) socket.setEncoding('latin1')
  await once(socket, 'connect')
  socket.write(bytes)
  let raw = ''
  for await (const chunk of socket) {
    raw += chunk
    if (opts.oneResponse !== true) continue
    const length = firstResponseLength(raw)
    if (length >= 0) {
      socket.destroy()
      return raw.slice(0, length)
    }
  }
  return raw
}

/** the length of the first complete HTTP/1.1 response in `raw` (Content-Length or chunked), or -1 */
function firstResponseLength (raw: string): number {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return -1
  const head = raw.slice(0, end)
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (length) return raw.length >= end + 4 + Number(length[1]) ? end + 4 + Number(length[1]) : -1
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const last = raw.indexOf('\r\n0\r\n\r\n', end)
    return last < 0 ? -1 : last + 7
  }
  return /^HTTP\/1\.1 (1\d\d|204|304) /.test(head) ? end + 4 : -1
}

/** The problems a ConfigError lists for this environment ([] when the config loads). */
export function configProblems (env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

/** An HS* secret for tests (JWT_SECRET needs at least 32 characters). */
export const TEST_SECRET = 'test-secret-of-at-least-32-characters!'

/**
 * Signs a JWT for tests. Defaults: HS256 with TEST_SECRET, sub "u-test", valid for
 * an hour. `key` is a secret or a PEM private key / KeyObject; `claims` are merged
 * over the defaults (set one to undefined to drop it).
 */
export function signToken (claims: Record<string, unknown> = {}, opts: { alg?: string, key?: string | KeyObject, kid?: string, header?: Record<string, unknown> } = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const payload: Record<string, unknown> = { sub: 'u-test', iat: now, exp: now + 3600, ...claims }
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k]
  const key = opts.key ?? TEST_SECRET
  const sign = createSigner({
    key: typeof key === 'string' ? key : key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    algorithm: (opts.alg ?? 'HS256') as 'HS256',
    ...(opts.kid !== undefined ? { kid: opts.kid } : {}),
    ...(opts.header !== undefined ? { header: opts.header as { alg: string } } : {}),
    noTimestamp: true
  })
  return sign(payload)
}

/** A token with a header and payload of our choosing and no valid signature (alg:none, garbage). */
export function unsignedToken (header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return `${part(header)}.${part(payload)}.${signature}`
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

export interface RedisServer {
  url: string
  port: number
  /** SIGKILL the server and wait for it to exit */
  kill: () => Promise<void>
  /** start it again on the same port (empty: nothing is persisted) */
  restart: () => Promise<void>
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis); resume() undoes it */
  pause: () => void
  resume: () => void
}

/**
 * A redis-server of the test's own, on a free port, for tests that kill or restart
 * Redis (the shared one at 127.0.0.1:6379 must stay up). Nothing is persisted.
 */
export async function startRedisServer (t: Test): Promise<RedisServer> {
  const port = await freePort()
  let child: ReturnType<typeof spawn> | undefined
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    // refused until the server listens: expected, and awaited below
    probe.on('error', () => {})
    try {
      await until(async () => { try { await probe.connect(); return (await probe.ping()) === 'PONG' } catch { return false } }, 5000, `redis-server on port ${port}`)
    } finally {
      probe.disconnect()
    }
  }
  const kill = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  await start()
  t.teardown(async () => { child?.kill('SIGCONT'); await kill() })
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start, pause: () => child!.kill('SIGSTOP'), resume: () => child!.kill('SIGCONT') }
}

/** A Redis key prefix no other test uses, so tests can share the Redis at 127.0.0.1:6379. */
export const uniquePrefix = (): string => `healthpay-test:${process.pid}:${Math.random().toString(36).slice(2)}:`

/**
 * A WebSocket upstream on port 0: upgrades on /v1/graphql are accepted (negotiating
 * graphql-transport-ws when offered) and echo each message as `echo:<message>`;
 * other upgrade paths get a 404. `upgrades` records every upgrade request it saw.
 */
export async function startWsUpstream (t: Test) {
  const upgrades: http.IncomingMessage[] = []
  const server = http.createServer((req, res) => { res.end(JSON.stringify({ plain: req.url })) })
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false)
  })
  server.on('upgrade', (req, socket, head) => {
    upgrades.push(req)
    if (req.url!.startsWith('/v1/graphql')) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => ws.send(`echo:${data}`))
      })
    } else {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, upgrades, wss }
}

/** Opens a WebSocket expected to be refused; resolves with the HTTP answer it got instead of a 101. */
export async function refusedUpgrade (url: string, opts: { protocol?: string, headers?: Record<string, string> } = {}): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  const ws = new WebSocket(url, opts.protocol, { headers: opts.headers })
  ws.on('error', () => {}) // the refused handshake also emits an error: expected here
  const [, res] = await once(ws, 'unexpected-response') as [unknown, http.IncomingMessage]
  let body = ''
  for await (const chunk of res) body += chunk
  ws.terminate()
  return { status: res.statusCode!, headers: res.headers, body }
}
