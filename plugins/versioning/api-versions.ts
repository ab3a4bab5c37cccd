// Everything versioning compiles at start-up, in one place: the route table, the
// policy, the deprecations, the negotiator and the usage counters. The gateway
// builds one; route scopes, the 404 handler and /admin/versions read it.
import type { RouteConfig } from '../proxy/options.js'
import type { VersioningConfig } from './options.js'
import type { VersionPolicy } from './resolve.js'
import { buildRouteTable, policyOf, successorOf, type RouteTable, type VersionedRoute } from './routes.js'
import { compileDeprecations, type Deprecation } from './deprecation.js'
import { createNegotiator, type Negotiator } from './negotiation.js'
import { VersionUsage } from './usage.js'
import type { VersioningPluginOptions } from './index.js'

export class ApiVersions {
  readonly policy: VersionPolicy
  readonly table: RouteTable
  readonly deprecations: ReadonlyMap<number, Deprecation>
  readonly negotiator: Negotiator
  readonly usage = new VersionUsage()
  readonly #config: VersioningConfig
  readonly #now: () => number

  constructor (config: VersioningConfig, routes: readonly RouteConfig[], now: () => number = Date.now) {
    this.#config = config
    this.#now = now
    this.policy = policyOf(config)
    // the config check has reported any problems already (loadConfig/resolveConfig)
    this.table = buildRouteTable(routes, config).table
    this.deprecations = compileDeprecations(config)
    this.negotiator = createNegotiator(this.table, this.policy)
  }

  /** the route scope's versioning plugin options for one table entry */
  pluginOptions (entry: VersionedRoute): VersioningPluginOptions {
    return { entry, deprecation: this.deprecations.get(entry.version), afterSunset: this.#config.afterSunset, usage: this.usage, now: this.#now }
  }

  /** GET /admin/versions: each version's state and use on this instance */
  snapshot (): Record<string, unknown> {
    const now = this.#now()
    const deprecated = new Set(this.deprecations.keys())
    return {
      defaultVersion: this.policy.defaultVersion,
      afterSunset: this.#config.afterSunset,
      versions: this.policy.versions.map((version) => {
        const d = this.deprecations.get(version)
        const routes = this.table.routes.filter((r) => r.versioned && r.version === version).map((r) => ({ name: r.route.name, prefix: r.route.prefix, service: r.route.service }))
        const base = { version, status: d === undefined ? 'current' : now >= d.sunsetMs ? 'sunset' : 'deprecated', calls: this.usage.calls(version), routes }
        if (d === undefined) return base
        return { ...base, deprecatedSince: d.since ?? null, sunset: d.sunset, successor: successorOf(version, this.policy.versions, deprecated) ?? null, consumers: this.usage.consumers(version) }
      })
    }
  }
}
