// openapi/openapi.yaml on its own: valid OpenAPI 3.1; the operations the platform has
// (per version 4 auth, 7 wallet commands, 20 REST reads, GraphQL GET and POST, plus the
// gateway's own 6); on every operation a summary, tags, security, examples that match
// their schemas, a 4xx and problem+json on every error; v2 differing from v1 in money
// only; and request schemas equal to the sample services' own Fastify schemas, since the
// gateway validates requests against this document before the services see them.
import t from 'tap'
import SwaggerParser from '@apidevtools/swagger-parser'
import type { RouteOptions } from 'fastify'
import { buildCommandService } from '../../examples/command-service.js'
import { buildQueryService } from '../../examples/query-service.js'
import { astFromValue, print } from 'graphql'
import { buildGraphqlSchema } from '../../examples/graphql-schema.js'
import { createStore } from '../../examples/store.js'
import { specRoutes } from '../helpers.js'
import {
  SPEC_PATH, loadDocument, listOperations, countOperations, parametersOf, requestBodyOf, responsesOf, headersOf,
  hasResponseExample, createAjv, closeObjectSchemas, validatorFor, describeErrors, deref, pointer, valueAt,
  type Doc, type SpecOperation
} from './spec-helpers.js'

const doc = loadDocument()
const ops = listOperations(doc)
const versioned = ops.filter((op) => op.version !== null)
/** the path after /vN */
const relative = (op: SpecOperation) => op.path.replace(/^\/v[0-9]+/, '')

// Every platform operation, as the sample services implement it (relative to /vN).
const PLATFORM: Record<string, string[]> = {
  auth: ['post /auth/login', 'post /auth/refresh', 'post /auth/logout', 'get /auth/me'],
  commands: [
    'post /commands/wallets', 'post /commands/wallets/{walletId}/deposit', 'post /commands/wallets/{walletId}/withdraw',
    'post /commands/wallets/{walletId}/transfer', 'post /commands/wallets/{walletId}/freeze',
    'post /commands/wallets/{walletId}/unfreeze', 'post /commands/wallets/{walletId}/close'
  ],
  query: [
    'get /api/wallets', 'get /api/wallets/{walletId}', 'get /api/wallets/{walletId}/balance', 'get /api/wallets/{walletId}/transactions',
    'get /api/transactions', 'get /api/transactions/{transactionId}',
    'get /api/payments', 'get /api/payments/{paymentId}', 'get /api/payments/{paymentId}/receipt',
    'get /api/medcards', 'get /api/medcards/{medcardId}', 'get /api/medcards/{medcardId}/benefits',
    'get /api/claims', 'get /api/claims/{claimId}', 'get /api/claims/{claimId}/history',
    'get /api/providers',
    'get /api/analytics/summary', 'get /api/analytics/transactions/daily', 'get /api/analytics/payments/by-method', 'get /api/analytics/claims/by-status'
  ],
  graphql: ['get /graphql', 'post /graphql']
}
const GATEWAY = ['get /health', 'get /ready', 'get /openapi.yaml', 'get /openapi.json', 'get /docs', 'get /ws']
// Written once in components/pathItems (identical in v1 and v2); the rest is per version.
const SHARED_PREFIXES = ['/auth/', '/graphql', '/api/medcards', '/api/claims', '/api/providers', '/api/analytics/']

t.test('swagger-parser validates the document as OpenAPI 3.1', async (t) => {
  // given the path, swagger-parser reads and dereferences a copy of its own
  const api = await SwaggerParser.validate(SPEC_PATH) as unknown as Doc
  t.equal(api.openapi, '3.1.0')
  t.notOk('servers' in doc, 'no servers entry: the gateway fills it from the request host')
  t.same(Object.keys(doc.components.securitySchemes).sort(), ['apiKeyAuth', 'bearerAuth', 'wsToken'])
  t.match(doc.components.securitySchemes, { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, apiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' } })
  t.match(doc.components.schemas.Problem, { required: ['type', 'title', 'status', 'detail', 'instance', 'requestId', 'code'], additionalProperties: true }, 'the gateway problem is kept, open to extension members')
})

t.test('operation counts: the gateway\'s 6, and per version 4 auth, 7 commands, 20 REST reads, GraphQL GET + POST', async (t) => {
  t.same(countOperations(ops), {
    total: 72,
    gateway: 6,
    'v1.auth': 4,
    'v1.commands': 7,
    'v1.query': 20,
    'v1.graphql': 2,
    'v2.auth': 4,
    'v2.commands': 7,
    'v2.query': 20,
    'v2.graphql': 2
  })
  t.same(ops.filter((op) => op.version === null).map((op) => op.key).sort(), [...GATEWAY].sort())
  for (const version of [1, 2]) {
    for (const [area, expected] of Object.entries(PLATFORM)) {
      const actual = versioned.filter((op) => op.version === version && op.area === area).map((op) => `${op.method} ${relative(op)}`)
      t.same(actual.sort(), [...expected].sort(), `v${version} ${area}`)
    }
  }
})

t.test('operations identical in both versions are one shared path item; the others are written per version', async (t) => {
  const byKey = new Map(ops.map((op) => [op.key, op]))
  for (const v1 of versioned.filter((op) => op.version === 1)) {
    const v2 = byKey.get(`${v1.method} /v2${relative(v1)}`)!
    const shared = SHARED_PREFIXES.some((p) => relative(v1).startsWith(p))
    t.equal(v1.shared, shared, `${v1.key} ${shared ? 'is' : 'is not'} a shared path item`)
    t.equal(v2.shared, shared, `${v2.key} likewise`)
    if (shared) t.equal(v1.pointer, v2.pointer, `${relative(v1)}: v1 and v2 reference the same path item`)
    else t.not(v1.pointer, v2.pointer)
  }
  t.same(Object.keys(doc.components.pathItems).length, 16, '4 auth + 11 reads without money + GraphQL')
})

t.test('operationIds: unique; none on shared path items; v1…/v2… on per-version operations', async (t) => {
  const ids = ops.map((op) => op.operation.operationId).filter((id) => id !== undefined)
  t.equal(new Set(ids).size, ids.length, 'unique')
  for (const op of ops) {
    const id: unknown = op.operation.operationId
    if (op.shared) t.equal(id, undefined, `${op.key}: shared, no operationId`)
    else if (op.version !== null) t.match(id, new RegExp(`^v${op.version}[A-Z][A-Za-z]+$`), `${op.key}: ${String(id)}`)
    else t.type(id, 'string', `${op.key}: ${String(id)}`)
  }
  // the twin of a per-version operation has the same id but for the version
  for (const op of versioned.filter((o) => o.version === 2 && !o.shared)) {
    const v1 = ops.find((o) => o.key === `${op.method} /v1${relative(op)}`)!
    t.equal(op.operation.operationId, v1.operation.operationId.replace(/^v1/, 'v2'), op.key)
  }
})

t.test('every operation has a summary, declared tags and explicit security', async (t) => {
  const tags = new Set<string>(doc.tags.map((tag: { name: string }) => tag.name))
  const schemes = new Set(Object.keys(doc.components.securitySchemes))
  for (const op of ops) {
    const { summary, tags: opTags, security } = op.operation
    t.ok(typeof summary === 'string' && summary.length > 0, `${op.key}: summary`)
    t.ok(Array.isArray(opTags) && opTags.length > 0 && opTags.every((tag: string) => tags.has(tag)), `${op.key}: tags ${JSON.stringify(opTags)} declared`)
    t.ok(Array.isArray(security), `${op.key}: security stated`)
    for (const requirement of security ?? []) {
      for (const name of Object.keys(requirement)) t.ok(schemes.has(name), `${op.key}: scheme ${name} exists`)
    }
  }
})

t.test('security follows the gateway\'s default route policies', async (t) => {
  const routes = specRoutes() as Array<{ prefix: string, auth?: string, roles?: string[] }>
  const policyOf = (path: string) => routes.filter((r) => path === r.prefix || path.startsWith(r.prefix + '/'))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0]
  for (const op of ops) {
    const security: Array<Record<string, string[]>> = op.operation.security
    const names = security.flatMap((s) => Object.keys(s)).sort()
    if (op.version === null) {
      t.same(names, op.path === '/ws' ? ['apiKeyAuth', 'bearerAuth', 'wsToken'] : [], `${op.key}: ${op.path === '/ws' ? 'credentials at the upgrade' : 'public'}`)
      continue
    }
    const policy = policyOf(relative(op))!
    t.ok(policy, `${op.key} is under a default route`)
    const publicAtGateway = policy.auth === 'public'
    // /auth/me is public at the gateway, but the command service needs the caller
    const needsCredentials = !publicAtGateway || relative(op) === '/auth/me'
    t.same(names, needsCredentials ? ['apiKeyAuth', 'bearerAuth'] : [], `${op.key}: ${needsCredentials ? 'JWT or API key' : 'public'}`)
    t.same(op.operation['x-required-roles'] ?? [], policy.roles ?? [], `${op.key}: roles`)
    if ((policy.roles ?? []).length > 0) t.ok(op.operation.responses['403'], `${op.key}: a 403 for a missing role`)
  }
})

t.test('every operation has an example request and an example response', async (t) => {
  for (const op of ops) {
    for (const { param } of parametersOf(doc, op)) {
      if (param.required === true) t.not(param.example, undefined, `${op.key}: required ${param.in} parameter ${param.name} has an example`)
    }
    const body = requestBodyOf(doc, op)
    if (body !== undefined) {
      t.same(Object.keys(body.body.content), ['application/json'], `${op.key}: JSON bodies only (what the services parse)`)
      t.not(body.body.content['application/json'].example, undefined, `${op.key}: request body example`)
    }
    t.ok(hasResponseExample(doc, op), `${op.key}: a response example`)
    const success = responsesOf(doc, op).filter((r) => /^2/.test(r.status))
    for (const r of success.filter((r) => r.response.content !== undefined)) {
      t.ok(Object.values<any>(r.response.content).every((media) => media.example !== undefined), `${op.key} ${r.status}: example`)
    }
  }
})

t.test('every operation has a 4xx; every 4xx and 5xx is problem+json', async (t) => {
  for (const op of ops) {
    const responses = responsesOf(doc, op)
    t.ok(responses.some((r) => /^4/.test(r.status)), `${op.key}: a 4xx response`)
    for (const r of responses.filter((r) => /^[45]/.test(r.status))) {
      t.ok(r.response.content?.['application/problem+json']?.schema, `${op.key} ${r.status}: application/problem+json`)
    }
  }
})

t.test('response headers: X-Request-Id on every response; X-API-Version and the rate-limit headers on versioned successes', async (t) => {
  const RATE_LIMIT = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit', 'ratelimit-policy']
  for (const op of ops) {
    for (const r of responsesOf(doc, op)) {
      const names = headersOf(doc, r).map((h) => h.name)
      t.ok(names.includes('x-request-id'), `${op.key} ${r.status}: X-Request-Id`)
      if (op.version !== null && /^2/.test(r.status)) {
        t.ok(['x-api-version', ...RATE_LIMIT].every((n) => names.includes(n)), `${op.key} ${r.status}: X-API-Version and rate-limit headers`)
      }
      if (r.status === '429') t.ok(names.includes('retry-after'), `${op.key} 429: Retry-After`)
    }
  }
  for (const name of ['X-Request-Id', 'X-API-Version', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'RateLimit', 'RateLimit-Policy']) {
    t.ok(doc.components.headers[name], `components/headers/${name}`)
  }
})

t.test('path parameters: each {name} of a path is a required path parameter, and nothing else is', async (t) => {
  for (const op of ops) {
    const inPath = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort()
    const declared = parametersOf(doc, op).filter(({ param }) => param.in === 'path')
    t.same(declared.map(({ param }) => param.name).sort(), inPath, `${op.key}: path parameters`)
    t.ok(declared.every(({ param }) => param.required === true), `${op.key}: required`)
  }
})

t.test('every example matches its schema, and describes no field the schema does not', async (t) => {
  // closed: a field in an example that no schema names is an error here. Ajv is told
  // what the command service tells it, so 0.07 is a multiple of 0.01.
  const ajv = createAjv(closeObjectSchemas(doc), { multipleOfPrecision: 9 })
  const seen = new Set<string>()
  const check = (value: unknown, schemaAt: string, what: string) => {
    const key = `${schemaAt} ${JSON.stringify(value)}`
    if (seen.has(key)) return
    seen.add(key)
    const validate = validatorFor(ajv, schemaAt)
    t.ok(validate(structuredClone(value)), `${what} ${describeErrors(validate.errors)}`)
  }
  const media = (content: Record<string, any> | undefined, at: string, what: string) => {
    for (const [type, m] of Object.entries<any>(content ?? {})) {
      if (m.example !== undefined) check(m.example, at + pointer('content', type, 'schema'), `${what} ${type} example`)
    }
  }
  for (const op of ops) {
    for (const { param, pointer: at } of parametersOf(doc, op)) {
      if (param.example !== undefined) check(param.example, `${at}/schema`, `${op.key}: parameter ${param.name} example`)
    }
    const body = requestBodyOf(doc, op)
    if (body !== undefined) media(body.body.content, body.pointer, `${op.key}: request`)
    for (const r of responsesOf(doc, op)) {
      media(r.response.content, r.pointer, `${op.key} ${r.status}:`)
      for (const h of headersOf(doc, r)) {
        if (h.header.example !== undefined) check(h.header.example, `${h.pointer}/schema`, `${op.key} ${r.status}: header ${h.name} example`)
      }
    }
  }
  for (const [name, schema] of Object.entries<any>(doc.components.schemas)) {
    for (const example of schema.examples ?? []) check(example, pointer('components', 'schemas', name), `schema ${name} example`)
  }
  t.ok(seen.size > 120, `${seen.size} distinct examples checked`)
})

t.test('examples do not pass where they should not: the closed schemas catch an unknown field', async (t) => {
  const ajv = createAjv(closeObjectSchemas(doc))
  const wallet = valueAt(doc, pointer('paths', '/v1/api/wallets/{walletId}', 'get', 'responses', '200', 'content', 'application/json', 'example'))
  const validate = validatorFor(ajv, pointer('components', 'schemas', 'WalletV1'))
  t.ok(validate(wallet))
  t.notOk(validate({ ...wallet, surprise: 1 }), 'an undocumented field')
  t.notOk(validate({ ...wallet, balance: { amountMinor: 1, currency: 'EGP' } }), 'a v2 amount in v1')
  t.ok(createAjv(doc).compile({ $ref: 'openapi.json#/components/schemas/WalletV1' })({ ...wallet, surprise: 1 }), 'the published document stays open')
})

t.test('v2 differs from v1 in money only', async (t) => {
  // the operations: identical once examples and prose are set aside and V2 reads V1
  const skeleton = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(skeleton)
    if (value === null || typeof value !== 'object') return value
    return Object.fromEntries(Object.entries(value).filter(([k]) => !['example', 'examples', 'description', 'summary', 'operationId'].includes(k)).map(([k, v]) => [k, skeleton(v)]))
  }
  for (const v2 of versioned.filter((op) => op.version === 2 && !op.shared)) {
    const v1 = ops.find((op) => op.key === `${v2.method} /v1${relative(v2)}`)!
    const asV1 = JSON.stringify(skeleton(v2.operation)).replace(/V2\b/g, 'V1').replace(/\/v2\//g, '/v1/')
    t.equal(asV1, JSON.stringify(skeleton(v1.operation)), `${relative(v2)}: same but for the V1/V2 schemas`)
  }
  // the schemas: the migration guide's table (docs/api-versioning-strategy.md section 5)
  const schemas = doc.components.schemas
  const MONEY: Record<string, string[]> = {
    Wallet: ['balance'],
    WalletBalance: ['balance', 'available'],
    Transaction: ['amount', 'balanceAfter'],
    Payment: ['amount'],
    Receipt: ['amount']
  }
  for (const [name, fields] of Object.entries(MONEY)) {
    const v1 = schemas[`${name}V1`]
    const v2 = schemas[`${name}V2`]
    t.same(v2.required, v1.required, `${name}: same required fields`)
    t.same(Object.keys(v2.properties), Object.keys(v1.properties), `${name}: same fields`)
    for (const field of Object.keys(v1.properties)) {
      if (fields.includes(field)) {
        t.equal(v1.properties[field].type, 'number', `${name}V1.${field} is a decimal`)
        t.same(v2.properties[field], { $ref: '#/components/schemas/MoneyV2' }, `${name}V2.${field} is a money object`)
      } else {
        t.same(v2.properties[field], v1.properties[field], `${name}.${field} unchanged`)
      }
    }
  }
  // command bodies: amount (a decimal) becomes amountMinor (an integer)
  for (const name of ['MoneyCommand', 'TransferCommand']) {
    const v1 = schemas[`${name}V1`]
    const v2 = schemas[`${name}V2`]
    t.same(v2.required, v1.required.map((f: string) => (f === 'amount' ? 'amountMinor' : f)), `${name}: amountMinor required instead of amount`)
    t.same(Object.keys(v2.properties), Object.keys(v1.properties).map((f) => (f === 'amount' ? 'amountMinor' : f)))
    t.match(v2.properties.amountMinor, { type: 'integer', minimum: 1, maximum: 100_000_000_000 })
    t.equal(v1.additionalProperties, false)
    t.equal(v2.additionalProperties, false, 'a v1 amount sent to v2 is refused, not ignored')
  }
  t.same(valueAt(doc, '/components/schemas/WalletConflictProblemV2/allOf/1/properties/balance'), { $ref: '#/components/schemas/MoneyV2' }, '409 amounts are money objects in v2')
})

t.test('the GraphQL description names every query, mutation and subscription of the schema: 15, 15 and 5', async (t) => {
  const schema = buildGraphqlSchema()
  const names = (type: { getFields: () => Record<string, unknown> } | null | undefined) => Object.keys(type?.getFields() ?? {})
  const queries = names(schema.getQueryType())
  const mutations = names(schema.getMutationType())
  const subscriptions = names(schema.getSubscriptionType())
  t.same([queries.length, mutations.length, subscriptions.length], [15, 15, 5], 'the 15 queries, 15 mutations and 5 subscriptions the platform promises')
  const description: string = doc.components.pathItems.Graphql.description
  // each is written as in SDL: `name(args): Type`, or `name: Type` without arguments
  const listed = (name: string) => new RegExp(`\`${name}[(:]`)
  t.match(description, `**Queries (${queries.length})**`)
  for (const q of queries) t.match(description, listed(q), `query ${q}`)
  t.match(description, `**Mutations (${mutations.length})**`)
  for (const m of mutations) t.match(description, listed(m), `mutation ${m}`)
  t.match(description, `**Subscriptions (${subscriptions.length})**`)
  for (const s of subscriptions) t.match(description, listed(s), `subscription ${s}`)
  // and with the schema's own signature, so the published arguments cannot drift from it
  for (const type of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    for (const field of Object.values(type?.getFields() ?? {})) {
      const args = field.args.map((a) => `${a.name}: ${String(a.type)}${a.defaultValue === undefined ? '' : ` = ${print(astFromValue(a.defaultValue, a.type)!)}`}`)
      const signature = `${field.name}${args.length === 0 ? '' : `(${args.join(', ')})`}: ${String(field.type)}`
      t.ok(description.includes(`\`${signature}\``), `${type?.name}.${signature}`)
    }
  }
  const operationsPart = description.slice(0, description.indexOf('**Types**'))
  const written = [...operationsPart.matchAll(/`([A-Za-z]+)[(:]/g)].map((m) => m[1])
  t.same(written.sort(), [...queries, ...mutations, ...subscriptions].sort(), 'each once, and no operation the schema lacks')
  t.comment(`GraphQL schema: ${queries.length} queries (${queries.join(', ')}), ${mutations.length} mutations (${mutations.join(', ')}), ${subscriptions.length} subscriptions (${subscriptions.join(', ')})`)
})

// ---- the document against the services' own request schemas --------------------------------

interface ServiceRoute { method: string, url: string, schema: Record<string, any> }

async function serviceRoutes (): Promise<ServiceRoute[]> {
  const routes: ServiceRoute[] = []
  const store = createStore()
  for (const app of [buildCommandService({ store, jwtSecret: 'spec-test-secret-of-at-least-32-characters' }), buildQueryService({ store })]) {
    app.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) {
        if (method !== 'HEAD') routes.push({ method: method.toLowerCase(), url: route.url, schema: (route.schema ?? {}) as Record<string, any> })
      }
    })
    await app.ready()
    await app.close()
  }
  return routes
}

// What a request schema constrains, in a comparable form: $refs followed (keeping their
// sibling keywords), Fastify's `nullable` as a null type, lists sorted, prose dropped.
const CONSTRAINTS = ['type', 'enum', 'const', 'pattern', 'format', 'minLength', 'maxLength', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'default', 'minItems', 'maxItems']

function constraints (schema: any, at = ''): Record<string, unknown> {
  let s = schema
  while (s !== null && typeof s === 'object' && typeof s.$ref === 'string') {
    const { $ref, ...siblings } = s
    s = { ...deref(doc, { $ref }, at).value, ...siblings }
  }
  const out: Record<string, unknown> = {}
  for (const key of CONSTRAINTS) if (s[key] !== undefined) out[key] = s[key]
  if (s.nullable === true) out.type = [s.type, 'null']
  if (Array.isArray(out.type)) out.type = [...out.type as string[]].sort()
  if (Array.isArray(out.enum)) out.enum = [...out.enum as string[]].sort()
  if (s.properties !== undefined) out.properties = Object.fromEntries(Object.keys(s.properties).sort().map((k) => [k, constraints(s.properties[k], at)]))
  if (Array.isArray(s.required) && s.required.length > 0) out.required = [...s.required].sort()
  if (s.additionalProperties === false) out.additionalProperties = false
  return out
}

t.test('request schemas are the sample services\' own: path and query parameters, bodies', async (t) => {
  const routes = (await serviceRoutes()).filter((r) => r.url !== '/health')
  const specKeys = versioned.map((op) => op.key).sort()
  const routeKeys = routes.map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`).sort()
  t.same(routeKeys, specKeys, 'every route of the services is in the document, and nothing else under /v1 and /v2')

  for (const route of routes) {
    const key = `${route.method} ${route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`
    const op = ops.find((o) => o.key === key)
    if (op === undefined) continue
    const params = parametersOf(doc, op)
    for (const [where, location] of [['params', 'path'], ['querystring', 'query']] as const) {
      const serviceSchema = route.schema[where]
      const serviceProps: Record<string, unknown> = serviceSchema?.properties ?? {}
      const specParams = params.filter(({ param }) => param.in === location)
      t.same(specParams.map(({ param }) => param.name).sort(), Object.keys(serviceProps).sort(), `${key}: ${location} parameters`)
      for (const { param } of specParams) {
        if (serviceProps[param.name] === undefined) continue
        t.same(constraints(param.schema), constraints(serviceProps[param.name]), `${key}: ${location} parameter ${param.name}`)
        if (location === 'query') t.equal(param.required === true, (serviceSchema.required ?? []).includes(param.name), `${key}: ${param.name} required?`)
      }
    }
    const body = requestBodyOf(doc, op)
    if (route.schema.body === undefined) {
      t.equal(body, undefined, `${key}: no request body`)
      continue
    }
    t.ok(body, `${key}: a request body`)
    if (body === undefined) continue
    const specSchema = body.body.content['application/json'].schema
    const normalized = constraints(specSchema)
    t.same(normalized, constraints(route.schema.body), `${key}: body schema`)
    const optional = Array.isArray(normalized.type) && normalized.type.includes('null')
    t.equal(body.body.required === true, !optional, `${key}: body ${optional ? 'optional' : 'required'}`)
  }
})
