// The published OpenAPI document (openapi/openapi.yaml), read once. The same
// object is served at /openapi.yaml and /openapi.json and compiled into the
// request validators, so what the docs say is what the gateway enforces.
import { readFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { parse } from 'yaml'

export type OpenApiDocument = Record<string, any>

const here = dirname(fileURLToPath(import.meta.url))
// plugins/openapi/ when run from source (tap), dist/plugins/openapi/ when built
const CANDIDATES = [join(here, '..', '..', 'openapi', 'openapi.yaml'), join(here, '..', '..', '..', 'openapi', 'openapi.yaml')]

/** Where the spec file is: next to the sources, or next to dist/. */
export function specPath (): string {
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`openapi/openapi.yaml not found (looked in ${CANDIDATES.join(', ')})`)
  return found
}

let cached: { text: string, document: OpenApiDocument } | undefined

/** The spec as YAML text and as a parsed object (frozen: shared by every reader). */
export function loadSpec (): { text: string, document: OpenApiDocument } {
  if (cached === undefined) {
    const text = readFileSync(specPath(), 'utf8')
    cached = { text, document: deepFreeze(parse(text) as OpenApiDocument) }
  }
  return cached
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
