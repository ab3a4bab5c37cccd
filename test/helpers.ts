// Shared test fixtures: real upstream servers on port 0, a gateway built from a
// config object and torn down with the test, small HTTP helpers.
import http from 'node:http'
import net from 'node:net'
import { once } from 'node:events'
import { request as undiciRequest } from 'undici'
import { buildGateway, type Gateway, type GatewayDeps } from '../src/gateway.js'
import { resolveConfig, loadConfig, ConfigError } from '../src/config/index.js'

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

/** A config for tests: loopback, random ports, quiet logs, active checks off unless asked. */
export function testConfig (overrides: Record<string, any> = {}): ReturnType<typeof resolveConfig> {
  const services = Object.fromEntries(Object.entries(overrides.services ?? {}).map(([name, s]: [string, any]) => [name, {
    ...s,
    targets: (s.targets ?? []).map((u: string | object) => (typeof u === 'string' ? { url: u } : u)),
    healthCheck: { enabled: false, ...s.healthCheck }
  }]))
  return resolveConfig({
    ...overrides,
    server: { host: '127.0.0.1', port: 0, adminHost: '127.0.0.1', adminPort: 0, logLevel: 'silent', ...overrides.server },
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
 * Writes raw bytes to the gateway and returns everything it sends back until it
 * closes the connection (send `Connection: close` for a normal request): for what an
 * HTTP client library would refuse to send.
 */
export async function rawExchange (url: string, bytes: string): Promise<string> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write(bytes)
  let raw = ''
  for await (const chunk of socket) raw += chunk
  return raw
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
