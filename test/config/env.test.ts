import t from 'tap'
import { loadConfig, ConfigError } from '../../src/config/index.js'
import { configProblems } from '../helpers.js'
import { ENV_BINDINGS } from '../../src/config/env.js'

t.test('defaults match SPEC.md §3 and §6', async (t) => {
  const { config, warnings } = loadConfig({})
  t.same(warnings, [])
  t.match(config.server, { host: '0.0.0.0', port: 8000, adminHost: '127.0.0.1', adminPort: 8001, bodyLimitBytes: 1_048_576, trustProxy: false, logLevel: 'info', workers: 1 })
  t.equal(config.server.adminToken, undefined)
  t.match(config.rateLimit, { anonymous: 100, authenticated: 1000, premium: 10_000, windowMs: 60_000, failMode: 'open' })
  t.match(config.breaker, { errorThreshold: 0.5, windowMs: 10_000, minRequests: 10, timeoutMs: 5000, resetMs: 30_000, halfOpenRequests: 3 })
  t.match(config.versioning, { versions: [1, 2], defaultVersion: 1, deprecated: [], afterSunset: 'gone' })
  t.equal(config.websocket.heartbeatMs, 30_000)
  t.equal(config.websocket.streamMaxLen, 100_000)
  t.equal(config.redis.url, undefined)
  t.same(config.services.command!.targets, [{ url: 'http://127.0.0.1:3000', weight: 1 }])
  t.same(config.services.query!.targets, [{ url: 'http://127.0.0.1:4000', weight: 1 }])
  // unversioned prefixes: every route exists in every supported version (/v1/api, /v2/api)
  t.same(config.routes.map((r) => [r.prefix, r.service, r.auth]), [
    ['/auth', 'command', 'public'],
    ['/commands', 'command', 'authenticated'],
    ['/api/analytics', 'query', 'authenticated'],
    ['/api', 'query', 'authenticated'],
    ['/graphql', 'query', 'authenticated']
  ])
  t.same(config.routes.find((r) => r.prefix === '/api/analytics')!.roles, ['analyst', 'admin'])
  t.equal(config.routes.find((r) => r.prefix === '/commands')!.validate, true)
  t.equal(config.routes.find((r) => r.prefix === '/graphql')!.websocket, true)
})

t.test('every variable of SPEC.md §6 is read into the config', async (t) => {
  const { config } = loadConfig({
    PORT: '9000', HOST: '127.0.0.1', ADMIN_PORT: '9001', ADMIN_HOST: '0.0.0.0', ADMIN_TOKEN: 'a-long-enough-admin-token',
    WS_PORT: '9002', COMMAND_SERVICE_URL: 'http://a:1, http://b:2', QUERY_SERVICE_URL: 'https://q.example:8443/base',
    REDIS_URL: 'redis://127.0.0.1:6379/2', JWT_SECRET: 'x'.repeat(32), JWT_ISSUER: 'iss', JWT_AUDIENCE: 'aud', JWT_ALGORITHMS: 'HS256,RS256',
    JWKS_URL: 'https://idp.example/.well-known/jwks.json', JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nabc\\n-----END PUBLIC KEY-----',
    RATE_LIMIT_ANONYMOUS: '5', RATE_LIMIT_AUTHENTICATED: '50', RATE_LIMIT_PREMIUM: '500', RATE_LIMIT_WINDOW_MS: '1000', RATE_LIMIT_FAIL_MODE: 'closed', RATE_LIMIT_ENABLED: 'no', RATE_LIMIT_LEASE_MAX: '7',
    BREAKER_ERROR_THRESHOLD: '0.25', BREAKER_WINDOW_MS: '2000', BREAKER_MIN_REQUESTS: '4', BREAKER_TIMEOUT_MS: '300', BREAKER_RESET_MS: '700', BREAKER_HALF_OPEN_REQUESTS: '2',
    RETRY_ATTEMPTS: '1', RETRY_BUDGET: '0.1', RETRY_BACKOFF_MS: '5',
    API_VERSIONS: '1,2,3', API_DEFAULT_VERSION: 'v2', API_DEPRECATED: '1=2027-06-30, 2=2027-12-01/2028-01-31', API_AFTER_SUNSET: 'serve',
    CORS_ORIGINS: 'https://app.example, https://admin.example', BODY_LIMIT_BYTES: '2048', TRUST_PROXY: '10.0.0.0/8,loopback',
    WS_HEARTBEAT_MS: '15000', WS_STREAM_MAXLEN: '500', WS_MAX_BUFFER_BYTES: '65536', WS_MAX_MESSAGE_BYTES: '1024', GATEWAY_WORKERS: '2', LOG_LEVEL: 'debug', SHUTDOWN_TIMEOUT_MS: '3000', HEADERS_TIMEOUT_MS: '4000', LISTEN_BACKLOG: '2048'
  })
  t.match(config.server, { port: 9000, host: '127.0.0.1', adminPort: 9001, adminHost: '0.0.0.0', adminToken: 'a-long-enough-admin-token', corsOrigins: ['https://app.example', 'https://admin.example'], bodyLimitBytes: 2048, trustProxy: ['10.0.0.0/8', 'loopback'], workers: 2, logLevel: 'debug', shutdownTimeoutMs: 3000, headersTimeoutMs: 4000, backlog: 2048 })
  t.equal(config.websocket.port, 9002)
  t.equal(config.websocket.heartbeatMs, 15_000)
  t.equal(config.websocket.streamMaxLen, 500)
  t.equal(config.websocket.maxBufferBytes, 65_536)
  t.equal(config.websocket.maxMessageBytes, 1024)
  t.same(config.services.command!.targets.map((x) => x.url), ['http://a:1', 'http://b:2'])
  t.same(config.services.query!.targets.map((x) => x.url), ['https://q.example:8443/base'])
  t.equal(config.redis.url, 'redis://127.0.0.1:6379/2')
  t.match(config.jwt, { issuer: 'iss', audience: 'aud', algorithms: ['HS256', 'RS256'], jwksUrl: 'https://idp.example/.well-known/jwks.json' })
  t.equal(config.jwt.publicKey, '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----', 'literal \\n in a PEM becomes a newline')
  t.match(config.rateLimit, { enabled: false, anonymous: 5, authenticated: 50, premium: 500, windowMs: 1000, failMode: 'closed', leaseMax: 7 })
  t.match(config.breaker, { errorThreshold: 0.25, windowMs: 2000, minRequests: 4, timeoutMs: 300, resetMs: 700, halfOpenRequests: 2 })
  t.match(config.retry, { attempts: 1, budget: 0.1, backoffMs: 5, reserve: 10, maxBackoffMs: 250 })
  t.same(config.versioning, { versions: [1, 2, 3], defaultVersion: 2, afterSunset: 'serve', deprecated: [{ version: 1, sunset: '2027-06-30' }, { version: 2, since: '2027-12-01', sunset: '2028-01-31' }] })
  // every binding in the table was exercised by this test
  const used = new Set(['PORT', 'HOST', 'ADMIN_PORT', 'ADMIN_HOST', 'ADMIN_TOKEN', 'WS_PORT', 'COMMAND_SERVICE_URL', 'QUERY_SERVICE_URL', 'REDIS_URL', 'JWT_SECRET', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_ALGORITHMS', 'JWKS_URL', 'JWT_PUBLIC_KEY', 'RATE_LIMIT_ANONYMOUS', 'RATE_LIMIT_AUTHENTICATED', 'RATE_LIMIT_PREMIUM', 'RATE_LIMIT_WINDOW_MS', 'RATE_LIMIT_FAIL_MODE', 'RATE_LIMIT_ENABLED', 'RATE_LIMIT_LEASE_MAX', 'BREAKER_ERROR_THRESHOLD', 'BREAKER_WINDOW_MS', 'BREAKER_MIN_REQUESTS', 'BREAKER_TIMEOUT_MS', 'BREAKER_RESET_MS', 'BREAKER_HALF_OPEN_REQUESTS', 'RETRY_ATTEMPTS', 'RETRY_BUDGET', 'RETRY_BACKOFF_MS', 'API_VERSIONS', 'API_DEFAULT_VERSION', 'API_DEPRECATED', 'API_AFTER_SUNSET', 'CORS_ORIGINS', 'BODY_LIMIT_BYTES', 'TRUST_PROXY', 'WS_HEARTBEAT_MS', 'WS_STREAM_MAXLEN', 'WS_MAX_BUFFER_BYTES', 'WS_MAX_MESSAGE_BYTES', 'GATEWAY_WORKERS', 'LOG_LEVEL', 'SHUTDOWN_TIMEOUT_MS', 'HEADERS_TIMEOUT_MS', 'LISTEN_BACKLOG', 'REDIS_KEY_PREFIX'])
  t.same(ENV_BINDINGS.map(([name]) => name).filter((n) => !used.has(n)), [], 'no variable left untested')
})

t.test('REDIS_HOST + REDIS_PORT make the Redis URL; GATEWAY_WORKERS=auto is one per core', async (t) => {
  const { config } = loadConfig({ REDIS_HOST: 'cache.internal', REDIS_PORT: '6380', GATEWAY_WORKERS: 'auto' })
  t.equal(config.redis.url, 'redis://cache.internal:6380')
  t.ok(config.server.workers >= 1)
  t.equal(loadConfig({ REDIS_URL: 'redis://x:1', REDIS_HOST: 'ignored' }).config.redis.url, 'redis://x:1', 'REDIS_URL wins')
  t.equal(loadConfig({ PORT: '' }).config.server.port, 8000, 'an empty variable counts as unset')
})

t.test('a bad number names the variable, the value and what is expected', async (t) => {
  t.same(configProblems({ PORT: 'eighty' }), ['PORT="eighty": expected an integer'])
  t.same(configProblems({ PORT: '70000' }), ['PORT="70000": expected an integer port 0–65535'])
  t.same(configProblems({ BREAKER_ERROR_THRESHOLD: '1.5' }), ['BREAKER_ERROR_THRESHOLD="1.5": expected a fraction in (0, 1]'])
  t.same(configProblems({ RATE_LIMIT_ANONYMOUS: '0' }), ['RATE_LIMIT_ANONYMOUS="0": expected an integer ≥ 1 and ≤ 1000000000'])
  t.same(configProblems({ BREAKER_TIMEOUT_MS: '5s' }), ['BREAKER_TIMEOUT_MS="5s": expected an integer'])
  t.same(configProblems({ RETRY_BUDGET: '1.5' }), ['RETRY_BUDGET="1.5": expected a fraction in [0, 1]'])
  t.same(configProblems({ RETRY_ATTEMPTS: '11' }), ['RETRY_ATTEMPTS="11": expected an integer ≥ 0 and ≤ 10'])
})

t.test('a bad URL, enum or list is named the same way', async (t) => {
  t.same(configProblems({ COMMAND_SERVICE_URL: 'ftp://files:21' }), ['COMMAND_SERVICE_URL="ftp://files:21": expected an absolute http:// or https:// URL'])
  t.same(configProblems({ REDIS_URL: 'localhost:6379' }), ['REDIS_URL="localhost:6379": expected a redis:// or rediss:// URL'])
  t.same(configProblems({ RATE_LIMIT_FAIL_MODE: 'maybe' }), ['RATE_LIMIT_FAIL_MODE="maybe": expected one of "open", "closed"'])
  t.same(configProblems({ LOG_LEVEL: 'loud' }), ['LOG_LEVEL="loud": expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"'])
  t.match(configProblems({ API_DEPRECATED: '1:2027-06-30' })[0], /^API_DEPRECATED="1:2027-06-30": expected VERSION=SUNSET or VERSION=SINCE\/SUNSET entries/)
  t.same(configProblems({ API_DEPRECATED: '1=2027-02-31' }), ['API_DEPRECATED="1=2027-02-31": expected a real calendar date YYYY-MM-DD'])
  t.same(configProblems({ API_DEPRECATED: '1=2027-07-01/2027-06-30' }), ['API_DEPRECATED="1=2027-07-01/2027-06-30": expected a date not after the sunset 2027-06-30 (RFC 9745 §3)'])
  t.same(configProblems({ API_DEPRECATED: '1=2027-06-30,1=2028-01-01' }), ['API_DEPRECATED="1=2027-06-30,1=2028-01-01": expected a version not already deprecated by deprecated[0]'])
  t.same(configProblems({ API_DEPRECATED: '3=2027-06-30' }), ['API_DEPRECATED="3=2027-06-30": expected one of the supported versions 1, 2'])
  t.same(configProblems({ API_VERSIONS: '1,1' }), ['API_VERSIONS="1,1": expected each version listed once'])
  t.same(configProblems({ API_VERSIONS: '1,abc' }), ['API_VERSIONS="1,abc": expected an integer'])
  t.same(configProblems({ API_AFTER_SUNSET: 'teapot' }), ['API_AFTER_SUNSET="teapot": expected one of "gone", "serve"'])
  t.same(configProblems({ API_DEFAULT_VERSION: '3' }), ['API_DEFAULT_VERSION="3": expected one of the supported versions 1, 2'])
  t.same(configProblems({ JWT_SECRET: 'short' }), ['JWT_SECRET="[redacted, 5 characters]": expected an HS* secret of at least 32 characters'])
  t.same(configProblems({ ADMIN_TOKEN: 'abc' }), ['ADMIN_TOKEN="[redacted, 3 characters]": expected a token of at least 16 characters'])
  t.match(configProblems({ TRUST_PROXY: 'yes please' })[0], /^TRUST_PROXY="yes please": expected true, false, a hop count/)
  t.same(configProblems({ PORT: '8000', ADMIN_PORT: '8000' }), ['ADMIN_PORT="8000": expected a port different from the public port 8000'])
})

t.test('every problem is reported at once, in one message', async (t) => {
  try {
    loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', BODY_LIMIT_BYTES: '-1' })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ConfigError)
    const e = err as ConfigError
    t.equal(e.problems.length, 3)
    t.match(e.message, /^Invalid configuration \(3 problems\):\n {2}- /)
    for (const p of e.problems) t.ok(e.message.includes(p))
  }
})

t.test('unknown variables with the gateway\'s prefixes are warned about, with a suggestion', async (t) => {
  const { warnings } = loadConfig({ RATE_LIMIT_ANONYMUS: '5', BREAKER_FOO: '1', JWT_EXPIRES_IN: '1h', PATH: '/usr/bin' })
  t.same(warnings, [
    'unknown variable RATE_LIMIT_ANONYMUS is ignored (did you mean RATE_LIMIT_ANONYMOUS?)',
    'unknown variable BREAKER_FOO is ignored'
  ])
})

t.test('the config is deep-frozen', async (t) => {
  const { config } = loadConfig({})
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(config.routes[0]))
  t.ok(Object.isFrozen(config.services.command!.targets))
  t.throws(() => { (config.server as { port: number }).port = 1 })
})

t.test('RATE_LIMIT_ENABLED takes true/false (1/0, yes/no, on/off)', async (t) => {
  t.equal(loadConfig({ RATE_LIMIT_ENABLED: 'false' }).config.rateLimit.enabled, false)
  t.equal(loadConfig({ RATE_LIMIT_ENABLED: 'On' }).config.rateLimit.enabled, true)
  t.equal(loadConfig({}).config.rateLimit.enabled, true, 'on by default')
  t.same(configProblems({ RATE_LIMIT_ENABLED: 'maybe' }), ['RATE_LIMIT_ENABLED="maybe": expected true or false'])
})
