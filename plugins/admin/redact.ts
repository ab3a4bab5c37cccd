// What the admin API may show of the configuration: a copy with every secret replaced.
// Pure, no Fastify; the frozen config itself is never touched. API-key digests stay
// (GET /admin/api-keys lists them anyway); public keys are public.
import type { GatewayConfig, MutableGatewayConfig } from '../../src/config/schema.js'
import { REDACTED, maskUrl, redactHeaders, setOwn } from '../../src/redaction.js'

/** The config as GET /admin/config shows it: a fresh, mutable copy without secrets. */
export function redactConfig (config: GatewayConfig): MutableGatewayConfig {
  // every URL anywhere (Redis, targets, JWKS, and any a fallback body holds) is masked on the way
  const copy = copyMaskingUrls(config) as MutableGatewayConfig
  if (copy.jwt.secret !== undefined) copy.jwt.secret = REDACTED
  if (copy.server.adminToken !== undefined) copy.server.adminToken = REDACTED
  for (const consumer of copy.consumers) {
    for (const secret of consumer.jwtSecrets) if (secret.secret !== undefined) secret.secret = REDACTED
  }
  for (const route of copy.routes) {
    for (const transform of [route.headers?.request, route.headers?.response]) {
      if (transform?.add) transform.add = redactHeaders(transform.add)
    }
    if (route.fallback?.headers) route.fallback.headers = redactHeaders(route.fallback.headers)
  }
  return copy
}

function copyMaskingUrls (value: unknown): unknown {
  if (typeof value === 'string') return maskUrl(value)
  if (Array.isArray(value)) return value.map(copyMaskingUrls)
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) setOwn(out, key, copyMaskingUrls(v))
    return out
  }
  return value
}
