// What translating a Kong file found wrong: problems stop start-up; with
// GATEWAY_KONG_LENIENT=true an unsupported item is a warning instead (and is left
// out). Invalid values are always problems. Each message names the item's path in
// the Kong file ("services[0].routes[1].plugins[0].config.key_in_body").

export type Obj = Record<string, unknown>

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

export class KongReport {
  readonly problems: string[] = []
  readonly warnings: string[] = []

  constructor (private readonly lenient: boolean, private readonly label: string) {}

  private at (path: string): string {
    return `${path || '(root)'} (Kong config ${this.label})`
  }

  /** something Kong has that this gateway does not do: a problem, or a warning when lenient */
  unsupported (path: string, what: string): void {
    if (this.lenient) this.warnings.push(`${this.at(path)}: ${what}; left out (GATEWAY_KONG_LENIENT=true)`)
    else this.problems.push(`${this.at(path)}: ${what} (set GATEWAY_KONG_LENIENT=true to start without it)`)
  }

  /** a value that is wrong for Kong too, or cannot be translated at all */
  invalid (path: string, what: string): void {
    this.problems.push(`${this.at(path)}: ${what}`)
  }

  /** translated, but behaves differently from Kong in a way worth a log line */
  note (path: string, what: string): void {
    this.warnings.push(`${this.at(path)}: ${what}`)
  }
}

/** a value as it may appear in an error message: short, and never a credential */
export function preview (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? text.slice(0, 57) + '...' : text
}

function sameValue (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Every key of `obj` must be handled, or hold Kong's default (exports by `deck dump`
 * spell out every field, defaults included) or nothing (null, [], {}).
 * `defaults` maps a field to its Kong default; `handled` fields are the caller's.
 */
export function checkFields (report: KongReport, obj: Obj, path: string, handled: readonly string[], defaults: Obj = {}): void {
  for (const [key, value] of Object.entries(obj)) {
    if (handled.includes(key)) continue
    if (value === null || value === undefined) continue
    if (Array.isArray(value) && value.length === 0) continue
    if (isObj(value) && Object.keys(value).length === 0) continue
    if (key in defaults && sameValue(value, defaults[key])) continue
    if (key === 'created_at' || key === 'updated_at' || key === 'tags' || key === 'id') continue
    report.unsupported(`${path}.${key}`, key in defaults ? `${key}: ${preview(value)} is not supported (only ${preview(defaults[key])})` : `the field ${key} is not supported`)
  }
}

/** a Kong entity reference: "name", an id, or { name } / { id } */
export function refOf (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (isObj(value)) {
    if (typeof value.name === 'string') return value.name
    if (typeof value.id === 'string') return value.id
    if (typeof value.username === 'string') return value.username
  }
  return undefined
}

/** names the gateway uses as keys: letters, digits, . _ - (a Kong name may hold others) */
export function safeName (name: string, max = 64): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, max) || 'unnamed'
}

export function list (report: KongReport, value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) {
    // the type only: a list in the wrong shape may be a credential (keyauth_credentials: my-key)
    report.invalid(path, `expected a list, got ${isObj(value) ? 'an object' : `a ${typeof value}`}`)
    return []
  }
  return value
}

export function strings (report: KongReport, value: unknown, path: string): string[] {
  const items = list(report, value, path)
  return items.filter((item, i) => {
    if (typeof item === 'string') return true
    report.invalid(`${path}[${i}]`, `expected a string, got ${preview(item)}`)
    return false
  }) as string[]
}
