import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/index.js'
import { configProblems } from '../helpers.js'

function write (t: { testdir: (content?: any) => string }, text: string): string {
  const dir = t.testdir({})
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, text)
  return file
}

t.test('a YAML file sets services, routes and every route policy', async (t) => {
  const file = write(t, `
server:
  port: 9100
services:
  payments:
    targets: [http://10.0.0.1:7000, { url: "http://10.0.0.2:7000", weight: 3 }]
    loadBalancing: weighted
    healthCheck: { path: /healthz, intervalMs: 2000 }
routes:
  - prefix: /v1/payments
    service: payments
    stripPrefix: true
    auth: authenticated
    roles: [payments-operator]
    rateLimit: { max: 50, windowMs: 1000 }
    fallback: { status: 503, body: { message: "payments paused" }, headers: { retry-after: "30" } }
    headers:
      request: { add: { x-source: gateway }, remove: [cookie] }
      response: { remove: [server] }
    validate: true
  - prefix: /public
    service: command
    auth: public
`)
  const { config } = loadConfig({ GATEWAY_CONFIG: file })
  t.equal(config.server.port, 9100)
  t.same(Object.keys(config.services).sort(), ['command', 'payments', 'query'], 'file services merge over the defaults')
  t.same(config.services.payments!.targets, [{ url: 'http://10.0.0.1:7000', weight: 1 }, { url: 'http://10.0.0.2:7000', weight: 3 }])
  t.equal(config.services.payments!.loadBalancing, 'weighted')
  t.match(config.services.payments!.healthCheck, { path: '/healthz', intervalMs: 2000, timeoutMs: 1000, enabled: true })
  t.equal(config.routes.length, 2, 'file routes replace the defaults')
  t.match(config.routes[0], {
    name: 'v1-payments', prefix: '/v1/payments', service: 'payments', stripPrefix: true, roles: ['payments-operator'],
    rateLimit: { max: 50, windowMs: 1000 }, fallback: { status: 503, body: { message: 'payments paused' } }, validate: true
  })
  t.equal(config.routes[1]!.auth, 'public')
})

t.test('environment variables override the file', async (t) => {
  const file = write(t, 'server: { port: 9100 }\nrateLimit: { anonymous: 7 }\n')
  const { config } = loadConfig({ GATEWAY_CONFIG: file, PORT: '9200' })
  t.equal(config.server.port, 9200)
  t.equal(config.rateLimit.anonymous, 7)
})

t.test('a missing file is named with what went wrong', async (t) => {
  t.same(configProblems({ GATEWAY_CONFIG: '/nonexistent/gateway.yaml' }), ['GATEWAY_CONFIG="/nonexistent/gateway.yaml": file not found'])
})

t.test('bad YAML is reported with its line and column', async (t) => {
  const file = write(t, 'server:\n  port: 8000\n routes: [\n')
  const [problem] = configProblems({ GATEWAY_CONFIG: file })
  t.match(problem, new RegExp(`^GATEWAY_CONFIG="${file}": invalid YAML at line \\d+, column \\d+: `))
  const list = write(t, '- a\n- b\n')
  t.match(configProblems({ GATEWAY_CONFIG: list })[0], /expected a YAML mapping at the top level .* got a list/)
})

t.test('an unknown key is named with the keys that are allowed', async (t) => {
  const file = write(t, 'routes:\n  - prefix: /v1/x\n    service: command\n    stripPrefx: true\n')
  t.same(configProblems({ GATEWAY_CONFIG: file }), [`routes[0].stripPrefx (in ${file}): unknown key, expected one of: name, prefix, versioned, methods, match, service, stripPrefix, preserveHost, websocket, auth, roles, hideCredentials, credentials, anonymousConsumer, groupsHeader, denyRoles, ipRestriction, bodyLimitBytes, cors, rateLimit, fallback, headers, validate, timeoutMs, versions`])
  const top = write(t, 'servers: {}\n')
  t.match(configProblems({ GATEWAY_CONFIG: top })[0], /^servers \(in .*\): unknown key, expected one of: server, redis, jwt/)
})

t.test('a bad value in the file names the key, the value and what is expected', async (t) => {
  const file = write(t, `
services:
  billing: { targets: [ "not a url" ], loadBalancing: random }
routes:
  - { prefix: v1/no-slash, service: billing }
  - { prefix: /v1/x, service: nowhere }
  - { prefix: /v1/x, service: command }
`)
  t.same(configProblems({ GATEWAY_CONFIG: file }), [
    `services.billing.targets[0].url (in ${file}): got "not a url", expected an absolute http:// or https:// URL`,
    `services.billing.loadBalancing (in ${file}): got "random", expected one of "round-robin", "least-connections", "weighted", "consistent-hashing"`,
    `routes[0].prefix (in ${file}): got "v1/no-slash", expected a path starting with "/" and not ending with "/" (or "/" itself on an unversioned route)`
  ])
  const refs = write(t, 'routes:\n  - { prefix: /v1/x, service: nowhere }\n  - { prefix: /v1/x, service: command }\n  - { prefix: /admin, service: command }\n')
  t.same(configProblems({ GATEWAY_CONFIG: refs }), [
    `routes[0].service (in ${refs}): got "nowhere", expected one of the configured services: command, query`,
    `routes[1].prefix (in ${refs}): got "/v1/x", expected a prefix not already used by routes[0]`,
    `routes[2].prefix (in ${refs}): got "/admin", expected a prefix that does not shadow the gateway's own endpoints (/health, /ready, /docs, /openapi.*, /ws, /admin), with or without a version segment`
  ])
})

t.test('header values Node would refuse on the wire are refused at start-up, not on every request', async (t) => {
  const file = write(t, `
routes:
  - prefix: /v1/api
    service: query
    headers: { request: { add: { x-note: "it’s" } }, response: { add: { x-ok: "café; v=1" } } }
    fallback: { status: 503, headers: { x-bad: "a\\u0007b" } }
`)
  t.same(configProblems({ GATEWAY_CONFIG: file }), [
    `routes[0].fallback.headers.x-bad (in ${file}): got ${JSON.stringify('a\u0007b')}, expected a header value: printable ASCII or Latin-1, no control characters or line breaks`,
    `routes[0].headers.request.add.x-note (in ${file}): got "it’s", expected a header value: printable ASCII or Latin-1, no control characters or line breaks`
  ])
})

t.test('a Kong declarative file is recognised and translated (test/kong/ covers the translation)', async (t) => {
  const file = write(t, '_format_version: "3.0"\nservices: []\n')
  t.same(configProblems({ GATEWAY_CONFIG: file }), [])
  const { config } = loadConfig({ GATEWAY_CONFIG: file })
  t.same(config.routes, [], 'an empty Kong file has no routes')
  t.same(Object.keys(config.services), [], 'and not the built-in command/query services')
  const bad = write(t, '_format_version: "9.9"\n')
  t.match(configProblems({ GATEWAY_CONFIG: bad })[0], /^_format_version \(Kong config .*\): "9\.9" is not a Kong declarative format/)
})
