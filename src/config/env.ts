// Environment variables → a partial config. Every variable SPEC.md §6 names is read
// here and nowhere else. Parsers only check syntax (is it a number, a list...);
// ranges and enums are checked once, by the schema, and reported under the
// variable's name through `sources`.
import { availableParallelism } from 'node:os'

type Parser = (raw: string) => unknown

export class EnvSyntaxError extends Error {}

const integer: Parser = (raw) => {
  if (!/^-?\d+$/.test(raw.trim())) throw new EnvSyntaxError('expected an integer')
  return Number(raw)
}
const decimal: Parser = (raw) => {
  if (!/^-?(\d+\.?\d*|\.\d+)$/.test(raw.trim())) throw new EnvSyntaxError('expected a number')
  return Number(raw)
}
const text: Parser = (raw) => raw
const bool: Parser = (raw) => {
  const v = raw.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(v)) return true
  if (['false', '0', 'no', 'off'].includes(v)) return false
  throw new EnvSyntaxError('expected true or false')
}
const list: Parser = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean)
const version: Parser = (raw) => integer(raw.trim().replace(/^v/i, ''))
const versions: Parser = (raw) => (list(raw) as string[]).map(version)
const targets: Parser = (raw) => (list(raw) as string[]).map((url) => ({ url }))
// PEM keys are often passed on one line with literal "\n"
const pem: Parser = (raw) => raw.replace(/\\n/g, '\n')

const trustProxy: Parser = (raw) => {
  const v = raw.trim().toLowerCase()
  if (v === 'true') return true
  if (v === 'false') return false
  if (/^\d+$/.test(v)) return Number(v)
  const entries = list(raw) as string[]
  if (entries.every((e) => /^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(e) || ['loopback', 'linklocal', 'uniquelocal'].includes(e))) return entries
  throw new EnvSyntaxError('expected true, false, a hop count, or a comma-separated list of addresses/CIDRs')
}

const workers: Parser = (raw) => (raw.trim().toLowerCase() === 'auto' ? availableParallelism() : integer(raw))

// "1=2027-06-30,2=2028-01-31": version=sunset; "1=2026-12-01/2027-06-30": version=since/sunset
// (an ISO 8601 interval: deprecated from the first date, gone from the second)
const deprecated: Parser = (raw) => (list(raw) as string[]).map((entry) => {
  const m = /^v?(\d+)\s*=\s*(?:([^/]+)\/)?(.+)$/i.exec(entry)
  if (!m) throw new EnvSyntaxError(`expected VERSION=SUNSET or VERSION=SINCE/SUNSET entries (dates YYYY-MM-DD) separated by commas (got "${entry}")`)
  return { version: Number(m[1]), sunset: m[3]!.trim(), ...(m[2] === undefined ? {} : { since: m[2].trim() }) }
})

/** [variable, config path (JSON pointer), parser] */
export const ENV_BINDINGS: ReadonlyArray<readonly [string, string, Parser]> = [
  ['HOST', '/server/host', text],
  ['PORT', '/server/port', integer],
  ['ADMIN_HOST', '/server/adminHost', text],
  ['ADMIN_PORT', '/server/adminPort', integer],
  ['ADMIN_TOKEN', '/server/adminToken', text],
  ['TRUST_PROXY', '/server/trustProxy', trustProxy],
  ['BODY_LIMIT_BYTES', '/server/bodyLimitBytes', integer],
  ['CORS_ORIGINS', '/server/corsOrigins', list],
  ['LOG_LEVEL', '/server/logLevel', text],
  ['GATEWAY_WORKERS', '/server/workers', workers],
  ['SHUTDOWN_TIMEOUT_MS', '/server/shutdownTimeoutMs', integer],
  ['HEADERS_TIMEOUT_MS', '/server/headersTimeoutMs', integer],
  ['LISTEN_BACKLOG', '/server/backlog', integer],
  ['WS_PORT', '/websocket/port', integer],
  ['WS_HEARTBEAT_MS', '/websocket/heartbeatMs', integer],
  ['WS_STREAM_MAXLEN', '/websocket/streamMaxLen', integer],
  ['WS_MAX_BUFFER_BYTES', '/websocket/maxBufferBytes', integer],
  ['WS_MAX_MESSAGE_BYTES', '/websocket/maxMessageBytes', integer],
  ['COMMAND_SERVICE_URL', '/services/command/targets', targets],
  ['QUERY_SERVICE_URL', '/services/query/targets', targets],
  ['REDIS_URL', '/redis/url', text],
  ['REDIS_KEY_PREFIX', '/redis/keyPrefix', text],
  ['JWT_SECRET', '/jwt/secret', text],
  ['JWT_PUBLIC_KEY', '/jwt/publicKey', pem],
  ['JWKS_URL', '/jwt/jwksUrl', text],
  ['JWT_ISSUER', '/jwt/issuer', text],
  ['JWT_AUDIENCE', '/jwt/audience', text],
  ['JWT_ALGORITHMS', '/jwt/algorithms', list],
  ['RATE_LIMIT_ENABLED', '/rateLimit/enabled', bool],
  ['RATE_LIMIT_ANONYMOUS', '/rateLimit/anonymous', integer],
  ['RATE_LIMIT_AUTHENTICATED', '/rateLimit/authenticated', integer],
  ['RATE_LIMIT_PREMIUM', '/rateLimit/premium', integer],
  ['RATE_LIMIT_WINDOW_MS', '/rateLimit/windowMs', integer],
  ['RATE_LIMIT_FAIL_MODE', '/rateLimit/failMode', text],
  ['RATE_LIMIT_LEASE_MAX', '/rateLimit/leaseMax', integer],
  ['BREAKER_ERROR_THRESHOLD', '/breaker/errorThreshold', decimal],
  ['BREAKER_WINDOW_MS', '/breaker/windowMs', integer],
  ['BREAKER_MIN_REQUESTS', '/breaker/minRequests', integer],
  ['BREAKER_TIMEOUT_MS', '/breaker/timeoutMs', integer],
  ['BREAKER_RESET_MS', '/breaker/resetMs', integer],
  ['BREAKER_HALF_OPEN_REQUESTS', '/breaker/halfOpenRequests', integer],
  ['RETRY_ATTEMPTS', '/retry/attempts', integer],
  ['RETRY_BUDGET', '/retry/budget', decimal],
  ['RETRY_BACKOFF_MS', '/retry/backoffMs', integer],
  ['API_VERSIONS', '/versioning/versions', versions],
  ['API_DEFAULT_VERSION', '/versioning/defaultVersion', version],
  ['API_DEPRECATED', '/versioning/deprecated', deprecated],
  ['API_AFTER_SUNSET', '/versioning/afterSunset', text]
]

/** Variables read outside the table (the file path, the Redis host/port pair). */
const SPECIAL = ['GATEWAY_CONFIG', 'GATEWAY_KONG_LENIENT', 'REDIS_HOST', 'REDIS_PORT']
const KNOWN = new Set([...ENV_BINDINGS.map(([name]) => name), ...SPECIAL])
// Prefixes that belong to this gateway: an unknown variable with one of them is
// probably a typo worth a warning. (JWT_, API_, REDIS_ are shared with backends.)
const OWN_PREFIXES = ['GATEWAY_', 'RATE_LIMIT_', 'BREAKER_', 'RETRY_', 'WS_', 'ADMIN_']

export interface EnvResult {
  /** the partial config the variables describe */
  values: Array<{ path: string, value: unknown }>
  /** config path → the variable (and raw value) it came from, for error messages */
  sources: Map<string, { name: string, raw: string }>
  problems: string[]
  warnings: string[]
}

export function readEnv (env: NodeJS.ProcessEnv): EnvResult {
  const result: EnvResult = { values: [], sources: new Map(), problems: [], warnings: [] }
  const set = (name: string, path: string, raw: string, parse: Parser) => {
    try {
      result.values.push({ path, value: parse(raw) })
      result.sources.set(path, { name, raw })
    } catch (err) {
      result.problems.push(`${name}=${JSON.stringify(raw)}: ${(err as Error).message}`)
    }
  }
  for (const [name, path, parse] of ENV_BINDINGS) {
    const raw = env[name]
    // an empty variable counts as unset (compose files often pass VAR= through)
    if (raw !== undefined && raw.trim() !== '') set(name, path, raw, parse)
  }
  if (!env.REDIS_URL?.trim() && env.REDIS_HOST?.trim()) {
    const port = env.REDIS_PORT?.trim() || '6379'
    if (!/^\d+$/.test(port)) result.problems.push(`REDIS_PORT=${JSON.stringify(port)}: expected an integer port 0–65535`)
    else set('REDIS_HOST', '/redis/url', `redis://${env.REDIS_HOST.trim()}:${port}`, text)
  }
  for (const name of Object.keys(env)) {
    if (!KNOWN.has(name) && OWN_PREFIXES.some((p) => name.startsWith(p))) {
      const hint = closest(name, [...KNOWN])
      result.warnings.push(`unknown variable ${name} is ignored${hint ? ` (did you mean ${hint}?)` : ''}`)
    }
  }
  return result
}

function closest (name: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 4
  for (const c of candidates) {
    const d = editDistance(name, c)
    if (d < bestDistance) { best = c; bestDistance = d }
  }
  return best
}

function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]!
}
