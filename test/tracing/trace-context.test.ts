import t, { type Test } from 'tap'
import { newSpanId, newTraceId, parseTraceparent, traceFrom, type TraceContext } from '../../src/trace-context.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'
const VALID = `00-${TRACE_ID}-${PARENT_ID}-01`
const WELL_FORMED = /^00-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/
const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)

/** every context, continued or started, is internally consistent */
function assertWellFormed (t: Test, ctx: TraceContext, msg = ''): void {
  t.match(ctx.traceparent, WELL_FORMED, `traceparent well formed ${msg}`)
  t.equal(ctx.traceparent, `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags}`, `traceparent built from the fields ${msg}`)
  t.not(ctx.traceId, ZERO_TRACE_ID)
  t.not(ctx.spanId, ZERO_SPAN_ID)
}

/** a context that started a new trace */
function assertRestarted (t: Test, ctx: TraceContext, msg = ''): void {
  assertWellFormed(t, ctx, msg)
  t.not(ctx.traceId, TRACE_ID, `new trace id ${msg}`)
  t.equal(ctx.parentId, undefined, `no parent ${msg}`)
  t.equal(ctx.flags, '01', `a started trace is sampled ${msg}`)
  t.equal(ctx.tracestate, undefined, `no tracestate on a restart ${msg}`)
}

t.test('a valid version 00 traceparent is continued', async (t) => {
  const ctx = traceFrom(VALID, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')
  assertWellFormed(t, ctx)
  t.equal(ctx.traceId, TRACE_ID, 'trace id kept')
  t.equal(ctx.parentId, PARENT_ID, 'the caller\'s parent-id is our parent')
  t.equal(ctx.flags, '01', 'flags kept')
  t.match(ctx.spanId, /^[\da-f]{16}$/)
  t.not(ctx.spanId, PARENT_ID, 'a new span id for this hop')
  t.equal(ctx.traceparent, `00-${TRACE_ID}-${ctx.spanId}-01`)
  t.equal(ctx.tracestate, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'tracestate forwarded unchanged')
  t.not(traceFrom(VALID, undefined).spanId, ctx.spanId, 'every request gets its own span id')
  t.equal(traceFrom(VALID, undefined).tracestate, undefined, 'no tracestate in, none out')
})

t.test('version 00 flags are forwarded as received', async (t) => {
  t.equal(traceFrom(`00-${TRACE_ID}-${PARENT_ID}-00`, undefined).flags, '00', 'not sampled stays not sampled')
  t.equal(traceFrom(`00-${TRACE_ID}-${PARENT_ID}-00`, undefined).traceparent.slice(-3), '-00')
  t.equal(traceFrom(`00-${TRACE_ID}-${PARENT_ID}-03`, undefined).flags, '03', 'bits beyond sampled kept for 00')
  t.equal(traceFrom(`00-${TRACE_ID}-${PARENT_ID}-ff`, undefined).flags, 'ff')
})

t.test('parseTraceparent returns the fields of a valid header', async (t) => {
  t.same(parseTraceparent(VALID), { traceId: TRACE_ID, parentId: PARENT_ID, flags: '01' })
  t.same(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`), { traceId: TRACE_ID, parentId: PARENT_ID, flags: '00' })
  t.equal(parseTraceparent(undefined), undefined)
  t.equal(parseTraceparent(''), undefined)
})

t.test('a higher (future) version is parsed as version 00 and downgraded', async (t) => {
  const longer = `01-${TRACE_ID}-${PARENT_ID}-01-what-the-future-will-be-like`
  t.same(parseTraceparent(longer), { traceId: TRACE_ID, parentId: PARENT_ID, flags: '01' })
  const ctx = traceFrom(longer, 'congo=t61rcWkgMzE')
  assertWellFormed(t, ctx)
  t.equal(ctx.traceId, TRACE_ID)
  t.equal(ctx.parentId, PARENT_ID)
  t.ok(ctx.traceparent.startsWith('00-'), 'forwarded as version 00')
  t.equal(ctx.tracestate, 'congo=t61rcWkgMzE')

  const exact = `cc-${TRACE_ID}-${PARENT_ID}-01`
  t.equal(exact.length, 55)
  t.same(parseTraceparent(exact), { traceId: TRACE_ID, parentId: PARENT_ID, flags: '01' }, 'exactly 55 chars')
  t.equal(traceFrom(exact, undefined).traceparent.slice(0, 3), '00-')

  t.same(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01-`), { traceId: TRACE_ID, parentId: PARENT_ID, flags: '01' },
    'a trailing dash with an empty unknown field')
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01x`), undefined, 'the 56th char must be a dash')
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01 `), undefined)
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-0`), undefined, 'shorter than 55 chars')
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-0g-x`), undefined, 'flags still must be hex')
})

t.test('a future version keeps only the sampled bit of the flags', async (t) => {
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-09`)?.flags, '01')
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-ff-x`)?.flags, '01')
  t.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-fe`)?.flags, '00')
  t.equal(parseTraceparent(`fe-${TRACE_ID}-${PARENT_ID}-02`)?.flags, '00')
  t.equal(traceFrom(`01-${TRACE_ID}-${PARENT_ID}-08`, undefined).traceparent.slice(-3), '-00')
})

t.test('version ff is forbidden', async (t) => {
  t.equal(parseTraceparent(`ff-${TRACE_ID}-${PARENT_ID}-01`), undefined)
  t.equal(parseTraceparent(`ff-${TRACE_ID}-${PARENT_ID}-01-extra`), undefined)
  assertRestarted(t, traceFrom(`ff-${TRACE_ID}-${PARENT_ID}-01`, 'congo=t61rcWkgMzE'))
})

t.test('invalid traceparents are rejected and restart the trace', async (t) => {
  const invalid: Array<[string, string]> = [
    ['version 00 with a trailing field', `${VALID}-extra`],
    ['version 00 with a trailing dash', `${VALID}-`],
    ['version 00 with trailing space', `${VALID} `],
    ['leading space', ` ${VALID}`],
    ['trace id too short', `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`],
    ['trace id too long', `00-${TRACE_ID}a-${PARENT_ID}-01`],
    ['parent id too short', `00-${TRACE_ID}-${PARENT_ID.slice(1)}-01`],
    ['parent id too long', `00-${TRACE_ID}-${PARENT_ID}a-01`],
    ['flags one char', `00-${TRACE_ID}-${PARENT_ID}-1`],
    ['flags three chars', `00-${TRACE_ID}-${PARENT_ID}-011`],
    ['version one char', `0-${TRACE_ID}-${PARENT_ID}-01`],
    ['version three chars', `000-${TRACE_ID}-${PARENT_ID}-01`],
    ['uppercase trace id', `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`],
    ['one uppercase char in the trace id', `00-${TRACE_ID.replace('f', 'F')}-${PARENT_ID}-01`],
    ['uppercase parent id', `00-${TRACE_ID}-00F067AA0BA902B7-01`],
    ['uppercase flags', `00-${TRACE_ID}-${PARENT_ID}-0A`],
    ['uppercase version', `0A-${TRACE_ID}-${PARENT_ID}-01`],
    ['all-zero trace id', `00-${ZERO_TRACE_ID}-${PARENT_ID}-01`],
    ['all-zero parent id', `00-${TRACE_ID}-${ZERO_SPAN_ID}-01`],
    ['all-zero trace id, future version', `01-${ZERO_TRACE_ID}-${PARENT_ID}-01-x`],
    ['all-zero parent id, future version', `01-${TRACE_ID}-${ZERO_SPAN_ID}-01`],
    ['non-hex in the trace id', `00-${TRACE_ID.slice(0, 31)}g-${PARENT_ID}-01`],
    ['non-hex in the parent id', `00-${TRACE_ID}-${PARENT_ID.slice(0, 15)}z-01`],
    ['non-hex in the flags', `00-${TRACE_ID}-${PARENT_ID}-0x`],
    ['non-hex version', `0x-${TRACE_ID}-${PARENT_ID}-01`],
    ['a unicode digit in the trace id', `00-${TRACE_ID.slice(0, 31)}٣-${PARENT_ID}-01`],
    ['missing dash after the version', `00${TRACE_ID}-${PARENT_ID}-011`],
    ['missing dash after the trace id', `00-${TRACE_ID}${PARENT_ID}-011`],
    ['missing dash before the flags', `00-${TRACE_ID}-${PARENT_ID}01`],
    ['extra dash', `00--${TRACE_ID}-${PARENT_ID}-01`],
    ['dash inside the trace id', `00-${TRACE_ID.slice(0, 16)}-${TRACE_ID.slice(16)}-${PARENT_ID}-01`],
    ['underscores instead of dashes', `00_${TRACE_ID}_${PARENT_ID}_01`],
    ['a uuid-style trace id', `00-4bf92f35-77b3-4da6-a3ce-929d0e0e4736-${PARENT_ID}-01`],
    ['empty', ''],
    ['whitespace', '   '],
    ['garbage', 'not a traceparent']
  ]
  for (const [name, value] of invalid) {
    t.equal(parseTraceparent(value), undefined, name)
    assertRestarted(t, traceFrom(value, 'congo=t61rcWkgMzE'), `(${name})`)
  }
})

t.test('an absent traceparent starts a new sampled trace', async (t) => {
  const ctx = traceFrom(undefined, undefined)
  assertRestarted(t, ctx)
  t.not(traceFrom(undefined, undefined).traceId, ctx.traceId, 'each new trace has its own id')
  assertRestarted(t, traceFrom(undefined, 'congo=t61rcWkgMzE'), '(tracestate without traceparent)')
  assertRestarted(t, traceFrom([], ['congo=t61rcWkgMzE']), '(empty array)')
})

t.test('several traceparent headers restart the trace', async (t) => {
  const other = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`
  assertRestarted(t, traceFrom([VALID, other], 'congo=t61rcWkgMzE'), '(two different)')
  assertRestarted(t, traceFrom([VALID, VALID], 'congo=t61rcWkgMzE'), '(the same twice)')
  // Node joins repeated unknown headers with ", ", which no longer parses
  assertRestarted(t, traceFrom(`${VALID}, ${other}`, 'congo=t61rcWkgMzE'), '(joined by Node)')
  assertRestarted(t, traceFrom(`01-${TRACE_ID}-${PARENT_ID}-01, ${other}`, 'congo=t61rcWkgMzE'), '(future version, joined)')
  // a one-element array is a single header
  const one = traceFrom([VALID], 'congo=t61rcWkgMzE')
  t.equal(one.traceId, TRACE_ID)
  t.equal(one.parentId, PARENT_ID)
  t.equal(one.tracestate, 'congo=t61rcWkgMzE')
})

t.test('tracestate: several header values are combined with commas', async (t) => {
  t.equal(traceFrom(VALID, ['rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE']).tracestate, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')
  t.equal(traceFrom(VALID, ['a=1,b=2', 'c=3']).tracestate, 'a=1,b=2,c=3')
  t.equal(traceFrom(VALID, ['a=1']).tracestate, 'a=1')
  t.equal(traceFrom(VALID, ['', 'a=1', '  ']).tracestate, 'a=1', 'empty values add nothing')
  t.equal(traceFrom(VALID, []).tracestate, undefined)
  t.equal(traceFrom(VALID, ['', ' ']).tracestate, undefined)
})

t.test('tracestate: empty or whitespace-only is treated as absent', async (t) => {
  t.equal(traceFrom(VALID, '').tracestate, undefined)
  t.equal(traceFrom(VALID, '   ').tracestate, undefined)
  t.equal(traceFrom(VALID, ' , ,, ').tracestate, undefined, 'only empty list members')
  t.equal(traceFrom(VALID, 'a=1, ,b=2').tracestate, 'a=1, ,b=2', 'empty members inside are allowed and kept')
  t.equal(traceFrom(VALID, 'a=1 ').tracestate, 'a=1 ', 'forwarded as received, not trimmed')
})

t.test('tracestate is never forwarded when the traceparent is invalid or absent', async (t) => {
  t.equal(traceFrom(undefined, 'congo=t61rcWkgMzE').tracestate, undefined)
  t.equal(traceFrom('garbage', 'congo=t61rcWkgMzE').tracestate, undefined)
  t.equal(traceFrom(`00-${ZERO_TRACE_ID}-${PARENT_ID}-01`, ['a=1', 'b=2']).tracestate, undefined)
  t.equal(traceFrom([VALID, VALID], 'congo=t61rcWkgMzE').tracestate, undefined)
})

t.test('tracestate longer than 512 chars is dropped whole', async (t) => {
  const at512 = `a=${'x'.repeat(510)}`
  t.equal(at512.length, 512)
  t.equal(traceFrom(VALID, at512).tracestate, at512, 'exactly 512 is kept')
  t.equal(traceFrom(VALID, `${at512}y`).tracestate, undefined, '513 is dropped')
  t.equal(traceFrom(VALID, [at512.slice(0, 300), `b=${'y'.repeat(300)}`]).tracestate, undefined, 'combined length counts')
  t.equal(traceFrom(VALID, [at512.slice(0, 255), `b=${'y'.repeat(254)}`]).tracestate?.length, 512, 'combined 512 kept (comma counts)')
  t.equal(traceFrom(VALID, 'a=1,'.repeat(1_000_000)).tracestate, undefined, 'a huge value is dropped')
  t.equal(traceFrom(VALID, Array.from({ length: 10_000 }, (_, i) => `k${i}=v`)).tracestate, undefined, 'many huge arrays')
})

t.test('tracestate with more than 32 list members is dropped whole', async (t) => {
  const members = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}=v${i}`).join(',')
  t.equal(traceFrom(VALID, members(32)).tracestate, members(32), '32 members kept')
  t.equal(traceFrom(VALID, members(33)).tracestate, undefined, '33 members dropped')
  t.equal(traceFrom(VALID, [members(16), members(17)]).tracestate, undefined, '33 members across two headers dropped')
  t.equal(traceFrom(VALID, `${members(32)},, , `).tracestate, `${members(32)},, , `, 'empty members do not count')
})

t.test('tracestate with characters outside printable ASCII is dropped whole', async (t) => {
  for (const [name, bad] of [
    ['tab', 'a=1,\tb=2'],
    ['newline', 'a=1\nb=2'],
    ['carriage return', 'a=1\r\nb=2'],
    ['NUL', 'a=\u0000'],
    ['DEL', 'a=\u007f'],
    ['latin-1', 'a=caf\u00e9'],
    ['emoji', 'a=\u{1F600}'],
    ['lone surrogate', 'a=\ud800']
  ]) {
    t.equal(traceFrom(VALID, bad).tracestate, undefined, name)
    t.equal(traceFrom(VALID, ['ok=1', bad]).tracestate, undefined, `${name} in a second header`)
  }
  t.equal(traceFrom(VALID, 'a= !~').tracestate, 'a= !~', 'the printable range edges are kept')
})

t.test('newTraceId / newSpanId: format, never zero, unique', async (t) => {
  const traceIds = new Set<string>()
  const spanIds = new Set<string>()
  let badTrace = 0
  let badSpan = 0
  // interleaved so the pool is shared and refilled with mixed 8/16-byte draws
  for (let i = 0; i < 10_000; i++) {
    const traceId = newTraceId()
    const spanId = newSpanId()
    if (!/^[\da-f]{32}$/.test(traceId) || traceId === ZERO_TRACE_ID) badTrace++
    if (!/^[\da-f]{16}$/.test(spanId) || spanId === ZERO_SPAN_ID) badSpan++
    traceIds.add(traceId)
    spanIds.add(spanId)
  }
  t.equal(badTrace, 0, 'every trace id is 32 lowercase hex and not zero')
  t.equal(badSpan, 0, 'every span id is 16 lowercase hex and not zero')
  t.equal(traceIds.size, 10_000, '10,000 distinct trace ids')
  t.equal(spanIds.size, 10_000, '10,000 distinct span ids')
})

t.test('ids are drawn from a pooled randomFillSync and an all-zero draw is redrawn', async (t) => {
  let fills = 0
  const mod = await t.mockImport<typeof import('../../src/trace-context.js')>('../../src/trace-context.js', {
    'node:crypto': {
      randomFillSync: (buf: Buffer): Buffer => {
        fills++
        if (fills === 1) {
          // the first 16 bytes are zero (a zero trace id), then bytes 32..39 too (a zero span id)
          buf.fill(0)
          buf.fill(0x11, 16, 24)
          buf.fill(0x22, 40, 48)
          buf.fill(0x5a, 48)
        } else {
          buf.fill(fills)
        }
        return buf
      }
    }
  })
  t.equal(mod.newTraceId(), '1111111111111111' + '0'.repeat(16), 'the zero trace id was skipped')
  t.equal(mod.newSpanId(), '2222222222222222', 'the zero span id was skipped')
  t.equal(fills, 1, 'one fill serves many ids')
  // 4096 bytes: 48 used so far, 4048 left = 253 trace ids; the 254th refills
  for (let i = 0; i < 253; i++) mod.newTraceId()
  t.equal(fills, 1)
  t.equal(mod.newTraceId(), '02'.repeat(16), 'refilled when exhausted')
  t.equal(fills, 2)
})

// mulberry32: a small seeded PRNG so a fuzz failure reproduces
function prng (seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}

t.test('fuzz: arbitrary input never throws and always yields a well-formed traceparent', async (t) => {
  const random = prng(0x7ace)
  const alphabet = '0123456789abcdefABCDEF-- ,=xyz\t\n\u0000\u00e9\u{1F600}\ud800ff00'
  const pick = (s: string): string => s[Math.floor(random() * s.length)] ?? ''
  const randomString = (): string => {
    const len = Math.floor(random() * 80)
    let s = ''
    for (let i = 0; i < len; i++) s += pick(alphabet)
    return s
  }
  // near misses: a valid header with one char replaced, inserted or removed
  const mutate = (base: string): string => {
    const at = Math.floor(random() * (base.length + 1))
    const op = Math.floor(random() * 3)
    if (op === 0) return base.slice(0, at) + pick(alphabet) + base.slice(at + 1)
    if (op === 1) return base.slice(0, at) + pick(alphabet) + base.slice(at)
    return base.slice(0, at) + base.slice(at + 1)
  }
  let failures = 0
  let continued = 0
  for (let i = 0; i < 2_000; i++) {
    const kind = i % 4
    const traceparent: string | string[] = kind === 0
      ? randomString()
      : kind === 1
        ? mutate(VALID)
        : kind === 2
          ? mutate(`01-${TRACE_ID}-${PARENT_ID}-01-${randomString()}`)
          : [randomString(), mutate(VALID)].slice(0, 1 + Math.floor(random() * 2))
    const tracestate = i % 3 === 0 ? [randomString(), randomString()] : randomString()
    try {
      const ctx = traceFrom(traceparent, tracestate)
      const ok = WELL_FORMED.test(ctx.traceparent) &&
        ctx.traceparent === `00-${ctx.traceId}-${ctx.spanId}-${ctx.flags}` &&
        ctx.traceId !== ZERO_TRACE_ID && ctx.spanId !== ZERO_SPAN_ID &&
        (ctx.parentId === undefined ? ctx.tracestate === undefined && ctx.flags === '01' : /^[\da-f]{16}$/.test(ctx.parentId)) &&
        (ctx.tracestate === undefined || (ctx.tracestate.length <= 512 && /^[\x20-\x7e]+$/.test(ctx.tracestate)))
      if (!ok) {
        failures++
        t.fail('malformed context', { traceparent, tracestate, ctx })
      }
      if (ctx.parentId !== undefined) continued++
      parseTraceparent(typeof traceparent === 'string' ? traceparent : traceparent[0])
    } catch (err) {
      failures++
      t.fail('threw', { traceparent, tracestate, err })
    }
  }
  t.equal(failures, 0, '2,000 random inputs, no throw, always well formed')
  t.ok(continued > 0, `some near misses still parse (${continued})`)
})

t.test('odd runtime values never throw', async (t) => {
  const odd: unknown[] = [null, 42, {}, [null], [42, VALID], [[VALID]], Symbol('x'), 'x'.repeat(1_000_000),
    `01-${TRACE_ID}-${PARENT_ID}-01-${'x'.repeat(1_000_000)}`]
  for (const value of odd) {
    t.doesNotThrow(() => {
      const ctx = traceFrom(value as string, value as string)
      assertWellFormed(t, ctx)
    })
    t.doesNotThrow(() => parseTraceparent(value as string))
  }
  const huge = traceFrom(`01-${TRACE_ID}-${PARENT_ID}-01-${'x'.repeat(1_000_000)}`, undefined)
  t.equal(huge.traceId, TRACE_ID, 'a long future-version header still parses (only the first 55 chars are read)')
  t.equal(huge.traceparent.length, 55)
})
