// Kong route and service translation, end to end: a Kong declarative file is loaded
// the way `npm start` loads it, the gateway listens on a real socket, and real
// upstreams on port 0 record what they receive. Each test checks routing the way Kong
// routes: which service answers, and which path, Host and headers the upstream sees.
import t, { type Test } from 'tap'
import { performance } from 'node:perf_hooks'
import { startUpstream, echo, call, freePort, type Upstream } from '../helpers.js'
import { startKongGateway, kongProblems } from './helpers.js'

/** a Kong declarative file (JSON is YAML) */
const kong = (doc: Record<string, unknown>, version = '3.0'): string => JSON.stringify({ _format_version: version, ...doc }, null, 2)

/** one named echo upstream per name */
async function upstreams<N extends string> (t: Test, ...names: N[]): Promise<Record<N, Upstream>> {
  const out = {} as Record<N, Upstream>
  for (const name of names) out[name] = await startUpstream(t, echo(name))
  return out
}

/** GET through the gateway: status, which upstream answered (if any) and the path it saw */
async function get (base: string, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await call(`${base}${path}`, { method, headers })
  const body = res.status === 200 && method !== 'HEAD' ? res.json() : undefined
  return { status: res.status, upstream: body?.upstream as string | undefined, url: body?.url as string | undefined, headers: body?.headers as Record<string, string> | undefined, res }
}

const D_ID = '5c1e0a4e-8b2f-4d57-9a43-2f3b7c9e1d10'

t.test('routes nested under a service and top-level routes naming it by name, { name } or { id } route alike', async (t) => {
  const up = await upstreams(t, 'a', 'b', 'c', 'd')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'svc-a', url: up.a.url, routes: [{ name: 'nested', paths: ['/nested'] }] },
      { name: 'svc-b', url: up.b.url },
      { name: 'svc-c', url: up.c.url },
      { name: 'svc-d', id: D_ID, url: up.d.url }
    ],
    routes: [
      { name: 'by-name', service: 'svc-b', paths: ['/by-name'] },
      { name: 'by-object-name', service: { name: 'svc-c' }, paths: ['/by-object-name'] },
      { name: 'by-id', service: { id: D_ID }, paths: ['/by-id'] }
    ]
  }))
  t.same(gw.warnings, [], 'nothing left out')
  for (const [path, upstream] of [['/nested', 'a'], ['/by-name', 'b'], ['/by-object-name', 'c'], ['/by-id', 'd']] as const) {
    const res = await get(gw.url, `${path}/items/i-1?page=2`)
    t.equal(res.status, 200, `${path} is served`)
    t.equal(res.upstream, upstream, `${path} goes to its service`)
    t.equal(res.url, '/items/i-1?page=2', `${path}: strip_path (default true) leaves the rest of the path and the query`)
  }
  // every upstream saw exactly its own request
  for (const name of ['a', 'b', 'c', 'd'] as const) t.equal(up[name].requests.length, 1, `service ${name} got one request`)

  // a reference to a service that is not in the file stops start-up, naming the route
  const problems = kongProblems(t, kong({
    services: [{ name: 'svc-a', url: up.a.url }],
    routes: [{ name: 'lost', service: { id: '00000000-0000-4000-8000-000000000000' }, paths: ['/lost'] }]
  }))
  t.match(problems.join('\n'), /routes\[0\]\.service.*is not a service in this file/)
})

t.test('prefix paths: several paths per route, strip_path true (default) and false', async (t) => {
  const up = await upstreams(t, 'strip', 'keep')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'strip', url: up.strip.url, routes: [{ name: 'two-paths', paths: ['/alpha', '/beta/gamma'] }] },
      { name: 'keep', url: up.keep.url, routes: [{ name: 'kept', paths: ['/keep'], strip_path: false }] }
    ]
  }))

  t.has(await get(gw.url, '/alpha/x/y?a=1&b=2'), { status: 200, upstream: 'strip', url: '/x/y?a=1&b=2' }, 'first path, stripped')
  t.has(await get(gw.url, '/beta/gamma/z'), { status: 200, upstream: 'strip', url: '/z' }, 'second path of the same route, stripped')
  t.has(await get(gw.url, '/alpha'), { status: 200, upstream: 'strip', url: '/' }, 'the prefix itself: the upstream sees "/"')
  t.has(await get(gw.url, '/keep/x/y?q=1'), { status: 200, upstream: 'keep', url: '/keep/x/y?q=1' }, 'strip_path: false keeps the whole path')
  t.has(await get(gw.url, '/keep'), { status: 200, upstream: 'keep', url: '/keep' })

  // a path only part of a route's path, or none of them
  for (const path of ['/beta', '/beta/x', '/gamma', '/other']) {
    const res = await get(gw.url, path)
    t.equal(res.status, 404, `${path}: no route`)
    t.match(res.res.headers['content-type'], /application\/problem\+json/)
    t.equal(res.res.json().code, 'GW_ROUTE_NOT_FOUND')
  }
  t.equal(up.strip.requests.length + up.keep.requests.length, 5, 'no 404 reached an upstream')
})

t.test('a service path goes in front of the upstream path (url form and protocol/host/port/path form)', async (t) => {
  const up = await upstreams(t, 'url', 'parts', 'bare')
  const port = (u: Upstream) => new URL(u.url).port
  const gw = await startKongGateway(t, kong({
    services: [
      {
        name: 'by-url',
        url: `${up.url.url}/base`,
        routes: [{ name: 'u', paths: ['/u'] }, { name: 'u-keep', paths: ['/u-keep'], strip_path: false }]
      },
      {
        name: 'by-parts',
        protocol: 'http',
        host: '127.0.0.1',
        port: Number(port(up.parts)),
        path: '/parts/',
        routes: [{ name: 'p', paths: ['/p'] }]
      },
      { name: 'parts-no-path', protocol: 'http', host: '127.0.0.1', port: Number(port(up.bare)), routes: [{ name: 'b', paths: ['/b'] }] }
    ]
  }))

  t.has(await get(gw.url, '/u/x/y?z=1'), { status: 200, upstream: 'url', url: '/base/x/y?z=1' }, 'url path + the stripped rest')
  t.has(await get(gw.url, '/u-keep/x'), { status: 200, upstream: 'url', url: '/base/u-keep/x' }, 'url path + the whole path (strip_path: false)')
  t.has(await get(gw.url, '/p/x'), { status: 200, upstream: 'parts', url: '/parts/x' }, 'path "/parts/" + "/x": one slash')
  t.has(await get(gw.url, '/b/x'), { status: 200, upstream: 'bare', url: '/x' }, 'no path: the rest alone')
  // Kong (path_handling v0, kong/router/utils.lua get_upstream_uri_v0): service path
  // "/base", strip_path, request exactly "/u" → the upstream gets "/base", not "/base/"
  t.has(await get(gw.url, '/u'), { status: 200, upstream: 'url', url: '/base' }, 'the route path itself: the service path as written')
  t.has(await get(gw.url, '/u/'), { status: 200, upstream: 'url', url: '/base/' }, 'with a trailing slash: the service path and "/"')
  t.has(await get(gw.url, '/p'), { status: 200, upstream: 'parts', url: '/parts' }, 'Kong: "/parts/" for a request of just "/p" is "/parts"')
})

t.test('regex paths: anchored matches, 404 under the same literal prefix otherwise, strip_path strips what matched', async (t) => {
  const up = await upstreams(t, 'users', 'files', 'items', 'item')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'users', url: up.users.url, routes: [{ name: 'user', paths: ['~/users/\\d+$'], strip_path: false }] },
      { name: 'files', url: up.files.url, routes: [{ name: 'file', paths: ['~/files/[a-z]+'] }] },
      { name: 'items', url: up.items.url, routes: [{ name: 'items', paths: ['/items'], strip_path: false }] },
      { name: 'item', url: up.item.url, routes: [{ name: 'item', paths: ['~/items/\\d+$'], strip_path: false }] }
    ]
  }))
  t.same(gw.warnings, [])

  t.has(await get(gw.url, '/users/42'), { status: 200, upstream: 'users', url: '/users/42' }, 'the regex matches')
  t.has(await get(gw.url, '/users/42?expand=orders'), { status: 200, upstream: 'users', url: '/users/42?expand=orders' }, 'the query is not part of the path matched')
  for (const path of ['/users/abc', '/users/42/orders', '/users', '/users/', '/prefix/users/42']) {
    t.equal((await get(gw.url, path)).status, 404, `${path} does not match ~/users/\\d+$`)
  }
  t.equal(up.users.requests.length, 2)

  // strip_path (default true) on a regex path: what the regex matched is cut off
  t.has(await get(gw.url, '/files/abc/rest/of/it?x=1'), { status: 200, upstream: 'files', url: '/rest/of/it?x=1' }, '"/files/abc" matched and stripped')
  t.has(await get(gw.url, '/files/abc'), { status: 200, upstream: 'files', url: '/' }, 'all of it matched: "/"')
  t.equal((await get(gw.url, '/files/123')).status, 404, 'digits are not [a-z]+')

  // a regex route and a prefix route sharing the literal start: the regex wins where it matches
  t.has(await get(gw.url, '/items/7'), { status: 200, upstream: 'item' }, 'regex route')
  t.has(await get(gw.url, '/items/seven'), { status: 200, upstream: 'items', url: '/items/seven' }, 'the prefix route otherwise')
  t.has(await get(gw.url, '/items/7/parts'), { status: 200, upstream: 'items' }, '$ anchors the end: the prefix route')
  t.has(await get(gw.url, '/items'), { status: 200, upstream: 'items', url: '/items' })
})

t.test('a request a regex route does not match is served by a shorter prefix route, as in Kong', async (t) => {
  // Kong: "/" is a prefix of every path; the regex route is only preferred where it matches
  const up = await upstreams(t, 'user', 'root')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'user', url: up.user.url, routes: [{ name: 'user', paths: ['~/users/\\d+$'], strip_path: false }] },
      { name: 'root', url: up.root.url, routes: [{ name: 'root', paths: ['/'], strip_path: false }] }
    ]
  }))
  t.has(await get(gw.url, '/users/42'), { status: 200, upstream: 'user' })
  t.has(await get(gw.url, '/anything/else'), { status: 200, upstream: 'root', url: '/anything/else' })
  t.has(await get(gw.url, '/users/abc'), { status: 200, upstream: 'root', url: '/users/abc' }, 'not the regex: the "/" route')
})

t.test('regex_priority orders two regex routes on the same prefix, whatever their order in the file', async (t) => {
  const up = await upstreams(t, 'num', 'any')
  const file = (numPriority: number, anyPriority: number) => kong({
    services: [
      { name: 'num', url: up.num.url, routes: [{ name: 'num', paths: ['~/orders/[0-9]+'], regex_priority: numPriority, strip_path: false }] },
      { name: 'any', url: up.any.url, routes: [{ name: 'any', paths: ['~/orders/.+'], regex_priority: anyPriority, strip_path: false }] }
    ]
  })

  // the digits route first in the file, and higher: it takes what both match
  const first = await startKongGateway(t, file(10, 0))
  t.has(await get(first.url, '/orders/12'), { status: 200, upstream: 'num' }, 'both match: regex_priority 10 over 0')
  t.has(await get(first.url, '/orders/abc'), { status: 200, upstream: 'any' }, 'only one matches')

  // same file order, priorities reversed: the other route takes it
  const second = await startKongGateway(t, file(0, 20))
  t.has(await get(second.url, '/orders/12'), { status: 200, upstream: 'any' }, 'both match: regex_priority 20 over 0')
  t.has(await get(second.url, '/orders/abc'), { status: 200, upstream: 'any' })
  t.equal((await get(second.url, '/orders')).status, 404, 'neither matches "/orders"')

  // negative priorities order too
  const third = await startKongGateway(t, file(-5, -1))
  t.has(await get(third.url, '/orders/12'), { status: 200, upstream: 'any' }, 'regex_priority -1 over -5')
})

t.test('methods: a GET-only route refuses POST; two routes on one path split by method', async (t) => {
  const up = await upstreams(t, 'readonly', 'reader', 'writer')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'readonly', url: up.readonly.url, routes: [{ name: 'ro', paths: ['/ro'], methods: ['GET'] }] },
      { name: 'reader', url: up.reader.url, routes: [{ name: 'read-things', paths: ['/things'], methods: ['GET', 'HEAD'], strip_path: false }] },
      { name: 'writer', url: up.writer.url, routes: [{ name: 'write-things', paths: ['/things'], methods: ['POST', 'PUT'], strip_path: false }] }
    ]
  }))
  t.has(await get(gw.url, '/ro/x'), { status: 200, upstream: 'readonly', url: '/x' })
  for (const method of ['POST', 'DELETE', 'PUT']) {
    const res = await get(gw.url, '/ro/x', {}, method)
    t.equal(res.status, 404, `${method} on a GET-only route: no route (Kong answers 404)`)
    t.equal(res.res.json().code, 'GW_ROUTE_NOT_FOUND')
  }
  t.equal(up.readonly.requests.length, 1)

  t.has(await get(gw.url, '/things/t1'), { status: 200, upstream: 'reader', url: '/things/t1' }, 'GET → reader')
  t.has(await get(gw.url, '/things/t1', {}, 'POST'), { status: 200, upstream: 'writer' }, 'POST → writer')
  t.has(await get(gw.url, '/things/t1', {}, 'PUT'), { status: 200, upstream: 'writer' }, 'PUT → writer')
  t.equal((await get(gw.url, '/things/t1', {}, 'HEAD')).status, 200, 'HEAD → reader')
  t.equal(up.reader.requests.at(-1)!.method, 'HEAD')
  t.equal((await get(gw.url, '/things/t1', {}, 'DELETE')).status, 404, 'a method neither route takes')
})

t.test('a route with methods and a route without, on the same path: the methods route for its methods, the other for the rest (Kong)', async (t) => {
  const up = await upstreams(t, 'get', 'rest')
  // with a host condition as well, the pair already works: the methods route for GET on its host
  const withHost = await startKongGateway(t, kong({
    services: [
      { name: 'get', url: up.get.url, routes: [{ name: 'get-orders', paths: ['/orders'], methods: ['GET'], hosts: ['shop.example.com'] }] },
      { name: 'rest', url: up.rest.url, routes: [{ name: 'orders', paths: ['/orders'] }] }
    ]
  }))
  t.has(await get(withHost.url, '/orders/1', { host: 'shop.example.com' }), { status: 200, upstream: 'get' }, 'GET on the host: methods + hosts route')
  t.has(await get(withHost.url, '/orders/1', { host: 'shop.example.com' }, 'POST'), { status: 200, upstream: 'rest' }, 'POST on the host: the plain route')
  t.has(await get(withHost.url, '/orders/1'), { status: 200, upstream: 'rest' }, 'GET on another host: the plain route')

  // methods as the only condition: Kong accepts the pair (GET → the route with more conditions)
  const file = kong({
    services: [
      { name: 'get', url: up.get.url, routes: [{ name: 'get-orders', paths: ['/orders'], methods: ['GET'] }] },
      { name: 'rest', url: up.rest.url, routes: [{ name: 'orders', paths: ['/orders'] }] }
    ]
  })
  const problems = kongProblems(t, file)
  t.same(problems, [], 'the file loads')
  if (problems.length > 0) return
  const gw = await startKongGateway(t, file)
  t.has(await get(gw.url, '/orders/1'), { status: 200, upstream: 'get' }, 'GET: the route with more conditions')
  t.has(await get(gw.url, '/orders/1', {}, 'POST'), { status: 200, upstream: 'rest' }, 'POST: the route without methods')
})

t.test('hosts: exact and wildcard hosts, a route without hosts on the same path as the fallback', async (t) => {
  const up = await upstreams(t, 'wild', 'exact', 'suffix', 'plain')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'wild', url: up.wild.url, routes: [{ name: 'wild', paths: ['/h'], hosts: ['*.example.com'] }] },
      { name: 'exact', url: up.exact.url, routes: [{ name: 'exact', paths: ['/h'], hosts: ['api.example.org', 'api2.example.org'] }] },
      { name: 'suffix', url: up.suffix.url, routes: [{ name: 'suffix', paths: ['/h'], hosts: ['internal.*'] }] },
      { name: 'plain', url: up.plain.url, routes: [{ name: 'plain', paths: ['/h'] }] }
    ]
  }))
  const cases: Array<[string, string]> = [
    ['a.example.com', 'wild'],
    ['deep.a.example.com', 'wild'],
    ['A.Example.COM', 'wild'],
    ['a.example.com:8000', 'wild'],
    ['example.com', 'plain'],
    ['a.example.com.evil.test', 'plain'],
    ['api.example.org', 'exact'],
    ['api2.example.org:8443', 'exact'],
    ['www.example.org', 'plain'],
    ['internal.corp', 'suffix'],
    ['internal', 'plain'],
    ['127.0.0.1', 'plain']
  ]
  for (const [host, upstream] of cases) {
    const res = await get(gw.url, '/h/x', { host })
    t.equal(res.status, 200, `Host ${host}`)
    t.equal(res.upstream, upstream, `Host ${host} → ${upstream}`)
    t.equal(res.url, '/x')
  }
  t.equal((await get(gw.url, '/other', { host: 'a.example.com' })).status, 404, 'hosts add to the path, they do not replace it')
})

t.test('hosts: an exact host is preferred over a wildcard that also matches (Kong: plain hosts first)', async (t) => {
  const up = await upstreams(t, 'exact', 'wild')
  const exact = { name: 'exact', url: up.exact.url, routes: [{ name: 'exact', paths: ['/h'], hosts: ['api.example.com'] }] }
  const wild = { name: 'wild', url: up.wild.url, routes: [{ name: 'wild', paths: ['/h'], hosts: ['*.example.com'] }] }
  // whichever comes first in the file
  for (const [order, services] of [['exact first', [exact, wild]], ['wildcard first', [wild, exact]]] as const) {
    const gw = await startKongGateway(t, kong({ services }))
    t.has(await get(gw.url, '/h', { host: 'web.example.com' }), { status: 200, upstream: 'wild' }, `${order}: only the wildcard matches`)
    t.has(await get(gw.url, '/h', { host: 'api.example.com' }), { status: 200, upstream: 'exact' }, `${order}: the exact host wins over *.example.com`)
  }
})

t.test('headers: a route matching x-version: v2 and a plain route on the same path', async (t) => {
  const up = await upstreams(t, 'v1', 'v2')
  const gw = await startKongGateway(t, kong({
    services: [
      // the header route last in the file: it must win by its condition, not by its place
      { name: 'v1', url: up.v1.url, routes: [{ name: 'api-v1', paths: ['/api'], strip_path: false }] },
      { name: 'v2', url: up.v2.url, routes: [{ name: 'api-v2', paths: ['/api'], headers: { 'x-version': ['v2', 'v2.1'] }, strip_path: false }] }
    ]
  }))
  t.has(await get(gw.url, '/api/wallets'), { status: 200, upstream: 'v1', url: '/api/wallets' }, 'no header: the plain route')
  t.has(await get(gw.url, '/api/wallets', { 'x-version': 'v2' }), { status: 200, upstream: 'v2', url: '/api/wallets' })
  t.has(await get(gw.url, '/api/wallets', { 'x-version': 'v2.1' }), { status: 200, upstream: 'v2' }, 'any listed value')
  t.has(await get(gw.url, '/api/wallets', { 'X-Version': 'V2' }), { status: 200, upstream: 'v2' }, 'header name and value case-insensitive')
  t.has(await get(gw.url, '/api/wallets', { 'x-version': 'v3' }), { status: 200, upstream: 'v1' }, 'another value: the plain route')
  t.has(await get(gw.url, '/api/wallets', { 'x-other': 'v2' }), { status: 200, upstream: 'v1' }, 'another header: the plain route')
  t.equal(up.v2.requests.at(-1)!.headers['x-version'], 'V2', 'the matched header still goes upstream')
})

t.test('headers: of two header routes that both match, the one with more headers wins, as in Kong', async (t) => {
  // Kong 3 (router/transform.lua get_priority): same categories → more headers first
  const up = await upstreams(t, 'one', 'two')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'two', url: up.two.url, routes: [{ name: 'two', paths: ['/x'], headers: { 'x-a': ['1'], 'x-b': ['2'] } }] },
      { name: 'one', url: up.one.url, routes: [{ name: 'one', paths: ['/x'], headers: { 'x-a': ['1'] } }] }
    ]
  }))
  t.has(await get(gw.url, '/x', { 'x-a': '1' }), { status: 200, upstream: 'one' }, 'only x-a: the one-header route')
  t.has(await get(gw.url, '/x', { 'x-a': '1', 'x-b': '2' }), { status: 200, upstream: 'two' }, 'both headers: the two-header route')
})

t.test('headers and hosts together: the route with more conditions wins, as in Kong', async (t) => {
  const up = await upstreams(t, 'host', 'both')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'both', url: up.both.url, routes: [{ name: 'both', paths: ['/r'], hosts: ['api.example.com'], headers: { 'x-beta': ['yes'] } }] },
      { name: 'host', url: up.host.url, routes: [{ name: 'host', paths: ['/r'], hosts: ['api.example.com'] }] }
    ]
  }))
  t.has(await get(gw.url, '/r', { host: 'api.example.com' }), { status: 200, upstream: 'host' })
  t.has(await get(gw.url, '/r', { host: 'api.example.com', 'x-beta': 'yes' }), { status: 200, upstream: 'both' })
  t.equal((await get(gw.url, '/r', { host: 'other.example.com', 'x-beta': 'yes' })).status, 404, 'no route without its host')
})

t.test('preserve_host: true sends the client Host upstream, false (default) the service host', async (t) => {
  const up = await upstreams(t, 'svc')
  const gw = await startKongGateway(t, kong({
    services: [{
      name: 'svc',
      url: up.svc.url,
      routes: [
        { name: 'preserved', paths: ['/preserved'], preserve_host: true },
        { name: 'replaced', paths: ['/replaced'], preserve_host: false },
        { name: 'default', paths: ['/default'] }
      ]
    }]
  }))
  const own = new URL(up.svc.url).host
  const preserved = await get(gw.url, '/preserved/x', { host: 'shop.example.com' })
  t.equal(preserved.status, 200)
  t.equal(preserved.headers!.host, 'shop.example.com', 'preserve_host: true')
  for (const path of ['/replaced/x', '/default/x']) {
    const res = await get(gw.url, path, { host: 'shop.example.com' })
    t.equal(res.status, 200)
    t.equal(res.headers!.host, own, `${path}: the service's host:port`)
    t.equal(res.headers!['x-forwarded-host'], 'shop.example.com', `${path}: the client's Host in X-Forwarded-Host`)
  }
})

t.test('a route with hosts and no paths serves every path of that host', async (t) => {
  const up = await upstreams(t, 'tenant', 'api')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'tenant', url: up.tenant.url, routes: [{ name: 'tenant', hosts: ['tenant.example.com'] }] },
      { name: 'api', url: up.api.url, routes: [{ name: 'api', paths: ['/api'] }] }
    ]
  }))
  t.has(await get(gw.url, '/', { host: 'tenant.example.com' }), { status: 200, upstream: 'tenant', url: '/' })
  t.has(await get(gw.url, '/deep/path/x?y=1', { host: 'tenant.example.com' }), { status: 200, upstream: 'tenant', url: '/deep/path/x?y=1' }, 'any path, unchanged')
  t.has(await get(gw.url, '/orders', { host: 'tenant.example.com:8000', 'x-any': '1' }, 'POST'), { status: 200, upstream: 'tenant' }, 'any method')
  t.equal((await get(gw.url, '/deep/path/x', { host: 'other.example.com' })).status, 404, 'another host: no route')
  t.equal((await get(gw.url, '/', { host: 'other.example.com' })).status, 404)
  t.has(await get(gw.url, '/api/x', { host: 'other.example.com' }), { status: 200, upstream: 'api', url: '/x' }, 'the other route still serves its path')
})

t.test('read_timeout on a service: a slower upstream answer is a 504; another service with a longer read_timeout waits', async (t) => {
  const slow = await startUpstream(t, (req, res, body) => {
    // the upstream's own delay, not the test's: it answers after 1.5 s
    if (req.url!.startsWith('/slow')) setTimeout(() => { if (!res.destroyed) echo('slow')(req, res, body) }, 1500)
    else echo('slow')(req, res, body)
  })
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'impatient', url: slow.url, read_timeout: 200, routes: [{ name: 'impatient', paths: ['/impatient'] }] },
      { name: 'patient', url: slow.url, read_timeout: 3000, routes: [{ name: 'patient', paths: ['/patient'] }] }
    ]
  }))
  t.has(await get(gw.url, '/impatient/fast'), { status: 200, url: '/fast' }, 'a quick answer is unaffected')

  const started = performance.now()
  const timedOut = await get(gw.url, '/impatient/slow')
  const took = performance.now() - started
  t.equal(timedOut.status, 504)
  t.match(timedOut.res.headers['content-type'], /application\/problem\+json/)
  t.equal(timedOut.res.json().code, 'GW_PROXY_UPSTREAM_TIMEOUT')
  t.ok(took >= 180 && took < 1400, `answered after the 200 ms read_timeout, before the upstream (${Math.round(took)} ms)`)
  t.equal(slow.requests.filter((r) => r.url === '/slow').length, 1, 'a timeout that reached the upstream is not retried')

  t.has(await get(gw.url, '/patient/slow'), { status: 200, url: '/slow' }, 'read_timeout 3000: the 1.5 s answer arrives')
})

t.test('retries: a refused connection is retried on another target of the upstream; retries: 0 never retries', async (t) => {
  const live = await startUpstream(t, echo('live'))
  const dead = await freePort() // nothing listens here: connections are refused
  const targets = [{ target: `127.0.0.1:${dead}` }, { target: `127.0.0.1:${live.port}` }]
  const gw = await startKongGateway(t, kong({
    upstreams: [{ name: 'pool-none', targets }, { name: 'pool-one', targets }],
    services: [
      { name: 'no-retries', host: 'pool-none', retries: 0, routes: [{ name: 'none', paths: ['/none'] }] },
      { name: 'one-retry', host: 'pool-one', retries: 1, routes: [{ name: 'one', paths: ['/one'] }] }
    ]
  }))

  // round-robin over [dead, live]: every other request goes to the dead target
  const without = []
  for (let i = 0; i < 4; i++) without.push(await get(gw.url, '/none/x'))
  t.same(without.map((r) => r.status).sort(), [200, 200, 502, 502], 'retries: 0 — the requests sent to the dead target fail')
  for (const r of without.filter((r) => r.status === 502)) t.equal(r.res.json().code, 'GW_PROXY_UPSTREAM_UNREACHABLE')

  const before = live.requests.length
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await get(gw.url, '/one/x')).status)
  statuses.push((await get(gw.url, '/one/x', {}, 'POST')).status)
  statuses.push((await get(gw.url, '/one/x', {}, 'POST')).status)
  t.same(statuses, [200, 200, 200, 200, 200, 200], 'retries: 1 — each refused attempt goes on to the live target (a refused POST never reached anyone)')
  t.equal(live.requests.length - before, 6, 'the live target answered each request once')
})

t.test('format "2.1": a path with regex characters and no "~" is a regex; a plain one stays a prefix', async (t) => {
  const up = await upstreams(t, 'user', 'plain')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'user', url: up.user.url, routes: [{ name: 'user', paths: ['/users/\\d+$'], strip_path: false }] },
      { name: 'plain', url: up.plain.url, routes: [{ name: 'plain', paths: ['/plain-path_v1.0'] }] }
    ]
  }, '2.1'))
  t.has(await get(gw.url, '/users/42'), { status: 200, upstream: 'user', url: '/users/42' })
  t.equal((await get(gw.url, '/users/abc')).status, 404, 'not \\d+')
  t.equal((await get(gw.url, '/users/42/x')).status, 404, '$ anchors the end')
  t.has(await get(gw.url, '/plain-path_v1.0/x'), { status: 200, upstream: 'plain', url: '/x' }, '"." "-" "_" are not regex characters: a prefix, stripped')
  t.equal((await get(gw.url, '/plain-path_v1x0/x')).status, 404, 'the "." is literal')

  // the same "~"-less path in a 3.0 file is not a regex: it does not serve /users/42
  const problems = kongProblems(t, kong({ services: [{ name: 'user', url: up.user.url, routes: [{ name: 'user', paths: ['/users/\\d+$'] }] }] }))
  if (problems.length === 0) {
    const gw3 = await startKongGateway(t, kong({ services: [{ name: 'user', url: up.user.url, routes: [{ name: 'user', paths: ['/users/\\d+$'] }] }] }))
    t.equal((await get(gw3.url, '/users/42')).status, 404, '3.0: not a regex')
  } else {
    t.match(problems.join('\n'), /paths\[0\]/, '3.0: refused as a path, not read as a regex')
  }
})

t.test('the upstream gets X-Forwarded-For and X-Request-Id; paths are literal (no /v1 negotiation)', async (t) => {
  const up = await upstreams(t, 'api', 'things')
  const gw = await startKongGateway(t, kong({
    services: [
      { name: 'api', url: up.api.url, routes: [{ name: 'api', paths: ['/api'], strip_path: false }] },
      { name: 'things', url: up.things.url, routes: [{ name: 'things', paths: ['/v1/things'], strip_path: false }] }
    ]
  }))
  const res = await get(gw.url, '/api/wallets', { host: 'edge.example.com' })
  t.equal(res.status, 200)
  const seen = up.api.requests.at(-1)!.headers
  t.equal(seen['x-forwarded-for'], '127.0.0.1', 'the client address')
  t.equal(seen['x-forwarded-proto'], 'http')
  t.equal(seen['x-forwarded-host'], 'edge.example.com')
  t.match(seen['x-request-id'], /\S+/, 'a request id')
  t.equal(seen['x-request-id'], res.res.headers['x-request-id'], 'the same id the client hears')
  t.equal(seen['x-api-version'], undefined, 'no API version for a Kong route')
  t.equal(res.res.headers['x-api-version'], undefined)

  const second = await get(gw.url, '/api/wallets')
  t.not(up.api.requests.at(-1)!.headers['x-request-id'], seen['x-request-id'], 'one id per request')
  t.equal(second.status, 200)

  // served as written: no version is added, none is taken away
  t.has(await get(gw.url, '/v1/things/t1'), { status: 200, upstream: 'things', url: '/v1/things/t1' })
  for (const path of ['/v1/api/wallets', '/v2/api/wallets', '/things/t1', '/v2/things/t1']) {
    t.equal((await get(gw.url, path)).status, 404, `${path}: not a path in the file`)
  }
  t.equal((await get(gw.url, '/api/wallets', { 'x-api-version': '2' })).status, 200, 'a version header changes nothing')
  t.equal(up.api.requests.at(-1)!.url, '/api/wallets')
})
