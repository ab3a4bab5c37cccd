// The per-route request handler: pick a target, send the request on its pool,
// stream the answer back. Retries once on another target when the request cannot
// have reached the first (refused / connect timeout), and — idempotent methods with
// no body sent — on a reset.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { requestHeaderBuilder, responseHeaderBuilder, type ForwardedFacts, type HeaderTransform } from './headers.js'
import { requestBody, type LazyBody } from './request-body.js'
import { openTunnel, kUpgrade, type TunnelRegistry, type UpgradeRequest } from './tunnel.js'
import { NoHealthyTargetError, UpstreamUnreachableError, UpstreamTimeoutError, BadUpstreamResponseError } from './errors.js'
import type { UpstreamService, PooledTarget } from './upstream-service.js'
import type { FailureKind } from './target.js'
import type { RouteConfig } from './options.js'

export interface ForwarderOptions {
  route: RouteConfig
  service: UpstreamService
  bodyLimit: number
  /** is the peer at this address a trusted proxy (TRUST_PROXY)? */
  isTrusted: (address: string) => boolean
  tunnels: TunnelRegistry
}

const HEADERS_TIMEOUT = Object.assign(new Error('upstream headers timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

type Outcome = { kind: FailureKind, reached: boolean } | { kind: 'aborted' } | { kind: 'local' }

/** How an undici error bears on the target and on whether a retry is safe. */
function classify (err: NodeJS.ErrnoException): Outcome {
  switch (err.code) {
    case 'ECONNREFUSED': case 'EHOSTUNREACH': case 'ENETUNREACH': case 'ENOTFOUND': case 'EAI_AGAIN':
      return { kind: 'refused', reached: false }
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { kind: 'timeout', reached: false }
    case 'UND_ERR_HEADERS_TIMEOUT': case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'timeout', reached: true }
    case 'UND_ERR_ABORTED': case 'ABORT_ERR':
      return { kind: 'aborted' }
    case 'GW_REQUEST_BODY_TOO_LARGE': case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { kind: 'local' }
    default:
      return { kind: 'reset', reached: true }
  }
}

/** The route's request header transform, plus the client's credentials when the route hides them. */
function withHiddenCredentials (route: RouteConfig): HeaderTransform | undefined {
  const transform = route.headers?.request
  if (!route.hideCredentials) return transform
  return { ...transform, remove: [...(transform?.remove ?? []), 'authorization', 'x-api-key'] }
}

export function createForwarder (opts: ForwarderOptions) {
  const { route, service, bodyLimit, isTrusted, tunnels } = opts
  const timeoutMs = route.timeoutMs ?? service.timeoutMs
  const buildRequestHeaders = requestHeaderBuilder(withHiddenCredentials(route))
  const buildResponseHeaders = responseHeaderBuilder(route.headers?.response)
  const stripLength = route.stripPrefix ? route.prefix.length : 0

  function facts (request: FastifyRequest, target: PooledTarget): ForwardedFacts {
    const address = request.raw.socket.remoteAddress ?? ''
    return {
      host: route.preserveHost && request.headers.host ? request.headers.host : target.host,
      requestId: request.id,
      clientAddress: address,
      trusted: isTrusted(address),
      protocol: request.protocol,
      consumer: request.consumer
    }
  }

  function attempt (request: FastifyRequest, reply: FastifyReply, path: string, body: LazyBody | null, failed?: PooledTarget): void {
    const target = service.pick(failed)
    if (target === undefined) {
      reply.send(failed ? new UpstreamUnreachableError(service.name) : new NoHealthyTargetError(service.name))
      return
    }
    const raw = request.raw
    const abort = new ClientGone()
    // 'close' on the response before it finished: the client went away
    const onClientGone = () => { if (!reply.raw.writableFinished) abort.fire() }
    reply.raw.once('close', onClientGone)
    // undici's headersTimeout runs on a coarse timer (~1 s granularity); the
    // configured timeout is honoured to the millisecond by a native one instead
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; abort.fire() }, timeoutMs)
    target.inflight++
    const options: Dispatcher.RequestOptions = {
      path: target.basePath + path,
      method: raw.method as Dispatcher.HttpMethod,
      headers: buildRequestHeaders(raw.headers, facts(request, target)),
      // undici accepts any async iterable; its typings list only Readable
      body: body as unknown as Dispatcher.RequestOptions['body'],
      headersTimeout: timeoutMs + 1000, // backstop only
      bodyTimeout: timeoutMs, // idle time between body chunks
      signal: abort
    }
    target.pool.request(options, (err, res) => {
      clearTimeout(timer)
      if (err) {
        target.inflight--
        reply.raw.off('close', onClientGone)
        onError(timedOut ? HEADERS_TIMEOUT : err as NodeJS.ErrnoException, request, reply, path, body, target, abort.aborted && !timedOut, failed !== undefined)
        return
      }
      let released = false
      const release = () => { if (!released) { released = true; target.inflight-- } }
      res.body.once('close', release)
      res.body.once('error', (e: NodeJS.ErrnoException) => {
        if (!abort.aborted && e.code !== 'UND_ERR_ABORTED') target.onFailure('reset', service.now())
      })
      target.onResponse(res.statusCode, service.now())
      try {
        reply.code(res.statusCode)
      } catch {
        res.body.destroy()
        reply.send(new BadUpstreamResponseError(service.name))
        return
      }
      // this runs in undici's callback: a throw here (a header Node refuses to write)
      // would take the process down, so it becomes a 502 or a cut connection instead
      try {
        reply.headers(buildResponseHeaders(res.headers))
        reply.send(res.body)
      } catch (err) {
        res.body.destroy()
        request.log.warn({ err: (err as Error).message, target: target.origin }, 'upstream response could not be relayed')
        if (!reply.raw.headersSent) {
          reply.removeHeader('content-type')
          reply.send(new BadUpstreamResponseError(service.name))
        } else {
          reply.raw.destroy()
        }
      }
    })
  }

  function onError (err: NodeJS.ErrnoException, request: FastifyRequest, reply: FastifyReply, path: string, body: LazyBody | null, target: PooledTarget, clientGone: boolean, isRetry: boolean): void {
    const outcome = classify(err)
    if (clientGone || outcome.kind === 'aborted' || reply.sent) return
    if (outcome.kind === 'local') {
      reply.send(err)
      return
    }
    target.onFailure(outcome.kind, service.now())
    // `failed` was passed to this attempt only when it already was the retry
    const first = !isRetry
    const bodyIntact = body === null || !body.started
    const safe = !outcome.reached || (outcome.kind === 'reset' && IDEMPOTENT.has(request.method))
    if (first && bodyIntact && safe) {
      request.log.debug({ target: target.origin, err: err.code }, 'retrying on another target')
      attempt(request, reply, path, body, target)
      return
    }
    request.log.warn({ target: target.origin, err: err.code ?? err.message }, 'upstream request failed')
    // a connect timeout never reached the service: unreachable, not slow
    reply.send(outcome.kind === 'timeout' && outcome.reached
      ? new UpstreamTimeoutError(service.name, timeoutMs)
      : new UpstreamUnreachableError(service.name))
  }

  return function forward (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const raw = request.raw as UpgradeRequest
    let path = raw.url!
    if (stripLength) {
      path = path.slice(stripLength)
      if (path[0] !== '/') path = '/' + path
    }
    const upgrade = raw[kUpgrade]
    // only WebSocket is tunnelled: any other protocol (h2c...) would carry later
    // requests past the gateway's checks; such upgrades are answered as plain HTTP
    if (upgrade !== undefined && route.websocket && raw.headers.upgrade?.toLowerCase() === 'websocket') {
      const target = service.pick()
      if (!target) throw new NoHealthyTargetError(service.name)
      reply.hijack()
      const headers = buildRequestHeaders(raw.headers, facts(request, target))
      openTunnel({
        request, upgrade, target, path: target.basePath + path, headers, timeoutMs, tunnels,
        onUpstreamFailure: (err) => {
          const outcome = classify(err)
          if (outcome.kind !== 'aborted' && outcome.kind !== 'local') target.onFailure(outcome.kind, service.now())
        }
      })
      return reply
    }
    attempt(request, reply, path, requestBody(raw, bodyLimit))
    return reply
  }
}

/**
 * The abort signal handed to undici: it accepts any EventEmitter-shaped object
 * (`on`/`once`/`removeListener` + `aborted`). An AbortController per request cost
 * ~3 % of CPU under load (EventTarget setup and teardown); this costs an array.
 */
class ClientGone {
  aborted = false
  private listeners: Array<() => void> = []
  on (_event: 'abort', listener: () => void): this { this.listeners.push(listener); return this }
  once (event: 'abort', listener: () => void): this { return this.on(event, listener) }
  removeListener (_event: 'abort', listener: () => void): this {
    const i = this.listeners.indexOf(listener)
    if (i !== -1) this.listeners.splice(i, 1)
    return this
  }

  fire (): void {
    if (this.aborted) return
    this.aborted = true
    for (const listener of this.listeners.splice(0)) listener()
  }
}


/** "..", "/../", "%2e%2e" and friends: never forwarded (the upstream might resolve them). */
