// The versioned route table: config.routes expanded into one concrete route per
// (route, version), compiled once at start-up. Pure, no Fastify: the config check
// reports its problems and the gateway registers one route scope per entry.
//
// An unversioned prefix ("/api") exists in every supported version ("/v1/api",
// "/v2/api"...) unless its `versions` map says `false` for one; `{ service }` sends
// that version to another service. A prefix with a version segment ("/v1/api") is
// that version only. Either way the prefix without its version is the route's
// family: an unversioned request path under a family is negotiated and routed as
// "/v{N}" + path.
import { checkToken, pathVersionToken, type VersionPolicy } from './resolve.js'
import type { RouteConfig } from '../proxy/options.js'
import type { VersioningConfig } from './options.js'

export interface VersionedRoute {
  /** the route as registered: concrete prefix ("/v2/api") and this version's service */
  readonly route: RouteConfig
  readonly version: number
  /** the prefix without its version segment ("/api"; "" for a bare "/v1") */
  readonly family: string
  /** the next version this family exists in (the deprecation Link's target), if any */
  readonly successor: number | undefined
  /** false: served at its prefix as written, outside versioning (route.versioned: false) */
  readonly versioned: boolean
}

/**
 * A family missing from a version. Registered as a route of its own that answers
 * 404: otherwise "/v2/api/analytics/x" would fall through to a shorter prefix
 * ("/v2/api") and its policy (no analyst role needed) instead of failing.
 */
export interface AbsentRoute {
  /** "/v2/api/analytics" */
  readonly prefix: string
  readonly version: number
  /** the versions the family does exist in */
  readonly versions: readonly number[]
}

export interface RouteTable {
  readonly routes: readonly VersionedRoute[]
  readonly absent: readonly AbsentRoute[]
  /** lower-cased family → the versions it exists in, ascending */
  readonly families: ReadonlyMap<string, readonly number[]>
}

export interface TableProblem { path: string, value: unknown, expected: string }

// the gateway's own endpoints. Unversioned paths are negotiated by their first
// segment, so a family must not even start with one ("/health/deep" would take
// "/health" away from the liveness probe).
const RESERVED = ['/ws', '/health', '/ready', '/docs', '/openapi.json', '/openapi.yaml']
const shadowsGateway = (prefix: string): boolean => {
  const p = prefix.toLowerCase()
  const slash = p.indexOf('/', 1)
  const head = slash === -1 ? p : p.slice(0, slash)
  return RESERVED.includes(head) || head === '/admin'
}

/**
 * The version a client of `version` should move to: the next one after it that is
 * not deprecated itself, else simply the next one; undefined when none is later.
 */
export function successorOf (version: number, candidates: readonly number[], deprecated: ReadonlySet<number>): number | undefined {
  const later = candidates.filter((v) => v > version)
  return later.find((v) => !deprecated.has(v)) ?? later[0]
}

export const policyOf = (versioning: VersioningConfig): VersionPolicy => ({
  versions: [...versioning.versions].sort((a, b) => a - b),
  defaultVersion: versioning.defaultVersion
})

/** "/v2/api" → { version: "2", family: "/api" }; "/api" → { family: "/api" } */
export function splitPrefix (prefix: string): { token?: string, family: string } {
  const token = pathVersionToken(prefix)
  return token === undefined ? { family: prefix } : { token, family: prefix.slice(2 + token.length) }
}

/** Expands the routes; `problems` lists what the config check must report (and then the table is not used). */
export function buildRouteTable (routes: readonly RouteConfig[], versioning: VersioningConfig): { table: RouteTable, problems: TableProblem[] } {
  const policy = policyOf(versioning)
  const problems: TableProblem[] = []
  const supported = `one of the supported versions ${policy.versions.join(', ')}`
  const pending: Array<{ route: RouteConfig, version: number, family: string, index: number }> = []
  const passthrough: Array<{ route: RouteConfig, index: number }> = []
  routes.forEach((route, index) => {
    const { token, family } = splitPrefix(route.prefix)
    if (shadowsGateway(route.prefix) || (route.versioned && shadowsGateway(family))) {
      problems.push({ path: `/routes/${index}/prefix`, value: route.prefix, expected: 'a prefix that does not shadow the gateway\'s own endpoints (/health, /ready, /docs, /openapi.*, /ws, /admin), with or without a version segment' })
      return
    }
    if (!route.versioned) {
      if (route.versions !== undefined) problems.push({ path: `/routes/${index}/versions`, value: route.versions, expected: 'no versions map on an unversioned route (versioned: false)' })
      else passthrough.push({ route, index })
      return
    }
    if (route.prefix === '/') {
      problems.push({ path: `/routes/${index}/prefix`, value: route.prefix, expected: 'a prefix below "/" (only a route with versioned: false may serve "/")' })
      return
    }
    if (token !== undefined) {
      const checked = checkToken(token, policy, 'path')
      if (!checked.ok) {
        problems.push({ path: `/routes/${index}/prefix`, value: route.prefix, expected: `a version segment naming ${supported} (or no version segment: the route then exists in every version)` })
      } else if (route.versions !== undefined) {
        problems.push({ path: `/routes/${index}/versions`, value: route.versions, expected: `no versions map on a prefix that names its version (use the unversioned prefix "${family}" with a versions map)` })
      } else {
        pending.push({ route, version: checked.version, family, index })
      }
      return
    }
    const settings = route.versions ?? {}
    for (const key of Object.keys(settings)) {
      if (!policy.versions.includes(Number(key))) problems.push({ path: `/routes/${index}/versions/${key}`, value: settings[key], expected: `a key naming ${supported}` })
    }
    for (const version of policy.versions) {
      const own = settings[String(version)]
      if (own === false) continue
      const versioned = { ...route, prefix: `/v${version}${route.prefix}`, service: own?.service ?? route.service }
      delete (versioned as { versions?: unknown }).versions
      pending.push({ route: versioned, version, family, index })
    }
  })

  const families = new Map<string, number[]>()
  const claimed = new Map<string, number>()
  for (const { route, version, family, index } of pending) {
    const keys = claimKeys(route)
    const other = keys.map((k) => claimed.get(k)).find((o) => o !== undefined && o !== index)
    if (other !== undefined && other !== index) {
      const declared = routes[index]!.prefix
      problems.push({
        path: `/routes/${index}/prefix`,
        value: declared,
        expected: declared.toLowerCase() === routes[other]!.prefix.toLowerCase()
          ? `a prefix not already used by routes[${other}]`
          : `a route not also served by routes[${other}] at ${route.prefix} (mark version ${version} absent on the unversioned one: versions: { "${version}": false })`
      })
    } else {
      for (const k of keys) claimed.set(k, index)
    }
    const list = families.get(family.toLowerCase()) ?? []
    if (!list.includes(version)) list.push(version)
    families.set(family.toLowerCase(), list)
  }
  for (const list of families.values()) list.sort((a, b) => a - b)
  const passthroughEntries: VersionedRoute[] = []
  // the first segments negotiation rewrites (plugins/versioning/negotiation.ts)
  const heads = new Set([...families.keys()].filter((f) => f !== '').map((f) => f.slice(1).split('/')[0]!))
  for (const { route, index } of passthrough) {
    const keys = claimKeys(route)
    const other = keys.map((k) => claimed.get(k)).find((o) => o !== undefined)
    if (other !== undefined) {
      problems.push({ path: `/routes/${index}/prefix`, value: route.prefix, expected: `a prefix, methods and match not already used by routes[${other}]` })
    } else if (heads.has(route.prefix.slice(1).split('/')[0]!.toLowerCase())) {
      problems.push({ path: `/routes/${index}/prefix`, value: route.prefix, expected: 'a prefix whose first segment no versioned route uses (requests under it are negotiated to that route)' })
    } else {
      for (const k of keys) claimed.set(k, index)
    }
    passthroughEntries.push({ route, version: policy.defaultVersion, family: route.prefix, successor: undefined, versioned: false })
  }

  const deprecated = new Set(versioning.deprecated.map((d) => d.version))
  const absent: AbsentRoute[] = []
  for (const [family, versions] of families) {
    if (family === '') continue
    const spelled = pending.find((p) => p.family.toLowerCase() === family)!.family
    for (const version of policy.versions) {
      if (!versions.includes(version)) absent.push({ prefix: `/v${version}${spelled}`, version, versions })
    }
  }
  const table: RouteTable = {
    families,
    absent,
    routes: pending.map(({ route, version, family }) => ({
      route: withVersionHeader(route, version),
      version,
      family,
      successor: successorOf(version, families.get(family.toLowerCase())!, deprecated),
      versioned: true
    })).concat(passthroughEntries)
      // registration order: among routes one request matches, the last registered wins (src/route-match.ts)
      .sort((a, b) => (a.route.match?.priority ?? 0) - (b.route.match?.priority ?? 0))
  }
  // in the order of the routes they are about
  const routeIndex = (p: TableProblem) => Number(p.path.split('/')[2])
  problems.sort((a, b) => routeIndex(a) - routeIndex(b))
  return { table, problems }
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
/** routes on one prefix may coexist when their methods do not overlap or their match conditions differ */
function claimKeys (route: RouteConfig): string[] {
  const match = route.match === undefined ? '' : JSON.stringify(route.match)
  return (route.methods ?? ALL_METHODS).map((m) => `${route.prefix.toLowerCase()} ${m} ${match}`)
}

/**
 * The upstream hears the resolved version, whatever the client sent in
 * X-API-Version; the client hears it back, whatever the upstream answered.
 */
function withVersionHeader (route: RouteConfig, version: number): RouteConfig {
  const { request, response } = route.headers ?? {}
  const stated = { 'x-api-version': String(version) }
  return {
    ...route,
    headers: { request: { ...request, add: { ...request?.add, ...stated } }, response: { ...response, add: { ...response?.add, ...stated } } }
  }
}
