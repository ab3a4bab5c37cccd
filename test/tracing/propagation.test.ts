// W3C Trace Context through the running gateway: a valid traceparent is continued
// (same trace id and flags, the gateway's span as the upstream's parent), an absent
// or invalid one starts a trace; tracestate travels with a valid traceparent only.
import t, { type Test } from 'tap'
import { WebSocket } from 'ws'
import { once } from 'node:events'
import { startUpstream, startWsUpstream, startGateway, servicesFor, call } from '../helpers.js'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT = '00f067aa0ba902b7'

async function gateway (t: Test) {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  const forwarded = async (headers: Record<string, string>) => {
    const res = await call(`${gw.url}/v1/api/x`, { headers })
    t.equal(res.status, 200)
    return up.requests.at(-1)!.headers
  }
  return { up, gw, forwarded }
}

const parse = (value: unknown) => {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value))
  if (!m) throw new Error(`not a version-00 traceparent: ${String(value)}`)
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! }
}

t.test('a valid traceparent is continued: same trace and flags, the gateway as the parent', async (t) => {
  const { forwarded } = await gateway(t)
  for (const flags of ['01', '00']) {
    const headers = await forwarded({ traceparent: `00-${TRACE}-${PARENT}-${flags}`, tracestate: 'vendor=abc,other=1' })
    const sent = parse(headers.traceparent)
    t.equal(sent.traceId, TRACE)
    t.equal(sent.flags, flags)
    t.not(sent.parentId, PARENT, 'the upstream\'s parent is the gateway\'s span, not the client\'s')
    t.not(sent.parentId, '0000000000000000')
    t.equal(headers.tracestate, 'vendor=abc,other=1', 'tracestate passed through')
  }
})

t.test('no traceparent: the gateway starts a sampled trace', async (t) => {
  const { forwarded } = await gateway(t)
  const a = await forwarded({})
  const b = await forwarded({ tracestate: 'orphan=1' })
  t.equal(parse(a.traceparent).flags, '01')
  t.not(parse(a.traceparent).traceId, parse(b.traceparent).traceId, 'a new trace per request')
  t.equal(b.tracestate, undefined, 'a tracestate without a traceparent is not forwarded')
})

t.test('an invalid traceparent starts a new trace and drops tracestate', async (t) => {
  const { forwarded } = await gateway(t)
  for (const bad of [`ff-${TRACE}-${PARENT}-01`, `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-extra`, 'garbage']) {
    const headers = await forwarded({ traceparent: bad, tracestate: 'vendor=abc' })
    const sent = parse(headers.traceparent)
    t.not(sent.traceId, TRACE, bad)
    t.equal(headers.tracestate, undefined, `${bad}: tracestate dropped`)
  }
})

t.test('a proxied WebSocket upgrade carries the trace too', async (t) => {
  const ws = await startWsUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(ws.url) })
  const client = new WebSocket(`${gw.url.replace('http', 'ws')}/v1/graphql`, 'graphql-transport-ws', { headers: { traceparent: `00-${TRACE}-${PARENT}-01` } })
  await once(client, 'open')
  const upgrade = ws.upgrades.at(-1)!
  t.equal(parse(upgrade.headers.traceparent).traceId, TRACE)
  t.not(parse(upgrade.headers.traceparent).parentId, PARENT)
  client.close()
  await once(client, 'close')
})
