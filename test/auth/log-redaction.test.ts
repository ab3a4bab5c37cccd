// Tokens and API keys never appear in log lines or in error bodies, at any log level.
import t from 'tap'
import { startUpstream, startGateway, servicesFor, specRoutes, call, signToken, bearer, TEST_SECRET } from '../helpers.js'

const ADMIN = 'admin-token-for-log-test-0123'

t.test('credentials are redacted from every log line and never echoed in problems', async (t) => {
  const lines: string[] = []
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: specRoutes(),
    jwt: { secret: TEST_SECRET },
    server: { logLevel: 'trace', adminToken: ADMIN }
  }, { logStream: { write: (line: string) => lines.push(line) } })

  const created = await call(`${gw.adminUrl}/admin/api-keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ consumerId: 'svc-1' }) })
  t.equal(created.status, 201)
  const { key, hash } = created.json() as { key: string, hash: string }
  const good = signToken({ sub: 'u-alice' })
  const expired = signToken({ sub: 'u-alice', exp: Math.floor(Date.now() / 1000) - 3600 })
  const forged = signToken({ sub: 'u-admin' }, { key: 'x'.repeat(40) })
  const secrets = [good, expired, forged, key, ADMIN, TEST_SECRET, 'hpk_unknown-key-0123456789']

  const bodies: string[] = []
  for (const [path, headers] of [
    ['/v1/api/wallets/w1', bearer(good)],
    ['/v1/api/wallets/w1', bearer(expired)],
    ['/v1/api/wallets/w1', bearer(forged)],
    ['/v1/api/wallets/w1', { 'x-api-key': key }],
    ['/v1/api/wallets/w1', { 'x-api-key': 'hpk_unknown-key-0123456789' }],
    [`/v1/api/wallets/w1?token=${good}&api_key=${key}`, {}],
    [`/v1/auth/refresh?refresh_token=${good}&id_token=${expired}&jwt=${forged}&%74oken=${key}&x-api-key=${key}&page=2`, {}],
    [`/v1/api/%E0%A4%A?access_token=${good}`, {}],
    ['/nowhere', { ...bearer(good), cookie: `session=${key}` }]
  ] as Array<[string, Record<string, string>]>) {
    const res = await call(`${gw.url}${path}`, { headers })
    // the echo upstream sends back what it got; only the gateway's own answers count here
    if (String(res.headers['content-type']).startsWith('application/problem+json')) bodies.push(res.text + JSON.stringify(res.headers))
  }
  t.equal(bodies.length, 6, 'six problems: expired, forged, unknown key, query token (not a credential here), bad URL, no route')
  t.ok(lines.some((l) => l.includes('page=2')), 'other parameters stay readable')
  bodies.push((await call(`${gw.adminUrl}/admin/api-keys`, { headers: { authorization: `Bearer ${ADMIN}` } })).text)
  bodies.push((await call(`${gw.adminUrl}/admin/api-keys/${hash}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}x` } })).text)

  t.ok(lines.length >= 18, `${lines.length} log lines captured`)
  t.ok(lines.some((l) => l.includes('token=[redacted]')), 'the query token is shown redacted')
  t.ok(lines.some((l) => l.includes(hash)), 'the key is identified in logs by its hash')
  for (const secret of secrets) {
    const signature = secret.split('.').pop()!
    t.notOk(lines.some((l) => l.includes(signature)), `no log line contains ${secret.slice(0, 8)}…`)
    t.notOk(bodies.some((b) => b.includes(signature)), `no response body contains ${secret.slice(0, 8)}…`)
  }
})
