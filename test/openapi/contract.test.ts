// Every operation of openapi/openapi.yaml against the real thing: the sample services
// behind a gateway with the default routes (their real auth policies, rate limiting on),
// each operation's example request sent exactly as the document writes it, and the
// answer's status, content type, headers and body checked against what the document
// promises for that status — with object schemas closed, so a field the services send
// but the document does not describe fails too. /ws (a WebSocket) and /docs (an HTML
// page) are left to the tests of those endpoints.
//
// The examples are written to succeed in this order on a fresh store: alice logs in,
// reads, then runs the commands; v1CreateWallet opens w-alice-3, which v1's freeze,
// unfreeze and close then use (v2: w-alice-4); deposits, withdrawals and transfers use
// w-alice-1 (to w-bob-1, the other EGP wallet). The analytics run as carol (analyst).
import t, { type Test } from 'tap'
import { startGateway, servicesFor, specRoutes, call, bearer, type SimpleResponse } from '../helpers.js'
import { startBackends, SECRET } from '../examples/helpers.js'
import {
  loadDocument, listOperations, exampleRequest, responseFor, headersOf, createAjv, closeObjectSchemas, validatorFor,
  describeErrors, pointer, type Area, type ExampleRequest, type SpecOperation
} from './spec-helpers.js'

const doc = loadDocument()
const ops = listOperations(doc)
const openAjv = createAjv(doc)
const closedAjv = createAjv(closeObjectSchemas(doc))
// header values arrive as text: "37" for an integer header
const headerAjv = createAjv(doc, { coerceTypes: true })

const ELSEWHERE: Record<string, string> = {
  'get /ws': 'a WebSocket upgrade, covered by the /ws tests',
  'get /docs': 'an HTML page, covered by the tests that serve the documentation'
}

// gateway first, then per version: log in and out, read, then change things
const AREAS: Area[] = ['gateway', 'auth', 'query', 'graphql', 'commands']
const STEPS = ['/auth/login', '/auth/refresh', '/auth/logout', '/auth/me', '/commands/wallets', '/deposit', '/withdraw', '/transfer', '/freeze', '/unfreeze', '/close']
const stepOf = (op: SpecOperation) => STEPS.findIndex((step) => op.path.endsWith(step))
const ordered = [...ops].sort((a, b) => (a.version ?? 0) - (b.version ?? 0) || AREAS.indexOf(a.area) - AREAS.indexOf(b.area) || stepOf(a) - stepOf(b))

/** Checks a response against the document's promise for its status (a 2xx unless `expected`). */
function check (t: Test, op: SpecOperation, res: SimpleResponse, expected?: number): void {
  const what = `${op.key} → ${res.status}`
  if (expected !== undefined) t.equal(res.status, expected, `${what}: ${expected} expected`)
  else t.ok(res.status >= 200 && res.status < 300, `${what}: a success ${res.status >= 300 ? res.text.slice(0, 400) : ''}`)
  const documented = responseFor(doc, op, res.status)
  if (!t.ok(documented, `${what}: the status is documented`) || documented === undefined) return

  const content = documented.response.content as Record<string, unknown> | undefined
  const media = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (content === undefined) {
    t.equal(res.text, '', `${what}: no body, as documented`)
  } else if (t.ok(media in content, `${what}: content type ${media} is documented (${Object.keys(content).join(', ')})`)) {
    const at = documented.pointer + pointer('content', media, 'schema')
    const body: unknown = /[/+]json$/.test(media) ? JSON.parse(res.text) : res.text
    for (const [ajv, outcome] of [[openAjv, 'matches its schema'], [closedAjv, 'has no field the document does not describe']] as const) {
      const validate = validatorFor(ajv, at)
      t.ok(validate(structuredClone(body)), `${what}: the body ${outcome} ${describeErrors(validate.errors)}`)
    }
  }

  for (const { name, header, pointer: at } of headersOf(doc, documented)) {
    const value = res.headers[name]
    if (header.required === true) t.not(value, undefined, `${what}: header ${name}`)
    if (value === undefined) continue
    const validate = validatorFor(headerAjv, `${at}/schema`)
    t.ok(validate(String(value)), `${what}: header ${name}: ${String(value)} ${describeErrors(validate.errors)}`)
  }
  if (op.version !== null) t.equal(res.headers['x-api-version'], String(op.version), `${what}: served by v${op.version}`)
}

/** The sample services over one fresh store, behind a gateway with the default routes. */
async function platform (t: Test) {
  const backends = await startBackends(t)
  const gw = await startGateway(t, {
    services: servicesFor(backends.commandUrl, backends.queryUrl),
    routes: specRoutes(),
    // the secret the command service signs its access tokens with
    jwt: { secret: SECRET },
    rateLimit: { enabled: true }
  })
  const send = async (request: ExampleRequest, credentials: Record<string, string> = {}, rawBody?: string) =>
    await call(gw.url + request.url, {
      method: request.method,
      headers: { ...request.headers, ...credentials },
      body: rawBody ?? (request.body === undefined ? undefined : JSON.stringify(request.body))
    })
  const login = async (username: string): Promise<Record<string, string>> => {
    const res = await call(`${gw.url}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'demo-password' }) })
    t.equal(res.status, 200, `${username} logs in`)
    return bearer(res.json().accessToken as string)
  }
  return { backends, gw, send, login }
}

const operation = (key: string): SpecOperation => {
  const op = ops.find((o) => o.key === key)
  if (op === undefined) throw new Error(`no operation ${key} in the document`)
  return op
}

t.test('every operation\'s example request, sent through the gateway, gets an answer the document describes', async (t) => {
  const { send, login } = await platform(t)
  // alice's tokens come from the login operations below; carol (analyst) reads the analytics
  const session = { access: '', refresh: '' }
  const analyst = await login('carol')
  const credentialsFor = (op: SpecOperation): Record<string, string> => {
    if ((op.operation.security as unknown[]).length === 0) return {}
    if (Array.isArray(op.operation['x-required-roles'])) return analyst
    return bearer(session.access)
  }

  let accounted = 0
  for (const op of ordered) {
    accounted++
    if (ELSEWHERE[op.key] !== undefined) {
      t.test(op.key, { skip: ELSEWHERE[op.key] }, () => {})
      continue
    }
    const request = exampleRequest(doc, op)
    await t.test(`${op.key}`, async (t) => {
      if (op.path.endsWith('/auth/refresh')) {
        // the example's token was never issued here: the documented 401, then a live one
        check(t, op, await send(request, credentialsFor(op)), 401)
        request.body = { refreshToken: session.refresh }
      }
      if (op.path.endsWith('/auth/logout')) request.body = { refreshToken: session.refresh }
      const res = await send(request, credentialsFor(op))
      check(t, op, res)
      if (op.path.endsWith('/auth/login') || op.path.endsWith('/auth/refresh')) {
        const tokens = res.json()
        session.access = tokens.accessToken
        session.refresh = tokens.refreshToken
      }
    })
  }
  t.equal(accounted, ops.length, 'every operation of the document is accounted for')
})

t.test('documented errors: what the gateway and the services refuse is answered as the document says', async (t) => {
  const { send, login } = await platform(t)
  const alice = await login('alice')
  const carol = await login('carol')
  const json = { 'content-type': 'application/json' }
  const cases: Array<{ key: string, url: string, body?: unknown, raw?: string, headers?: Record<string, string>, as?: Record<string, string>, status: number, why: string }> = [
    { key: 'post /v1/auth/login', url: '/v1/auth/login', body: { username: 'alice', password: 'wrong-password' }, status: 401, why: 'invalid-credentials' },
    { key: 'post /v1/auth/login', url: '/v1/auth/login', body: { username: 'alice', password: 'demo-password', remember: true }, status: 400, why: 'an extra field (the service\'s validation-failed)' },
    { key: 'post /v2/auth/login', url: '/v2/auth/login', raw: '<login/>', headers: { 'content-type': 'application/xml' }, status: 415, why: 'not JSON' },
    { key: 'get /v1/auth/me', url: '/v1/auth/me', status: 401, why: 'no credentials (the command service\'s unauthorized)' },
    { key: 'get /v1/api/wallets', url: '/v1/api/wallets', status: 401, why: 'no credentials (the gateway\'s)' },
    { key: 'get /v1/api/wallets/{walletId}', url: '/v1/api/wallets/w-bob-1', as: alice, status: 404, why: 'a stranger\'s wallet' },
    { key: 'get /v2/api/wallets', url: '/v2/api/wallets?limit=0', as: alice, status: 400, why: 'limit below 1' },
    { key: 'get /v1/api/transactions', url: '/v1/api/transactions?cursor=bm9wZQ', as: alice, status: 400, why: 'invalid-cursor' },
    { key: 'get /v1/api/payments/{paymentId}/receipt', url: '/v1/api/payments/pay-0026/receipt', as: carol, status: 409, why: 'a failed payment has no receipt' },
    { key: 'get /v2/api/analytics/summary', url: '/v2/api/analytics/summary', as: alice, status: 403, why: 'alice is no analyst' },
    { key: 'post /v1/commands/wallets', url: '/v1/commands/wallets', body: { currency: 'EGP', ownerId: 'u-bob' }, as: alice, status: 403, why: 'a wallet for someone else' },
    { key: 'post /v2/commands/wallets/{walletId}/deposit', url: '/v2/commands/wallets/w-alice-1/deposit', body: { amount: 5 }, as: alice, status: 400, why: 'a v1 amount in v2 (the gateway\'s validation)' },
    { key: 'post /v1/commands/wallets/{walletId}/deposit', url: '/v1/commands/wallets/w-alice-1/deposit', raw: 'amount=5', headers: { 'content-type': 'application/x-www-form-urlencoded' }, as: alice, status: 415, why: 'a form' },
    { key: 'post /v1/commands/wallets/{walletId}/withdraw', url: '/v1/commands/wallets/w-alice-1/withdraw', body: { amount: 1_000_000 }, as: alice, status: 409, why: 'insufficient-funds, decimals' },
    { key: 'post /v2/commands/wallets/{walletId}/withdraw', url: '/v2/commands/wallets/w-alice-1/withdraw', body: { amountMinor: 100_000_000 }, as: alice, status: 409, why: 'insufficient-funds, money objects' },
    { key: 'post /v1/commands/wallets/{walletId}/transfer', url: '/v1/commands/wallets/w-alice-1/transfer', body: { toWalletId: 'w-alice-2', amount: 1 }, as: alice, status: 409, why: 'currency-mismatch' },
    { key: 'post /v2/commands/wallets/{walletId}/transfer', url: '/v2/commands/wallets/w-alice-1/transfer', body: { toWalletId: 'w-alice-1', amountMinor: 1 }, as: alice, status: 400, why: 'transfer-to-same-wallet' },
    { key: 'post /v1/commands/wallets/{walletId}/close', url: '/v1/commands/wallets/w-alice-2/close', as: alice, status: 409, why: 'wallet-not-empty, a decimal' },
    { key: 'post /v2/commands/wallets/{walletId}/close', url: '/v2/commands/wallets/w-alice-2/close', body: null, as: alice, status: 409, why: 'wallet-not-empty, a money object' },
    { key: 'post /v1/commands/wallets/{walletId}/unfreeze', url: '/v1/commands/wallets/w-alice-1/unfreeze', body: {}, as: alice, status: 409, why: 'wallet-not-frozen' },
    { key: 'get /v1/graphql', url: `/v1/graphql?query=${encodeURIComponent('{ nope }')}`, as: alice, status: 400, why: 'a GraphQL validation error' },
    { key: 'get /v2/graphql', url: '/v2/graphql', as: alice, status: 400, why: 'no query (the service\'s validation-failed)' },
    { key: 'post /v1/graphql', url: '/v1/graphql', body: { query: 'subscription { walletUpdated { event } }' }, as: alice, status: 400, why: 'a subscription over HTTP' }
  ]
  for (const c of cases) {
    const op = operation(c.key)
    const headers = { ...(c.body !== undefined ? json : {}), ...c.headers }
    const res = await send({ method: op.method.toUpperCase(), url: c.url, headers, body: c.body }, c.as, c.raw)
    await t.test(`${c.key}: ${c.why}`, async (t) => check(t, op, res, c.status))
  }
})

t.test('decimal amounts the command service accepts pass the validating gateway too', async (t) => {
  const { backends, send, login } = await platform(t)
  const alice = await login('alice')
  for (const amount of [125.5, 0.07, 19.99, 1234.56]) {
    const direct = await call(`${backends.commandUrl}/v1/commands/wallets/w-alice-1/deposit`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-consumer-id': 'u-alice' }, body: JSON.stringify({ amount }) })
    t.equal(direct.status, 202, `the command service takes ${amount}`)
    const res = await send({ method: 'POST', url: '/v1/commands/wallets/w-alice-1/deposit', headers: { 'content-type': 'application/json' }, body: { amount } }, alice)
    // 19.99 / 0.01 is 1998.9999999999998 in floating point: Ajv's multipleOfPrecision allows for it
    t.equal(res.status, 202, `the gateway lets ${amount} through ${res.status === 202 ? '' : res.text}`)
  }
})
