// Kong's consumer-scoped rate-limiting: a plugin for one consumer replaces the route's
// limits for that consumer only; consumer + route wins over consumer alone. Other
// plugins at consumer scope stop start-up (or are left out, lenient).
import t from 'tap'
import { startUpstream, echo, call } from '../helpers.js'
import { startKongGateway, kongProblems, loadKong } from './helpers.js'

const file = (upstream: string) => `
_format_version: "3.0"
services:
  - name: wallets
    url: ${upstream}
    routes:
      - { name: balance, paths: [/balance] }
      - { name: history, paths: [/history] }
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key-0001 }]
    plugins:
      - name: rate-limiting
        config: { minute: 2, policy: local }
  - username: bob
    keyauth_credentials: [{ key: bob-key-0002 }]
plugins:
  - name: key-auth
  - name: rate-limiting
    config: { minute: 4, policy: local }
  - name: rate-limiting
    consumer: alice
    route: history
    config: { minute: 3, policy: local }
`

t.test('a consumer-scoped limit replaces the global one for that consumer; consumer + route wins', async (t) => {
  const upstream = await startUpstream(t, echo('wallets'))
  const gw = await startKongGateway(t, file(upstream.url))
  const statuses = async (path: string, key: string, n: number) => {
    const out: number[] = []
    for (let i = 0; i < n; i++) out.push((await call(`${gw.url}${path}`, { headers: { apikey: key } })).status)
    return out
  }
  // alice on /balance: her own 2 per minute (consumer scope), not the global 4
  t.same(await statuses('/balance', 'alice-key-0001', 3), [200, 200, 429])
  // alice on /history: consumer + route, 3 per minute, counted apart from her /balance
  const history = await call(`${gw.url}/history`, { headers: { apikey: 'alice-key-0001' } })
  t.equal(history.headers['x-ratelimit-limit-minute'], '3')
  t.same(await statuses('/history', 'alice-key-0001', 3), [200, 200, 429])
  // bob: the global plugin, 4 per minute shared by both routes
  t.same([...await statuses('/balance', 'bob-key-0002', 2), ...await statuses('/history', 'bob-key-0002', 3)], [200, 200, 200, 200, 429])
})

t.test('other plugins at consumer scope are refused with their path, or left out when lenient', async (t) => {
  const yaml = `
_format_version: "3.0"
services: [{ name: s, url: "http://127.0.0.1:9", routes: [{ name: r, paths: [/r] }] }]
consumers:
  - username: carol
    plugins: [{ name: request-transformer, config: { add: { headers: ["x-a:b"] } } }]
plugins:
  - { name: cors, consumer: carol }
`
  const problems = [...kongProblems(t, yaml)].sort()
  t.equal(problems.length, 2)
  t.match(problems[0], /^consumers\[0\]\.plugins\[0\] \(Kong config .*\): request-transformer configured for one consumer is not supported/)
  t.match(problems[1], /^plugins\[0\] \(Kong config .*\): cors configured for one consumer is not supported/)
  const { config, warnings } = loadKong(t, yaml, { GATEWAY_KONG_LENIENT: 'true' })
  t.equal(warnings.length, 2)
  t.equal(config.routes[0]!.headers, undefined, 'the consumer\'s transformer is left out')
  t.equal(config.routes[0]!.cors, undefined)
})
