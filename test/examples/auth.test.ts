import t from 'tap'
import { SECRET, call, startBackends, verifyHs256 } from './helpers.js'

t.test('login issues an HS256 access token that verifies and /v1/auth/me answers for it', async (t) => {
  const { commandUrl } = await startBackends(t, { issuer: 'healthpay-test', audience: 'healthpay-api' })
  const login = await call(`${commandUrl}/v1/auth/login`, { body: { username: 'bob', password: 'demo-password' } })
  t.equal(login.status, 200)
  t.equal(login.headers.get('cache-control'), 'no-store')
  t.equal(login.body.tokenType, 'Bearer')
  t.equal(login.body.expiresIn, 900)
  t.type(login.body.refreshToken, 'string')

  const claims = verifyHs256(login.body.accessToken, SECRET)
  t.equal(claims.sub, 'u-bob')
  t.same(claims.roles, ['customer'])
  t.equal(claims.tier, 'premium')
  t.equal(claims.iss, 'healthpay-test')
  t.equal(claims.aud, 'healthpay-api')
  t.equal((claims.exp as number) - (claims.iat as number), 900)
  t.throws(() => verifyHs256(login.body.accessToken, 'another-secret-that-is-also-32-chars-long'))

  const me = await call(`${commandUrl}/v1/auth/me`, { token: login.body.accessToken })
  t.equal(me.status, 200)
  t.same(me.body, { id: 'u-bob', username: 'bob', roles: ['customer'], tier: 'premium' })
})

t.test('/v1/auth/me trusts X-Consumer-Id from the gateway, and refuses an anonymous or forged caller', async (t) => {
  const { commandUrl } = await startBackends(t)
  const viaGateway = await call(`${commandUrl}/v1/auth/me`, { consumer: 'u-carol' })
  t.same(viaGateway.body, { id: 'u-carol', username: 'carol', roles: ['analyst'], tier: 'authenticated' })

  // an API-key consumer the store does not know is described from the gateway's headers
  const partner = await call(`${commandUrl}/v1/auth/me`, { consumer: 'partner-acme', roles: 'partner, reporting', headers: { 'x-consumer-tier': 'premium' } })
  t.same(partner.body, { id: 'partner-acme', username: null, roles: ['partner', 'reporting'], tier: 'premium' })

  const anonymous = await call(`${commandUrl}/v1/auth/me`)
  t.equal(anonymous.status, 401)
  t.match(anonymous.contentType, /^application\/problem\+json/)
  t.match(anonymous.headers.get('www-authenticate'), /^Bearer/)

  const forged = await call(`${commandUrl}/v1/auth/me`, { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LWFkbWluIn0.c2lnbmF0dXJl' })
  t.equal(forged.status, 401)
  t.equal(forged.body.type, 'https://healthpay.dev/problems/unauthorized')
})

t.test('a token for another issuer or audience is refused', async (t) => {
  const strict = await startBackends(t, { issuer: 'healthpay', audience: 'healthpay-api' })
  const loose = await startBackends(t, { issuer: 'someone-else', audience: 'healthpay-api' })
  const foreign = await call(`${loose.commandUrl}/v1/auth/login`, { body: { username: 'alice', password: 'demo-password' } })
  const me = await call(`${strict.commandUrl}/v1/auth/me`, { token: foreign.body.accessToken })
  t.equal(me.status, 401)
})

t.test('a wrong password, an unknown user and a malformed body are refused', async (t) => {
  const { commandUrl } = await startBackends(t)
  const wrong = await call(`${commandUrl}/v1/auth/login`, { body: { username: 'alice', password: 'nope' } })
  t.equal(wrong.status, 401)
  t.match(wrong.contentType, /^application\/problem\+json/)
  t.match(wrong.body, { type: 'https://healthpay.dev/problems/invalid-credentials', title: 'Unauthorized', status: 401, instance: '/v1/auth/login' })

  const unknown = await call(`${commandUrl}/v1/auth/login`, { body: { username: 'mallory', password: 'demo-password' } })
  t.equal(unknown.status, 401)
  t.equal(unknown.body.detail, wrong.body.detail, 'the answer does not reveal which usernames exist')

  const malformed = await call(`${commandUrl}/v1/auth/login`, { body: { username: 'alice' } })
  t.equal(malformed.status, 400)
  t.match(malformed.body.violations, [{ in: 'body', field: '/password' }])
})

t.test('refresh rotates the pair and revokes the old refresh token; logout revokes too', async (t) => {
  const { commandUrl } = await startBackends(t)
  const login = await call(`${commandUrl}/v1/auth/login`, { body: { username: 'alice', password: 'demo-password' } })

  const refreshed = await call(`${commandUrl}/v1/auth/refresh`, { body: { refreshToken: login.body.refreshToken } })
  t.equal(refreshed.status, 200)
  t.not(refreshed.body.refreshToken, login.body.refreshToken)
  t.not(refreshed.body.accessToken, login.body.accessToken)
  t.equal(verifyHs256(refreshed.body.accessToken, SECRET).sub, 'u-alice')

  const replay = await call(`${commandUrl}/v1/auth/refresh`, { body: { refreshToken: login.body.refreshToken } })
  t.equal(replay.status, 401, 'the rotated-out refresh token no longer works')
  t.equal(replay.body.type, 'https://healthpay.dev/problems/invalid-refresh-token')

  const logout = await call(`${commandUrl}/v1/auth/logout`, { body: { refreshToken: refreshed.body.refreshToken } })
  t.equal(logout.status, 204)
  t.equal(logout.body, undefined)
  const afterLogout = await call(`${commandUrl}/v1/auth/refresh`, { body: { refreshToken: refreshed.body.refreshToken } })
  t.equal(afterLogout.status, 401)
  const again = await call(`${commandUrl}/v1/auth/logout`, { body: { refreshToken: refreshed.body.refreshToken } })
  t.equal(again.status, 204, 'logging out twice is not an error')
})

t.test('/health answers', async (t) => {
  const { commandUrl, queryUrl } = await startBackends(t)
  t.same((await call(`${commandUrl}/health`)).body, { status: 'ok', service: 'command' })
  t.same((await call(`${queryUrl}/health`)).body, { status: 'ok', service: 'query' })
})
