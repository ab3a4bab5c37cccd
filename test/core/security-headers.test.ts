// The headers every response starts with: helmet's set and the request id, made per
// response from one object literal compiled at start-up (src/security-headers.ts).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { staticSecurityHeaders, responseHeadersOf, startReplyHeaders } from '../../src/security-headers.js'

t.test("helmet's headers and the request id, a new object per response", async (t) => {
  const security = staticSecurityHeaders()
  t.equal(security['x-content-type-options'], 'nosniff')
  t.equal(security['strict-transport-security'], 'max-age=31536000; includeSubDomains')
  const make = responseHeadersOf(security)
  const first = make('req-1')
  const second = make('req-2')
  t.same(first, { ...security, 'x-request-id': 'req-1' })
  t.equal(second['x-request-id'], 'req-2')
  t.not(first, second, 'never shared between responses')
  first['x-extra'] = '1'
  t.notOk('x-extra' in make('req-3'), 'what one response adds stays in that response')
})

t.test('names and values are data, never code: quotes, backslashes and script are kept as given', async (t) => {
  const odd = { 'x-quote': `it's "quoted" \\ and \`ticked\``, 'x-code': '"}; process.exit(7); ({"', "x-'name": '${requestId}' }
  const made = responseHeadersOf(odd)('id-1')
  t.same(made, { ...odd, 'x-request-id': 'id-1' })
})

t.test('the object stays a fast V8 object with the ~22 headers a proxied response carries', async (t) => {
  // V8 turns an object into a hash table after about a dozen keyed stores; the literal
  // keeps its first properties in-object. Checked in a child Node with natives syntax.
  const module = fileURLToPath(new URL('../../src/security-headers.ts', import.meta.url))
  const script = `
    const { staticSecurityHeaders, responseHeadersOf } = await import(${JSON.stringify(module)})
    const later = ['x-api-version', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'content-type', 'content-length', 'date', 'vary']
    const fill = (h) => { for (const name of later) h[name.toLowerCase()] = '1'; return h }
    const literal = fill(responseHeadersOf(staticSecurityHeaders())('id'))
    const oneByOne = {}
    for (const [name, value] of Object.entries({ ...staticSecurityHeaders(), 'x-request-id': 'id' })) oneByOne[name.toLowerCase()] = value
    fill(oneByOne)
    console.log(JSON.stringify({ literal: %HasFastProperties(literal), oneByOne: %HasFastProperties(oneByOne), count: Object.keys(literal).length }))
  `
  // process.execArgv carries tap's TypeScript loader into the child
  const run = spawnSync(process.execPath, ['--allow-natives-syntax', ...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const seen = JSON.parse(run.stdout.trim().split('\n').pop()!) as { literal: boolean, oneByOne: boolean, count: number }
  t.equal(seen.count, 23)
  t.equal(seen.literal, true, 'the literal-made object is still fast')
  t.equal(seen.oneByOne, false, 'the same headers added one by one are not (what this avoids)')
})

t.test("startReplyHeaders makes the object the reply's headers and keeps any set before", async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const make = responseHeadersOf({ 'x-frame-options': 'SAMEORIGIN' })
  let installed = false
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-set-before', 'kept')
    const made = make(request.id)
    startReplyHeaders(reply, made)
    // the object itself became the reply's headers (not copied into Fastify's, which would go slow)
    const own = reply as unknown as Record<symbol, unknown>
    installed = Object.getOwnPropertySymbols(reply).some((s) => own[s] === made)
  })
  app.get('/', async (_request, reply) => reply.header('x-after', 'too').send({ ok: true }))
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers, { 'x-frame-options': 'SAMEORIGIN', 'x-set-before': 'kept', 'x-after': 'too', 'content-type': /application\/json/ })
  t.equal(res.headers['x-request-id'], 'req-1')
  t.ok(installed, "the literal-made object is the reply's header object")
})
