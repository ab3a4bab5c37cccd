// Which request headers go upstream and which response headers come back.
// Pure functions over plain header objects; compiled once per route.
import type { IncomingHttpHeaders } from 'node:http'
import type { Consumer } from '../auth/consumer.js'
import type { TraceContext } from '../../src/trace-context.js'

/** RFC 9110 §7.6.1 hop-by-hop headers, plus `expect` (Node answers 100-continue itself). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']

/** Headers the gateway sets itself: any client-sent copy is dropped first. */
const GATEWAY_OWNED = ['host', 'expect', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-consumer-id', 'x-consumer-tier', 'x-consumer-roles', 'x-consumer-username', 'x-consumer-custom-id', 'x-credential-identifier', 'x-anonymous-consumer', 'x-consumer-groups', 'x-api-version', 'traceparent', 'tracestate']
const OWNED = new Set(GATEWAY_OWNED)
/**
 * Other spellings of the client's address and of the original URL, which upstreams
 * (nginx real_ip, IIS rewrite, Spring's ForwardedHeaderFilter...) may trust: kept
 * only from a trusted proxy, like X-Forwarded-*.
 */
const FORWARDING_ALIASES = ['x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'x-cluster-client-ip', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'x-original-url', 'x-rewrite-url', 'x-original-forwarded-for']

/**
 * `X_Consumer_Id` is a different header to the gateway but the same variable
 * (HTTP_X_CONSUMER_ID) to CGI, WSGI, Rack and PHP upstreams: underscore spellings
 * of the gateway's own headers are dropped too.
 */
const spoofsOwned = (name: string): boolean => name.includes('_') && OWNED.has(name.replace(/_/g, '-'))

export type OutgoingHeaders = Record<string, string | string[]>

export interface HeaderTransform { add?: Readonly<Record<string, string>>, remove?: readonly string[], rename?: Readonly<Record<string, string>> }

const renames = (transform: HeaderTransform): Map<string, string> | undefined =>
  transform.rename === undefined ? undefined : new Map(Object.entries(transform.rename).map(([from, to]) => [from.toLowerCase(), to.toLowerCase()]))

export interface ForwardedFacts {
  host: string
  requestId: string
  clientAddress: string
  /** the peer is a trusted proxy: its X-Forwarded-* are kept and extended */
  trusted: boolean
  protocol: 'http' | 'https'
  /** the authenticated (or anonymous) consumer: becomes X-Consumer-Id/Tier/Roles */
  consumer: Consumer | null
  /** the request's trace: the upstream joins it as a child of the gateway's span */
  trace: TraceContext | null
}

/** Compiles the per-route request header function. */
export function requestHeaderBuilder (transform: HeaderTransform = {}, opts: { groupsHeader?: boolean } = {}): (incoming: IncomingHttpHeaders, facts: ForwardedFacts) => OutgoingHeaders {
  const groupsHeader = opts.groupsHeader === true
  const drop = new Set([...HOP_BY_HOP, ...GATEWAY_OWNED, ...(transform.remove ?? []).map((h) => h.toLowerCase())])
  const dropUntrusted = new Set([...drop, ...FORWARDING_ALIASES])
  const add = Object.entries(transform.add ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const)
  const rename = renames(transform)
  return (incoming, facts) => {
    const out: OutgoingHeaders = {}
    const connection = incoming.connection
    const listed = connection && connection !== 'keep-alive' && connection !== 'close' ? connectionTokens(connection) : undefined
    const dropped = facts.trusted ? drop : dropUntrusted
    for (const name in incoming) {
      if (dropped.has(name) || listed?.has(name) || spoofsOwned(name)) continue
      const value = incoming[name]
      if (value === undefined) continue
      const to = rename?.get(name)
      // a rename cannot produce a header the gateway owns
      if (to !== undefined) { if (!OWNED.has(to)) out[to] = value } else out[name] = value
    }
    out.host = facts.host
    out['x-request-id'] = facts.requestId
    const trace = facts.trace
    if (trace !== null) {
      out.traceparent = trace.traceparent
      if (trace.tracestate !== undefined) out.tracestate = trace.tracestate
    }
    const priorFor = incoming['x-forwarded-for']
    out['x-forwarded-for'] = facts.trusted && priorFor ? `${priorFor}, ${facts.clientAddress}` : facts.clientAddress
    out['x-forwarded-proto'] = (facts.trusted && firstValue(incoming['x-forwarded-proto'])) || facts.protocol
    const forwardedHost = (facts.trusted && firstValue(incoming['x-forwarded-host'])) || incoming.host
    if (forwardedHost) out['x-forwarded-host'] = forwardedHost
    if (facts.trusted && incoming.forwarded) out.forwarded = incoming.forwarded
    for (const [k, v] of add) out[k] = v
    const consumerHeaders = facts.consumer?.headers
    for (const k in consumerHeaders) out[k] = consumerHeaders[k]!
    // Kong's acl plugin tells the upstream the consumer's groups
    if (groupsHeader && facts.consumer !== null && facts.consumer.roles.length > 0) out['x-consumer-groups'] = facts.consumer.roles.join(', ')
    return out
  }
}

/** Compiles the per-route response header function (upstream → client). */
export function responseHeaderBuilder (transform: HeaderTransform = {}): (upstream: Record<string, string | string[] | undefined>) => OutgoingHeaders {
  // the client hears the request id the gateway logged, not one the upstream made up
  const drop = new Set([...HOP_BY_HOP, 'x-request-id', ...(transform.remove ?? []).map((h) => h.toLowerCase())])
  const add = Object.entries(transform.add ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const)
  const rename = renames(transform)
  return (upstream) => {
    const out: OutgoingHeaders = {}
    const connection = upstream.connection
    const listed = typeof connection === 'string' && connection !== 'keep-alive' && connection !== 'close' ? connectionTokens(connection) : undefined
    for (const name in upstream) {
      if (drop.has(name) || listed?.has(name)) continue
      const value = upstream[name]
      if (value === undefined) continue
      const to = rename?.get(name)
      if (to !== undefined) { if (!drop.has(to)) out[to] = value } else out[name] = value
    }
    for (const [k, v] of add) out[k] = v
    return out
  }
}

function connectionTokens (value: string): Set<string> {
  return new Set(value.toLowerCase().split(',').map((t) => t.trim()).filter(Boolean))
}

function firstValue (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
