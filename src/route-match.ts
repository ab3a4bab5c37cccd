// Routes that share a prefix and differ by host, header values or a path regex
// (route.match; Kong's hosts / headers / "~" paths). Fastify's router (find-my-way)
// picks among handlers on one path by "constraints": this is one custom constraint
// strategy whose value is an id per route and whose store, asked about a request,
// answers with every route whose conditions the request meets. find-my-way then
// takes the last-registered of those (the route table registers them by ascending
// priority), or the route without conditions on that prefix, or none (404).
// Gateways whose routes have no match conditions do not register the strategy and
// pay nothing per request.
import type { IncomingMessage } from 'node:http'
import type { RouteConfig } from '../plugins/proxy/options.js'

export const MATCH_CONSTRAINT = 'routeMatch'

type Predicate = (req: IncomingMessage) => boolean
type Match = NonNullable<RouteConfig['match']>

function hostTest (patterns: readonly string[]): (host: string) => boolean {
  const exact = new Set<string>()
  const suffixes: string[] = []
  const prefixes: string[] = []
  for (const p of patterns.map((h) => h.toLowerCase())) {
    if (p.startsWith('*.')) suffixes.push(p.slice(1))
    else if (p.endsWith('.*')) prefixes.push(p.slice(0, -1))
    else exact.add(p)
  }
  return (host) => exact.has(host) || suffixes.some((s) => host.endsWith(s) && host.length > s.length) || prefixes.some((s) => host.startsWith(s) && host.length > s.length)
}

/** "Example.com:8000" → "example.com", "[::1]:80" → "[::1]" */
function hostName (header: string | undefined): string {
  if (header === undefined) return ''
  const host = header.toLowerCase()
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1)
  const colon = host.lastIndexOf(':')
  return colon === -1 ? host : host.slice(0, colon)
}

/**
 * A request target's path as a route regex sees it: without the query, percent-decoded
 * (left as sent when it does not decode). The forwarder strips regex matches from it too.
 */
export function decodedPath (url: string): { path: string, decoded: string, query: string } {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  let decoded = path
  try { decoded = decodeURI(path) } catch {}
  return { path, decoded, query: q === -1 ? '' : url.slice(q) }
}

/** Compiles a route's conditions; throws on an invalid regular expression. */
export function compileMatch (match: Match): Predicate {
  const tests: Predicate[] = []
  if (match.hosts !== undefined) {
    const test = hostTest(match.hosts)
    tests.push((req) => test(hostName(req.headers.host)))
  }
  for (const [name, values] of Object.entries(match.headers ?? {})) {
    const header = name.toLowerCase()
    const wanted = new Set(values.map((v) => v.toLowerCase()))
    tests.push((req) => {
      const value = req.headers[header]
      if (value === undefined) return false
      const list = Array.isArray(value) ? value : value.split(',')
      return list.some((v) => wanted.has(v.trim().toLowerCase()))
    })
  }
  if (match.pathRegex !== undefined) {
    const regex = new RegExp(match.pathRegex)
    tests.push((req) => regex.test(decodedPath(req.url ?? '').decoded))
  }
  return (req) => tests.every((test) => test(req))
}

export class RouteMatcher {
  private readonly predicates = new Map<string, Predicate>()
  private readonly ids = new Map<RouteConfig, string>()

  constructor (routes: readonly RouteConfig[]) {
    for (const route of routes) {
      if (route.match === undefined) continue
      const id = String(this.predicates.size)
      this.predicates.set(id, compileMatch(route.match))
      this.ids.set(route, id)
    }
  }

  get used (): boolean { return this.predicates.size > 0 }

  /** the Fastify route constraints for one route (undefined: none) */
  constraintFor (route: RouteConfig): Record<string, string> | undefined {
    const id = this.ids.get(route)
    return id === undefined ? undefined : { [MATCH_CONSTRAINT]: id }
  }

  /** find-my-way's constraint strategy */
  get strategy (): object {
    const predicates = this.predicates
    return {
      name: MATCH_CONSTRAINT,
      mustMatchWhenDerived: false,
      storage () {
        const masks = new Map<string, number>()
        return {
          get (req: IncomingMessage | string): number | undefined {
            // find-my-way also asks by the configured value (when checking for duplicates)
            if (typeof req === 'string') return masks.get(req)
            let found = 0
            for (const [id, mask] of masks) if (predicates.get(id)!(req)) found |= mask
            return found === 0 ? undefined : found
          },
          set (id: string, mask: number) { masks.set(id, mask) }
        }
      },
      deriveConstraint: (req: IncomingMessage) => req,
      validate (value: unknown) {
        if (typeof value !== 'string' || !predicates.has(value)) throw new Error('unknown route match id')
      }
    }
  }
}
