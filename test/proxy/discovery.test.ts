// Service discovery: a host name that resolves to several addresses is several
// targets, and the name is resolved again on an interval. The resolver is the one
// injected seam (DNS itself cannot be pointed at loopback from a test); the
// upstreams behind the addresses are real servers on 127.0.0.1 and 127.0.0.2.
import t from 'tap'
import { startUpstream, startGateway, echo, call, until } from '../helpers.js'
import { scrape } from '../metrics/scrape.js'

t.test('a name with two addresses is two targets; re-resolution follows the DNS answer', async (t) => {
  const one = await startUpstream(t, echo('one'), { host: '127.0.0.1' })
  // same port on a second loopback address, as a service behind one DNS name would be
  await startUpstream(t, echo('two'), { host: '127.0.0.2', port: one.port })
  let answer = ['127.0.0.1', '127.0.0.2']
  const asked: string[] = []
  const lookup = async (hostname: string) => { asked.push(hostname); return answer }
  const gw = await startGateway(t, { services: { query: { targets: [`http://query.internal:${one.port}`], resolveIntervalMs: 50 } } }, { lookup })
  t.equal(asked[0], 'query.internal')
  const service = gw.context.services.get('query')!
  t.same(service.targets.map((x) => x.origin), [`http://127.0.0.1:${one.port}`, `http://127.0.0.2:${one.port}`])

  const seen: string[] = []
  for (let i = 0; i < 6; i++) seen.push((await call(`${gw.url}/v1/api/x`)).json().upstream)
  t.same(seen.filter((s) => s === 'one').length, 3)
  t.same(seen.filter((s) => s === 'two').length, 3)
  t.equal(one.requests[0]!.headers.host, `query.internal:${one.port}`, 'Host is the configured name, not the address')

  const gone = { service: 'query', target: `http://127.0.0.1:${one.port}` }
  t.equal((await scrape(gw.adminUrl)).value('gateway_upstream_response_seconds_count', gone), 3)
  answer = ['127.0.0.2']
  await until(() => service.targets.length === 1, 5000, 'the removed address to leave the target list')
  for (let i = 0; i < 4; i++) t.equal((await call(`${gw.url}/v1/api/x`)).json().upstream, 'two')
  const after = await scrape(gw.adminUrl)
  t.same(after.find('gateway_upstream_response_seconds_count', gone), [], 'the removed target\'s series are gone from /metrics')
  t.same(after.find('gateway_upstream_errors_total', gone), [])
  t.equal(after.value('gateway_upstream_response_seconds_count', { service: 'query', target: `http://127.0.0.2:${one.port}` }), 7)

  // a failing lookup keeps the last known addresses instead of dropping the service
  const before = service.targets
  Object.assign(service, { lookup: async () => { throw new Error('SERVFAIL') } })
  await service.resolve()
  t.same(service.targets, before)
  t.equal((await call(`${gw.url}/v1/api/x`)).json().upstream, 'two')
})

t.test('a target state survives re-resolution when its address did not change', async (t) => {
  const one = await startUpstream(t, echo('one'))
  const lookup = async () => ['127.0.0.1']
  const gw = await startGateway(t, { services: { query: { targets: [`http://svc.internal:${one.port}`], resolveIntervalMs: 60_000 } } }, { lookup })
  const service = gw.context.services.get('query')!
  const target = service.targets[0]!
  target.onFailure('refused', Date.now())
  await service.resolve()
  t.equal(service.targets[0], target, 'same Target object')
  t.equal(service.summary()[0]!.state, 'ejected')
})
