// GET /admin/routes: the effective route table, one entry per route and version as
// the gateway registered them, with what actually applies (timeouts and rate limits
// after falling back to the service's and the global ones). Pure, no Fastify.
import type { GatewayContext } from '../../src/context.js'
import { effectiveRateLimit } from '../rate-limit/policy.js'
import { redactHeaders } from '../../src/redaction.js'

const transformView = (t: { add?: Readonly<Record<string, string>>, remove?: readonly string[] } | undefined) =>
  ({ add: redactHeaders(t?.add ?? {}), remove: [...(t?.remove ?? [])] })

export function routeTable (context: Pick<GatewayContext, 'config' | 'services' | 'versions'>): { routes: unknown[], absent: unknown[] } {
  const { config, services, versions } = context
  const routes = versions.table.routes.map(({ route, version, family, successor, versioned }) => {
    const deprecation = versioned ? versions.deprecations.get(version) : undefined
    return {
      prefix: route.prefix,
      version: versioned ? version : null,
      family,
      ...(route.methods === undefined ? {} : { methods: [...route.methods] }),
      ...(route.match === undefined ? {} : { match: route.match }),
      name: route.name,
      service: route.service,
      auth: route.auth,
      roles: [...route.roles],
      validate: route.validate,
      websocket: route.websocket,
      stripPrefix: route.stripPrefix,
      preserveHost: route.preserveHost,
      hideCredentials: route.hideCredentials,
      timeoutMs: route.timeoutMs ?? services.get(route.service)!.timeoutMs,
      rateLimit: effectiveRateLimit(route, config.rateLimit),
      headers: { request: transformView(route.headers?.request), response: transformView(route.headers?.response) },
      fallback: route.fallback !== undefined,
      deprecation: deprecation === undefined ? null : { since: deprecation.since ?? null, sunset: deprecation.sunset, successor: successor ?? null }
    }
  })
  const absent = versions.table.absent.map((a) => ({ prefix: a.prefix, version: a.version, versions: [...a.versions] }))
  return { routes, absent }
}
