// W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/) for a gateway that
// participates in a trace: it continues a valid incoming `traceparent` with a new span
// id of its own, or starts a new trace when the header is absent or invalid. Pure and
// allocation-light: it runs on every request and must never throw, whatever comes in.

import { randomFillSync } from 'node:crypto'

export interface TraceContext {
  /** 32 lowercase hex, never all zeros */
  readonly traceId: string
  /** this gateway hop's span id: 16 lowercase hex, never all zeros; the upstream sees it as its parent-id */
  readonly spanId: string
  /** the caller's parent-id when a valid traceparent came in, else undefined (the gateway started the trace) */
  readonly parentId: string | undefined
  /** 2 lowercase hex trace-flags as forwarded */
  readonly flags: string
  /** the traceparent header to send upstream: `00-${traceId}-${spanId}-${flags}` */
  readonly traceparent: string
  /** the tracestate to send upstream, or undefined (never forwarded when the incoming traceparent was invalid/absent) */
  readonly tracestate: string | undefined
}

const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)

// §"traceparent Header Field Values": version "-" trace-id "-" parent-id "-" trace-flags,
// all HEXDIGLC (lowercase only). Anchored at the start only: a future version may be
// longer than 55 chars (checked below), and the match never looks past char 55.
const TRACEPARENT_PREFIX = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}/
const V00_LENGTH = 55

/** parse a traceparent value; undefined when invalid */
export function parseTraceparent (value: string | undefined): { traceId: string, parentId: string, flags: string } | undefined {
  if (typeof value !== 'string' || value.length < V00_LENGTH) return undefined
  if (!TRACEPARENT_PREFIX.test(value)) return undefined
  const version = value.slice(0, 2)
  // §"version": version ff is forbidden
  if (version === 'ff') return undefined
  if (version === '00') {
    // §"version-format": version 00 is exactly 55 chars, nothing may follow the flags
    if (value.length !== V00_LENGTH) return undefined
  } else if (value.length > V00_LENGTH && value.charCodeAt(V00_LENGTH) !== 0x2d /* - */) {
    // §"Versioning of traceparent": a higher version is parsed as version 00 fields; the
    // 2 flag chars must be at the end of the string or followed by a dash. Whatever
    // comes after is an unknown field we must not parse or assume anything about.
    return undefined
  }
  const traceId = value.slice(3, 35)
  const parentId = value.slice(36, 52)
  // §"trace-id" / §"parent-id": all zeros is invalid, the traceparent is ignored
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return undefined
  let flags = value.slice(53, 55)
  // §"Versioning of traceparent": from a higher version only the `sampled` bit is parsed,
  // and the header is rebuilt as version 00 (§"Mutating the traceparent Field":
  // "Downgrade the version"). For version 00 the flags are forwarded as received, so
  // bits defined later (e.g. Level 2's `random`) survive this hop; note Level 1
  // §"Other Flags" asks vendors to zero the undefined bits — a deliberate choice here.
  if (version !== '00') flags = (parseInt(flags, 16) & 1) === 1 ? '01' : '00'
  return { traceId, parentId, flags }
}

// §"tracestate Limits": vendors SHOULD propagate at least 512 chars of the combined
// header; §"tracestate Header Field Values": at most 32 list-members, values are
// printable ASCII (0x20-0x7E). Anything beyond that is dropped whole — a vendor MAY
// delete entries, and a partial repair would guess at other vendors' data.
const TRACESTATE_MAX_LENGTH = 512
const TRACESTATE_MAX_MEMBERS = 32

function forwardableTracestate (header: string | string[] | undefined): string | undefined {
  let combined: string | undefined
  if (typeof header === 'string') {
    combined = header
  } else if (Array.isArray(header)) {
    // §"tracestate Header Field Values": several header fields are combined into one,
    // comma-separated (RFC 7230 §3.2.2). Empty/whitespace-only fields add nothing.
    for (const part of header) {
      if (typeof part !== 'string' || part.trim() === '') continue
      combined = combined === undefined ? part : `${combined},${part}`
      if (combined.length > TRACESTATE_MAX_LENGTH) return undefined
    }
  }
  if (combined === undefined || combined.length > TRACESTATE_MAX_LENGTH) return undefined
  // one pass: printable ASCII only, count the list-members that are not empty or
  // whitespace-only (those are allowed and do not count), remember if any content exists
  let members = 0
  let memberHasContent = false
  for (let i = 0; i < combined.length; i++) {
    const c = combined.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return undefined
    if (c === 0x2c /* , */) {
      memberHasContent = false
    } else if (c !== 0x20 && !memberHasContent) {
      memberHasContent = true
      if (++members > TRACESTATE_MAX_MEMBERS) return undefined
    }
  }
  // §"tracestate Header Field Values": empty headers are accepted but SHOULD NOT be sent
  return members === 0 ? undefined : combined
}

/** what a request continues (valid traceparent) or starts (absent/invalid) */
export function traceFrom (traceparent: string | string[] | undefined, tracestate: string | string[] | undefined): TraceContext {
  // several traceparent header fields cannot be combined into one: restart the trace
  // (a single-element array is just one header)
  const single = Array.isArray(traceparent)
    ? (traceparent.length === 1 ? traceparent[0] : undefined)
    : traceparent
  const incoming = parseTraceparent(single)
  const spanId = newSpanId()
  if (incoming === undefined) {
    // §"Mutating the traceparent Field" ("Restart trace") and §"Tracestate Header": when
    // traceparent could not be parsed, tracestate MUST NOT be parsed, so it is not
    // forwarded. Flags are 01 (sampled): the spec's default for a component that starts a
    // trace is 0 (§"Sampled flag"), but the gateway is the edge of the system and starts
    // traces so that upstreams with parent-based samplers record them.
    const traceId = newTraceId()
    return {
      traceId,
      spanId,
      parentId: undefined,
      flags: '01',
      traceparent: `00-${traceId}-${spanId}-01`,
      tracestate: undefined
    }
  }
  // §"Mutating the traceparent Field" ("Update parent-id"): same trace-id and flags, this
  // hop's span id becomes the upstream's parent-id; tracestate goes along unchanged.
  return {
    traceId: incoming.traceId,
    spanId,
    parentId: incoming.parentId,
    flags: incoming.flags,
    traceparent: `00-${incoming.traceId}-${spanId}-${incoming.flags}`,
    tracestate: forwardableTracestate(tracestate)
  }
}

// Ids come from crypto-strong randomness, drawn cheaply: one randomFillSync per 4 KiB
// (256 trace ids or 512 span ids) instead of one per id. Every byte is used once.
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafeSlow(POOL_SIZE)
let poolOffset = POOL_SIZE // empty: the first draw fills it

function randomHex (bytes: number, zero: string): string {
  for (;;) {
    if (poolOffset + bytes > POOL_SIZE) {
      randomFillSync(pool)
      poolOffset = 0
    }
    const id = pool.toString('hex', poolOffset, poolOffset + bytes)
    poolOffset += bytes
    // §"trace-id" / §"parent-id": all zeros is invalid, draw again
    if (id !== zero) return id
  }
}

/** a random trace-id: 32 lowercase hex, never all zeros */
export function newTraceId (): string {
  return randomHex(16, ZERO_TRACE_ID)
}

/** a random span id (the parent-id upstream sees): 16 lowercase hex, never all zeros */
export function newSpanId (): string {
  return randomHex(8, ZERO_SPAN_ID)
}
