// The Kong declarative-file translation itself (src/config/kong/*) and its messages:
// which files are read as Kong, what stops start-up and how each problem names its
// item, GATEWAY_KONG_LENIENT, secrets kept out of messages, the shape of the
// translated config, and the shipped examples. Loads configs only, except one test
// that starts a lenient file and proxies through it.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { loadConfig, ConfigError } from '../../src/config/index.js'
import { startUpstream, echo, call } from '../helpers.js'
import { loadKong, kongProblems, kongFile, startKongGateway } from './helpers.js'

const LENIENT = { GATEWAY_KONG_LENIENT: 'true' }
const QUIET = { HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'silent' }

/** the problems of a file whose path is known (to check messages name it) */
function problemsAt (t: Test, yaml: string, env: Record<string, string> = {}): { path: string, problems: readonly string[] } {
  const path = kongFile(t, yaml)
  try {
    loadConfig({ ...QUIET, ...env, GATEWAY_CONFIG: path })
  } catch (err) {
    if (err instanceof ConfigError) return { path, problems: err.problems }
    throw err
  }
  return { path, problems: [] }
}

/** the messages that name `itemPath` as the item they are about (the message starts with it) */
const naming = (messages: readonly string[], itemPath: string) => messages.filter((m) => m.startsWith(`${itemPath} (`))

/** the parts of a translated config the translation decides */
function translated (t: Test, yaml: string, env: Record<string, string> = {}) {
  const { config, warnings } = loadKong(t, yaml, env)
  return { routes: config.routes, services: config.services, consumers: config.consumers, redis: config.redis, rateLimit: config.rateLimit, warnings }
}

const SERVICE = 'http://127.0.0.1:9'

t.test('detection: _format_version "3.0" and "2.1" are translated, other versions are refused, a file without it is the gateway\'s own format', async (t) => {
  const kong = (version: string) => `
_format_version: "${version}"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
`
  for (const version of ['3.0', '2.1']) {
    const { config, warnings } = loadKong(t, kong(version))
    t.same(warnings, [], `${version}: no warnings`)
    t.same(Object.keys(config.services), ['wallets'], `${version}: only the file's services`)
    t.same(config.routes.map((r) => [r.name, r.prefix, r.service, r.versioned]), [['balance', '/balance', 'wallets', false]], `${version}: the Kong route`)
  }

  // 2.1 told regex paths by their characters; 3.0 needs the "~" prefix
  const legacy = (version: string) => `
_format_version: "${version}"
services:
  - name: users
    url: ${SERVICE}
    routes:
      - name: user
        paths: ['/v1/users/\\d+$']
`
  const v21 = loadKong(t, legacy('2.1')).config.routes[0]!
  t.equal(v21.match?.pathRegex, '^(?:/v1/users/\\d+$)', '2.1: a path with regex characters is a regex')
  t.equal(v21.prefix, '/v1/users')
  t.match(naming(kongProblems(t, legacy('3.0')), 'services[0].routes[0].paths[0]'), [/expected a path starting with "\/"/], '3.0: the same path without "~" is not a prefix')

  for (const version of ['1.1', '4.0']) {
    const { path, problems } = problemsAt(t, kong(version))
    t.equal(problems.length, 1, `${version}: one problem`)
    t.equal(naming(problems, '_format_version').length, 1, `${version}: it names _format_version`)
    t.match(problems[0], `"${version}"`, `${version}: and the version found`)
    t.match(problems[0], `"3.0"`, `${version}: and the versions read`)
    t.match(problems[0], path, `${version}: and the file`)
    t.equal(kongProblems(t, kong(version), LENIENT).length, 1, `${version}: still one problem when lenient`)
  }

  // no _format_version: the gateway's own format, unchanged (built-in services merged, routes versioned)
  const own = loadKong(t, `
services:
  payments:
    targets: [${SERVICE}]
routes:
  - prefix: /payments
    service: payments
`)
  t.same(own.warnings, [])
  t.same(Object.keys(own.config.services).sort(), ['command', 'payments', 'query'], 'the built-in services are still there')
  t.same(own.config.routes.map((r) => [r.prefix, r.service, r.versioned, r.stripPrefix]), [['/payments', 'payments', true, false]], 'the gateway\'s own defaults')
  // ...and Kong vocabulary in it is the gateway's schema error, not a Kong translation
  const notKong = kongProblems(t, `
services:
  - name: wallets
    url: ${SERVICE}
routes:
  - name: balance
    service: wallets
    paths: [/balance]
`)
  t.ok(notKong.some((p) => p.startsWith('routes[0].paths (')), 'a Kong-shaped file without _format_version is not translated: paths is an unknown key')
  t.notOk(notKong.some((p) => p.includes('Kong config')), 'and its problems are not Kong problems')
})

t.test('an unsupported plugin stops start-up, naming the plugin, its path in the file and the file', async (t) => {
  const yaml = `
_format_version: "3.0"
plugins:
  - name: oauth2
    config: { scopes: [wallets] }
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
      - name: history
        paths: [/history]
        plugins:
          - name: request-termination
            config: { status_code: 503 }
`
  const { path, problems } = problemsAt(t, yaml)
  t.equal(problems.length, 2, 'both plugins, nothing else')
  const global = naming(problems, 'plugins[0].name')
  t.equal(global.length, 1, 'the global plugin by its path')
  t.match(global[0], '"oauth2"')
  t.match(global[0], `(Kong config ${path})`)
  t.match(global[0], 'GATEWAY_KONG_LENIENT=true', 'the message says how to start anyway')
  const nested = naming(problems, 'services[0].routes[1].plugins[0].name')
  t.equal(nested.length, 1, 'the route plugin by its nested path')
  t.match(nested[0], '"request-termination"')
  t.match(nested[0], `(Kong config ${path})`)
})

t.test('a plugin configured for one consumer (other than rate-limiting) stops start-up, naming it', async (t) => {
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
consumers:
  - username: alice
    plugins:
      - name: cors
        config: { origins: [https://alice.example] }
  - username: bob
plugins:
  - name: request-size-limiting
    consumer: bob
    config: { allowed_payload_size: 1 }
`
  const problems = kongProblems(t, yaml)
  t.equal(problems.length, 2)
  const nested = naming(problems, 'consumers[0].plugins[0]')
  t.equal(nested.length, 1, 'the nested consumer plugin by its path')
  t.match(nested[0], /\bcors\b.*consumer/)
  const top = naming(problems, 'plugins[0]')
  t.equal(top.length, 1, 'the top-level plugin with consumer: by its path')
  t.match(top[0], /request-size-limiting.*consumer/)
})

// one unsupported item each: the file with it, the same file without it, the path it is reported at
const plugin = (name: string, config: string) => `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: ${name}
            config: ${config}
`
const UNSUPPORTED: Array<{ what: string, yaml: string, without: string, at: string, mentions: string }> = [
  {
    what: 'key-auth key_in_body: true',
    yaml: plugin('key-auth', '{ key_names: [apikey], key_in_body: true }'),
    without: plugin('key-auth', '{ key_names: [apikey] }'),
    at: 'services[0].routes[0].plugins[0].config.key_in_body',
    mentions: 'key_in_body'
  },
  {
    what: 'route snis',
    yaml: `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
        snis: [wallets.example]
`,
    without: `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
`,
    at: 'services[0].routes[0].snis',
    mentions: 'snis'
  },
  {
    what: 'service protocol: grpc',
    yaml: `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
  - name: ledger
    protocol: grpc
    host: 127.0.0.1
    port: 50051
`,
    without: `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
`,
    at: 'services[1].protocol',
    mentions: 'grpc'
  },
  {
    what: 'upstream algorithm: latency',
    yaml: `
_format_version: "3.0"
upstreams:
  - name: wallet-cluster
    algorithm: latency
    targets: [{ target: "127.0.0.1:9" }, { target: "127.0.0.1:10" }]
services:
  - name: wallets
    host: wallet-cluster
    routes:
      - name: balance
        paths: [/balance]
`,
    without: `
_format_version: "3.0"
upstreams:
  - name: wallet-cluster
    targets: [{ target: "127.0.0.1:9" }, { target: "127.0.0.1:10" }]
services:
  - name: wallets
    host: wallet-cluster
    routes:
      - name: balance
        paths: [/balance]
`,
    at: 'upstreams[0].algorithm',
    mentions: 'latency'
  },
  {
    what: 'rate-limiting limit_by: consumer-group',
    yaml: plugin('rate-limiting', '{ minute: 5, limit_by: consumer-group }'),
    without: plugin('rate-limiting', '{ minute: 5 }'),
    at: 'services[0].routes[0].plugins[0].config.limit_by',
    mentions: 'consumer-group'
  },
  {
    what: 'rate-limiting policy: cluster',
    yaml: plugin('rate-limiting', '{ minute: 5, policy: cluster }'),
    without: plugin('rate-limiting', '{ minute: 5 }'),
    at: 'services[0].routes[0].plugins[0].config.policy',
    mentions: 'cluster'
  },
  {
    what: 'request-transformer append.headers',
    yaml: plugin('request-transformer', '{ add: { headers: ["x-a:1"] }, append: { headers: ["x-b:2"] } }'),
    without: plugin('request-transformer', '{ add: { headers: ["x-a:1"] } }'),
    at: 'services[0].routes[0].plugins[0].config.append.headers',
    mentions: 'headers'
  }
]

t.test('each unsupported field stops start-up, named by its path; lenient, it is a warning and left out', async (t) => {
  for (const item of UNSUPPORTED) {
    t.test(item.what, async (t) => {
      const { path, problems } = problemsAt(t, item.yaml)
      t.equal(problems.length, 1, 'one problem')
      const named = naming(problems, item.at)
      t.equal(named.length, 1, `named by ${item.at}`)
      t.match(named[0], item.mentions)
      t.match(named[0], `(Kong config ${path})`, 'with the file')
      t.same(kongProblems(t, item.without), [], 'the file without it loads')

      const lenient = translated(t, item.yaml, LENIENT)
      t.equal(lenient.warnings.length, 1, 'lenient: one warning')
      t.equal(naming(lenient.warnings, item.at).length, 1, `lenient: the warning names ${item.at}`)
      const { warnings: _, ...config } = lenient
      const { warnings: __, ...expected } = translated(t, item.without)
      t.same(config, expected, 'lenient: translated as if the item were not in the file')
    })
  }
})

t.test('several problems are listed at once, not just the first', async (t) => {
  // every unsupported item above in one file, plus an unsupported plugin
  const yaml = `
_format_version: "3.0"
upstreams:
  - name: wallet-cluster
    algorithm: latency
    targets: [{ target: "127.0.0.1:9" }]
services:
  - name: wallets
    host: wallet-cluster
    routes:
      - name: balance
        paths: [/balance]
        snis: [wallets.example]
        plugins:
          - name: key-auth
            config: { key_in_body: true }
          - name: rate-limiting
            config: { minute: 5, policy: cluster, limit_by: consumer-group }
          - name: request-transformer
            config: { append: { headers: ["x-b:2"] } }
  - name: ledger
    protocol: grpc
    host: 127.0.0.1
plugins:
  - name: oauth2
`
  const expected = [
    'upstreams[0].algorithm',
    'services[0].routes[0].snis',
    'services[0].routes[0].plugins[0].config.key_in_body',
    'services[0].routes[0].plugins[1].config.policy',
    'services[0].routes[0].plugins[1].config.limit_by',
    'services[0].routes[0].plugins[2].config.append.headers',
    'services[1].protocol',
    'plugins[0].name'
  ]
  const problems = kongProblems(t, yaml)
  t.equal(problems.length, expected.length, 'one problem per item')
  for (const at of expected) t.equal(naming(problems, at).length, 1, `${at} is listed`)
  const lenient = loadKong(t, yaml, LENIENT)
  t.equal(lenient.warnings.length, expected.length, 'lenient: one warning per item')
  for (const at of expected) t.equal(naming(lenient.warnings, at).length, 1, `lenient: ${at} is listed`)
})

t.test('fields at their Kong defaults, as deck dump writes them, are accepted silently', async (t) => {
  const yaml = `
_format_version: "3.0"
_transform: true
services:
  - name: wallets
    id: 0b6a1f52-6c4a-4d0e-9e3b-3f1f6a1c0001
    url: ${SERVICE}
    protocol: http
    enabled: true
    connect_timeout: 60000
    read_timeout: 60000
    write_timeout: 60000
    retries: 5
    tls_verify: null
    tls_verify_depth: null
    client_certificate: null
    ca_certificates: null
    tags: []
    routes:
      - name: balance
        id: 0b6a1f52-6c4a-4d0e-9e3b-3f1f6a1c0002
        paths: [/balance]
        methods: null
        hosts: null
        headers: null
        snis: null
        sources: null
        destinations: null
        protocols: [http, https]
        https_redirect_status_code: 426
        request_buffering: true
        response_buffering: true
        path_handling: v0
        preserve_host: false
        regex_priority: 0
        strip_path: true
        tags: null
        plugins:
          - name: key-auth
            enabled: true
            protocols: [grpc, grpcs, http, https]
            config:
              anonymous: null
              hide_credentials: false
              key_in_body: false
              key_in_header: true
              key_in_query: true
              key_names: [apikey]
              run_on_preflight: true
              realm: null
          - name: rate-limiting
            config:
              second: null
              minute: 10
              hour: null
              day: null
              month: null
              year: null
              policy: local
              limit_by: consumer
              fault_tolerant: true
              hide_client_headers: false
              error_code: 429
              error_message: API rate limit exceeded
              header_name: null
              path: null
              redis_host: null
              redis_port: 6379
              redis_password: null
              redis_timeout: 2000
              redis_database: 0
              redis_ssl: false
              redis_ssl_verify: false
              redis_server_name: null
              sync_rate: -1
consumers:
  - username: alice
    custom_id: null
    created_at: 1700000000
    keyauth_credentials:
      - key: alice-default-key-0001
        ttl: null
        tags: null
`
  t.same(kongProblems(t, yaml), [], 'no problems')
  const { config, warnings } = loadKong(t, yaml)
  t.same(warnings, [], 'no warnings')
  const route = config.routes[0]!
  t.equal(route.auth, 'authenticated', 'key-auth translated')
  t.same(route.credentials?.apiKey, { headers: ['apikey'], query: ['apikey'] })
  t.match(route.rateLimit, { windows: [{ max: 10, windowMs: 60_000 }], by: 'consumer', store: 'local' }, 'rate-limiting translated')
  t.equal(config.services.wallets!.timeoutMs, 60_000)
})

t.test('references to entities not in the file stop start-up, named by their path, lenient or not', async (t) => {
  const yaml = `
_format_version: "3.0"
upstreams:
  - name: wallet-cluster
    targets: [{ target: "127.0.0.1:9" }]
targets:
  - target: 127.0.0.1:10
    upstream: ledger-cluster
services:
  - name: wallets
    host: wallet-cluster
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: key-auth
            config: { anonymous: guest }
routes:
  - name: orphan
    service: payments
    paths: [/payments]
plugins:
  - name: cors
    route: history
  - name: cors
    service: ledger
consumers:
  - username: alice
`
  const expected: Array<[string, string]> = [
    ['targets[0].upstream', '"ledger-cluster"'],
    ['routes[0].service', '"payments"'],
    ['services[0].routes[0].plugins[0].config.anonymous', '"guest"'],
    ['plugins[0].route', '"history"'],
    ['plugins[1].service', '"ledger"']
  ]
  for (const env of [{}, LENIENT]) {
    const lenient = env === LENIENT ? 'lenient: ' : ''
    const problems = kongProblems(t, yaml, env)
    for (const [at, value] of expected) {
      const named = naming(problems, at)
      t.equal(named.length, 1, `${lenient}${at} is a problem`)
      t.match(named[0], value, `${lenient}naming the missing ${value}`)
    }
  }
})

t.test('GATEWAY_KONG_LENIENT=true: the file starts without its unsupported items, which keep working as left out', async (t) => {
  const upstream = await startUpstream(t, echo('wallets'))
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${upstream.url}
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: request-termination
            config: { status_code: 503, message: down for maintenance }
      - name: history
        paths: [/history]
        plugins:
          - name: key-auth
            config: { key_in_body: true }
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-lenient-key-0001 }]
`
  t.equal(kongProblems(t, yaml).length, 2, 'refused without GATEWAY_KONG_LENIENT')
  for (const value of ['false', '0', '']) t.equal(kongProblems(t, yaml, { GATEWAY_KONG_LENIENT: value }).length, 2, `GATEWAY_KONG_LENIENT=${JSON.stringify(value)} is not lenient`)

  const gw = await startKongGateway(t, yaml, LENIENT)
  t.equal(gw.warnings.length, 2)
  t.equal(naming(gw.warnings, 'services[0].routes[0].plugins[0].name').length, 1, 'the unsupported plugin is a warning')
  t.match(naming(gw.warnings, 'services[0].routes[0].plugins[0].name')[0], 'request-termination')
  t.equal(naming(gw.warnings, 'services[0].routes[1].plugins[0].config.key_in_body').length, 1, 'the unsupported field is a warning')

  // request-termination is not applied: the request reaches the service
  const balance = await call(`${gw.url}/balance`)
  t.equal(balance.status, 200, 'not terminated')
  t.equal(balance.json().upstream, 'wallets')
  // key-auth still applies, without key_in_body
  t.equal((await call(`${gw.url}/history`)).status, 401, 'key-auth kept')
  t.equal((await call(`${gw.url}/history`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apikey: 'alice-lenient-key-0001' }) })).status, 401, 'a key in the body is not read')
  const ok = await call(`${gw.url}/history`, { headers: { apikey: 'alice-lenient-key-0001' } })
  t.equal(ok.status, 200, 'a key in the header is')
  t.equal(upstream.requests.at(-1)!.headers['x-consumer-username'], 'alice')

  // invalid values still stop start-up when lenient
  const invalid = kongProblems(t, `${yaml}
plugins:
  - name: cors
    route: nowhere
  - name: rate-limiting
    config: { minute: 5, hour: 0 }
`, LENIENT)
  t.equal(naming(invalid, 'plugins[0].route').length, 1, 'a bad reference is still a problem')
  t.equal(naming(invalid, 'plugins[1].config.hour').length, 1, 'a bad value is still a problem')
  t.equal(invalid.length, 2, 'and the unsupported items are not')
})

const KEY = 'KEYAUTH-kq82ZxQ7-secret'
const JWT_SECRET = 'JWTSECRET-p41Lm0Ue-secret'
const REDIS_PASSWORD = 'REDISPW-v93Tb6Hs-secret'
const SECRETS = [KEY, JWT_SECRET, REDIS_PASSWORD]

function secretsIn (messages: readonly string[]): string[] {
  return messages.filter((m) => SECRETS.some((s) => m.includes(s) || m.includes(encodeURIComponent(s))))
}

t.test('messages never contain a key-auth key, a jwt secret or a Redis password from the file', async (t) => {
  // problems and warnings all around the secrets
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: rate-limiting
            config: { minute: 5, policy: redis, redis_host: 127.0.0.1, redis_password: ${REDIS_PASSWORD}, redis_sentinel_master: x, shiny: true }
      - name: history
        paths: [/history]
        plugins:
          - name: rate-limiting
            config: { minute: 5, policy: redis, redis_host: 10.0.0.2, redis_password: ${REDIS_PASSWORD} }
consumers:
  - username: alice
    keyauth_credentials:
      - { key: ${KEY}, ttl: 3600, shiny: true }
    jwt_secrets:
      - { key: alice-iss, algorithm: RS256, secret: ${JWT_SECRET} }
      - { key: alice-iss-2, algorithm: HS256, secret: ${JWT_SECRET}, shiny: true }
  - username: bob
    keyauth_credentials:
      - { key: ${KEY} }
      - { key: "${KEY} with spaces" }
keyauth_credentials:
  - { consumer: nobody, key: ${KEY} }
jwt_secrets:
  - { consumer: nobody, key: x-iss, secret: ${JWT_SECRET} }
`
  const problems = kongProblems(t, yaml)
  t.ok(problems.length >= 8, `there are problems to look at (${problems.length})`)
  t.same(secretsIn(problems), [], 'no secret in a problem')
  const lenient = kongProblems(t, yaml, LENIENT)
  t.ok(lenient.length > 0)
  t.same(secretsIn(lenient), [], 'no secret in a lenient problem')

  // lenient warnings: a second Redis server, unsupported fields beside the secrets
  const warned = loadKong(t, `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: rate-limiting
            config: { minute: 5, policy: redis, redis_host: 127.0.0.1, redis_password: ${REDIS_PASSWORD}, shiny: true }
      - name: history
        paths: [/history]
        plugins:
          - name: rate-limiting
            config: { minute: 5, policy: redis, redis_host: 10.0.0.2, redis_password: ${REDIS_PASSWORD} }
consumers:
  - username: alice
    keyauth_credentials:
      - { key: ${KEY}, ttl: 3600 }
    jwt_secrets:
      - { key: alice-iss, secret: ${JWT_SECRET}, shiny: true }
`, LENIENT)
  t.ok(warned.warnings.length >= 4, `there are warnings to look at (${warned.warnings.length})`)
  t.same(secretsIn(warned.warnings), [], 'no secret in a warning')

  // a Redis URL the gateway refuses: its password is not shown
  const badRedis = kongProblems(t, plugin('rate-limiting', `{ minute: 5, policy: redis, redis_host: "bad host", redis_password: ${REDIS_PASSWORD} }`))
  t.equal(badRedis.length, 1)
  t.match(badRedis[0], /redis/)
  t.same(secretsIn(badRedis), [], 'no password in the Redis URL problem')
})

t.test('messages never contain a credential given in the wrong shape (a string or object instead of a list)', async (t) => {
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
consumers:
  - username: alice
    keyauth_credentials: ${KEY}
  - username: bob
    jwt_secrets: { key: bob-iss, secret: ${JWT_SECRET} }
  - username: carol
    keyauth_credentials: { key: ${KEY}-carol }
keyauth_credentials: ${KEY}-top
`
  const problems = kongProblems(t, yaml)
  t.equal(naming(problems, 'consumers[0].keyauth_credentials').length, 1, 'the string is a problem')
  t.equal(naming(problems, 'consumers[1].jwt_secrets').length, 1, 'the object is a problem')
  t.equal(naming(problems, 'consumers[2].keyauth_credentials').length, 1)
  t.equal(naming(problems, 'keyauth_credentials').length, 1)
  t.same(secretsIn(problems), [], 'no credential in a problem')
})

t.test('the translation: unversioned routes, stripPrefix, no built-in services, consumers, credentials, one route per path', async (t) => {
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}/internal
    routes:
      - name: balance
        paths: [/balance, /v1/balance]
      - name: history
        paths: [/history]
        strip_path: false
        plugins:
          - name: key-auth
          - name: acl
            config: { allow: [auditor] }
consumers:
  - id: 7c9e6679-7425-40de-944b-e07fc1f90ae7
    username: alice
    custom_id: alice-crm-1
    keyauth_credentials:
      - { id: alice-primary, key: alice-translate-key-0001 }
      - { key: alice-translate-key-0002 }
    acls:
      - group: auditor
      - group: support
  - username: bob
    custom_id: bob-crm-2
  - custom_id: carol-crm-3
keyauth_credentials:
  - { consumer: bob, key: bob-translate-key-0003 }
acls:
  - { consumer: alice-crm-1, group: admin }
`
  const { config, warnings } = loadKong(t, yaml)
  t.same(warnings, [])
  t.same(Object.keys(config.services), ['wallets'], 'the built-in command and query services are absent')
  t.notOk('command' in config.services)
  t.notOk('query' in config.services)
  t.same(config.services.wallets!.targets.map((x) => x.url), [`${SERVICE}/internal`])

  t.same(config.routes.map((r) => [r.name, r.prefix, r.service]), [
    ['balance-1', '/balance', 'wallets'],
    ['balance-2', '/v1/balance', 'wallets'],
    ['history', '/history', 'wallets']
  ], 'a Kong route with two paths is two routes')
  for (const route of config.routes) t.equal(route.versioned, false, `${route.name}: versioned: false`)
  t.equal(config.routes[0]!.stripPrefix, true, 'strip_path unset: stripPrefix true (Kong\'s default)')
  t.equal(config.routes[1]!.stripPrefix, true)
  t.equal(config.routes[2]!.stripPrefix, false, 'strip_path: false')
  t.equal(config.routes[0]!.auth, 'public')
  t.equal(config.routes[2]!.auth, 'authenticated')
  t.same(config.routes[2]!.roles, ['auditor'], 'acl allow → roles')

  const byUsername = (u: string) => config.consumers.find((c) => c.username === u || c.customId === u)!
  t.equal(byUsername('alice').id, '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'Kong id over username')
  t.equal(byUsername('bob').id, 'bob', 'username over custom_id')
  t.equal(byUsername('carol-crm-3').id, 'carol-crm-3', 'custom_id alone')
  t.equal(byUsername('alice').customId, 'alice-crm-1')
  t.same(byUsername('alice').roles, ['auditor', 'support', 'admin'], 'acl groups (nested and top-level by custom_id) become roles')
  t.same(byUsername('bob').roles, [])

  const sha = (key: string) => createHash('sha256').update(key).digest('hex')
  t.same(byUsername('alice').apiKeys, [
    { hash: sha('alice-translate-key-0001'), id: 'alice-primary' },
    { hash: sha('alice-translate-key-0002'), id: sha('alice-translate-key-0002').slice(0, 16) }
  ], 'api keys are {hash, id} SHA-256 digests, id from the credential')
  t.same(byUsername('bob').apiKeys, [{ hash: sha('bob-translate-key-0003'), id: sha('bob-translate-key-0003').slice(0, 16) }], 'a top-level credential joins its consumer')
  t.notOk(JSON.stringify(config).includes('alice-translate-key-0001'), 'the plaintext key is nowhere in the config')
})

t.test('plugin precedence: route over service over global, nested or top-level', async (t) => {
  const yaml = `
_format_version: "3.0"
services:
  - name: wallets
    url: ${SERVICE}
    routes:
      - name: balance
        paths: [/balance]
        plugins:
          - name: request-size-limiting
            config: { allowed_payload_size: 3, size_unit: kilobytes }
      - name: history
        paths: [/history]
      - name: transfers
        paths: [/transfers]
  - name: ledger
    url: ${SERVICE}
    routes:
      - name: entries
        paths: [/entries]
plugins:
  - name: request-size-limiting
    config: { allowed_payload_size: 1, size_unit: kilobytes }
  - name: request-size-limiting
    service: wallets
    config: { allowed_payload_size: 2, size_unit: kilobytes }
  - name: request-size-limiting
    route: transfers
    config: { allowed_payload_size: 4, size_unit: kilobytes }
  - name: rate-limiting
    config: { minute: 100 }
  - name: rate-limiting
    service: ledger
    config: { minute: 50 }
`
  const { config } = loadKong(t, yaml)
  const limit = (name: string) => config.routes.find((r) => r.name === name)!.bodyLimitBytes
  t.equal(limit('balance'), 3 * 1024, 'the route\'s own plugin')
  t.equal(limit('transfers'), 4 * 1024, 'a top-level plugin for the route')
  t.equal(limit('history'), 2 * 1024, 'the service\'s plugin over the global one')
  t.equal(limit('entries'), 1 * 1024, 'the global plugin elsewhere')
  const window = (name: string) => config.routes.find((r) => r.name === name)!.rateLimit?.windows?.[0]?.max
  t.equal(window('entries'), 50, 'service rate limit over the global one')
  t.equal(window('balance'), 100, 'the global rate limit on the other service')
})

t.test('every Kong file under examples/kong/ loads without problems', async (t) => {
  const dir = new URL('../../examples/kong/', import.meta.url)
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()
  t.ok(files.includes('seed.yaml'), 'the seed is there')
  if (files.length === 1) t.comment('only seed.yaml in examples/kong/')
  for (const file of files) {
    const yaml = readFileSync(new URL(file, dir), 'utf8')
    t.match(yaml, /_format_version:\s*"(3\.0|2\.1)"/, `${file} is a Kong file`)
    t.same(kongProblems(t, yaml), [], `${file}: no problems`)
    const { config, warnings } = loadKong(t, yaml)
    t.same(warnings, [], `${file}: no warnings`)
    t.ok(config.routes.length > 0, `${file}: has routes`)
    t.notOk('command' in config.services && !/name:\s*command\s*$/m.test(yaml), `${file}: no built-in service`)
  }
})
