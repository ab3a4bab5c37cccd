// How log lines leave the process: the request line built without pino's generic
// serializer is the line pino itself writes, and standard output is buffered for one
// event-loop turn only — lines show up while the process runs, and none is lost when
// it exits right after logging.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { pino } from 'pino'
import type { FastifyRequest } from 'fastify'
import { logRequest } from '../../src/logging.js'

const logging = pathToFileURL(resolve('dist/src/logging.js')).href

/** runs `body` (ESM, with stdoutDestination imported) in a child; resolves with its stdout lines as they arrive */
function child (t: Test, body: string) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-log-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'child.mjs')
  writeFileSync(file, `import { stdoutDestination } from ${JSON.stringify(logging)}\nconst out = stdoutDestination()\n${body}\n`)
  const proc = spawn(process.execPath, [file], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  const lines: string[] = []
  let partial = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop()!
    lines.push(...parts)
  })
  return { proc, lines }
}

t.test('the request line is byte for byte the line pino writes for the same fields', async (t) => {
  const written: string[] = []
  const root = pino({ level: 'info' }, { write: (line: string) => written.push(line) })
  const log = root.child({ requestId: 'req-"quoted"-1' })
  const request = {
    log,
    method: 'GET',
    originalUrl: '/v1/api/wallets/w1?page=2&api_key=secret',
    ip: '127.0.0.1',
    consumer: { id: 'u-ünïcode\u2028' },
    upstream: 'http://127.0.0.1:3000',
    trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }
  } as unknown as FastifyRequest
  logRequest(request, '/v1/api/*', 200, 12.3456)
  t.equal(written.length, 1, 'one line')
  const ours = written[0]!
  t.ok(ours.endsWith('\n'), 'newline-terminated')
  const parsed = JSON.parse(ours) as Record<string, unknown>
  t.notOk(ours.includes('secret'), 'credential-looking query parameters redacted')
  // pino's own line for the same fields (at its own time)
  const fields = { route: '/v1/api/*', method: 'GET', url: parsed.url, status: 200, durationMs: 12.35, consumer: 'u-ünïcode\u2028', upstream: 'http://127.0.0.1:3000', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', remoteAddress: '127.0.0.1' }
  log.info(fields, 'request completed')
  const theirs = written[1]!
  const withoutTime = (line: string) => line.replace(/"time":\d+/, '"time":0')
  t.equal(withoutTime(ours), withoutTime(theirs), 'same keys, same order, same escaping')
  t.ok(Math.abs(Number(parsed.time) - Date.now()) < 5000, 'time is epoch ms, as pino writes it')

  // absent fields are left out, as pino leaves out undefined
  written.length = 0
  logRequest({ ...request, consumer: undefined, upstream: null, trace: undefined } as unknown as FastifyRequest, 'unmatched', 404, 1)
  t.notOk('consumer' in JSON.parse(written[0]!) || 'upstream' in JSON.parse(written[0]!) || 'traceId' in JSON.parse(written[0]!), 'no consumer, upstream or trace keys when there are none')

  // below info nothing is written; a response error goes through pino at warn
  written.length = 0
  root.level = 'warn'
  logRequest(request, '/v1/api/*', 200, 1)
  t.equal(written.length, 0, 'nothing at LOG_LEVEL=warn')
  logRequest(request, '/v1/api/*', 502, 1, new Error('socket hang up'))
  t.match(JSON.parse(written[0]!), { level: 40, msg: 'request ended with a response error', err: 'socket hang up', status: 502 })
  t.equal(written[0]!.match(/"msg"/g)!.length, 1, 'one msg key')
})

t.test('standard output: a line is out while the process runs, without waiting for a buffer to fill', async (t) => {
  const { proc, lines } = child(t, `out.write(JSON.stringify({ msg: 'one line' }) + '\\n')\nprocess.stdin.resume()\nprocess.stdin.on('end', () => process.exit(0))`)
  const deadline = Date.now() + 10_000
  while (lines.length === 0 && proc.exitCode === null && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(proc.exitCode, null, 'the process is still running')
  t.same(lines.map((l) => JSON.parse(l)), [{ msg: 'one line' }], 'its one line arrived')
  proc.stdin.end()
  await once(proc, 'exit')
})

t.test('standard output: lines logged just before process.exit are all written, in order', async (t) => {
  const { proc, lines } = child(t, `for (let i = 0; i < 5000; i++) out.write(JSON.stringify({ i, pad: 'x'.repeat(100) }) + '\\n')\nsetImmediate(() => {\n  for (let i = 5000; i < 10000; i++) out.write(JSON.stringify({ i, pad: 'x'.repeat(100) }) + '\\n')\n  process.exit(3)\n})`)
  // 'close': the process has exited and its standard output has ended
  const [code] = await once(proc, 'close') as [number]
  t.equal(code, 3)
  t.equal(lines.length, 10_000, 'every line, including those of the turn that called process.exit')
  t.ok(lines.every((l, i) => (JSON.parse(l) as { i: number }).i === i), 'in the order they were logged')
})
