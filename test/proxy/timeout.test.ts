import t from 'tap'
import { once } from 'node:events'
import type http from 'node:http'
import net from 'node:net'
import { startUpstream, startGateway, servicesFor, call, echo } from '../helpers.js'

t.test('an upstream slower than the timeout → 504 problem+json, and the upstream request is aborted', async (t) => {
  let upstreamSawClose: Promise<unknown> | undefined
  const up = await startUpstream(t, (req: http.IncomingMessage) => { upstreamSawClose = once(req.socket, 'close') })
  const gw = await startGateway(t, { services: servicesFor(up.url), breaker: { timeoutMs: 300 } })
  const started = Date.now()
  const res = await call(`${gw.url}/v1/api/slow`)
  const elapsed = Date.now() - started
  t.equal(res.status, 504)
  t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_TIMEOUT', status: 504, detail: 'Service "query" did not answer within 300 ms' })
  // the configured 300 ms, not undici's ~1 s timer granularity (the bound leaves room for a loaded CI)
  t.ok(elapsed >= 295 && elapsed < 900, `answered after ${elapsed} ms`)
  await upstreamSawClose
  t.pass('the upstream connection was closed, not left running')
  t.equal(up.requests.length, 1, 'a timed-out request is not retried')
})

t.test('a route timeout overrides the service timeout', async (t) => {
  const up = await startUpstream(t, () => {})
  const gw = await startGateway(t, { services: servicesFor(up.url), breaker: { timeoutMs: 5000 }, routes: [{ prefix: '/v1/api', service: 'query', auth: 'public', timeoutMs: 100 }] })
  const started = Date.now()
  const res = await call(`${gw.url}/v1/api/slow`)
  t.equal(res.status, 504)
  t.match(res.json(), { detail: 'Service "query" did not answer within 100 ms' })
  t.ok(Date.now() - started < 2000, 'the route\'s 100 ms applied, not the service\'s 5000 ms')
})

t.test('a client that goes away cancels its upstream request', async (t) => {
  let upstreamSawClose: Promise<unknown> | undefined
  const up = await startUpstream(t, (req: http.IncomingMessage) => { upstreamSawClose = once(req.socket, 'close') })
  const gw = await startGateway(t, { services: servicesFor(up.url), breaker: { timeoutMs: 30_000 } })
  const controller = new AbortController()
  const pending = fetch(`${gw.url}/v1/api/slow`, { signal: controller.signal }).catch((e: Error) => e)
  const deadline = Date.now() + 5000
  while (!upstreamSawClose && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  controller.abort()
  await pending
  await upstreamSawClose
  t.pass('upstream request cancelled long before the 30 s timeout')
  t.equal(gw.context.services.get('query')!.targets[0]!.inflight, 0)
})

t.test('a client that trickles its body past the deadline gets 408; the service is not blamed (no ejection, no breaker failure)', async (t) => {
  const up = await startUpstream(t, echo('up'))
  const gw = await startGateway(t, { services: servicesFor(up.url), breaker: { timeoutMs: 400, minRequests: 2 } })
  const port = Number(new URL(gw.url).port)
  const answers: string[] = []
  for (let i = 0; i < 3; i++) {
    const socket = net.connect(port, '127.0.0.1')
    let data = ''
    socket.on('data', (d: Buffer) => { data += d.toString() })
    // declares 100 bytes, sends 10, then stalls
    socket.write('POST /v1/commands/wallets HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":12345')
    await once(socket, 'close')
    answers.push(data)
  }
  for (const answer of answers) {
    t.match(answer, /^HTTP\/1\.1 408 /, 'answered 408 and the connection closed')
    t.match(answer, /"code":"GW_REQUEST_TIMEOUT"/)
  }
  t.match(gw.context.breakers.get('command')!.snapshot(), { state: 'closed', window: { failures: 0 } })
  t.equal(gw.context.services.get('command')!.summary()[0]!.state, 'healthy')
  t.equal((await call(`${gw.url}/v1/commands/wallets`, { method: 'POST', body: '{}' })).status, 200, 'a well-behaved client is served')
})

t.test('an upstream that stops reading the body is the service\'s fault: 504, and it counts', async (t) => {
  // reads nothing and never answers: the body stays in the pipes, undici stops pulling
  const up = await startUpstream(t, () => {})
  up.server.removeAllListeners('request')
  up.server.on('request', (req: http.IncomingMessage) => { req.pause() })
  const gw = await startGateway(t, { services: servicesFor(up.url), breaker: { timeoutMs: 300, minRequests: 100 } })
  const big = 'x'.repeat(900_000)
  const res = await call(`${gw.url}/v1/commands/wallets`, { method: 'POST', body: big })
  t.equal(res.status, 504)
  t.match(res.json(), { code: 'GW_PROXY_UPSTREAM_TIMEOUT' })
  t.equal(gw.context.breakers.get('command')!.snapshot().window.failures, 1)
})
