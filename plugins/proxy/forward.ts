// The per-route request handler: ask the service's circuit breaker, pick a target,
// send the request on its pool, stream the answer back. A request that fails with
// a connection error, or an idempotent one answered 502/503, is retried on a target
// it has not tried, after a jittered backoff, within the service's retry budget and
// the request's deadline; a non-idempotent request is never retried once sent.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { performance } from 'node:perf_hooks'
import { requestHeaderBuilder, responseHeaderBuilder, type ForwardedFacts, type HeaderTransform } from './headers.js'
import { requestBody, LazyBody } from './request-body.js'
import { openTunnel, kUpgrade, type TunnelRegistry, type UpgradeRequest } from './tunnel.js'
import { NoHealthyTargetError, UpstreamUnreachableError, UpstreamTimeoutError, BadUpstreamResponseError, UpgradeWithBodyError } from './errors.js'
import { BodyTimeoutError, InternalError, kAnswerWith } from '../../src/errors.js'
import { retryBackoff } from './retry-budget.js'
import { REFUSED, CircuitState, type ServiceBreaker, type Outcome } from '../circuit-breaker/breaker.js'
import type { FallbackResponder } from '../circuit-breaker/fallback.js'
import type { RetryConfig } from '../circuit-breaker/options.js'
import type { UpstreamService, PooledTarget } from './upstream-service.js'
import type { FailureKind } from './target.js'
import type { RouteConfig } from './options.js'
import { credentialCarriers } from '../auth/credentials.js'
import { compileHashKey } from './hash-key.js'
import { decodedPath } from '../../src/route-match.js'

export interface ForwarderOptions {
  route: RouteConfig
  service: UpstreamService
  bodyLimit: number
  /** is the peer at this address a trusted proxy (TRUST_PROXY)? */
  isTrusted: (address: string) => boolean
  tunnels: TunnelRegistry
  /** the service's breaker: admits each request and hears how it ended */
  breaker: ServiceBreaker
  /** what a request the breaker refuses gets */
  fallback: FallbackResponder
  retry: RetryConfig
  /** a WebSocket upgrade was answered (hijacked, it never reaches the onResponse hooks): count and log it */
  onUpgradeAnswered?: (request: FastifyRequest, status: number, durationMs: number) => void
}

const HEADERS_TIMEOUT = Object.assign(new Error('upstream headers timeout'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

type Failure = { kind: FailureKind, reached: boolean } | { kind: 'aborted' } | { kind: 'local' } | { kind: 'internal' } | { kind: 'gone' }

/** How an undici error bears on the target and on whether a retry is safe. */
function classify (err: NodeJS.ErrnoException): Failure {
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
    // the gateway's own fault (a header undici refuses): not the service's
    case 'UND_ERR_INVALID_ARG':
      return { kind: 'internal' }
    // the target's pool was closed under the request (shutdown, target no longer resolved)
    case 'UND_ERR_CLOSED': case 'UND_ERR_DESTROYED':
      return { kind: 'gone' }
    default:
      return { kind: 'reset', reached: true }
  }
}

/** One client request on its way through the service, across its attempts. */
interface Exchange {
  request: FastifyRequest
  reply: FastifyReply
  path: string
  /** streamed from the client, or already read whole (a validated JSON body) */
  body: LazyBody | Buffer | null
  /** performance.now() by which the answer must have started, retries included */
  deadline: number
  /** a half-open trial: never retried, so the service sees exactly the admitted trials */
  trial: boolean
  /** the breaker's ticket; REFUSED once the outcome is recorded */
  ticket: number
  /** targets already tried, kept from the first retry on */
  tried: PooledTarget[] | null
  /** the backoff before the next attempt */
  delay: number
  /** consistent hashing's key for this request (undefined: the service does not hash, or nothing to hash) */
  hashKey: string | undefined
}

/** bodies up to this size, with a declared length, are relayed whole (see sendWhole) */
const WHOLE_BODY_MAX = 16 * 1024

/** a GET-like answer with a content type and a declared length of at most WHOLE_BODY_MAX */
function smallWholeBody (method: string, status: number, headers: Dispatcher.ResponseData['headers']): boolean {
  if (method === 'HEAD' || status === 204 || status === 304 || headers['content-type'] === undefined) return false
  const length = headers['content-length']
  return typeof length === 'string' && length.length <= 5 && Number(length) <= WHOLE_BODY_MAX
}

/**
 * A small body is read whole and sent as one Buffer: headers and body then leave in
 * one write, without Fastify's stream handling (pipe, end-of-stream listeners). If
 * the upstream fails before the body is complete, nothing has been sent yet, and
 * the client gets a clean problem answer instead of a cut one.
 */
function sendWhole (reply: FastifyReply, body: Dispatcher.ResponseData['body'], failed: (err: Error) => Error): void {
  const chunks: Buffer[] = []
  body.on('data', (chunk: Buffer) => chunks.push(chunk))
  body.once('end', () => reply.send(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)))
  // nothing sent yet: the answer is a problem (502/504); to a client that has gone, it
  // ends the request's lifecycle (its log line and metrics) and is written nowhere
  body.once('error', (err: Error) => { reply.removeHeader('content-length'); reply.send(failed(err)) })
}

const LIST_HEADERS = ['vary', 'link'] as const
// what the gateway states on a 101 too: the request id and the version's headers
const UPGRADE_HEADERS = ['x-request-id', 'x-api-version', 'deprecation', 'sunset', 'link', 'vary'] as const

function upgradeHeaders (reply: FastifyReply): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of UPGRADE_HEADERS) {
    const value = reply.getHeader(name)
    if (value !== undefined) out[name] = String(value)
  }
  return out
}

/**
 * Vary and Link are lists: the values the gateway set (Vary: X-API-Version,
 * Accept; a successor-version Link) are kept in front of the upstream's.
 */
function withGatewayLists (reply: FastifyReply, headers: Record<string, string | string[]>): Record<string, string | string[]> {
  for (const name of LIST_HEADERS) {
    const upstream = headers[name]
    if (upstream === undefined) continue
    const own = reply.getHeader(name)
    if (own !== undefined) headers[name] = `${String(own)}, ${Array.isArray(upstream) ? upstream.join(', ') : upstream}`
  }
  return headers
}

/** The route's request header transform, plus the client's credentials when the route hides them. */
function withHiddenCredentials (route: RouteConfig): HeaderTransform | undefined {
  const transform = route.headers?.request
  if (!route.hideCredentials) return transform
  return { ...transform, remove: [...(transform?.remove ?? []), ...credentialCarriers(route).headers] }
}

/** "/x?apikey=k&a=1" → "/x?a=1": the query parameters a route's credentials travel in, when it hides them */
function queryScrubber (route: RouteConfig): ((path: string) => string) | undefined {
  const names = route.hideCredentials ? credentialCarriers(route).query : []
  if (names.length === 0) return undefined
  const hidden = new Set(names)
  return (path) => {
    const q = path.indexOf('?')
    if (q === -1) return path
    const kept = path.slice(q + 1).split('&').filter((pair) => {
      const eq = pair.indexOf('=')
      let name = eq === -1 ? pair : pair.slice(0, eq)
      try { name = decodeURIComponent(name.replace(/\+/g, ' ')) } catch {}
      return !hidden.has(name)
    })
    return kept.length === 0 ? path.slice(0, q) : `${path.slice(0, q)}?${kept.join('&')}`
  }
}

/**
 * The service's path in front of the request's: "/base" + "/x" → "/base/x"; a request
 * stripped to nothing goes to the service's path itself ("/base", as Kong does), or "/".
 */
export function upstreamPath (basePath: string, path: string): string {
  const joined = basePath + path
  return joined === '' || joined[0] === '?' ? '/' + joined : joined
}

export function createForwarder (opts: ForwarderOptions) {
  const { route, service, bodyLimit, isTrusted, tunnels, breaker, fallback, retry, onUpgradeAnswered } = opts
  const timeoutMs = route.timeoutMs ?? service.timeoutMs
  const buildRequestHeaders = requestHeaderBuilder(withHiddenCredentials(route), { groupsHeader: route.groupsHeader })
  const buildResponseHeaders = responseHeaderBuilder(route.headers?.response)
  const stripLength = route.stripPrefix ? (route.prefix === '/' ? 0 : route.prefix.length) : 0
  // a regex route strips what its expression matched (Kong's strip_path on a "~" path)
  const stripRegex = route.stripPrefix && route.match?.pathRegex !== undefined ? new RegExp(route.match.pathRegex) : undefined
  const scrubQuery = queryScrubber(route)
  const hashKeyOf = compileHashKey(service.config)
  const backoff = retryBackoff(retry)
  // a retry is sent only if at least this much of the deadline is left after its
  // backoff: one started with a few ms to spare would time out and blame a healthy target
  const minRetryWindow = Math.max(10, Math.min(1000, timeoutMs * 0.2))

  function facts (request: FastifyRequest, target: PooledTarget): ForwardedFacts {
    const address = request.raw.socket.remoteAddress ?? ''
    return {
      host: route.preserveHost && request.headers.host ? request.headers.host : target.host,
      requestId: request.id,
      clientAddress: address,
      trusted: isTrusted(address),
      protocol: request.protocol,
      consumer: request.consumer,
      trace: request.trace
    }
  }

  /** tells the breaker how the request ended, once */
  function finish (ex: Exchange, outcome: Outcome): void {
    breaker.record(ex.ticket, outcome)
    ex.ticket = REFUSED
  }

  function attempt (ex: Exchange, target: PooledTarget): void {
    const { request, reply } = ex
    const raw = request.raw
    const abort = new ClientGone()
    // built before anything is registered: a throw here leaves nothing behind
    const options: Dispatcher.RequestOptions = {
      path: upstreamPath(target.basePath, ex.path),
      method: raw.method as Dispatcher.HttpMethod,
      headers: buildRequestHeaders(raw.headers, facts(request, target)),
      // undici accepts any async iterable; its typings list only Readable
      body: ex.body as unknown as Dispatcher.RequestOptions['body'],
      // the native timer below is the only deadline for the headers. (undici's own
      // headers timer is coarse, and one of a different length from the body's is a new
      // timer object per request that undici keeps for up to a second: under load they
      // outlive two scavenges and fill the old generation, whose collections stall the
      // event loop for 10-30 ms — measured as the gateway's p99)
      headersTimeout: 0,
      bodyTimeout: timeoutMs, // idle time between body chunks
      signal: abort
    }
    // 'close' on the response before it finished: the client went away
    const onClientGone = () => { if (!reply.raw.writableFinished) abort.fire() }
    reply.raw.once('close', onClientGone)
    // the deadline, honoured to the millisecond by a native timer (undici's are coarse)
    let timedOut = false
    const sentAt = performance.now()
    const remaining = ex.deadline - sentAt
    // a retry runs on what is left of the deadline: its timeout is not the target's alone
    const fullWindow = ex.tried === null
    // whole milliseconds: Node keeps one timer list per distinct duration, so a
    // fractional one would be a new list (and a heap insertion) for every request
    const timer = setTimeout(() => { timedOut = true; abort.fire() }, remaining > 1 ? Math.ceil(remaining) : 1)
    target.inflight++
    request.upstream = target.origin
    target.pool.request(options, (err, res) => {
      clearTimeout(timer)
      if (err) {
        target.inflight--
        reply.raw.off('close', onClientGone)
        onError(ex, target, timedOut ? HEADERS_TIMEOUT : err as NodeJS.ErrnoException, abort.aborted && !timedOut, fullWindow)
        return
      }
      let released = false
      const release = () => { if (!released) { released = true; target.inflight-- } }
      res.body.once('close', release)
      res.body.once('error', (e: NodeJS.ErrnoException & { [kAnswerWith]?: Error }) => {
        if (abort.aborted || e.code === 'UND_ERR_ABORTED') return
        target.onFailure('reset', service.now())
        // failed before its first byte was relayed: Fastify hands this error to the error
        // handler (a 500 for an undici code it does not know); answer as the proxy would
        if (!reply.raw.headersSent) {
          request.log.warn({ target: target.origin, err: e.code ?? e.message }, 'upstream response body failed before it reached the client')
          e[kAnswerWith] = e.code === 'UND_ERR_BODY_TIMEOUT' ? new UpstreamTimeoutError(service.name, timeoutMs) : new BadUpstreamResponseError(service.name)
        }
      })
      const status = res.statusCode
      target.onResponse(status, service.now())
      target.metrics.answered(status, (performance.now() - sentAt) / 1000)
      if (status === 502 || status === 503) {
        const next = retryTarget(ex, target, true)
        if (next !== undefined) {
          reply.raw.off('close', onClientGone)
          // read and drop the refusal so its connection can be reused
          res.body.dump().catch(() => {})
          again(ex, next)
          return
        }
      }
      try {
        reply.code(status)
      } catch {
        res.body.destroy()
        finish(ex, 'failure')
        reply.send(new BadUpstreamResponseError(service.name))
        return
      }
      finish(ex, status >= 500 ? 'failure' : 'success')
      // this runs in undici's callback: a throw here (a header Node refuses to write)
      // would take the process down, so it becomes a 502 or a cut connection instead
      try {
        reply.headers(withGatewayLists(reply, buildResponseHeaders(res.headers)))
        if (smallWholeBody(request.method, status, res.headers)) {
          sendWhole(reply, res.body, (e: Error & { [kAnswerWith]?: Error }) => e[kAnswerWith] ?? (timedOut ? new UpstreamTimeoutError(service.name, timeoutMs) : new BadUpstreamResponseError(service.name)))
        } else {
          reply.send(res.body)
        }
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

  /**
   * The target a retry goes to, or undefined when this request must not be retried:
   * retries used up, body already (partly) sent, a non-idempotent request that
   * reached the service, no untried target, no time left, or the budget spent.
   */
  function retryTarget (ex: Exchange, failed: PooledTarget, reached: boolean): PooledTarget | undefined {
    if (ex.trial) return undefined
    const tried = ex.tried ?? (ex.tried = [])
    if (tried.length >= retry.attempts) return undefined
    if (ex.body instanceof LazyBody && ex.body.started) return undefined
    if (reached && !IDEMPOTENT.has(ex.request.method)) return undefined
    tried.push(failed)
    const delay = backoff(tried.length)
    if (performance.now() + delay + minRetryWindow > ex.deadline) return undefined
    const next = service.pick(tried, ex.hashKey)
    if (next === undefined || !service.retryBudget.withdraw()) return undefined
    ex.delay = delay
    return next
  }

  function again (ex: Exchange, next: PooledTarget): void {
    ex.request.log.debug({ target: next.origin, retry: ex.tried!.length }, 'retrying on another target')
    if (ex.delay === 0) {
      retryNow(ex, next)
      return
    }
    const response = ex.reply.raw
    // a client that leaves during the backoff ends the exchange there and then
    const onClientGone = () => {
      clearTimeout(timer)
      finish(ex, 'neutral')
      ex.request.log.debug({ target: next.origin }, 'client left during the retry backoff: retry dropped')
    }
    const timer = setTimeout(() => {
      response.off('close', onClientGone)
      retryNow(ex, next)
    }, ex.delay)
    response.once('close', onClientGone)
  }

  function retryNow (ex: Exchange, next: PooledTarget): void {
    // a timer that fired late (a busy event loop) must not start an attempt past the deadline
    if (performance.now() >= ex.deadline) {
      finish(ex, 'failure')
      ex.reply.send(new UpstreamTimeoutError(service.name, timeoutMs))
      return
    }
    try {
      attempt(ex, next)
    } catch (err) {
      // from a timer, a throw would take the process down: answer instead
      finish(ex, 'neutral')
      ex.reply.send(err)
    }
  }

  function onError (ex: Exchange, target: PooledTarget, err: NodeJS.ErrnoException, clientGone: boolean, fullWindow: boolean): void {
    const { request, reply } = ex
    const outcome = classify(err)
    if (clientGone || outcome.kind === 'aborted' || reply.sent) {
      finish(ex, 'neutral')
      return
    }
    if (outcome.kind === 'local') {
      // the client's body was at fault: nothing learnt about the service
      finish(ex, 'neutral')
      reply.send(err)
      return
    }
    // the deadline ran out while the service waited for the client's next body bytes:
    // a slow upload is the client's doing, and must not open the service's breaker
    if (err === HEADERS_TIMEOUT && ex.body instanceof LazyBody && ex.body.awaitingClient) {
      finish(ex, 'neutral')
      reply.header('connection', 'close')
      reply.send(new BodyTimeoutError(timeoutMs))
      return
    }
    if (outcome.kind === 'internal' || outcome.kind === 'gone') {
      finish(ex, 'neutral')
      if (outcome.kind === 'internal') {
        request.log.error({ err: err.message, target: target.origin }, 'the gateway could not build the upstream request')
        reply.send(new InternalError())
      } else {
        reply.send(new NoHealthyTargetError(service.name))
      }
      return
    }
    target.metrics.failed(outcome.kind)
    // a retry's timeout ran on what an earlier attempt left: not held against the target
    if (fullWindow || outcome.kind !== 'timeout') target.onFailure(outcome.kind, service.now())
    // a timeout that reached the service has used up the deadline: never retried
    const next = outcome.kind === 'timeout' && outcome.reached ? undefined : retryTarget(ex, target, outcome.reached)
    if (next !== undefined) {
      again(ex, next)
      return
    }
    finish(ex, 'failure')
    request.log.warn({ target: target.origin, err: err.code ?? err.message }, 'upstream request failed')
    // a connect timeout never reached the service: unreachable, not slow
    reply.send(outcome.kind === 'timeout' && outcome.reached
      ? new UpstreamTimeoutError(service.name, timeoutMs)
      : new UpstreamUnreachableError(service.name))
  }

  return function forward (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const raw = request.raw as UpgradeRequest
    let path = raw.url!
    if (stripRegex !== undefined) {
      const { decoded, query } = decodedPath(path)
      const found = stripRegex.exec(decoded)
      // (matched on the decoded path, cut from it: the upstream gets the rest re-encoded)
      if (found !== null && found.index === 0) path = encodeURI(decoded.slice(found[0].length)) + query
    } else if (stripLength) {
      path = path.slice(stripLength)
    }
    // after a strip, nothing left ("/v1/api" on the route /v1/api) stays "": the service's
    // own path, or "/" (upstreamPath); a rest that does not start a path gets its "/"
    if ((stripRegex !== undefined || stripLength) && path !== '' && path[0] !== '/' && path[0] !== '?') path = '/' + path
    if (scrubQuery !== undefined) path = scrubQuery(path)
    const upgrade = raw[kUpgrade]
    // only WebSocket is tunnelled: any other protocol (h2c...) would carry later
    // requests past the gateway's checks; such upgrades are answered as plain HTTP
    if (upgrade !== undefined && route.websocket && raw.headers.upgrade?.toLowerCase() === 'websocket') {
      // a handshake is a bodiless GET: one declaring a body would leave an upstream that
      // reads it as plain HTTP waiting (a 504 held against the service)
      const length = raw.headers['content-length']
      if ((length !== undefined && length !== '0') || raw.headers['transfer-encoding'] !== undefined) throw new UpgradeWithBodyError()
      const ticket = breaker.admit()
      if (ticket === REFUSED) {
        fallback(request, reply)
        return reply
      }
      const target = service.pick(undefined, hashKeyOf?.(request))
      if (!target) {
        breaker.record(ticket, 'failure')
        throw new NoHealthyTargetError(service.name)
      }
      let headers
      try {
        headers = buildRequestHeaders(raw.headers, facts(request, target))
      } catch (err) {
        breaker.record(ticket, 'neutral')
        throw err
      }
      reply.hijack()
      request.upstream = target.origin
      const started = performance.now()
      openTunnel({
        request, upgrade, target, path: upstreamPath(target.basePath, path), headers, timeoutMs, tunnels,
        responseHeaders: upgradeHeaders(reply),
        onUpstreamFailure: (err) => {
          const outcome = classify(err)
          if (outcome.kind === 'refused' || outcome.kind === 'reset' || outcome.kind === 'timeout') {
            target.metrics.failed(outcome.kind)
            target.onFailure(outcome.kind, service.now())
          }
        },
        onSettled: (outcome) => breaker.record(ticket, outcome),
        onAnswered: onUpgradeAnswered && ((status) => onUpgradeAnswered(request, status, performance.now() - started))
      })
      return reply
    }
    // before the breaker: a body refused here must not take a half-open trial slot
    const body = Buffer.isBuffer(request.body) ? request.body : requestBody(raw, bodyLimit)
    const ticket = breaker.admit()
    if (ticket === REFUSED) {
      fallback(request, reply)
      return reply
    }
    service.retryBudget.deposit()
    const ex: Exchange = { request, reply, path, body, deadline: performance.now() + timeoutMs, ticket, trial: breaker.state === CircuitState.HalfOpen, tried: null, delay: 0, hashKey: hashKeyOf?.(request) }
    const target = service.pick(undefined, ex.hashKey)
    if (target === undefined) {
      finish(ex, 'failure')
      reply.send(new NoHealthyTargetError(service.name))
      return reply
    }
    try {
      attempt(ex, target)
    } catch (err) {
      // nothing was sent: the trial slot (if this was one) goes back
      finish(ex, 'neutral')
      throw err
    }
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

