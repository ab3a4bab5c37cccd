// Reading openapi/openapi.yaml in tests: its operations (following path items that
// are $refs into components/pathItems), counts by area and version, JSON pointers
// Ajv can compile, each operation's example request, and the response the document
// promises for a status. Shared by spec.test.ts (the document itself) and
// contract.test.ts (the document against the running services).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'
import Ajv2020Module from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

// CommonJS packages: NodeNext types the default import as the whole module.exports, and
// both packages also export their class / plugin as `.default` at run time
const Ajv2020 = Ajv2020Module.default
const addFormats = addFormatsModule.default
export type Ajv = InstanceType<typeof Ajv2020>

export const SPEC_PATH = fileURLToPath(new URL('../../openapi/openapi.yaml', import.meta.url))
/** The id the whole document is added to Ajv under: `openapi.json#/components/schemas/X` */
export const SPEC_ID = 'openapi.json'

export type Doc = Record<string, any>

/** A fresh parse every time: callers may mutate it (swagger-parser dereferences in place). */
export function loadDocument (): Doc {
  return parse(readFileSync(SPEC_PATH, 'utf8')) as Doc
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const

/** Which part of the platform a path belongs to. */
export type Area = 'gateway' | 'auth' | 'commands' | 'query' | 'graphql'

export interface SpecOperation {
  /** lower case, as the document writes it */
  method: string
  /** the path template as the document writes it: /v1/api/wallets/{walletId} */
  path: string
  /** 1 for /v1/…, 2 for /v2/…; null for the gateway's own endpoints */
  version: number | null
  area: Area
  operation: Record<string, any>
  /** JSON pointer of the operation object, through a path item $ref: /components/pathItems/AuthLogin/post */
  pointer: string
  /** the path item is a $ref (into components/pathItems), shared between versions */
  shared: boolean
  /** `get /v1/api/wallets` */
  key: string
}

const escapeToken = (token: string): string => token.replace(/~/g, '~0').replace(/\//g, '~1')
const unescapeToken = (token: string): string => token.replace(/~1/g, '/').replace(/~0/g, '~')

/** A JSON pointer from unescaped tokens: pointer('paths', '/v1/graphql') = /paths/~1v1~1graphql */
export function pointer (...tokens: string[]): string {
  return tokens.map((token) => '/' + escapeToken(token)).join('')
}

export function valueAt (doc: Doc, at: string): any {
  if (at === '') return doc
  return at.slice(1).split('/').map(unescapeToken).reduce((node: any, token) => node?.[token], doc)
}

/** Follows local $refs; returns the object and the pointer where it really lives. */
export function deref (doc: Doc, value: any, at: string): { value: any, pointer: string } {
  for (let hops = 0; value !== null && typeof value === 'object' && typeof value.$ref === 'string'; hops++) {
    if (!value.$ref.startsWith('#/') || hops > 20) throw new Error(`unsupported or looping $ref ${String(value.$ref)} at ${at}`)
    at = value.$ref.slice(1)
    value = valueAt(doc, at)
    if (value === undefined) throw new Error(`dangling $ref to ${at}`)
  }
  return { value, pointer: at }
}

/** A reference Ajv resolves against the document added under SPEC_ID. */
export function ajvRef (at: string): string {
  return `${SPEC_ID}#` + at.split('/').map((token) => encodeURIComponent(token)).join('/')
}

export function classify (path: string): { version: number | null, area: Area } {
  const match = /^\/v([1-9][0-9]{0,2})(\/.*)$/.exec(path)
  if (match === null) return { version: null, area: 'gateway' }
  const rest = match[2]
  const area: Area = rest.startsWith('/auth/') ? 'auth' : rest.startsWith('/commands/') ? 'commands' : rest.startsWith('/api/') ? 'query' : rest === '/graphql' ? 'graphql' : 'gateway'
  return { version: Number(match[1]), area }
}

/** Every operation of the document, in document order. */
export function listOperations (doc: Doc): SpecOperation[] {
  const out: SpecOperation[] = []
  for (const [path, raw] of Object.entries<any>(doc.paths ?? {})) {
    const item = deref(doc, raw, pointer('paths', path))
    for (const method of HTTP_METHODS) {
      const operation = item.value?.[method]
      if (operation === undefined) continue
      out.push({ method, path, ...classify(path), operation, pointer: `${item.pointer}/${method}`, shared: typeof raw?.$ref === 'string', key: `${method} ${path}` })
    }
  }
  return out
}

/** `gateway: 6`, `v1.auth: 4`, … and `total`. */
export function countOperations (ops: readonly SpecOperation[]): Record<string, number> {
  const counts: Record<string, number> = { total: ops.length }
  for (const op of ops) {
    const key = op.version === null ? op.area : `v${op.version}.${op.area}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

/** The path item of an operation (for its shared parameters). */
function pathItemPointer (op: SpecOperation): string {
  return op.pointer.slice(0, op.pointer.lastIndexOf('/'))
}

export interface ResolvedParameter { param: Record<string, any>, pointer: string }

/** Path-item parameters, then the operation's (which win on the same name and location). */
export function parametersOf (doc: Doc, op: SpecOperation): ResolvedParameter[] {
  const byKey = new Map<string, ResolvedParameter>()
  for (const owner of [pathItemPointer(op), op.pointer]) {
    const list: any[] = valueAt(doc, owner)?.parameters ?? []
    list.forEach((raw, i) => {
      const { value, pointer: at } = deref(doc, raw, `${owner}/parameters/${i}`)
      byKey.set(`${value.in}:${value.name}`, { param: value, pointer: at })
    })
  }
  return [...byKey.values()]
}

export function requestBodyOf (doc: Doc, op: SpecOperation): { body: Record<string, any>, pointer: string } | undefined {
  if (op.operation.requestBody === undefined) return undefined
  const { value, pointer: at } = deref(doc, op.operation.requestBody, `${op.pointer}/requestBody`)
  return { body: value, pointer: at }
}

export interface ResolvedResponse { status: string, response: Record<string, any>, pointer: string }

export function responsesOf (doc: Doc, op: SpecOperation): ResolvedResponse[] {
  return Object.entries<any>(op.operation.responses ?? {}).map(([status, raw]) => {
    const { value, pointer: at } = deref(doc, raw, `${op.pointer}/responses/${escapeToken(status)}`)
    return { status, response: value, pointer: at }
  })
}

/** The response the document gives for a status: exact, else its range (4XX), else default. */
export function responseFor (doc: Doc, op: SpecOperation, status: number): ResolvedResponse | undefined {
  const all = responsesOf(doc, op)
  return all.find((r) => r.status === String(status)) ??
    all.find((r) => r.status.toUpperCase() === `${Math.floor(status / 100)}XX`) ??
    all.find((r) => r.status === 'default')
}

/** The header objects of a response, by lower-case name, $refs followed. */
export function headersOf (doc: Doc, response: ResolvedResponse): Array<{ name: string, header: Record<string, any>, pointer: string }> {
  return Object.entries<any>(response.response.headers ?? {}).map(([name, raw]) => {
    const { value, pointer: at } = deref(doc, raw, `${response.pointer}/headers/${escapeToken(name)}`)
    return { name: name.toLowerCase(), header: value, pointer: at }
  })
}

export interface ExampleRequest {
  method: string
  /** the path with its parameters filled in from their examples */
  url: string
  headers: Record<string, string>
  body?: unknown
}

/**
 * The request an operation's examples describe: path parameters and required query and
 * header parameters from their `example`, the body from its JSON media type's example.
 */
export function exampleRequest (doc: Doc, op: SpecOperation): ExampleRequest {
  let path = op.path
  const query = new URLSearchParams()
  const headers: Record<string, string> = {}
  for (const { param } of parametersOf(doc, op)) {
    if (param.in === 'path') {
      if (param.example === undefined) throw new Error(`${op.key}: path parameter ${param.name} has no example`)
      path = path.replace(`{${param.name}}`, encodeURIComponent(String(param.example)))
    } else if (param.required === true) {
      if (param.example === undefined) throw new Error(`${op.key}: required ${param.in} parameter ${param.name} has no example`)
      if (param.in === 'query') query.set(param.name, String(param.example))
      else if (param.in === 'header') headers[param.name.toLowerCase()] = String(param.example)
    }
  }
  const request: ExampleRequest = { method: op.method.toUpperCase(), url: query.toString() === '' ? path : `${path}?${query}`, headers }
  const json = requestBodyOf(doc, op)?.body.content?.['application/json']
  if (json?.example !== undefined) {
    request.body = json.example
    headers['content-type'] = 'application/json'
  }
  return request
}

/** Whether any response of the operation (or any of its media types) carries an example. */
export function hasResponseExample (doc: Doc, op: SpecOperation): boolean {
  return responsesOf(doc, op).some(({ response }) => Object.values<any>(response.content ?? {}).some((media) => media.example !== undefined || media.examples !== undefined))
}

/**
 * An Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) that knows the whole document
 * as SPEC_ID, so `ajvRef(pointer)` and the document's own `#/components/…` refs resolve.
 * `strict: false`: OpenAPI adds keywords (`example`) JSON Schema does not know.
 */
export function createAjv (doc: Doc, options: Record<string, unknown> = {}): Ajv {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, ...options })
  addFormats(ajv)
  ajv.addSchema(doc, SPEC_ID)
  return ajv
}

const compiled = new WeakMap<Ajv, Map<string, ReturnType<Ajv['compile']>>>()

/** A validator for the schema at `pointer` in the document, compiled once per Ajv instance. */
export function validatorFor (ajv: Ajv, at: string): ReturnType<Ajv['compile']> {
  let cache = compiled.get(ajv)
  if (cache === undefined) compiled.set(ajv, cache = new Map())
  let validate = cache.get(at)
  if (validate === undefined) cache.set(at, validate = ajv.compile({ $ref: ajvRef(at) }))
  return validate
}

/**
 * A copy of the document in which every object schema with `properties` and no
 * `additionalProperties` of its own forbids other members (members of an `allOf` are
 * left open, since each sees only its part). Validating a response against it shows
 * fields the services send but the document does not describe. The published document
 * stays open: clients must ignore fields they do not know.
 */
export function closeObjectSchemas (doc: Doc): Doc {
  const copy = structuredClone(doc)
  const isObjectType = (type: unknown) => type === 'object' || (Array.isArray(type) && type.includes('object'))
  const visit = (node: unknown, allOfMember: boolean): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item, allOfMember)
      return
    }
    if (node === null || typeof node !== 'object') return
    const o = node as Record<string, any>
    if (!allOfMember && o.properties !== null && typeof o.properties === 'object' && !('additionalProperties' in o) && isObjectType(o.type)) {
      o.additionalProperties = false
    }
    for (const [key, value] of Object.entries(o)) {
      if (key === 'example' || key === 'examples') continue
      visit(value, key === 'allOf')
    }
  }
  visit(copy, false)
  return copy
}

/** Ajv's errors as one readable line each. */
export function describeErrors (errors: ReadonlyArray<{ instancePath: string, message?: string, params?: unknown }> | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'} ${JSON.stringify(e.params)}`).join('; ')
}
