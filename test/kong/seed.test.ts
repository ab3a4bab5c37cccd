// The seed's Kong configuration (examples/kong/seed.yaml) starts unchanged and routes
// as Kong did: command service on /v1/commands and /v1/auth, query service on
// /v1/graphql and /v1/api, JWTs signed with a consumer's own secret, rate limits, CORS.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { startUpstream, echo, call, signToken, bearer } from '../helpers.js'
import { startKongGateway } from './helpers.js'

const seed = readFileSync(new URL('../../examples/kong/seed.yaml', import.meta.url), 'utf8')
const MOBILE_SECRET = 'mobile-app-shared-secret-change-me-0123456789'

t.test('the seed Kong file starts and routes each path to its service, with the seed plugins', async (t) => {
  const command = await startUpstream(t, echo('command'))
  const query = await startUpstream(t, echo('query'))
  const yaml = seed.replace('http://127.0.0.1:3000', command.url).replace('http://127.0.0.1:4000', query.url)
  const gw = await startKongGateway(t, yaml)
  t.same(gw.warnings, [])

  // /v1/auth: no plugin but the global ones → public
  const login = await call(`${gw.url}/v1/auth/login`, { method: 'POST', body: '{}' , headers: { 'content-type': 'application/json' } })
  t.equal(login.status, 200)
  t.equal(login.json().upstream, 'command')
  t.equal(command.requests.at(-1)!.url, '/v1/auth/login', 'strip_path: false keeps the path')
  t.equal(login.headers['x-ratelimit-limit-minute'], '1000')
  t.equal(login.headers['x-ratelimit-remaining-hour'], '19999')

  // /v1/commands needs a JWT signed with a consumer's secret, found by iss
  const refused = await call(`${gw.url}/v1/commands/wallets`)
  t.equal(refused.status, 401)
  t.match(refused.headers['content-type'], /application\/problem\+json/)
  const token = signToken({ iss: 'healthpay-mobile', sub: undefined }, { key: MOBILE_SECRET })
  const ok = await call(`${gw.url}/v1/commands/wallets`, { headers: bearer(token) })
  t.equal(ok.status, 200)
  t.equal(ok.json().upstream, 'command')
  const seen = command.requests.at(-1)!.headers
  t.equal(seen['x-consumer-id'], 'mobile-app')
  t.equal(seen['x-consumer-username'], 'mobile-app')
  t.equal(seen['x-consumer-custom-id'], 'healthpay-mobile')
  t.equal(seen['x-credential-identifier'], 'healthpay-mobile')
  const wrongKey = signToken({ iss: 'healthpay-mobile' }, { key: 'another-secret-entirely-0123456789abcdef' })
  t.equal((await call(`${gw.url}/v1/commands/wallets`, { headers: bearer(wrongKey) })).status, 401)
  const expired = signToken({ iss: 'healthpay-mobile', exp: Math.floor(Date.now() / 1000) - 600 }, { key: MOBILE_SECRET })
  t.equal((await call(`${gw.url}/v1/commands/wallets`, { headers: bearer(expired) })).status, 401, 'claims_to_verify: exp')

  // the query service's plugin covers both its routes
  for (const path of ['/v1/graphql', '/v1/api/wallets/w1']) {
    t.equal((await call(`${gw.url}${path}`)).status, 401, `${path} needs a token`)
    const res = await call(`${gw.url}${path}`, { headers: bearer(token) })
    t.equal(res.status, 200)
    t.equal(res.json().upstream, 'query')
  }
  t.equal(query.requests.at(-1)!.url, '/v1/api/wallets/w1')

  // CORS from the global plugin
  const preflight = await call(`${gw.url}/v1/api/wallets`, { method: 'OPTIONS', headers: { origin: 'https://app.healthpay.example', 'access-control-request-method': 'POST' } })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.healthpay.example')
  t.equal(preflight.headers['access-control-allow-credentials'], 'true')
  t.equal(preflight.headers['access-control-max-age'], '3600')
  const stranger = await call(`${gw.url}/v1/api/wallets`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
  t.not(stranger.headers['access-control-allow-origin'], 'https://evil.example')

  // paths Kong had no route for
  t.equal((await call(`${gw.url}/v2/api/wallets`)).status, 404)
  t.equal((await call(`${gw.url}/api/wallets`)).status, 404, 'no version negotiation for a Kong file: paths are literal')
})

t.test('the larger example starts and serves its routes: weighted upstream, regex route, host + header match, ACL, transformers', async (t) => {
  const command = await startUpstream(t, echo('command'))
  const query = await startUpstream(t, (req, res, body) => {
    res.setHeader('x-powered-by', 'express')
    echo('query')(req, res, body)
  })
  const large = readFileSync(new URL('../../examples/kong/large.yaml', import.meta.url), 'utf8')
  const port = (url: string) => new URL(url).port
  const yaml = large
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${port(command.url)}`)
    .replaceAll('127.0.0.1:4000', `127.0.0.1:${port(query.url)}`)
    .replaceAll('interval: 5', 'interval: 0')
  const gw = await startKongGateway(t, yaml, { REDIS_URL: 'redis://127.0.0.1:6379' })
  const mobile = signToken({ iss: 'healthpay-mobile', exp: Math.floor(Date.now() / 1000) + 600 }, { key: MOBILE_SECRET })

  const medcard = await call(`${gw.url}/v1/commands/medcards/mc-1/activate`, { method: 'POST', headers: bearer(mobile) })
  t.equal(medcard.status, 200, 'the regex route')
  t.equal(command.requests.at(-1)!.url, '/v1/commands/medcards/mc-1/activate')
  t.equal((await call(`${gw.url}/v1/commands/wallets`, { method: 'GET', headers: bearer(mobile) })).status, 200, 'GET falls through to /v1/commands')
  t.equal((await call(`${gw.url}/v1/commands/wallets`, { method: 'POST', headers: { ...bearer(mobile), 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(70 * 1024) }) })).status, 413, 'request-size-limiting on the wallet route')

  const dashboard = { apikey: 'dashboard-key-change-me-7f3a9c' }
  const analytics = await call(`${gw.url}/v1/api/analytics/daily?apikey=dashboard-key-change-me-7f3a9c`)
  t.equal(analytics.status, 200, 'the analyst group passes the ACL')
  t.equal(query.requests.at(-1)!.url, '/v1/api/analytics/daily', 'hide_credentials drops the query key')
  t.equal(analytics.headers['x-powered-by'], undefined, 'response-transformer removes')
  t.equal(analytics.headers['cache-control'], 'no-store', 'response-transformer adds')
  const mobileOnAnalytics = await call(`${gw.url}/v1/api/analytics/daily`, { headers: { 'x-partner-key': 'acme-key-change-me-b81e22' } })
  t.equal(mobileOnAnalytics.status, 401, 'the partner header is not a key name on the query service')
  t.equal((await call(`${gw.url}/v1/api/wallets`, { headers: dashboard })).status, 200)

  const partner = await call(`${gw.url}/reports/monthly`, { headers: { host: 'eu.partners.healthpay.example', 'x-partner-api': '2026-01', 'x-partner-key': 'acme-key-change-me-b81e22' } })
  t.equal(partner.status, 200, 'host wildcard + header match + key-auth')
  const seen = query.requests.at(-1)!
  t.equal(seen.url, '/reports/monthly', 'the service path /reports + the stripped rest')
  t.equal(seen.headers['x-consumer-username'], 'partner-acme')
  t.equal(seen.headers['x-credential-identifier'], 'acme-primary-key')
  t.equal(seen.headers['x-partner-gateway'], 'healthpay')
  t.equal(seen.headers['x-api-revision'], '2026-01')
  t.equal(seen.headers['x-partner-key'], undefined)
  t.equal((await call(`${gw.url}/reports/monthly`, { headers: { host: 'eu.partners.healthpay.example', 'x-partner-key': 'acme-key-change-me-b81e22' } })).status, 404, 'without the header the route does not match')
})
