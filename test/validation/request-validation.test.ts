// Request validation at the edge against the OpenAPI document: path, query and
// JSON body checked before proxying; every violation listed; the upstream never
// sees a bad request and receives a good body byte for byte. The document here
// is a small one injected through deps.openapi, so these tests do not move with
// openapi/openapi.yaml (test/openapi/ checks the real one).
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { startGateway, startUpstream, servicesFor, call, echo, rawExchange, testConfig, specRoutes } from '../helpers.js'
import { buildGateway } from '../../src/gateway.js'

const money = (field: string, type: string, extra: Record<string, unknown> = {}) => ({
  type: 'object', required: [field], additionalProperties: false,
  properties: { [field]: { type, exclusiveMinimum: 0, ...extra }, reference: { type: 'string', maxLength: 20 } }
})
const walletId = { name: 'walletId', in: 'path', required: true, schema: { $ref: '#/components/schemas/Id' } }
const doc = {
  openapi: '3.1.0',
  info: { title: 'test', version: '1' },
  paths: {
    '/v1/commands/wallets': {
      post: {
        parameters: [{ name: 'dryRun', in: 'query', schema: { type: 'boolean' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['currency'], additionalProperties: false, properties: { currency: { enum: ['EGP', 'USD', 'EUR'] }, ownerId: { type: 'string' } } } } } },
        responses: { 201: { description: 'created' } }
      }
    },
    '/v1/commands/wallets/{walletId}/deposit': {
      parameters: [walletId],
      post: { requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MoneyV1' } } } }, responses: { 202: { description: 'accepted' } } }
    },
    '/v1/commands/wallets/{walletId}/unfreeze': {
      parameters: [walletId],
      post: { requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { note: { type: 'string' } } } } } }, responses: { 202: { description: 'accepted' } } }
    },
    '/v2/commands/wallets/{walletId}/deposit': {
      parameters: [walletId],
      post: { requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MoneyV2' } } } }, responses: { 202: { description: 'accepted' } } }
    },
    '/v2/commands/wallets': { $ref: '#/components/pathItems/CreateWallet' }
  },
  components: {
    schemas: {
      Id: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,64}$' },
      MoneyV1: money('amount', 'number', { maximum: 1_000_000_000, multipleOf: 0.01 }),
      MoneyV2: money('amountMinor', 'integer')
    },
    pathItems: {
      CreateWallet: { post: { requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['currency'], properties: { currency: { enum: ['EGP'] } } } } } }, responses: { 201: { description: 'created' } } } }
    }
  }
}

async function setup (t: Parameters<typeof startGateway>[0], extra: Record<string, any> = {}) {
  const up = await startUpstream(t, echo('command'))
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    routes: [{ name: 'commands', prefix: '/commands', service: 'command', auth: 'public', validate: true }, { name: 'loose', prefix: '/loose', service: 'command', auth: 'public' }],
    ...extra
  }, { openapi: doc })
  return { gw, up }
}
const json = (body: unknown): { method: string, headers: Record<string, string>, body: string } => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })

t.test('each kind of bad request is a 400 listing every violation, and never reaches the upstream', async (t) => {
  const { gw, up } = await setup(t)
  const cases: Array<[string, string, ReturnType<typeof json>, unknown[]]> = [
    ['missing field', '/v1/commands/wallets/w-1/deposit', json({ reference: 'x' }), [{ in: 'body', path: '/amount', message: 'is required' }]],
    ['extra field', '/v1/commands/wallets/w-1/deposit', json({ amount: 5, tip: 1 }), [{ in: 'body', path: '/tip', message: 'is not allowed' }]],
    ['wrong type', '/v1/commands/wallets/w-1/deposit', json({ amount: '5' }), [{ in: 'body', path: '/amount', message: 'must be number' }]],
    ['several at once', '/v1/commands/wallets/w-1/deposit', json({ amount: -1, reference: 'r'.repeat(30), tip: 1 }), [
      { in: 'body', path: '/tip', message: 'is not allowed' },
      { in: 'body', path: '/amount', message: 'must be > 0' },
      { in: 'body', path: '/reference', message: 'must NOT have more than 20 characters' }
    ]],
    ['enum', '/v1/commands/wallets', json({ currency: 'GBP' }), [{ in: 'body', path: '/currency', message: 'must be one of "EGP", "USD", "EUR"' }]],
    ['not an object', '/v1/commands/wallets', json('[1]'), [{ in: 'body', path: '/', message: 'must be object' }]],
    ['invalid JSON', '/v1/commands/wallets', json('{"currency": '), [{ in: 'body', path: '/', message: 'is not valid JSON (UTF-8)' }]],
    ['required body missing', '/v1/commands/wallets', { method: 'POST', headers: {}, body: '' }, [{ in: 'body', path: '/', message: 'is required' }]],
    ['bad path parameter', '/v1/commands/wallets/w%20x/deposit', json({ amount: 1 }), [{ in: 'path', path: 'walletId', message: 'must match pattern "^[A-Za-z0-9._:-]{1,64}$"' }]],
    ['bad query parameter', '/v1/commands/wallets?dryRun=perhaps', json({ currency: 'EGP' }), [{ in: 'query', path: 'dryRun', message: 'must be boolean' }]],
    ['v2 body on v1', '/v1/commands/wallets/w-1/deposit', json({ amountMinor: 500 }), [{ in: 'body', path: '/amountMinor', message: 'is not allowed' }, { in: 'body', path: '/amount', message: 'is required' }]]
  ]
  for (const [what, path, opts, errors] of cases) {
    const res = await call(gw.url + path, { ...opts, headers: { 'x-request-id': 'val-1', ...opts.headers } })
    t.equal(res.status, 400, what)
    t.match(res.headers['content-type'], /^application\/problem\+json/, what)
    const body = res.json()
    t.match(body, { code: 'GW_VALIDATION_FAILED', status: 400, requestId: 'val-1', instance: path.split('?')[0] }, what)
    t.same(new Set(body.errors.map((e: unknown) => JSON.stringify(e))), new Set(errors.map((e) => JSON.stringify(e))), `${what}: ${JSON.stringify(body.errors)}`)
    t.match(body.detail, new RegExp(`${errors.length} violations?, listed in errors`), what)
  }
  t.equal(up.requests.length, 0, 'the upstream saw none of them')
})

t.test('a valid body arrives byte for byte; a query coerced for checking is forwarded as sent', async (t) => {
  const { gw, up } = await setup(t)
  const body = '{ "reference" : "caf\u00e9 \u2615",\n  "amount":25.50 }'
  let res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body })
  t.equal(res.status, 200)
  t.equal(res.json().body, body, 'whitespace, key order, number spelling and UTF-8 untouched')
  t.equal(up.requests[0]!.headers['content-length'], String(Buffer.byteLength(body)))
  res = await call(`${gw.url}/v1/commands/wallets?dryRun=true`, json({ currency: 'EGP' }))
  t.equal(res.status, 200)
  t.equal(res.json().url, '/v1/commands/wallets?dryRun=true')
  res = await call(`${gw.url}/v1/commands/wallets/w-1/unfreeze`, { method: 'POST' })
  t.equal(res.status, 200, 'an optional body may be left out')
  res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, { method: 'POST', headers: { 'content-type': 'Application/JSON;charset=UTF-8' }, body: '{"amount":19.99}' })
  t.equal(res.status, 200, 'media types compare case-insensitively; 19.99 is a multiple of 0.01 despite floating point')
  res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, { method: 'POST', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"amount":1}' })
  t.equal(res.status, 415, 'a JSON type the operation does not list is refused: the service would not parse it')
})

t.test('a negotiated version is validated against that version\'s operation', async (t) => {
  const { gw, up } = await setup(t)
  let res = await call(`${gw.url}/commands/wallets/w-1/deposit`, { ...json({ amount: 5 }), headers: { 'content-type': 'application/json', 'x-api-version': '2' } })
  t.equal(res.status, 400)
  t.same(new Set(res.json().errors.map((e: unknown) => JSON.stringify(e))), new Set([
    JSON.stringify({ in: 'body', path: '/amountMinor', message: 'is required' }),
    JSON.stringify({ in: 'body', path: '/amount', message: 'is not allowed' })
  ]))
  res = await call(`${gw.url}/commands/wallets/w-1/deposit`, { ...json({ amountMinor: 500 }), headers: { 'content-type': 'application/json', 'x-api-version': '2' } })
  t.equal(res.status, 200)
  t.equal(res.json().url, '/v2/commands/wallets/w-1/deposit')
  res = await call(`${gw.url}/v2/commands/wallets`, json({ currency: 'USD' }))
  t.equal(res.status, 400, 'an operation reached through a $ref\'d path item is validated too')
  t.equal(up.requests.length, 1)
})

t.test('an operation the document does not have: 404; a method it does not allow: 405 with Allow', async (t) => {
  const { gw, up } = await setup(t)
  let res = await call(`${gw.url}/v1/commands/wallets/w-1/launch`, json({}))
  t.equal(res.status, 404)
  t.match(res.json(), { code: 'GW_VALIDATION_UNKNOWN_OPERATION', detail: 'The published API has no operation POST /v1/commands/wallets/w-1/launch; see /openapi.json' })
  res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, { method: 'DELETE' })
  t.equal(res.status, 405)
  t.equal(res.headers.allow, 'POST')
  t.equal(res.json().code, 'GW_VALIDATION_METHOD_NOT_ALLOWED')
  res = await call(`${gw.url}/v1/loose/anything`, json('not json at all'))
  t.equal(res.status, 200, 'a route without validate forwards anything')
  t.equal(up.requests.length, 1)
})

t.test('wrong media type is 415; a body over BODY_LIMIT_BYTES is 413, declared or chunked', async (t) => {
  const { gw, up } = await setup(t, { server: { bodyLimitBytes: 64 } })
  let res = await call(`${gw.url}/v1/commands/wallets`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'currency=EGP' })
  t.equal(res.status, 415)
  t.match(res.json(), { code: 'GW_VALIDATION_UNSUPPORTED_MEDIA_TYPE', detail: 'This operation takes a body of type application/json, in UTF-8 and without Content-Encoding' })
  res = await call(`${gw.url}/v1/commands/wallets`, json({ currency: 'EGP', ownerId: 'x'.repeat(100) }))
  t.equal(res.status, 413)
  t.equal(res.json().code, 'GW_REQUEST_BODY_TOO_LARGE')
  const chunked = await rawExchange(gw.url, `POST /v1/commands/wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n50\r\n{"currency":"EGP","ownerId":"${'y'.repeat(58)}"}\r\n0\r\n\r\n`)
  t.match(chunked, /^HTTP\/1\.1 413 /)
  t.equal(up.requests.length, 0)
})

t.test('validation runs after auth and rate limiting: an anonymous bad request is a 401, not a 400', async (t) => {
  const up = await startUpstream(t, echo('command'))
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: [{ name: 'commands', prefix: '/commands', service: 'command', validate: true }] }, { openapi: doc })
  const res = await call(`${gw.url}/v1/commands/wallets`, json({ currency: 'nope' }))
  t.equal(res.status, 401)
  t.equal(res.json().code, 'GW_AUTH_MISSING_CREDENTIALS')
})

t.test('a validating route the document knows nothing of stops start-up with a message saying so', async (t) => {
  const config = testConfig({ services: servicesFor('http://127.0.0.1:9'), routes: [{ name: 'payments', prefix: '/payments', service: 'command', auth: 'public', validate: true }] })
  await t.rejects(buildGateway(config, { openapi: doc }), { message: 'validate is on for /v1/payments (route payments), /v2/payments (route payments), but openapi/openapi.yaml describes no operation under them: describe the operations or set validate: false' })
})

t.test('a body is checked exactly as the upstream will read it: UTF-8 only, no other charset, no Content-Encoding', async (t) => {
  const { gw, up } = await setup(t)
  // bytes, not text: the body may hold bytes that are not UTF-8
  const raw = async (headers: string, body: Buffer) => {
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1')
    await once(socket, 'connect')
    socket.write(Buffer.concat([Buffer.from(`POST /v1/commands/wallets/w-1/deposit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}Content-Length: ${body.length}\r\n\r\n`), body]))
    let answer = ''
    for await (const chunk of socket) answer += chunk
    return answer
  }
  const invalidUtf8 = Buffer.concat([Buffer.from('{"amount":5,"reference":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])
  let answer = await raw('Content-Type: application/json\r\n', invalidUtf8)
  t.match(answer, /^HTTP\/1\.1 400 /, 'invalid UTF-8 is refused, not repaired into U+FFFD')
  t.match(answer, /"message":"is not valid JSON \(UTF-8\)"/)
  answer = await raw('Content-Type: application/json; charset=utf-16le\r\n', Buffer.from('{"amount":5}'))
  t.match(answer, /^HTTP\/1\.1 415 /, 'another charset')
  answer = await raw('Content-Type: application/json\r\nContent-Encoding: gzip\r\n', Buffer.from('{"amount":5}'))
  t.match(answer, /^HTTP\/1\.1 415 /, 'an encoded body cannot be checked')
  for (const type of ['application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'application/json; charset=utf8']) {
    answer = await raw(`Content-Type: ${type}\r\n`, Buffer.from('{"amount":5}'))
    t.match(answer, /^HTTP\/1\.1 200 /, type)
  }
  t.equal(up.requests.length, 3)
})

t.test('multipleOf is exact on decimals: 19.99 and 987654321.99 pass, 19.990000000001 does not', async (t) => {
  const { gw } = await setup(t)
  for (const [amount, status] of [[19.99, 200], [0.07, 200], [1234.56, 200], [987654321.99, 200], [19.990000000001, 400], [0.001, 400]] as const) {
    const res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, json(`{"amount":${amount}}`))
    t.equal(res.status, status, String(amount))
    if (status === 400) t.same(res.json().errors, [{ in: 'body', path: '/amount', message: 'must be a multiple of 0.01' }])
  }
})

t.test('a body an operation does not take is refused, not forwarded unchecked', async (t) => {
  const withGet = structuredClone(doc) as any
  withGet.paths['/v1/commands/wallets/{walletId}'] = { parameters: [walletId], get: { responses: { 200: { description: 'ok' } } } }
  const up = await startUpstream(t, echo('command'))
  const gw = await startGateway(t, { services: servicesFor(up.url), routes: [{ name: 'commands', prefix: '/commands', service: 'command', auth: 'public', validate: true }] }, { openapi: withGet })
  const res = await call(`${gw.url}/v1/commands/wallets/w-1`, { method: 'GET', headers: { 'content-type': 'application/json' }, body: '{"x":1}' })
  t.equal(res.status, 400)
  t.same(res.json().errors, [{ in: 'body', path: '/', message: 'is not allowed: this operation takes no body' }])
  t.equal((await call(`${gw.url}/v1/commands/wallets/w-1`)).status, 200)
  t.equal(up.requests.length, 1)
})

t.test('a 400 lists at most 50 violations and says how many it left out', async (t) => {
  const { gw } = await setup(t)
  const body = JSON.stringify(Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i])))
  const res = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, json(body))
  t.equal(res.status, 400)
  t.equal(res.json().errors.length, 50)
  t.equal(res.json().errorsOmitted, 451, '500 extra keys and the missing amount')
  t.match(res.json().detail, /501 violations/)
})

t.test('a JSON body trickled slower than the route timeout is a 408 that closes the connection, as a streamed one is', async (t) => {
  const { gw, up } = await setup(t, { routes: [{ name: 'commands', prefix: '/commands', service: 'command', auth: 'public', validate: true, timeoutMs: 300 }] })
  const answer = await rawExchange(gw.url, 'POST /v1/commands/wallets/w-1/deposit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"amo')
  t.match(answer, /^HTTP\/1\.1 408 /)
  t.match(answer, /\r\nconnection: close\r\n/i)
  t.match(answer, /"code":"GW_REQUEST_TIMEOUT"/)
  t.equal(up.requests.length, 0)
  const after = await call(`${gw.url}/v1/commands/wallets/w-1/deposit`, json({ amount: 1 }))
  t.equal(after.status, 200, 'a GET or a quick body on the same route is unaffected')
})

t.test('a chunked valid body reaches the upstream with its length; a retry sends the same bytes again', async (t) => {
  const dead = await startUpstream(t)
  const deadUrl = dead.url
  await dead.close()
  const up = await startUpstream(t, echo('command'))
  const gw = await startGateway(t, {
    services: { command: { targets: [deadUrl, up.url], loadBalancing: 'round-robin', passiveHealth: { enabled: false } }, query: { targets: [up.url] } },
    routes: [{ name: 'commands', prefix: '/commands', service: 'command', auth: 'public', validate: true }]
  }, { openapi: doc })
  const body = '{"amount": 7.25}'
  for (let i = 0; i < 2; i++) {
    const answer = await rawExchange(gw.url, `POST /v1/commands/wallets/w-1/deposit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)
    t.match(answer, /^HTTP\/1\.1 200 /, `request ${i + 1}: answered (retried on the live target when the dead one came first)`)
  }
  t.equal(up.requests.length, 2)
  for (const seen of up.requests) {
    t.equal(seen.body, body)
    t.equal(seen.headers['content-length'], String(body.length))
    t.equal(seen.headers['transfer-encoding'], undefined)
  }
})

t.test('validators are compiled once per document: a gateway built again in the process reuses them, another document gets its own', async (t) => {
  const { compileRouteValidators } = await import('../../plugins/validation/index.js')
  const { buildRouteTable } = await import('../../plugins/versioning/routes.js')
  const { loadSpec } = await import('../../plugins/openapi/spec.js')
  const config = testConfig({ routes: specRoutes() })
  const { table } = buildRouteTable(config.routes, config.versioning)
  const first = compileRouteValidators(table.routes, () => loadSpec().document)
  const again = compileRouteValidators(table.routes, () => loadSpec().document)
  t.ok(first.size > 0, 'the command routes validate')
  for (const [prefix, index] of first) t.equal(again.get(prefix), index, `${prefix}: the same compiled index`)
  const other = structuredClone(loadSpec().document)
  const separate = compileRouteValidators(table.routes, () => other)
  for (const [prefix, index] of first) t.not(separate.get(prefix), index, `${prefix}: another document, compiled for itself`)
})
