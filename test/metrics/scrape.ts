// Reads a gateway's /metrics and parses the Prometheus text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/) into samples.
import { call } from '../helpers.js'

export interface Sample { name: string, labels: Record<string, string>, value: number }

export interface Scrape {
  text: string
  contentType: string
  samples: Sample[]
  /** metric family → its TYPE line's type */
  types: Map<string, string>
  /** the value of the one sample with exactly these labels (a subset match is not enough); undefined when absent */
  value (name: string, labels?: Record<string, string>): number | undefined
  /** every sample of `name` whose labels include `labels` */
  find (name: string, labels?: Record<string, string>): Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function parseExposition (text: string): Omit<Scrape, 'contentType'> {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      types.set(name!, type!)
      continue
    }
    if (line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, raw] of (m[2] ?? '').matchAll(LABEL)) labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    samples.push({ name: m[1]!, labels, value: Number(m[3] === '+Inf' ? Infinity : m[3]) })
  }
  const matches = (s: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  return {
    text,
    samples,
    types,
    find: (name, labels = {}) => samples.filter((s) => s.name === name && matches(s, labels)),
    value: (name, labels = {}) => samples.find((s) => s.name === name && matches(s, labels) && Object.keys(s.labels).length === Object.keys(labels).length)?.value
  }
}

export async function scrape (adminUrl: string): Promise<Scrape> {
  const res = await call(`${adminUrl}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`)
  return { ...parseExposition(res.text), contentType: String(res.headers['content-type']) }
}
