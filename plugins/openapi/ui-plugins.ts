// Swagger UI plugins for /docs. They run in the browser: @fastify/swagger-ui writes
// uiConfig into swagger-initializer.js with each function's toString(), so each function
// here must be self-contained (no imports, no module-level names, `function` syntax).

/**
 * Swagger UI's own "download the document" plugin. Passing `plugins` replaces
 * @fastify/swagger-ui's default list, which holds just this one.
 */
export function downloadUrl (this: unknown, ...args: unknown[]): any {
  return (globalThis as any).SwaggerUIBundle.plugins.DownloadUrl.apply(this, args)
}

/**
 * Inlines `paths: { /x: { $ref: '#/components/pathItems/X' } }` in the document Swagger UI
 * renders (the served /openapi.json is untouched). Swagger UI 5's OpenAPI 3.1 resolver is
 * pathologically slow on path-item references: with the platform document's 32 of them,
 * headless Chromium on 2 cores showed nothing for ~35 s (~4.5 s once inlined). Only the text handed to
 * Swagger UI's updateSpec changes; "Try it out" responses are never touched. Anything it
 * does not recognise (YAML, a reference to a reference, siblings aside) is left as it is.
 */
export function inlinePathItemRefs (): any {
  function inline (spec: unknown): unknown {
    if (typeof spec !== 'string') return spec
    let doc: any
    try { doc = JSON.parse(spec) } catch { return spec }
    const items = doc?.components?.pathItems
    if (items === null || typeof items !== 'object' || doc.paths === null || typeof doc.paths !== 'object') return spec
    let changed = false
    for (const path of Object.keys(doc.paths)) {
      const item = doc.paths[path]
      if (item === null || typeof item !== 'object' || typeof item.$ref !== 'string') continue
      const match = /^#\/components\/pathItems\/([^/]+)$/.exec(item.$ref)
      if (match === null) continue
      let name: string
      try { name = decodeURIComponent(match[1]!).replace(/~1/g, '/').replace(/~0/g, '~') } catch { continue }
      if (!Object.prototype.hasOwnProperty.call(items, name)) continue
      const target = items[name]
      if (target === null || typeof target !== 'object' || '$ref' in target) continue
      const { $ref: _ref, ...siblings } = item
      // OpenAPI 3.1 leaves a clash between the reference's siblings and the target undefined: siblings win
      doc.paths[path] = { ...target, ...siblings }
      changed = true
    }
    return changed ? JSON.stringify(doc) : spec
  }
  return {
    statePlugins: {
      spec: { wrapActions: { updateSpec: (original: (spec: unknown) => unknown) => (spec: unknown) => original(inline(spec)) } }
    }
  }
}
