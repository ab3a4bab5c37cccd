// WebSocket (and any HTTP/1.1 Upgrade) proxying: the upgrade request goes to the
// target, its 101 answer — Sec-WebSocket-Protocol included — comes back verbatim,
// then bytes are piped both ways. Frames are never parsed, so graphql-transport-ws
// or any other sub-protocol passes through intact.
import http from 'node:http'
import https from 'node:https'
import type { Duplex } from 'node:stream'
import { STATUS_CODES } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { OutgoingHeaders } from './headers.js'
import type { PooledTarget } from './upstream-service.js'
import { writeRawProblem, pathOf } from '../../src/errors.js'

/** What the upgrade dispatcher attaches to the raw request. */
export interface UpgradeContext { socket: Duplex, head: Buffer }
export const kUpgrade = Symbol.for('healthpay.gateway.upgrade')
export type UpgradeRequest = http.IncomingMessage & { [kUpgrade]?: UpgradeContext }

/** Open tunnels, so shutdown can close them. */
export type TunnelRegistry = Set<Duplex>

export interface TunnelOptions {
  request: FastifyRequest
  upgrade: UpgradeContext
  target: PooledTarget
  path: string
  headers: OutgoingHeaders
  timeoutMs: number
  tunnels: TunnelRegistry
  onUpstreamFailure: (err: NodeJS.ErrnoException) => void
  /** how the upgrade ended, for the circuit breaker: called once */
  onSettled: (outcome: 'success' | 'failure' | 'neutral') => void
  /** the gateway's own headers for the 101 (X-API-Version, Deprecation...), after the upstream's */
  responseHeaders?: Readonly<Record<string, string>>
  /** the status the client got (101, the upstream's refusal, or the gateway's 502/504): called once, unless the client left first */
  onAnswered?: (status: number) => void
}

export function openTunnel (opts: TunnelOptions): void {
  const { request, upgrade, target, tunnels } = opts
  const client = upgrade.socket
  const url = new URL(target.origin)
  const headers = { ...opts.headers, connection: 'Upgrade', upgrade: request.headers.upgrade as string }
  const upstreamRequest = (url.protocol === 'https:' ? https : http).request({
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port,
    path: opts.path,
    method: request.method,
    headers,
    agent: false,
    timeout: opts.timeoutMs,
    ...(url.protocol === 'https:' ? { servername: target.host.replace(/:\d+$/, '') } : {})
  })
  let answered = false
  let settled = false
  const settle = (outcome: 'success' | 'failure' | 'neutral') => {
    if (settled) return
    settled = true
    opts.onSettled(outcome)
  }
  const fail = (status: number, code: string, detail: string) => {
    settle('failure')
    if (answered) return
    answered = true
    opts.onAnswered?.(status)
    writeRawProblem(client, status, code, detail, { instance: pathOf(request.originalUrl), requestId: request.id })
  }

  upstreamRequest.on('upgrade', (res, upstream, upstreamHead) => {
    answered = true
    settle('success')
    opts.onAnswered?.(res.statusCode!)
    upstreamRequest.setTimeout(0)
    client.write(statusLine(res) + rawHeaderLines(res.rawHeaders) + ownHeaderLines(res.headers, opts.responseHeaders) + '\r\n')
    if (upstreamHead.length) client.write(upstreamHead)
    if (upgrade.head.length) upstream.write(upgrade.head)
    tunnels.add(client)
    const closeBoth = () => {
      tunnels.delete(client)
      client.destroy()
      upstream.destroy()
    }
    upstream.on('error', closeBoth).on('close', closeBoth)
    client.on('error', closeBoth).on('close', closeBoth)
    upstream.pipe(client)
    client.pipe(upstream)
  })

  // the target declined the upgrade: relay its answer as it is
  upstreamRequest.on('response', (res) => {
    answered = true
    settle(res.statusCode! >= 500 ? 'failure' : 'success')
    opts.onAnswered?.(res.statusCode!)
    client.write(statusLine(res) + rawHeaderLines(res.rawHeaders, true) + 'connection: close\r\n\r\n')
    res.pipe(client)
  })

  upstreamRequest.on('timeout', () => {
    upstreamRequest.destroy()
    opts.onUpstreamFailure(Object.assign(new Error('upgrade timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))
    fail(504, 'GW_PROXY_UPSTREAM_TIMEOUT', `Service did not answer the upgrade within ${opts.timeoutMs} ms`)
  })
  let clientLeft = false
  upstreamRequest.on('error', (err: NodeJS.ErrnoException) => {
    if (answered || clientLeft) return
    opts.onUpstreamFailure(err)
    fail(502, 'GW_PROXY_UPSTREAM_UNREACHABLE', 'The service behind this route could not be reached; retry shortly')
  })
  // the client left before the service answered: that says nothing about the service
  const clientGone = () => {
    if (!answered) { clientLeft = true; settle('neutral') }
    upstreamRequest.destroy()
  }
  client.on('error', clientGone)
  client.once('close', () => { if (!answered) clientGone() })
  upstreamRequest.end()
}

function statusLine (res: http.IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? STATUS_CODES[res.statusCode!] ?? ''}\r\n`
}

const SKIP_ON_REFUSAL = new Set(['connection', 'keep-alive', 'transfer-encoding'])

function rawHeaderLines (raw: string[], dropHopByHop = false): string {
  let out = ''
  for (let i = 0; i < raw.length; i += 2) {
    if (dropHopByHop && SKIP_ON_REFUSAL.has(raw[i]!.toLowerCase())) continue
    out += `${raw[i]}: ${raw[i + 1]}\r\n`
  }
  return out
}

/** The gateway's headers the upstream did not send itself, as header lines. */
function ownHeaderLines (upstream: http.IncomingHttpHeaders, own: Readonly<Record<string, string>> | undefined): string {
  let lines = ''
  for (const name in own) {
    if (upstream[name] === undefined) lines += `${name}: ${own[name]}\r\n`
  }
  return lines
}
