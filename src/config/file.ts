// The declarative YAML (or JSON) file named by GATEWAY_CONFIG: same schema as the
// config object, with two conveniences — a target may be a plain URL string, and
// a route may omit its name (derived from the prefix).
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse, YAMLParseError } from 'yaml'
import { translateKong, KongConfigError } from './kong/index.js'

export class ConfigFileError extends Error {
  constructor (message: string, readonly problems: readonly string[] = [message]) {
    super(message)
  }
}

export interface ConfigFile {
  config: Record<string, unknown>
  /** from a Kong file: unsupported items left out (lenient) and behaviour differences */
  warnings: string[]
  /** translated from a Kong file */
  kong?: true
}

export function readConfigFile (path: string, opts: { kongLenient?: boolean } = {}): ConfigFile {
  const absolute = resolve(path)
  let text: string
  try {
    text = readFileSync(absolute, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory, expected a YAML file' : `cannot be read (${code})`
    throw new ConfigFileError(`GATEWAY_CONFIG=${JSON.stringify(path)}: ${why}`)
  }
  let doc: unknown
  try {
    doc = parse(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const at = err.linePos?.[0] ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''
      const reason = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
      throw new ConfigFileError(`GATEWAY_CONFIG=${JSON.stringify(path)}: invalid YAML${at}: ${reason}`)
    }
    throw err
  }
  if (doc === null || doc === undefined) return { config: {}, warnings: [] }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(`GATEWAY_CONFIG=${JSON.stringify(path)}: expected a YAML mapping at the top level (server:, services:, routes: ...), got ${Array.isArray(doc) ? 'a list' : typeof doc}`)
  }
  const config = doc as Record<string, unknown>
  if ('_format_version' in config) {
    try {
      return translateKong(config, { lenient: opts.kongLenient === true, label: path })
    } catch (err) {
      if (err instanceof KongConfigError) throw new ConfigFileError(err.message, err.problems)
      throw err
    }
  }
  normalizeTargets(config.services)
  return { config, warnings: [] }
}

function normalizeTargets (services: unknown): void {
  if (!services || typeof services !== 'object') return
  for (const service of Object.values(services as Record<string, unknown>)) {
    if (!service || typeof service !== 'object') continue
    const s = service as { targets?: unknown }
    if (typeof s.targets === 'string') s.targets = s.targets.split(',').map((u) => u.trim()).filter(Boolean)
    if (Array.isArray(s.targets)) s.targets = s.targets.map((t) => (typeof t === 'string' ? { url: t } : t))
  }
}
