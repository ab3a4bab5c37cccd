// The published OpenAPI document and its docs UI, on the public listener:
//   GET /openapi.json   the document as JSON (application/json)
//   GET /openapi.yaml   the same document as YAML (application/yaml, RFC 9512), with the file's comments
//   GET /docs           Swagger UI; every script, stylesheet, image and font is served from
//                       /docs/static (no CDN, no validator badge): it works offline
// Gateway endpoints: unversioned, public, not rate limited (they live outside the route
// scopes, like /health), and their paths are reserved (plugins/versioning/routes.ts).
//
// `servers`: a document that has none is served with `servers: [{ url: "<proto>://<host>" }]`
// built from each request (request.protocol / request.host, so X-Forwarded-Proto/-Host
// count only from a peer TRUST_PROXY trusts), so "Try it out" calls the gateway the
// reader reached. The shared document is never mutated: each origin gets its own rendering.
//
// Who does what: @fastify/swagger's static mode returns one fixed document (cached, no
// request in sight), so it cannot add per-request servers. It is registered only to hold
// the document for @fastify/swagger-ui, which requires it; /openapi.json and
// /openapi.yaml are the two small routes below, from the same loadSpec() document.
// Swagger UI is pointed at /openapi.json (its own /docs/json and /docs/yaml answer the
// same per-request document).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import swagger, { type FastifyStaticSwaggerOptions, type StaticDocumentSpec } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { parseDocument, isMap, isScalar, type Document, type YAMLMap } from 'yaml'
import { loadSpec, type OpenApiDocument } from './spec.js'
import { downloadUrl, inlinePathItemRefs } from './ui-plugins.js'

export interface OpenApiOptions {
  /** the document to serve (default: loadSpec(), i.e. openapi/openapi.yaml); tests pass their own */
  spec?: { text: string, document: OpenApiDocument }
}

export const JSON_TYPE = 'application/json; charset=utf-8'
/** RFC 9512's registered type (application/x-yaml is the legacy spelling) */
export const YAML_TYPE = 'application/yaml; charset=utf-8'
export const DOCS_PREFIX = '/docs'

// host[:port], or [IPv6][:port]; anything else (empty, spaces, slashes...) gets no servers
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/

/** "<proto>://<host>" of the request as the client addressed it, or undefined when that is not a usable origin. */
export function requestOrigin (request: FastifyRequest): string | undefined {
  const proto = request.protocol?.toLowerCase()
  const host = request.host
  if ((proto !== 'http' && proto !== 'https') || !HOST.test(host)) return undefined
  return `${proto}://${host.toLowerCase()}`
}

const hasServers = (document: OpenApiDocument): boolean => Array.isArray(document.servers) && document.servers.length > 0

/** A new top-level object with `servers` where an empty one was, else after `info` (nested objects shared, not copied). */
function withServers (document: OpenApiDocument, origin: string): OpenApiDocument {
  const servers = [{ url: origin }]
  const out: OpenApiDocument = {}
  for (const [key, value] of Object.entries(document)) {
    out[key] = key === 'servers' ? servers : value
    if (key === 'info' && !('servers' in document)) out.servers = servers
  }
  if (!('servers' in out)) out.servers = servers
  return out
}

/** The YAML text with `servers` set as withServers() does, keeping the file's comments and layout. */
function yamlWithServers (base: Document, origin: string): string {
  const doc = base.clone()
  const root = doc.contents as YAMLMap
  const servers = doc.createNode([{ url: origin }])
  const existing = root.items.findIndex((pair) => isScalar(pair.key) && pair.key.value === 'servers')
  if (existing !== -1) {
    root.items[existing]!.value = servers
  } else {
    const info = root.items.findIndex((pair) => isScalar(pair.key) && pair.key.value === 'info')
    root.items.splice(info === -1 ? root.items.length : info + 1, 0, doc.createPair('servers', servers))
  }
  return doc.toString()
}

// stands for the request's origin in the pre-rendered document (.invalid: RFC 6761, never a real host)
const PLACEHOLDER = 'http://request-origin.invalid'

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

interface Rendering {
  /** the document as JSON, servers as in the file */
  json: string
  /** the JSON and the YAML split around the placeholder origin; undefined when the file sets servers itself */
  around: { json: [string, string], yaml: [string, string] } | undefined
}

// one rendering per spec (loadSpec's object is shared by the process): a gateway built
// again in the same process (tests, a reload) does not parse and print the YAML again
const renderings = new WeakMap<object, Rendering>()

function renderingOf (spec: { text: string, document: OpenApiDocument }): Rendering {
  const known = renderings.get(spec)
  if (known !== undefined) return known
  const { text, document } = spec
  const fixed = hasServers(document)
  const yamlBase = fixed ? undefined : parseDocument(text)
  if (yamlBase !== undefined && !isMap(yamlBase.contents)) throw new Error('openapi/openapi.yaml: the document is not a YAML mapping')
  // Rendered once, around a placeholder origin: a request then costs two string
  // concatenations, whatever its Host (re-rendering the YAML per new Host took
  // 70–265 ms of event loop each: a cheap way to stall the gateway). The origin is
  // http(s)://host[:port] (requestOrigin's pattern), safe inside a JSON string and a
  // double-quoted YAML scalar alike.
  const split = (rendered: string): [string, string] => {
    const at = rendered.indexOf(PLACEHOLDER)
    if (at === -1 || rendered.indexOf(PLACEHOLDER, at + 1) !== -1) throw new Error('openapi: the servers placeholder must appear exactly once')
    return [rendered.slice(0, at), rendered.slice(at + PLACEHOLDER.length)]
  }
  const rendering: Rendering = {
    json: JSON.stringify(document),
    around: fixed ? undefined : { json: split(JSON.stringify(withServers(document, PLACEHOLDER))), yaml: split(yamlWithServers(yamlBase!, PLACEHOLDER)) }
  }
  renderings.set(spec, rendering)
  return rendering
}

async function openapi (app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  const spec = options.spec ?? loadSpec()
  const { text, document } = spec
  const { json, around } = renderingOf(spec)
  const fixed = around === undefined

  const render = (format: 'json' | 'yaml', origin: string | undefined): string => {
    if (around === undefined || origin === undefined) return format === 'json' ? json : text
    const [before, after] = around[format]
    return before + origin + after
  }
  // the answer depends on these when servers come from the request: caches must key on them
  const vary = fixed ? undefined : 'Host, X-Forwarded-Host, X-Forwarded-Proto'
  const serve = (format: 'json' | 'yaml') => (request: FastifyRequest, reply: FastifyReply) => {
    if (vary !== undefined) {
      // after CORS's Vary: Origin, not instead of it
      const prior = reply.getHeader('vary')
      reply.header('vary', prior === undefined ? vary : `${String(prior)}, ${vary}`)
    }
    return reply.type(format === 'json' ? JSON_TYPE : YAML_TYPE).send(render(format, requestOrigin(request)))
  }

  app.get('/openapi.json', serve('json'))
  app.get('/openapi.yaml', serve('yaml'))
  // @fastify/swagger-ui's own /docs/json and /docs/yaml would serialise the document on
  // every request: answered here from the same renderings before its handlers run
  const docsJson = `${DOCS_PREFIX}/json`
  const docsYaml = `${DOCS_PREFIX}/yaml`
  const serveJson = serve('json')
  const serveYaml = serve('yaml')
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?', 1)[0]
    if (path === docsJson) { serveJson(request, reply); return }
    if (path === docsYaml) { serveYaml(request, reply); return }
    done()
  })

  // helmet's CSP (src/security-headers.ts) carries upgrade-insecure-requests: right behind
  // TLS, but a browser that reached /docs over plain HTTP at any host other than localhost
  // / 127.0.0.1 then asks for every asset over https from a listener that speaks HTTP, and
  // the page stays blank. Dropped from the responses of this plugin to plain-HTTP requests
  // only (every asset URL of the page is relative: nothing for it to upgrade anyway).
  app.addHook('onSend', (request, reply, payload, done) => {
    const csp = reply.getHeader('content-security-policy')
    if (request.protocol === 'http' && typeof csp === 'string' && csp.includes('upgrade-insecure-requests')) {
      reply.header('content-security-policy', csp.split(';').filter((d) => d.trim() !== 'upgrade-insecure-requests').join(';'))
    }
    done(null, payload)
  })

  // a copy: the loadSpec() document is frozen and shared with the request validators
  const swaggerOptions: FastifyStaticSwaggerOptions = {
    mode: 'static',
    specification: { document: structuredClone(document) as StaticDocumentSpec['document'] }
  }
  await app.register(swagger, swaggerOptions)
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: {
      // the UI loads the gateway's own /openapi.json (`urls` takes precedence over the `url` @fastify/swagger-ui sets)
      urls: [{ url: '/openapi.json', name: String(document.info?.title ?? 'OpenAPI') }],
      // no validator badge: it would send the document to validator.swagger.io
      validatorUrl: null,
      deepLinking: true,
      // path-item $refs inlined in the browser: Swagger UI renders them ~8× faster (see ui-plugins.ts)
      plugins: [downloadUrl, inlinePathItemRefs]
    },
    theme: { title: escapeHtml(String(document.info?.title ?? 'API docs')) },
    // /docs/json and /docs/yaml: the same per-request document as /openapi.*
    transformSpecification: (_document, request) => {
      const origin = requestOrigin(request)
      return fixed || origin === undefined ? document : withServers(document, origin)
    },
    transformSpecificationClone: false
  })
}

export default openapi
