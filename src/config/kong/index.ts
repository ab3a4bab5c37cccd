// A Kong declarative config (_format_version "3.0", or "2.1") → the gateway's own
// config object, which then goes through the same validation as any config file.
// Services, routes, upstreams + targets, consumers + credentials, and the plugins of
// plugins.ts, nested or top-level, referenced by name or id (services.ts, routes.ts,
// consumers.ts: API keys are hashed as they are read); nothing of the parsed file is kept. What Kong does and the gateway does not
// stops start-up with the item's path (or, lenient, a warning per item).
import { KongReport, checkFields, isObj, list, preview, refOf, safeName, type Obj } from './report.js'
import { PLUGINS, type PluginContext, type PluginScope, type RouteEffect } from './plugins.js'
import { upstreamSettings, translateService, type Upstream } from './services.js'
import { translateRoute, uniqueKey, type KongRoute, type KongService } from './routes.js'
import { translateConsumers } from './consumers.js'

export const KONG_FORMAT_VERSIONS = ['3.0', '2.1']

export interface KongTranslation {
  config: Obj
  /** the gateway's built-in services (command, query) are not added to a Kong file's */
  kong: true
  /** unsupported items left out (lenient) and behaviour differences worth a log line */
  warnings: string[]
}

export class KongConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`Invalid Kong configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`)
    this.name = 'KongConfigError'
  }
}

const TOP_LEVEL = ['_format_version', '_transform', '_workspace', '_info', '_comment', 'services', 'routes', 'upstreams', 'targets', 'consumers', 'plugins', 'keyauth_credentials', 'jwt_secrets', 'acls']

interface PluginInstance { name: string, config: Obj, path: string, service?: string, route?: string, consumer?: string }

export function translateKong (doc: Obj, opts: { lenient: boolean, label: string }): KongTranslation {
  const report = new KongReport(opts.lenient, opts.label)
  const version = String(doc._format_version)
  if (!KONG_FORMAT_VERSIONS.includes(version)) {
    const hint = typeof doc._format_version === 'number' ? ' — write it quoted, _format_version: "3.0" (YAML reads 3.0 unquoted as the number 3)' : ''
    report.invalid('_format_version', `${preview(doc._format_version)} is not a Kong declarative format this gateway reads (${KONG_FORMAT_VERSIONS.map((v) => `"${v}"`).join(', ')})${hint}`)
    throw new KongConfigError(report.problems)
  }
  checkFields(report, doc, '', TOP_LEVEL)
  const legacyPaths = version === '2.1'

  const plugins: PluginInstance[] = []
  const collectPlugins = (value: unknown, path: string, scope: Omit<PluginInstance, 'name' | 'config' | 'path'>) => {
    list(report, value, path).forEach((p, i) => {
      const at = `${path}[${i}]`
      if (!isObj(p)) { report.invalid(at, `expected a plugin object, got ${preview(p)}`); return }
      checkFields(report, p, at, ['name', 'config', 'enabled', 'service', 'route', 'consumer', 'protocols', 'instance_name'], { ordering: null })
      if (p.enabled === false) return
      if (typeof p.name !== 'string') { report.invalid(`${at}.name`, 'missing: a plugin needs a name'); return }
      const config = p.config === undefined || p.config === null ? {} : p.config
      if (!isObj(config)) { report.invalid(`${at}.config`, `expected an object, got ${preview(config)}`); return }
      plugins.push({ name: p.name, config, path: at, service: scope.service ?? refOf(p.service), route: scope.route ?? refOf(p.route), consumer: scope.consumer ?? refOf(p.consumer) })
    })
  }

  // upstreams and their targets
  const upstreams = new Map<string, Upstream>()
  list(report, doc.upstreams, 'upstreams').forEach((u, i) => {
    const at = `upstreams[${i}]`
    if (!isObj(u) || typeof u.name !== 'string') { report.invalid(at, 'an upstream needs a name (the host services refer to it by)'); return }
    upstreams.set(u.name, { id: typeof u.id === 'string' ? u.id : undefined, targets: [], service: upstreamSettings(report, u, at), path: at })
    list(report, u.targets, `${at}.targets`).forEach((t, k) => { if (isObj(t)) upstreams.get(u.name as string)!.targets.push({ ...t, _path: `${at}.targets[${k}]` }) })
  })
  list(report, doc.targets, 'targets').forEach((t, i) => {
    const at = `targets[${i}]`
    const ref = isObj(t) ? refOf(t.upstream) : undefined
    const upstream = ref === undefined ? undefined : upstreams.get(ref) ?? [...upstreams.values()].find((u) => u.id === ref)
    if (!isObj(t) || upstream === undefined) { report.invalid(`${at}.upstream`, `${preview(isObj(t) ? t.upstream : t)} is not an upstream in this file`); return }
    upstream.targets.push({ ...t, _path: at })
  })

  // services (routes nested or not come after)
  const services: KongService[] = []
  const out: { services: Obj, routes: Obj[], consumers: Obj[] } = { services: {}, routes: [], consumers: [] }
  list(report, doc.services, 'services').forEach((s, i) => {
    const at = `services[${i}]`
    if (!isObj(s)) { report.invalid(at, `expected a service object, got ${preview(s)}`); return }
    const name = typeof s.name === 'string' ? s.name : typeof s.id === 'string' ? s.id : `service-${i}`
    const key = uniqueKey(safeName(name), out.services)
    const service: KongService = { key, name, id: typeof s.id === 'string' ? s.id : undefined, path: at, obj: s }
    const translated = translateService(report, s, at, upstreams)
    if (translated === undefined) return
    out.services[key] = translated
    services.push(service)
    collectPlugins(s.plugins, `${at}.plugins`, { service: name })
  })
  const findService = (ref: string | undefined) => ref === undefined ? undefined : services.find((s) => s.name === ref || s.id === ref)

  const routes: KongRoute[] = []
  services.forEach((service) => {
    list(report, service.obj.routes, `${service.path}.routes`).forEach((r, k) => {
      if (isObj(r)) routes.push(kongRoute(r, `${service.path}.routes[${k}]`, service, routes.length))
      else report.invalid(`${service.path}.routes[${k}]`, `expected a route object, got ${preview(r)}`)
    })
  })
  list(report, doc.routes, 'routes').forEach((r, i) => {
    const at = `routes[${i}]`
    if (!isObj(r)) { report.invalid(at, `expected a route object, got ${preview(r)}`); return }
    const ref = refOf(r.service)
    const service = findService(ref)
    if (ref !== undefined && service === undefined) report.invalid(`${at}.service`, `${preview(r.service)} is not a service in this file`)
    routes.push({ ...kongRoute(r, at, service, routes.length), reported: ref !== undefined && service === undefined })
  })
  for (const route of routes) collectPlugins(route.obj.plugins, `${route.path}.plugins`, { route: route.name })
  collectPlugins(doc.plugins, 'plugins', {})

  // consumers and their credentials
  const consumers = translateConsumers(report, doc, collectPlugins)
  out.consumers = consumers.list
  const consumerId = (ref: string) => consumers.byRef.get(ref)

  // plugins: each instance translated once; then applied to the routes it covers
  const ctx: PluginContext = { report, consumerId, global: {} }
  const compiled: Array<{ plugin: PluginInstance, effect: RouteEffect, level: number }> = []
  for (const plugin of plugins) {
    const translate = PLUGINS[plugin.name]
    if (translate === undefined) {
      report.unsupported(`${plugin.path}.name`, `the plugin ${preview(plugin.name)} is not supported (supported: ${Object.keys(PLUGINS).join(', ')})`)
      continue
    }
    const consumer = plugin.consumer === undefined ? undefined : consumerId(plugin.consumer)
    if (plugin.consumer !== undefined && consumer === undefined) { report.invalid(`${plugin.path}.consumer`, `${preview(plugin.consumer)} is not a consumer in this file`); continue }
    if (consumer !== undefined && plugin.name !== 'rate-limiting') {
      report.unsupported(`${plugin.path}`, `${plugin.name} configured for one consumer is not supported (rate-limiting is; other plugins apply at global, service and route scope)`)
      continue
    }
    const route = plugin.route === undefined ? undefined : routes.find((r) => r.name === plugin.route || r.id === plugin.route)
    if (plugin.route !== undefined && route === undefined) { report.invalid(`${plugin.path}.route`, `${preview(plugin.route)} is not a route in this file`); continue }
    const service = plugin.service === undefined ? undefined : findService(plugin.service)
    if (plugin.service !== undefined && service === undefined) { report.invalid(`${plugin.path}.service`, `${preview(plugin.service)} is not a service in this file`); continue }
    const scope: PluginScope = consumer !== undefined
      ? { kind: 'consumer', name: `${safeName(consumer, 80)}${route !== undefined ? `~r~${safeName(route.name)}` : service !== undefined ? `~s~${service.key}` : ''}` }
      : route !== undefined ? { kind: 'route', name: safeName(route.name) } : service !== undefined ? { kind: 'service', name: service.key } : { kind: 'global', name: '' }
    const effect = translate(plugin.config, plugin.path, scope, ctx)
    if (effect === undefined) continue
    const level = route !== undefined ? 2 : service !== undefined ? 1 : 0
    compiled.push({ plugin: { ...plugin, route: route?.name, service: service?.name, consumer }, effect, level })
  }
  const seen = new Map<string, string>()
  for (const { plugin, level } of compiled) {
    const scopeKey = `${plugin.name} ${level} ${plugin.route ?? ''} ${plugin.service ?? ''} ${plugin.consumer ?? ''}`
    const first = seen.get(scopeKey)
    if (first !== undefined) report.invalid(plugin.path, `a second ${plugin.name} plugin at the scope of ${first} (Kong allows one per scope)`)
    else seen.set(scopeKey, plugin.path)
  }

  const names = new Set<string>()
  for (const route of routes) {
    if (route.service === undefined) {
      if (route.reported !== true) report.unsupported(route.path, 'a route without a service is not supported (it has nowhere to proxy to)')
      continue
    }
    const drafts = translateRoute(report, route, legacyPaths, names)
    // the most specific instance of each plugin applies: route over service over global
    const applying = new Map<string, { effect: RouteEffect, level: number }>()
    // consumer-scoped rate limits: per consumer, consumer + route over consumer + service over consumer alone
    const perConsumer = new Map<string, { effect: RouteEffect, level: number }>()
    for (const c of compiled) {
      const covers = c.level === 0 || (c.level === 1 && c.plugin.service === route.service.name) || (c.level === 2 && c.plugin.route === route.name)
      if (!covers) continue
      const into = c.plugin.consumer === undefined ? applying : perConsumer
      const key = c.plugin.consumer ?? c.plugin.name
      const current = into.get(key)
      if (current === undefined || c.level > current.level) into.set(key, { effect: c.effect, level: c.level })
    }
    for (const draft of drafts) {
      draft.service = route.service.key
      for (const { effect } of applying.values()) effect(draft)
      if (draft.aclNeedsAuth === true && draft.auth !== 'authenticated') report.invalid(route.path, 'an acl plugin applies here without key-auth or jwt: groups belong to an authenticated consumer')
      delete draft.aclNeedsAuth
      if (!applying.has('rate-limiting')) draft.rateLimit = { enabled: false }
      if (perConsumer.size > 0) {
        const consumersLimits: Obj = {}
        for (const [id, { effect }] of perConsumer) {
          const holder: Obj = {}
          effect(holder)
          consumersLimits[id] = holder.rateLimit
        }
        ;(draft.rateLimit as Obj).consumers = consumersLimits
      }
      out.routes.push(draft)
    }
  }

  const config: Obj = { services: out.services, routes: out.routes, consumers: out.consumers }
  const { redisUrl, failClosed, failOpen } = ctx.global
  if (redisUrl !== undefined) config.redis = { url: redisUrl }
  if (failClosed !== undefined) {
    config.rateLimit = { failMode: 'closed' }
    if (failOpen !== undefined) report.note(failClosed, `fault_tolerant: false makes every rate limit fail closed while Redis is unreachable (the gateway has one fail mode; ${failOpen} asked for fault_tolerant: true)`)
  }
  if (report.problems.length > 0) throw new KongConfigError(report.problems)
  return { config, warnings: report.warnings, kong: true }

  function kongRoute (r: Obj, path: string, service: KongService | undefined, index: number): KongRoute {
    const name = typeof r.name === 'string' ? r.name : typeof r.id === 'string' ? r.id : `${service?.name ?? 'route'}-${index}`
    return { name, id: typeof r.id === 'string' ? r.id : undefined, service, path, obj: r }
  }
}

