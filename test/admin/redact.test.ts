// redactConfig: what GET /admin/config may show. Secrets never; the frozen input untouched.
import t from 'tap'
import { redactConfig } from '../../plugins/admin/redact.js'
import { redactHeaders, maskUrl, isSensitiveName, REDACTED } from '../../src/redaction.js'
import { resolveConfig } from '../../src/config/index.js'

const SECRETS = {
  jwt: 'jwt-secret-of-at-least-32-characters-XYZ',
  admin: 'admin-token-0123456789-XYZ',
  redisPassword: 'redis-pw-XYZ',
  targetPassword: 'target-pw-XYZ',
  jwksPassword: 'jwks-pw-XYZ',
  upstream: 'upstream-secret-XYZ',
  cookie: 'cookie-secret-XYZ',
  custom: 'custom-token-XYZ',
  queryKey: 'query-key-XYZ',
  fallbackCookie: 'fallback-cookie-XYZ'
}

function sampleConfig () {
  return resolveConfig({
    server: { adminToken: SECRETS.admin, port: 8123 },
    redis: { url: `redis://gw:${SECRETS.redisPassword}@cache.internal:6379/2`, keyPrefix: 'hp:' },
    jwt: { secret: SECRETS.jwt, jwksUrl: `https://jwks:${SECRETS.jwksPassword}@idp.example/keys?api_key=${SECRETS.queryKey}&format=json` },
    rateLimit: { anonymous: 7 },
    consumers: [{ id: 'partner', apiKeys: ['a'.repeat(64)] }],
    services: {
      command: { targets: [{ url: `http://svc:${SECRETS.targetPassword}@10.0.0.1:3000/base` }, { url: 'http://10.0.0.2:3000' }] }
    },
    routes: [
      {
        name: 'api',
        prefix: '/api',
        service: 'query',
        headers: {
          request: { add: { Authorization: `Bearer ${SECRETS.upstream}`, 'X-Tenant': 'acme', 'x-upstream-token': SECRETS.custom }, remove: ['cookie'] },
          response: { add: { 'Set-Cookie': SECRETS.cookie, 'Cache-Control': 'no-store' } }
        },
        fallback: { status: 200, body: { cached: true }, headers: { 'set-cookie': SECRETS.fallbackCookie, 'x-fallback': 'yes' } }
      },
      { name: 'auth', prefix: '/auth', service: 'command', auth: 'public' }
    ]
  })
}

t.test('redactConfig: no secret survives, everything else does', async (t) => {
  const config = sampleConfig()
  const redacted = redactConfig(config)
  const text = JSON.stringify(redacted)
  for (const [name, secret] of Object.entries(SECRETS)) t.notOk(text.includes(secret), `${name} is not in the output`)

  t.equal(redacted.jwt.secret, REDACTED)
  t.equal(redacted.server.adminToken, REDACTED)
  t.equal(redacted.redis.url, 'redis://[redacted]@cache.internal:6379/2')
  t.equal(redacted.jwt.jwksUrl, 'https://[redacted]@idp.example/keys?api_key=[redacted]&format=json')
  t.same(redacted.services.command!.targets.map((x) => x.url), ['http://[redacted]@10.0.0.1:3000/base', 'http://10.0.0.2:3000'])
  const route = redacted.routes[0]!
  t.same(route.headers!.request!.add, { Authorization: REDACTED, 'X-Tenant': 'acme', 'x-upstream-token': REDACTED })
  t.same(route.headers!.request!.remove, ['cookie'])
  t.same(route.headers!.response!.add, { 'Set-Cookie': REDACTED, 'Cache-Control': 'no-store' })
  t.same(route.fallback!.headers, { 'set-cookie': REDACTED, 'x-fallback': 'yes' })
  t.same(route.fallback!.body, { cached: true })

  // the rest is the config as it is
  t.equal(redacted.server.port, 8123)
  t.equal(redacted.rateLimit.anonymous, 7)
  t.equal(redacted.redis.keyPrefix, 'hp:')
  t.same(redacted.routes.map((r) => r.prefix), ['/api', '/auth'])
  t.same(redacted.consumers[0]!.apiKeys, ['a'.repeat(64)], 'API-key digests stay (GET /admin/api-keys lists them)')
  t.same(redacted.versioning, config.versioning)
  t.same(redacted.breaker, config.breaker)
})

t.test('redactConfig: the frozen input is unchanged and the output is a fresh copy', async (t) => {
  const config = sampleConfig()
  const before = JSON.stringify(config)
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.jwt) && Object.isFrozen(config.routes[0]!.headers!.request!.add), 'the input is deep-frozen')
  const redacted = redactConfig(config)
  t.equal(JSON.stringify(config), before, 'the input is unchanged')
  t.equal(config.jwt.secret, SECRETS.jwt)
  t.not(redacted, config)
  t.not(redacted.routes, config.routes)
  t.not(redacted.routes[0]!.headers!.request!.add, config.routes[0]!.headers!.request!.add)
  t.same(redactConfig(config), redacted, 'the same answer every time')
  const unset = redactConfig(resolveConfig({}))
  t.notOk('secret' in unset.jwt, 'an unset secret stays absent (not "[redacted]")')
  t.notOk('adminToken' in unset.server)
})

t.test('redactConfig: a "__proto__" key in a fallback body stays data', async (t) => {
  const config = resolveConfig({ routes: [{ prefix: '/api', service: 'query', fallback: { body: JSON.parse('{"__proto__":{"polluted":true},"ok":1}') } }] })
  const body = redactConfig(config).routes[0]!.fallback!.body as Record<string, unknown>
  t.equal(Object.getPrototypeOf(body), Object.prototype)
  t.equal((body as { polluted?: boolean }).polluted, undefined)
  t.equal(JSON.stringify(body), '{"__proto__":{"polluted":true},"ok":1}')
})

t.test('maskUrl', async (t) => {
  t.equal(maskUrl('redis://user:pw@127.0.0.1:6379'), 'redis://[redacted]@127.0.0.1:6379')
  t.equal(maskUrl('redis://:pw@host'), 'redis://[redacted]@host')
  t.equal(maskUrl('rediss://user@host:6380/0'), 'rediss://[redacted]@host:6380/0', 'a user name alone is masked too')
  t.equal(maskUrl('http://u:p@ss@host/path@x?q=@'), 'http://[redacted]@host/path@x?q=@', 'the last "@" before the path ends the userinfo')
  t.equal(maskUrl('http://host:80/a?token=t&x=1#frag?secret=s'), 'http://host:80/a?token=[redacted]&x=1#frag?secret=s')
  t.equal(maskUrl('http://host/a?%74oken=t'), 'http://host/a?%74oken=[redacted]', 'an encoded parameter name is decoded first')
  t.equal(maskUrl('http://10.0.0.1:3000'), 'http://10.0.0.1:3000')
  t.equal(maskUrl('not a url @ all'), 'not a url @ all')
  t.equal(maskUrl('mailto:someone@example.com'), 'mailto:someone@example.com', 'no "//": no authority to mask')
})

t.test('isSensitiveName / redactHeaders', async (t) => {
  for (const name of ['Authorization', 'proxy-authorization', 'Cookie', 'set-cookie', 'X-API-Key', 'x-auth-user', 'X-Session-Id', 'x-upstream-token', 'client_secret', 'x-db-password', 'X-Amz-Signature', 'x-signing-key']) {
    t.ok(isSensitiveName(name), name)
  }
  for (const name of ['x-tenant', 'cache-control', 'x-api-version', 'content-type', 'x-request-id', 'accept']) t.notOk(isSensitiveName(name), name)
  const input = Object.freeze({ authorization: 'Bearer s', 'x-tenant': 'acme' })
  t.same(redactHeaders(input), { authorization: REDACTED, 'x-tenant': 'acme' })
  t.same(input, { authorization: 'Bearer s', 'x-tenant': 'acme' })
})
