// The operations of the OpenAPI document under one route prefix, compiled once
// at start-up into a matcher and Ajv validators (JSON Schema 2020-12, the
// dialect of OpenAPI 3.1). Pure, no Fastify: the plugin (index.ts) feeds it a
// request's method, path, query and body and turns the result into a problem.
import { createRequire } from 'node:module'
import type { Ajv2020 as Ajv2020Class, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import type { FormatsPlugin } from 'ajv-formats'
import type { OpenApiDocument } from '../openapi/spec.js'

// CommonJS packages: required, so NodeNext types and runtime agree on the default export
const require = createRequire(import.meta.url)
const Ajv2020 = require('ajv/dist/2020.js').default as typeof Ajv2020Class
const addFormats = require('ajv-formats').default as FormatsPlugin

export type Location = 'path' | 'query' | 'header' | 'body'

/** One violation, as the 400 lists it: where, which field (a JSON pointer in the body), what is wrong. */
export interface Violation { in: Location, path: string, message: string }

export interface CompiledOperation {
  method: string
  /** the path template as the document writes it: /v1/commands/wallets/{walletId}/deposit */
  template: string
  /** path + query parameters, one object each, coerced to their declared types */
  checkParameters: (params: Record<string, string>, query: Record<string, unknown>) => Violation[]
  /** undefined: the operation takes no body */
  body?: { required: boolean, mediaTypes: readonly string[], check: ValidateFunction }
}

export type Match =
  | { kind: 'operation', operation: CompiledOperation, params: Record<string, string> }
  | { kind: 'no-path' }
  | { kind: 'no-method', allow: readonly string[] }

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

interface Template {
  template: string
  pattern: RegExp
  names: string[]
  /** literal segments win over parameters: /wallets/summary before /wallets/{id} */
  params: number
  operations: Map<string, CompiledOperation>
}

/** "#/components/pathItems/X" → the object, and the JSON pointer it lives at */
function resolveRef (document: OpenApiDocument, value: any, pointer: string): { value: any, pointer: string } {
  let seen = 0
  while (value && typeof value.$ref === 'string' && value.$ref.startsWith('#/') && seen++ < 10) {
    pointer = value.$ref.slice(1)
    value = pointer.split('/').slice(1).reduce((node: any, part: string) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document)
  }
  return { value, pointer }
}

const escapePointer = (part: string) => part.replace(/~/g, '~0').replace(/\//g, '~1')
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export interface OperationIndex {
  match (method: string, path: string): Match
  /** how many operations the document has under the prefix */
  readonly size: number
}

/**
 * The operations whose path starts with `prefix` (case-insensitively, on a segment
 * boundary), compiled. One Ajv instance per document: pass the same `ajvFor` to
 * every call so the document is added once.
 */
export function compileOperations (document: OpenApiDocument, prefix: string, ajv: ReturnType<typeof createAjv> = createAjv(document)): OperationIndex {
  const lowerPrefix = prefix.toLowerCase()
  const templates: Template[] = []
  let size = 0
  for (const [template, rawItem] of Object.entries(document.paths ?? {})) {
    const lower = template.toLowerCase()
    if (lower !== lowerPrefix && !lower.startsWith(lowerPrefix + '/')) continue
    const { value: item, pointer: itemPointer } = resolveRef(document, rawItem, `/paths/${escapePointer(template)}`)
    if (item === undefined || item === null) continue
    const names: string[] = []
    const source = template.split('/').map((segment) => {
      const m = /^\{(.+)\}$/.exec(segment)
      if (m) { names.push(m[1]!); return '([^/]+)' }
      return escapeRegExp(segment)
    }).join('/')
    const entry: Template = { template, pattern: new RegExp(`^${source}$`, 'i'), names, params: names.length, operations: new Map() }
    for (const method of METHODS) {
      const op = item[method]
      if (op === undefined) continue
      const opPointer = `${itemPointer}/${method}`
      const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: any) => resolveRef(document, p, '').value)
      entry.operations.set(method.toUpperCase(), {
        method: method.toUpperCase(),
        template,
        checkParameters: parameterChecker(ajv, parameters),
        body: bodyChecker(ajv, document, op.requestBody, `${opPointer}/requestBody`)
      })
      size++
    }
    templates.push(entry)
  }
  templates.sort((a, b) => a.params - b.params)

  return {
    size,
    match (method: string, path: string): Match {
      for (const t of templates) {
        const m = t.pattern.exec(path)
        if (m === null) continue
        const operation = t.operations.get(method) ?? (method === 'HEAD' ? t.operations.get('GET') : undefined)
        if (operation === undefined) return { kind: 'no-method', allow: [...t.operations.keys()] }
        const params: Record<string, string> = {}
        for (let i = 0; i < t.names.length; i++) {
          let value = m[i + 1]!
          try { value = decodeURIComponent(value) } catch { /* left as sent: the schema judges it */ }
          params[t.names[i]!] = value
        }
        return { kind: 'operation', operation, params }
      }
      return { kind: 'no-path' }
    }
  }
}

/** One Ajv for a document: the document itself is added once, so $refs into components resolve. */
export function createAjv (document: OpenApiDocument) {
  // strict off: OpenAPI adds keywords (example, discriminator, xml...) JSON Schema does not know
  const options = { strict: false, allErrors: true, validateFormats: true }
  const ajv = new Ajv2020({ ...options, coerceTypes: false })
  const coercing = new Ajv2020({ ...options, coerceTypes: 'array' })
  for (const instance of [ajv, coercing]) {
    addFormats(instance)
    // multipleOf on the decimal digits, not on a float division: 19.99 / 0.01 is
    // 1998.9999999999998, and a tolerance (Ajv's multipleOfPrecision) would in turn let
    // 19.990000000001 pass as "two decimals"
    instance.removeKeyword('multipleOf')
    instance.addKeyword({
      keyword: 'multipleOf',
      type: 'number',
      schemaType: 'number',
      error: { message: (cxt) => `must be a multiple of ${String(cxt.schema)}` },
      validate: (factor: number, data: number) => isMultipleOf(data, factor)
    })
    instance.addSchema(structuredClone(document), 'openapi')
  }
  return { body: ajv, parameters: coercing }
}

/** Digits after the point of a number as JavaScript writes it shortest: 19.99 → 2, 1e-7 → 7, 5 → 0. */
function decimals (n: number): number {
  const text = String(n)
  const e = text.indexOf('e-')
  const mantissa = e === -1 ? text : text.slice(0, e)
  const dot = mantissa.indexOf('.')
  return (dot === -1 ? 0 : mantissa.length - dot - 1) + (e === -1 ? 0 : Number(text.slice(e + 2)))
}

/** Exact for any factor with up to 15 decimals: both sides scaled to integers first. */
export function isMultipleOf (value: number, factor: number): boolean {
  if (!Number.isFinite(value) || !(factor > 0)) return false
  const places = decimals(factor)
  if (decimals(value) > places) return false
  const scale = 10 ** places
  const scaledValue = Math.round(value * scale)
  const scaledFactor = Math.round(factor * scale)
  if (!Number.isSafeInteger(scaledValue)) return Number.isInteger(value / factor)
  return scaledValue % scaledFactor === 0
}

function parameterChecker (ajv: ReturnType<typeof createAjv>, parameters: any[]): CompiledOperation['checkParameters'] {
  const objectSchema = (where: 'path' | 'query') => {
    const own = parameters.filter((p) => p?.in === where)
    if (own.length === 0) return undefined
    const schema = {
      type: 'object',
      properties: Object.fromEntries(own.map((p) => [p.name, rebase(p.schema ?? {})])),
      required: own.filter((p) => p.required || where === 'path').map((p) => p.name)
    }
    return ajv.parameters.compile(schema)
  }
  const path = objectSchema('path')
  const query = objectSchema('query')
  return (params, queryValues) => {
    const out: Violation[] = []
    if (path !== undefined && !path(params)) out.push(...violations('path', path.errors))
    if (query !== undefined) {
      // a copy: coercion writes into it, and Fastify's request.query stays as parsed
      const copy = { ...queryValues }
      if (!query(copy)) out.push(...violations('query', query.errors))
    }
    return out
  }
}

/** local "#/components/..." refs inside a parameter schema point into the document added as "openapi" */
function rebase (schema: any): any {
  if (Array.isArray(schema)) return schema.map(rebase)
  if (schema === null || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(schema)) out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `openapi${v}` : rebase(v)
  return out
}

function bodyChecker (ajv: ReturnType<typeof createAjv>, document: OpenApiDocument, raw: any, pointer: string): CompiledOperation['body'] {
  if (raw === undefined) return undefined
  const { value: requestBody, pointer: at } = resolveRef(document, raw, pointer)
  const content = requestBody?.content ?? {}
  const mediaTypes = Object.keys(content).map((t) => t.toLowerCase())
  const json = Object.keys(content).find((t) => /^application\/(.+\+)?json$/i.test(t))
  const check = json === undefined
    ? ajv.body.compile({})
    : ajv.body.compile({ $ref: `openapi#${at}/content/${escapePointer(json)}/schema` })
  return { required: requestBody?.required === true, mediaTypes, check }
}

/** Ajv's errors as the problem lists them: a JSON pointer to the field and a sentence. */
export function violations (where: Location, errors: ErrorObject[] | null | undefined): Violation[] {
  const out: Violation[] = []
  for (const e of errors ?? []) {
    let path = e.instancePath
    let message = e.message ?? 'is invalid'
    if (e.keyword === 'required') {
      path += `/${escapePointer(String(e.params.missingProperty))}`
      message = 'is required'
    } else if (e.keyword === 'additionalProperties') {
      path += `/${escapePointer(String(e.params.additionalProperty))}`
      message = 'is not allowed'
    } else if (e.keyword === 'unevaluatedProperties') {
      path += `/${escapePointer(String(e.params.unevaluatedProperty))}`
      message = 'is not allowed'
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    } else if (e.keyword === 'if' || e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      continue // the failing branches say why
    }
    // path and query parameters are named, not pointed at
    if (where !== 'body') path = path.replace(/^\//, '')
    out.push({ in: where, path: path === '' && where === 'body' ? '/' : path, message })
  }
  return dedupe(out)
}

function dedupe (list: Violation[]): Violation[] {
  const seen = new Set<string>()
  return list.filter((v) => {
    const key = `${v.in} ${v.path} ${v.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}
