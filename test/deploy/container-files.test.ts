// The container files (Dockerfile, .dockerignore, docker-compose.yml) cannot be
// built or run on machines without a Docker engine, so this test reads them and
// checks what they must say: the image's stages, user, ports, health check and
// command; the compose topology (two gateways, the backends, Redis) and that every
// variable it gives the gateways is one the gateway reads (so a typo fails here
// instead of being silently ignored in production).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import { ENV_BINDINGS } from '../../src/config/env.js'
import { PRODUCTION_NODE_OPTIONS, PRODUCTION_NODE_FLAGS } from '../../bench/harness.js'
import { loadConfig, ConfigError } from '../../src/config/index.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const read = (name: string) => readFileSync(root + name, 'utf8')

// ---------------------------------------------------------------------------
// Dockerfile → stages of instructions
// ---------------------------------------------------------------------------
interface Instruction { keyword: string, args: string, line: number }
interface Stage { image: string, name?: string, instructions: Instruction[] }

function parseInstructions (text: string): Instruction[] {
  const instructions: Instruction[] = []
  let buffer = ''
  let start = 0
  text.split(/\r?\n/).forEach((line, index) => {
    // Comments and parser directives are dropped, even inside a continued
    // instruction (Docker does the same); so are blank lines inside one.
    if (/^\s*#/.test(line) || line.trim() === '') return
    if (buffer === '') start = index + 1
    const continued = /\\\s*$/.test(line)
    buffer += continued ? line.replace(/\\\s*$/, '') : line
    if (continued) return
    const [, keyword = '', args = ''] = /^\s*(\S+)\s*(.*)$/.exec(buffer) ?? []
    instructions.push({ keyword: keyword.toUpperCase(), args: args.trim(), line: start })
    buffer = ''
  })
  return instructions
}

function toStages (instructions: Instruction[]): Stage[] {
  // ARGs before the first FROM are the only variables a FROM line can use.
  const globalArgs = new Map<string, string>()
  const stages: Stage[] = []
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const { rest } = splitFlags(instruction.args) // drops --platform=...
      const [image = '', as, name] = rest.split(/\s+/)
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => globalArgs.get((a ?? b)!) ?? '')
      stages.push({ image: resolved, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] })
    } else if (stages.length === 0) {
      if (instruction.keyword === 'ARG') {
        const [key = '', ...value] = instruction.args.split('=')
        globalArgs.set(key.trim(), value.join('=').trim())
      }
    } else {
      stages.at(-1)!.instructions.push(instruction)
    }
  }
  return stages
}

/** Leading `--name=value` flags of COPY, HEALTHCHECK, FROM... and what follows them. */
function splitFlags (args: string): { flags: Map<string, string>, rest: string } {
  const flags = new Map<string, string>()
  let rest = args
  let m: RegExpExecArray | null
  while ((m = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest))) {
    flags.set(m[1]!, m[2] ?? '')
    rest = rest.slice(m[0].length)
  }
  return { flags, rest }
}

/** Exec form (a JSON array) or undefined for shell form. */
function execForm (args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  const parsed: unknown = JSON.parse(args)
  return Array.isArray(parsed) && parsed.every((s) => typeof s === 'string') ? parsed : undefined
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword)

/** Every shell command the stage runs, in order (RUN lines split on && and ;). */
const commands = (stage: Stage) => all(stage, 'RUN').flatMap((i) => i.args.split(/&&|;/).map((c) => c.trim()))
const fullInstall = /^npm (ci|install|i)\b(?!.*(--omit[= ]dev|--production|--only[= ]prod))/
const productionOnly = /^npm (ci|install|i|prune)\b.*(--omit[= ]dev|--production|--only[= ]prod)/
const lastIndex = (list: string[], pattern: RegExp) => list.reduce((found, c, i) => (pattern.test(c) ? i : found), -1)

function envOf (stage: Stage): Map<string, string> {
  const env = new Map<string, string>()
  for (const { args } of all(stage, 'ENV')) {
    if (!/^\w+=/.test(args)) { // legacy `ENV NAME value`
      const [name = '', ...value] = args.split(/\s+/)
      env.set(name, value.join(' '))
      continue
    }
    for (const m of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) env.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'))
  }
  return env
}

// ---------------------------------------------------------------------------
// docker-compose.yml helpers
// ---------------------------------------------------------------------------
// parsed YAML: its shape is what the assertions below check
type Service = Record<string, any>

/** `environment:` as a map, whichever of its two spellings is used. */
function environmentOf (service: Service): Record<string, string> {
  const env = service.environment ?? {}
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry: string) => {
      const [name, ...value] = String(entry).split('=')
      return [name!, value.join('=')]
    }))
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]))
}

/** What compose would substitute with nothing set in the shell: `${X:-d}` → d, `$$` → $. */
function withDefaults (value: string): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)/g, (match, _name, operator?: string, argument?: string) => {
    if (match === '$$') return '$'
    if (operator?.endsWith('-')) return argument ?? ''
    return '' // unset, or `${X:?message}`: left to the operator
  })
}

interface PortMapping { hostIp: string, published: string, target: string }

/** Short (`[ip:]host:container[/proto]`) or long (`{ target, published, host_ip }`) syntax. */
function parsePort (spec: unknown): PortMapping {
  if (typeof spec === 'object' && spec !== null) {
    const p = spec as { target: unknown, published?: unknown, host_ip?: unknown }
    return { hostIp: String(p.host_ip ?? ''), published: String(p.published ?? ''), target: String(p.target) }
  }
  const parts = String(spec).replace(/\/(tcp|udp|sctp)$/, '').match(/\[[^\]]*\]|[^:]+/g) ?? []
  if (parts.length === 3) return { hostIp: parts[0]!.replace(/^\[|\]$/g, ''), published: parts[1]!, target: parts[2]! }
  if (parts.length === 2) return { hostIp: '', published: parts[0]!, target: parts[1]! }
  return { hostIp: '', published: '', target: parts[0] ?? '' }
}

/** Compose durations (Go syntax: 30s, 1m30s, 500ms) in milliseconds. */
function durationMs (value: unknown): number {
  const text = String(value)
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, ns: 0.000001 }
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)]
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`)
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * units[unit!]!, 0)
}

// ---------------------------------------------------------------------------
const instructions = parseInstructions(read('Dockerfile'))
const stages = toStages(instructions)
const runtime = stages.at(-1)!
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }
// without merge: `<<` stays visible, to check the gateways share one definition
const rawCompose = parse(read('docker-compose.yml')) as Record<string, any>
const services = compose.services
const gateways = ['gateway-1', 'gateway-2']
// one container runs both sample services (they share one in-memory store)
const backendPorts = { COMMAND_SERVICE_URL: ['COMMAND_PORT', '3000'], QUERY_SERVICE_URL: ['QUERY_PORT', '4000'] } as const
const appServices = ['backends', ...gateways]

// The variables the gateway reads (src/config/env.ts) plus the ones it reads
// outside that table and the runtime's own NODE_ENV.
const knownVariables = new Set([...ENV_BINDINGS.map(([name]) => name), 'GATEWAY_CONFIG', 'REDIS_HOST', 'REDIS_PORT', 'NODE_ENV', 'NODE_OPTIONS'])

t.test('Dockerfile: multi-stage on Node 24 slim', async (t) => {
  t.ok(stages.length >= 2, `at least two FROM stages (found ${stages.length})`)
  const names = new Set(stages.map((s) => s.name).filter(Boolean))
  for (const stage of stages) {
    if (names.has(stage.image)) continue // FROM an earlier stage
    t.match(stage.image, /^node:24(\.\d+){0,2}-([a-z]+-)?slim(@sha256:[0-9a-f]{64})?$/, `${stage.name ?? 'stage'} is based on node:24 slim`)
  }
})

t.test('Dockerfile: build stage installs with npm ci and compiles', async (t) => {
  const build = stages.find((s) => commands(s).some((c) => c.startsWith('npm run build')))
  t.ok(build, 'a stage runs `npm run build`')
  if (!build) return
  const cmds = commands(build)
  const ci = cmds.findIndex((c) => /^npm ci\b/.test(c))
  t.ok(ci >= 0 && ci < cmds.findIndex((c) => c.startsWith('npm run build')), '`npm ci` runs before the build')
  // npm ci refuses to work without the lock file: it must be in the stage before npm ci runs
  const firstRun = build.instructions.findIndex((i) => i.keyword === 'RUN')
  const copiedBefore = build.instructions.slice(0, firstRun).filter((i) => i.keyword === 'COPY').map((i) => i.args).join(' ')
  t.match(copiedBefore, /package-lock\.json/, 'package-lock.json is copied before `npm ci`')
})

t.test('Dockerfile: the runtime stage gets production dependencies and the build output only', async (t) => {
  const copies = all(runtime, 'COPY').map((i) => splitFlags(i.args))
  const sources = copies.flatMap(({ rest }) => (execForm(rest) ?? rest.split(/\s+/)).slice(0, -1))
  const basenames = sources.map((s) => s.replace(/\/+$/, '').split('/').at(-1))
  t.same([...new Set(basenames)].sort(), ['dist', 'node_modules', 'openapi', 'package.json'], 'copies exactly package.json, node_modules, dist and openapi')
  t.ok(copies.every(({ flags }) => flags.get('from')), 'everything comes from an earlier stage, nothing straight from the build context')

  t.notOk(commands(runtime).some((c) => fullInstall.test(c)), 'the runtime stage installs no dev dependencies itself')
  const modules = copies.find(({ rest }) => /node_modules/.test(rest))
  const origin = stages.find((s) => s.name === modules?.flags.get('from'))
  t.ok(origin, 'node_modules comes from a named stage')
  if (origin) {
    const cmds = commands(origin)
    const lastFull = lastIndex(cmds, fullInstall)
    const lastProd = lastIndex(cmds, productionOnly)
    t.ok(lastProd >= 0 && lastProd > lastFull, `stage ${origin.name} ends with production dependencies only (npm prune/ci --omit=dev after any full install)`)
  }
})

t.test('Dockerfile: how the runtime image runs', async (t) => {
  const users = all(runtime, 'USER')
  t.ok(users.length > 0, 'the final stage sets USER')
  const user = users.at(-1)?.args.split(':')[0] ?? ''
  t.notOk(['', 'root', '0'].includes(user), `runs as a non-root user (${user})`)

  t.equal(envOf(runtime).get('NODE_ENV'), 'production', 'NODE_ENV=production')
  // the heap bounds the benchmark measures the gateway with (RSS per worker at 1000 connections)
  t.equal(envOf(runtime).get('NODE_OPTIONS'), PRODUCTION_NODE_OPTIONS, 'NODE_OPTIONS bounds the V8 heap as bench/harness.ts does')
  const exposed = all(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ''))
  t.ok(exposed.includes('8000') && exposed.includes('8001'), `EXPOSE 8000 and 8001 (found ${exposed.join(' ')})`)
  t.equal(all(runtime, 'STOPSIGNAL').at(-1)?.args, 'SIGTERM', 'STOPSIGNAL SIGTERM (the gateway drains on it)')

  // exec form, so node is PID 1's direct child and receives SIGTERM; and no
  // ENTRYPOINT, so compose's `command:` replaces the whole command for the backends
  // with the node flags the benchmark measures the gateway with (V8 refuses them in NODE_OPTIONS)
  t.same(execForm(all(runtime, 'CMD').at(-1)?.args ?? ''), ['node', ...PRODUCTION_NODE_FLAGS, 'dist/src/server.js'], `CMD ["node", ${PRODUCTION_NODE_FLAGS.map((f) => `"${f}", `).join('')}"dist/src/server.js"] in exec form`)
  t.equal(all(runtime, 'ENTRYPOINT').length, 0, 'no ENTRYPOINT')
  // `npm start` (the README's production start outside a container) runs it the same way
  t.equal(JSON.parse(read('package.json')).scripts.start, ['node', ...PRODUCTION_NODE_FLAGS, 'dist/src/server.js'].join(' '), 'npm start runs node with the same flags as the image')

  const healthcheck = all(runtime, 'HEALTHCHECK').at(-1)
  t.ok(healthcheck, 'HEALTHCHECK present')
  const { rest } = splitFlags(healthcheck?.args ?? '')
  t.notMatch(rest, /^NONE/i, 'the health check is not disabled')
  const argv = execForm(rest.replace(/^CMD\s+/i, '')) ?? rest.replace(/^CMD\s+/i, '').split(/\s+/)
  t.equal(argv[0], 'node', 'the health check runs node (the slim image has no curl or wget)')
  t.match(argv.join(' '), /\/health\b/, 'the health check requests /health')
})

t.test('Dockerfile: no secrets or unsafe defaults baked into the image', async (t) => {
  for (const { keyword, args, line } of instructions.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
    t.notMatch(args, /SECRET|TOKEN|PASSWORD|PRIVATE|_KEY\b/i, `line ${line}: ${keyword} sets no secret`)
  }
  t.notOk(envOf(runtime).has('ADMIN_HOST'), 'ADMIN_HOST keeps its loopback default in the image')
})

t.test('.dockerignore keeps host builds, test output and secrets out', async (t) => {
  const patterns = read('.dockerignore').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  const normalized = new Set(patterns.map((p) => p.replace(/^\/|\/$/g, '')))
  for (const required of ['node_modules', 'dist', '.git', '.tap', 'coverage', '*.log', '.env']) {
    t.ok(normalized.has(required), `ignores ${required}`)
  }
  t.ok([...normalized].some((p) => /^(\*\*\/)?\.env\.\*$/.test(p)), 'ignores .env.* variants')
  // the build stage compiles from the context: its inputs must stay in it
  for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'plugins', 'examples', 'bench', 'openapi']) {
    t.notOk(normalized.has(needed) || normalized.has('*') || normalized.has('**'), `keeps ${needed} in the build context`)
  }
})

t.test('compose: the services and the shared image', async (t) => {
  t.notOk('version' in rawCompose, 'Compose spec file: no obsolete `version:` key')
  t.same(Object.keys(services).sort(), ['backends', 'gateway-1', 'gateway-2', 'redis'], 'redis, the backends and two gateways')

  t.equal(services.redis?.image, 'redis:7-alpine', 'redis from redis:7-alpine')
  t.match(JSON.stringify(services.redis?.healthcheck?.test), /redis-cli.*ping/, 'redis is health-checked with redis-cli ping')

  const image = services['gateway-1']?.image
  for (const name of appServices) {
    const service = services[name]!
    t.equal(service.image, image, `${name} uses the one app image`)
    const context = typeof service.build === 'string' ? service.build : service.build?.context
    t.equal(context, '.', `${name} builds it from this directory (so no service tries to pull a local name)`)
    t.equal(service.init, true, `${name}: init: true (signal forwarding, zombie reaping)`)
    t.equal(service.restart, 'unless-stopped', `${name}: restart: unless-stopped`)
  }

  const backends = services.backends!
  t.same(backends.command, ['node', 'dist/examples/backends.js'], 'backends runs both sample services in one process')
  const env = environmentOf(backends)
  t.equal(env.HOST, '0.0.0.0', 'backends listen on all interfaces of their container')
  t.equal(env.COMMAND_PORT, '3000')
  t.equal(env.QUERY_PORT, '4000')
  t.match(JSON.stringify(backends.healthcheck?.test), /3000.*4000.*\/health/, 'backends are health-checked on both ports\' /health')
  t.notOk(backends.ports, 'backends publish no port: reachable only through a gateway')
  t.equal(env.JWT_SECRET, environmentOf(services['gateway-1']!).JWT_SECRET, 'the command service and the gateways share one JWT secret')
})

t.test('compose: the two gateways', async (t) => {
  t.ok(rawCompose['x-gateway'], 'an x-gateway extension holds the shared definition')
  for (const name of gateways) t.ok(rawCompose.services[name]?.['<<'], `${name} merges it (<<: *gateway)`)

  for (const name of gateways) {
    const service = services[name]!
    const raw = environmentOf(service)
    const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, withDefaults(v)]))

    const unknown = Object.keys(env).filter((k) => !knownVariables.has(k))
    t.same(unknown, [], `${name}: every variable is one the gateway reads`)
    // the gateway's own start-up validation, on the values compose would pass
    let problems: readonly string[] = []
    let warnings: string[] = []
    try {
      warnings = loadConfig(env).warnings
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      problems = err.problems
    }
    t.same(problems, [], `${name}: the gateway accepts this configuration`)
    t.same(warnings, [], `${name}: no config warnings`)

    // each backend URL names the backends service and the port it listens on for that service
    for (const [variable, [portVariable]] of Object.entries(backendPorts)) {
      const targets = (env[variable] ?? '').split(',').filter(Boolean).map((u) => new URL(u.trim()))
      t.ok(targets.length > 0, `${name}: ${variable} is set`)
      for (const url of targets) {
        t.equal(url.hostname, 'backends', `${name}: ${variable} → backends`)
        t.equal(url.port, environmentOf(services.backends!)[portVariable], `${name}: ${variable} uses ${portVariable}`)
      }
    }
    const redis = new URL(env.REDIS_URL ?? 'missing:')
    t.equal(`${redis.protocol}//${redis.hostname}:${redis.port || '6379'}`, 'redis://redis:6379', `${name}: REDIS_URL → the redis service`)
    t.equal(env.ADMIN_HOST, '0.0.0.0', `${name}: admin listener reachable through its published port`)
    // secrets come from the operator's environment; the file only holds a fallback
    t.match(raw.JWT_SECRET, /^\$\{JWT_SECRET(:?[-?][^}]*)?\}$/, `${name}: JWT_SECRET from \${JWT_SECRET}`)
    t.match(raw.ADMIN_TOKEN, /^\$\{ADMIN_TOKEN(:?[-?][^}]*)?\}$/, `${name}: ADMIN_TOKEN from \${ADMIN_TOKEN}`)

    const deps = service.depends_on as Record<string, { condition?: string }>
    t.equal(deps?.redis?.condition, 'service_healthy', `${name} waits for a healthy redis`)
    t.equal(deps?.backends?.condition, 'service_healthy', `${name} waits for healthy backends`)
    for (const [dep, { condition }] of Object.entries(deps ?? {})) {
      // compose refuses service_healthy on a service without a health check
      const check = services[dep]?.healthcheck
      const hasCheck = check ? !check.disable : appServices.includes(dep) // else the image's HEALTHCHECK
      if (condition === 'service_healthy') t.ok(hasCheck, `${name}: ${dep} has a health check to wait for`)
    }

    const drain = Number(env.SHUTDOWN_TIMEOUT_MS || 10000)
    t.ok(durationMs(service.stop_grace_period ?? '10s') > drain, `${name}: stop_grace_period (${service.stop_grace_period}) exceeds the ${drain} ms drain`)
    if (service.healthcheck) t.match(JSON.stringify(service.healthcheck.test), /\/health/, `${name}: health check on /health`)
  }
})

t.test('compose: published ports', async (t) => {
  const expected: Record<string, PortMapping[]> = {
    'gateway-1': [{ hostIp: '', published: '8000', target: '8000' }, { hostIp: '127.0.0.1', published: '8001', target: '8001' }],
    'gateway-2': [{ hostIp: '', published: '8010', target: '8000' }, { hostIp: '127.0.0.1', published: '8011', target: '8001' }]
  }
  // any two mappings of one host port clash, whatever their host addresses
  const seen = new Map<string, string>()
  for (const [name, service] of Object.entries(services)) {
    const ports = (service.ports ?? []).map(parsePort) as PortMapping[]
    if (expected[name]) t.same(ports, expected[name], `${name} publishes ${expected[name]!.map((p) => `${p.hostIp ? p.hostIp + ':' : ''}${p.published}→${p.target}`).join(', ')}`)
    const adminPort = environmentOf(service).ADMIN_PORT || '8001'
    for (const port of ports) {
      if (gateways.includes(name) && port.target === adminPort) t.equal(port.hostIp, '127.0.0.1', `${name}: admin port bound to the host's loopback only`)
      if (!port.published) continue
      t.notOk(seen.has(port.published), `${name}: host port ${port.published} is used once${seen.has(port.published) ? ` (also by ${seen.get(port.published)})` : ''}`)
      seen.set(port.published, name)
    }
  }
})

// Optional linters: used when installed, reported as skipped otherwise.
const available = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 }).status === 0

t.test('hadolint accepts the Dockerfile', {
  skip: available('hadolint', ['--version']) ? false : 'hadolint is not installed here: lint skipped (the structural checks above still ran)'
}, async (t) => {
  const run = spawnSync('hadolint', ['--failure-threshold', 'warning', root + 'Dockerfile'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 0, run.stdout + run.stderr)
})

t.test('docker compose config accepts the compose file', {
  skip: available('docker', ['compose', 'version']) ? false : 'the docker compose plugin is not installed here: schema check skipped'
}, async (t) => {
  const run = spawnSync('docker', ['compose', '-f', root + 'docker-compose.yml', 'config', '--quiet'], { encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 0, run.stderr)
})
