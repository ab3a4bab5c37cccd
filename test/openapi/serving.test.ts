// /openapi.json, /openapi.yaml and /docs on the public listener: the document as
// published in openapi/openapi.yaml, `servers` from the request (honouring TRUST_PROXY),
// a docs page whose every asset comes from the gateway, no versioning, auth or rate limit.
import t from 'tap'
import Fastify from 'fastify'
import { parse } from 'yaml'
import { startGateway, startUpstream, servicesFor, specRoutes, call, TEST_SECRET } from '../helpers.js'
import { loadSpec } from '../../plugins/openapi/spec.js'
import openapi from '../../plugins/openapi/index.js'
import { downloadUrl, inlinePathItemRefs } from '../../plugins/openapi/ui-plugins.js'
import { runInNewContext } from 'node:vm'

// the file as the gateway read it (loadSpec() reads it once per process): openapi/openapi.yaml may
// be edited while the tests run
const fileDocument = () => parse(loadSpec().text) as Record<string, any>
const withoutServers = (doc: Record<string, any>) => { const { servers: _, ...rest } = doc; return rest }
const hostOf = (url: string) => new URL(url).host

t.test('/openapi.json: the YAML file\'s document as JSON, servers from the request', async (t) => {
  const gw = await startGateway(t)
  const res = await call(`${gw.url}/openapi.json`)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/)
  const doc = res.json()
  t.equal(doc.openapi, '3.1.0')
  const file = fileDocument()
  t.ok(file.servers === undefined || file.servers.length === 0, 'the published file names no servers (this test assumes so)')
  t.same(Object.keys(doc.paths).sort(), Object.keys(file.paths).sort(), 'the same paths as openapi/openapi.yaml')
  t.same(withoutServers(doc), file, 'the same document, servers aside')
  t.same(doc.servers, [{ url: `http://${hostOf(gw.url)}` }])
  t.equal(res.headers['x-api-version'], undefined, 'an unversioned gateway endpoint')
  t.equal(res.headers.vary, 'Host, X-Forwarded-Host, X-Forwarded-Proto', 'servers come from the request: caches must key on what it came from')
})

t.test('/openapi.yaml: YAML of the same document, the file\'s comments kept', async (t) => {
  const gw = await startGateway(t)
  const res = await call(`${gw.url}/openapi.yaml`)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/yaml; charset=utf-8$/)
  const doc = parse(res.text)
  t.same(doc, (await call(`${gw.url}/openapi.json`)).json(), 'same document as /openapi.json')
  t.same(withoutServers(doc), fileDocument())
  t.same(doc.servers, [{ url: `http://${hostOf(gw.url)}` }])
  const text = loadSpec().text
  const comments = text.split('\n').filter((line) => /^\s*#/.test(line))
  for (const comment of comments) t.ok(res.text.includes(comment), `keeps the comment ${JSON.stringify(comment.trim())}`)
  t.equal(res.headers['x-api-version'], undefined)
})

t.test('servers follows the Host header', async (t) => {
  const gw = await startGateway(t)
  for (const host of ['docs.example.com', 'api.example.com:8443', '[::1]:8000', 'UPPER.Example.com']) {
    const headers = { host }
    t.same((await call(`${gw.url}/openapi.json`, { headers })).json().servers, [{ url: `http://${host.toLowerCase()}` }], `json, Host: ${host}`)
    t.same(parse((await call(`${gw.url}/openapi.yaml`, { headers })).text).servers, [{ url: `http://${host.toLowerCase()}` }], `yaml, Host: ${host}`)
  }
  // the same origin twice (served from the per-origin cache) and another in between
  t.same((await call(`${gw.url}/openapi.json`, { headers: { host: 'docs.example.com' } })).json().servers, [{ url: 'http://docs.example.com' }])
  // a Host that is no host[:port] gets no servers at all rather than a broken URL
  const odd = await call(`${gw.url}/openapi.json`, { headers: { host: 'evil.example/<script>' } })
  t.equal(odd.status, 200)
  t.equal(odd.json().servers, undefined)
  t.equal(parse((await call(`${gw.url}/openapi.yaml`, { headers: { host: 'a b' } })).text).servers, undefined)
})

t.test('many Host values: each answer names its own origin, from one rendering (no per-Host re-render, no cache to fill)', async (t) => {
  const gw = await startGateway(t)
  const file = fileDocument()
  for (let i = 0; i < 100; i++) {
    const host = i % 2 === 0 ? `h${i}.example:${8000 + i}` : `[::${i.toString(16)}]`
    const [json, yaml] = await Promise.all([call(`${gw.url}/openapi.json`, { headers: { host } }), call(`${gw.url}/docs/yaml`, { headers: { host } })])
    const fromJson = json.json()
    t.same(fromJson.servers, [{ url: `http://${host}` }], host)
    // the whole YAML document parsed for every tenth host (a parse is ~100 ms); its servers line for every host
    t.match(yaml.text, `\n  - url: http://${host}\n`, `${host} (YAML servers)`)
    if (i % 10 !== 0) continue
    const fromYaml = parse(yaml.text)
    t.same(fromYaml.servers, [{ url: `http://${host}` }], `${host} (YAML)`)
    if (i === 0) {
      t.same(withoutServers(fromJson), file)
      t.same(withoutServers(fromYaml), file)
    }
  }
})

t.test('X-Forwarded-Proto/Host count only from a peer TRUST_PROXY trusts', async (t) => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.healthpay.example' }

  const untrusting = await startGateway(t)
  t.same((await call(`${untrusting.url}/openapi.json`, { headers: forwarded })).json().servers, [{ url: `http://${hostOf(untrusting.url)}` }], 'default: ignored')

  const elsewhere = await startGateway(t, { server: { trustProxy: ['10.0.0.0/8'] } })
  t.same((await call(`${elsewhere.url}/openapi.json`, { headers: forwarded })).json().servers, [{ url: `http://${hostOf(elsewhere.url)}` }], 'the peer (127.0.0.1) is not in the trusted range: ignored')

  const trusting = await startGateway(t, { server: { trustProxy: ['127.0.0.1'] } })
  t.same((await call(`${trusting.url}/openapi.json`, { headers: forwarded })).json().servers, [{ url: 'https://api.healthpay.example' }], 'trusted peer: json')
  t.same(parse((await call(`${trusting.url}/openapi.yaml`, { headers: forwarded })).text).servers, [{ url: 'https://api.healthpay.example' }], 'trusted peer: yaml')
  t.same((await call(`${trusting.url}/openapi.json`, { headers: { 'x-forwarded-proto': 'https' } })).json().servers, [{ url: `https://${hostOf(trusting.url)}` }], 'proto alone: Host kept')
  t.same((await call(`${trusting.url}/openapi.json`, { headers: { 'x-forwarded-proto': 'gopher' } })).json().servers, undefined, 'a scheme that is not http(s): no servers')
})

t.test('a document that names its servers is served as it is; the shared document is never changed', async (t) => {
  const text = 'openapi: 3.1.0\n# kept\ninfo: { title: T, version: "1" }\nservers:\n  - url: https://api.example.com\npaths: {}\n'
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(openapi, { spec: { text, document: parse(text) } })
  const json = await app.inject({ url: '/openapi.json', headers: { host: 'other.example' } })
  t.same(json.json().servers, [{ url: 'https://api.example.com' }])
  const yaml = await app.inject({ url: '/openapi.yaml', headers: { host: 'other.example' } })
  t.equal(yaml.body, text, 'the file, byte for byte')
  t.equal(yaml.headers['content-type'], 'application/yaml; charset=utf-8')

  const gw = await startGateway(t)
  await call(`${gw.url}/openapi.json`, { headers: { host: 'a.example' } })
  await call(`${gw.url}/openapi.yaml`, { headers: { host: 'b.example' } })
  await call(`${gw.url}/docs/json`, { headers: { host: 'c.example' } })
  const shared = loadSpec().document
  t.equal(shared.servers, undefined, 'loadSpec() document untouched')
  t.ok(Object.isFrozen(shared) && Object.isFrozen(shared.paths), 'and still frozen')
})

t.test('servers: [] counts as none (filled where it is); a new servers goes after info, or last without info', async (t) => {
  const render = async (text: string) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(openapi, { spec: { text, document: parse(text) } })
    const json = await app.inject({ url: '/openapi.json', headers: { host: 'h.example' } })
    const yaml = await app.inject({ url: '/openapi.yaml', headers: { host: 'h.example' } })
    return { json: json.body, yaml: yaml.body }
  }
  const emptyText = 'openapi: 3.1.0\ninfo: { title: T, version: "1" }\npaths: {}\nservers: []\n'
  const empty = await render(emptyText)
  t.same(Object.keys(JSON.parse(empty.json)), ['openapi', 'info', 'paths', 'servers'])
  t.same(JSON.parse(empty.json).servers, [{ url: 'http://h.example' }])
  t.same(parse(empty.yaml), JSON.parse(empty.json))
  t.same(Object.keys(parse(empty.yaml)), ['openapi', 'info', 'paths', 'servers'])
  t.same(withoutServers(JSON.parse(empty.json)), withoutServers(parse(emptyText)))
  const freshText = 'openapi: 3.1.0\ninfo: { title: T, version: "1" }\npaths: {}\n'
  const fresh = await render(freshText)
  t.same(withoutServers(JSON.parse(fresh.json)), parse(freshText))
  t.same(parse(fresh.yaml), JSON.parse(fresh.json))
  t.same(Object.keys(JSON.parse(fresh.json)), ['openapi', 'info', 'servers', 'paths'])
  t.same(Object.keys(parse(fresh.yaml)), ['openapi', 'info', 'servers', 'paths'])
  const noInfo = await render('openapi: 3.1.0\npaths: {}\n')
  t.same(JSON.parse(noInfo.json), { openapi: '3.1.0', paths: {}, servers: [{ url: 'http://h.example' }] })
  t.same(parse(noInfo.yaml), JSON.parse(noInfo.json))
  await t.rejects(render('- not a mapping\n'), /not a YAML mapping/)
})

t.test('public, unversioned and never rate limited, even with auth on every route', async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, {
    services: servicesFor(up.url),
    // validation off: this is about the gateway endpoints, not the spec's coverage of the routes
    routes: specRoutes().map((r) => ({ ...(r as object), validate: false })),
    jwt: { secret: TEST_SECRET },
    rateLimit: { enabled: true, anonymous: 2, authenticated: 2, premium: 2, windowMs: 60_000 }
  })
  t.equal((await call(`${gw.url}/v1/api/wallets/w1`)).status, 401, 'the API itself needs credentials')
  for (const path of ['/openapi.json', '/openapi.yaml', '/docs', '/docs/static/swagger-ui.css']) {
    for (let i = 0; i < 5; i++) {
      const res = await call(`${gw.url}${path}`, { headers: { 'x-api-version': '2' } })
      t.equal(res.status, 200, `${path} #${i + 1}`)
      t.equal(res.headers['x-ratelimit-limit'], undefined)
      t.equal(res.headers['x-api-version'], undefined)
    }
  }
  t.equal(up.requests.length, 0, 'nothing proxied')
})

/** every <script src>, <link href> and <img src> of an HTML page */
function assetUrls (html: string): string[] {
  const urls: string[] = []
  for (const [, tag, attrs] of html.matchAll(/<(script|link|img)\b([^>]*)>/gi)) {
    const attr = tag!.toLowerCase() === 'link' ? 'href' : 'src'
    const value = new RegExp(`\\b${attr}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(attrs!)
    if (value) urls.push(value[2] ?? value[3] ?? value[4]!)
  }
  return urls
}

t.test('/docs: HTML whose every script, stylesheet and image comes from the gateway', async (t) => {
  const gw = await startGateway(t)
  for (const page of ['/docs', '/docs/']) {
    const res = await call(`${gw.url}${page}`)
    t.equal(res.status, 200, page)
    t.match(res.headers['content-type'], /^text\/html/)
    const assets = assetUrls(res.text)
    t.ok(assets.length >= 5, `${page}: ${assets.length} assets`)
    t.ok(assets.some((a) => a.endsWith('/swagger-ui-bundle.js')), 'the Swagger UI bundle')
    for (const asset of assets) {
      t.notMatch(asset, /^(?:[a-z][a-z0-9+.-]*:)?\/\//i, `${asset}: relative, no scheme or authority`)
      const url = new URL(asset, `${gw.url}${page}`)
      t.equal(url.origin, gw.url, `${asset}: same origin`)
      const got = await call(url.href)
      t.equal(got.status, 200, `${url.pathname} answers 200`)
    }
    t.notMatch(res.text, /https?:\/\//i, `${page}: no absolute URL in the page at all`)
  }

  const init = await call(`${gw.url}/docs/static/swagger-initializer.js`)
  t.equal(init.status, 200)
  t.match(init.text, /"urls":\[\{"url":"\/openapi\.json"/, 'the UI loads the gateway\'s /openapi.json')
  t.match(init.text, /"validatorUrl":null/, 'no validator badge (it would call validator.swagger.io)')
  const code = init.text.split('\n').filter((line) => !/^\s*\/\//.test(line)).join('\n')
  t.notMatch(code, /https?:\/\//i, 'the initializer\'s code names no other site (a comment links to Stack Overflow)')

  const docsJson = await call(`${gw.url}/docs/json`)
  t.same(docsJson.json(), (await call(`${gw.url}/openapi.json`)).json(), '/docs/json: the same per-request document')
  t.same(parse((await call(`${gw.url}/docs/yaml`)).text), docsJson.json(), '/docs/yaml too')
  t.equal((await call(`${gw.url}/docs/static/nope.js`)).status, 404)
})

t.test('the Swagger UI plugins: self-contained, and path-item references inlined for rendering only', async (t) => {
  // shipped as source text: each must work with nothing from this module in scope
  const updateSpec = runInNewContext(`(${inlinePathItemRefs.toString()})()`, {}).statePlugins.spec.wrapActions.updateSpec((spec: unknown) => spec) as (spec: unknown) => unknown
  const download = runInNewContext(`(${downloadUrl.toString()})`, { SwaggerUIBundle: { plugins: { DownloadUrl: (system: string) => `download plugin for ${system}` } } })
  t.equal(download('system'), 'download plugin for system')

  const doc = {
    openapi: '3.1.0',
    paths: {
      '/a': { $ref: '#/components/pathItems/A' },
      '/b': { $ref: '#/components/pathItems/A', summary: 'B wins' },
      '/c': { $ref: '#/components/pathItems/Missing' },
      '/d': { $ref: '#/components/pathItems/__proto__' },
      '/e': { $ref: '#/components/pathItems/Chained' },
      '/f': { $ref: '#/components/pathItems/a~1b' },
      '/g': { get: { responses: {} } }
    },
    components: { pathItems: { A: { summary: 'A', get: { responses: { 200: { $ref: '#/components/responses/Ok' } } } }, Chained: { $ref: '#/components/pathItems/A' }, 'a/b': { post: { responses: {} } } } }
  }
  const out = JSON.parse(updateSpec(JSON.stringify(doc)) as string)
  t.same(out.paths['/a'], doc.components.pathItems.A)
  t.same(out.paths['/b'], { ...doc.components.pathItems.A, summary: 'B wins' })
  t.same(out.paths['/c'], doc.paths['/c'], 'an unknown name is left alone')
  t.same(out.paths['/d'], doc.paths['/d'], 'so is a name from the prototype')
  t.same(out.paths['/e'], doc.paths['/e'], 'and a reference to a reference')
  t.same(out.paths['/f'], doc.components.pathItems['a/b'], 'JSON-pointer escapes')
  t.same(out.paths['/g'], doc.paths['/g'])
  t.same(out.components, doc.components, 'components unchanged')

  const plain = JSON.stringify({ openapi: '3.1.0', paths: { '/x': {} } })
  t.equal(updateSpec(plain), plain, 'nothing to inline: the same text')
  t.equal(updateSpec('openapi: 3.1.0\n'), 'openapi: 3.1.0\n', 'YAML: as it is')
  t.equal(updateSpec(undefined), undefined)

  // the platform document renders the same operations either way
  const published = JSON.stringify(loadSpec().document)
  const inlined = JSON.parse(updateSpec(published) as string)
  t.same(Object.keys(inlined.paths), Object.keys(loadSpec().document.paths))
  for (const [path, item] of Object.entries<any>(inlined.paths)) t.notOk(typeof item.$ref === 'string' && item.$ref.startsWith('#/components/pathItems/'), `${path} inlined`)
})
