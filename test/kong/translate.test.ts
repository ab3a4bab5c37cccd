import t from 'tap'
import { readFileSync } from 'node:fs'
import { loadKong, kongProblems } from './helpers.js'
const cases: Record<string, string> = JSON.parse(readFileSync('/tmp/cases.json', 'utf8'))
for (const [name, yaml] of Object.entries(cases)) {
  t.test(name, async (t) => {
    for (const lenient of [false, true]) {
      const env = lenient ? { GATEWAY_KONG_LENIENT: 'true' } : {}
      const p = kongProblems(t, yaml, env)
      console.error(`=== ${name} lenient=${lenient}\nPROBLEMS`, JSON.stringify(p, null, 1))
      if (p.length === 0) {
        const r = loadKong(t, yaml, env)
        console.error('WARN', JSON.stringify(r.warnings, null, 1))
        if (process.env.FULL) console.error(JSON.stringify({ routes: r.config.routes, services: Object.keys(r.config.services), consumers: r.config.consumers }, null, 1))
      }
    }
  })
}
