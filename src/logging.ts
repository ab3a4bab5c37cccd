// What the gateway logs and how: pino JSON lines, one per request at info (the
// line an SRE searches by request id or trace id), credentials never written.
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify'
import type { GatewayConfig } from './config/index.js'
import type { Transition } from '../plugins/circuit-breaker/breaker.js'
import { pino } from 'pino'
import { redactQuery } from './redaction.js'

/** The URL as it may appear in logs: credential-looking parameters redacted. */
export const redactUrl = redactQuery

/** Header values that are credentials, wherever a request or response object is logged. */
export const REDACTED_PATHS = [
  'req.headers.authorization', 'req.headers["proxy-authorization"]', 'req.headers["x-api-key"]', 'req.headers.cookie',
  'res.headers["set-cookie"]', 'headers.authorization', 'headers["x-api-key"]', 'headers.cookie'
]

let stdout: { write: (line: string) => void, flush: () => void } | undefined
/**
 * Standard output, buffered for one turn of the event loop: the lines logged in a
 * turn (under load, the requests of one poll phase) leave together in one write(2)
 * at its end instead of one write per line (pino's default for stdout). Nothing
 * waits longer than the turn it was logged in. The write itself is synchronous, as
 * pino's default is: a slow reader of a pipe slows the gateway rather than letting
 * lines pile up in memory, and when the process exits (process.exit, a crash) the
 * lines of its last turn are written before it ends. One per process.
 */
export function stdoutDestination (): { write: (line: string) => void, flush: () => void } {
  if (stdout !== undefined) return stdout
  const boom = pino.destination({ dest: 1, sync: true })
  let pending = ''
  const flush = () => {
    const lines = pending
    pending = ''
    if (lines !== '') boom.write(lines)
  }
  process.on('exit', flush)
  stdout = {
    write (line: string) {
      if (pending === '') setImmediate(flush)
      pending += line
    },
    flush
  }
  return stdout
}

type Pino = FastifyBaseLogger & { isLevelEnabled: (level: string) => boolean }
type Bindings = Record<string, unknown>
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1]
type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * Fastify's per-request logger, whose pino child is made on first use. Fastify makes
 * a child (its bindings, the request id, serialized into a string) for every
 * request, ~1.5 µs and ~0.5 KB under load; most requests here never log through it:
 * their one line comes from logRequest, which takes the parent's bindings and the
 * id. A request that does log (an error, a retry at debug) gets the real child then,
 * with the same bindings, so its lines look as they always did. Calls below the
 * level make nothing. (Fastify's childLoggerFactory, on the public listener.)
 */
export class RequestLogger {
  #child: Pino | undefined
  constructor (readonly parent: Pino, readonly bindings: Bindings, private readonly options: ChildOptions) {}
  get #log (): Pino { return (this.#child ??= this.parent.child(this.bindings, this.options) as Pino) }
  get level (): string { return this.#child?.level ?? this.options?.level ?? this.parent.level }
  set level (level: string) { this.#log.level = level }
  isLevelEnabled (level: string): boolean {
    return this.#child === undefined && this.options?.level === undefined ? this.parent.isLevelEnabled(level) : this.#log.isLevelEnabled(level)
  }

  #at (method: LogMethod, args: unknown[]): void {
    if (this.isLevelEnabled(method)) (this.#log[method] as (...a: unknown[]) => void)(...args)
  }

  fatal (...args: unknown[]): void { this.#at('fatal', args) }
  error (...args: unknown[]): void { this.#at('error', args) }
  warn (...args: unknown[]): void { this.#at('warn', args) }
  info (...args: unknown[]): void { this.#at('info', args) }
  debug (...args: unknown[]): void { this.#at('debug', args) }
  trace (...args: unknown[]): void { this.#at('trace', args) }
  silent (): void {}
  child (bindings: Bindings, options?: ChildOptions): FastifyBaseLogger { return this.#log.child(bindings, options) }

  /** what pino would write before a line's own fields: level, time, then the bindings (the parent's and this request's) */
  linePrefix (level: number): { stream: { write: (s: string) => unknown }, prefix: string } {
    const line = pinoPrefix((this.#child ?? this.parent) as unknown as Record<symbol, unknown>, level)
    if (this.#child === undefined) line.prefix += jsonMembers(this.bindings)
    return line
  }
}

/** Fastify's childLoggerFactory: the per-request logger above */
export function requestLogger (this: unknown, parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  return new RequestLogger(parent as Pino, bindings, options) as unknown as FastifyBaseLogger
}

export function loggerOptions (config: GatewayConfig, stream?: { write: (line: string) => unknown }): FastifyServerOptions['logger'] {
  return {
    level: config.server.logLevel,
    stream: stream ?? stdoutDestination(),
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string, url: string, originalUrl?: string, ip?: string, socket?: { remoteAddress?: string } }) => ({
        method: req.method,
        // as the client sent it, before version negotiation rewrote it
        url: redactUrl(req.originalUrl ?? req.url),
        remoteAddress: req.ip ?? req.socket?.remoteAddress
      })
    }
  }
}

/**
 * The request's one log line, at the end: what the request turned out to be —
 * route pattern, status, duration, consumer, upstream target, trace. Written by
 * plugins/metrics/requests.ts for every response, and by the proxy for a WebSocket
 * upgrade (hijacked, it has no response of Fastify's).
 */
export function logRequest (request: FastifyRequest, route: string, status: number, durationMs: number, error?: Error | null): void {
  // (a pino logger: Fastify's type leaves isLevelEnabled out)
  const log = request.log as FastifyRequest['log'] & { isLevelEnabled: (level: string) => boolean }
  if (!log.isLevelEnabled(error ? 'warn' : 'info')) return
  if (error) {
    log.warn({
      route,
      method: request.method,
      url: redactUrl(request.originalUrl),
      status,
      durationMs: Math.round(durationMs * 100) / 100,
      consumer: request.consumer?.id,
      upstream: request.upstream ?? undefined,
      traceId: request.trace?.traceId,
      spanId: request.trace?.spanId,
      remoteAddress: request.ip,
      err: error.message
    }, 'request ended with a response error')
    return
  }
  // The line pino would write for log.info({ route, method, url, status, durationMs,
  // consumer, upstream, traceId, spanId, remoteAddress }, 'request completed'), written
  // as one template: the fields are strings and numbers, none of them a redacted path,
  // so pino's generic serializer (~10 µs a line here) and even one JSON.stringify of an
  // object made for it (~1.3 µs more than this) have nothing to do that this does not.
  // Its bindings (pid, hostname, requestId) come pre-serialized from the logger itself.
  // (test/observability/request-line.test.ts compares it with pino's own line.)
  const { stream, prefix } = log instanceof RequestLogger ? log.linePrefix(30) : pinoPrefix(log as unknown as Record<symbol, unknown>, 30)
  const trace = request.trace
  stream.write(`${prefix},"route":${jsonString(route)},"method":${jsonString(request.method)},"url":${jsonString(redactUrl(request.originalUrl))},"status":${jsonNumber(status)},"durationMs":${jsonNumber(Math.round(durationMs * 100) / 100)}${
    optional('consumer', request.consumer?.id)}${optional('upstream', request.upstream ?? undefined)}${optional('traceId', trace?.traceId)}${optional('spanId', trace?.spanId)}${
    optional('remoteAddress', request.ip)},"msg":"request completed"}\n`)
}

/** what JSON.stringify escapes: the quote, the backslash, control characters, surrogates (lone ones are escaped; a pair is left to JSON.stringify too) */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/
/** a string as JSON.stringify writes it: quoted as it is when nothing in it needs escaping */
const jsonString = (s: string): string => NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
const jsonNumber = (n: number): string => Number.isFinite(n) ? `${n}` : 'null'
/** `,"name":"value"`, or nothing when the value is undefined (as JSON.stringify leaves such a key out) */
const optional = (name: string, value: string | undefined): string => value === undefined ? '' : `,"${name}":${jsonString(value)}`

/** `,"key":value` for each member JSON.stringify would write (~4× faster for the one string member a request's bindings have) */
function jsonMembers (object: Bindings): string {
  let out = ''
  for (const key of Object.keys(object)) {
    const value = object[key]
    const json = typeof value === 'string' ? jsonString(value) : JSON.stringify(value) as string | undefined
    if (json !== undefined) out += `,${jsonString(key)}:${json}`
  }
  return out
}

const STREAM = pino.symbols.streamSym
const BINDINGS = pino.symbols.chindingsSym
const pinoPrefix = (log: Record<symbol, unknown>, level: number): { stream: { write: (s: string) => unknown }, prefix: string } =>
  ({ stream: log[STREAM] as { write: (s: string) => unknown }, prefix: `{"level":${level},"time":${Date.now()}${log[BINDINGS] as string}` })

/** One line per breaker transition: the moments an SRE wants to find in the logs. */
export function logTransition (log: FastifyInstance['log'], t: Transition): void {
  const at = t.halfOpenAt === undefined ? {} : { halfOpenAt: new Date(t.halfOpenAt).toISOString() }
  if (t.to === 'open') {
    const why = t.window ? `${t.window.failures} of ${t.window.requests} requests failed in the window` : 'a trial request failed'
    log.warn({ service: t.service, breaker: t.to, from: t.from, ...t.window, ...at }, `circuit breaker opened: ${why}; requests get the fallback until ${at.halfOpenAt}`)
  } else if (t.to === 'half-open') {
    log.info({ service: t.service, breaker: t.to, from: t.from }, 'circuit breaker half-open: admitting trial requests')
  } else {
    log.info({ service: t.service, breaker: t.to, from: t.from }, 'circuit breaker closed: the trial requests succeeded')
  }
}
