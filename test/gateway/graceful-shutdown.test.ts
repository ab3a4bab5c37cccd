// SIGTERM with requests in flight: every one completes, new ones are turned away,
// the process exits 0 within the drain timeout. Runs the real entry point
// (src/server.ts) in a child process, configured only through the environment.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type http from 'node:http'
import { startUpstream, call, freePort, until, TEST_SECRET, signToken, bearer } from '../helpers.js'

const auth = bearer(signToken())

const SERVER = fileURLToPath(new URL('../../src/server.ts', import.meta.url))

async function startServer (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>): Promise<{ child: ChildProcess, url: string, output: () => string }> {
  const port = await freePort()
  const adminPort = await freePort()
  // process.execArgv carries tap's TypeScript loader into the child
  const child = spawn(process.execPath, [...process.execArgv, SERVER], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'info', JWT_SECRET: TEST_SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  await until(() => output.includes('HealthPay Gateway listening') || child.exitCode !== null, 20_000, 'the gateway to listen')
  if (child.exitCode !== null) throw new Error(`gateway exited: ${output}`)
  return { child, url, output: () => output }
}

t.test('SIGTERM: in-flight requests all complete, then exit 0', async (t) => {
  const held: http.ServerResponse[] = []
  const up = await startUpstream(t, (req, res, body) => {
    held.push(res)
    // answer after a while, so the requests are in flight when SIGTERM arrives
    setTimeout(() => res.end(JSON.stringify({ url: req.url, body })), 400)
  })
  const { child, url, output } = await startServer(t, { COMMAND_SERVICE_URL: up.url, QUERY_SERVICE_URL: up.url, SHUTDOWN_TIMEOUT_MS: '5000' })
  const inflight = [
    ...Array.from({ length: 8 }, (_, i) => call(`${url}/v1/api/wallets/w${i}`, { headers: auth })),
    // valid commands: the command routes validate bodies against openapi/openapi.yaml by default
    ...Array.from({ length: 4 }, (_, i) => call(`${url}/v1/commands/wallets`, { method: 'POST', body: `{"ownerId":"u-${i}","currency":"EGP"}`, headers: { ...auth, 'content-type': 'application/json' } }))
  ]
  await until(() => held.length === 12, 5000, 'all 12 requests to reach the upstream')
  const exited = once(child, 'exit')
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  const results = await Promise.all(inflight)
  t.same(results.map((r) => r.status), Array(12).fill(200), 'every in-flight request completed')
  t.same(results.slice(8).map((r) => r.json().body), [0, 1, 2, 3].map((i) => `{"ownerId":"u-${i}","currency":"EGP"}`))
  const [code, signal] = await exited
  t.equal(code, 0, 'exit code 0')
  t.equal(signal, null)
  t.ok(Date.now() - signalledAt < 5000, `exited ${Date.now() - signalledAt} ms after SIGTERM`)
  t.match(output(), /shutdown complete/)
  await t.rejects(call(`${url}/health`), 'no longer accepting connections')
})

t.test('past SHUTDOWN_TIMEOUT_MS a stuck request is cut and the process still exits', async (t) => {
  const up = await startUpstream(t, () => { /* never answers */ })
  const { child, url, output } = await startServer(t, { COMMAND_SERVICE_URL: up.url, QUERY_SERVICE_URL: up.url, SHUTDOWN_TIMEOUT_MS: '300', BREAKER_TIMEOUT_MS: '60000' })
  const stuck = call(`${url}/v1/api/slow`, { headers: auth }).catch((err: Error) => err)
  await until(() => up.requests.length === 1, 5000, 'the request to reach the upstream')
  const exited = once(child, 'exit')
  const signalledAt = Date.now()
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0)
  t.ok(Date.now() - signalledAt < 3000, `exited ${Date.now() - signalledAt} ms after SIGTERM`)
  t.ok((await stuck) instanceof Error, 'the stuck request was cut')
  t.match(output(), /drain timeout reached/)
})

t.test('a configuration error stops start-up with the message and exit code 78', async (t) => {
  const child = spawn(process.execPath, [...process.execArgv, SERVER], { env: { ...process.env, PORT: 'eighty', RATE_LIMIT_FAIL_MODE: 'sometimes' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += d })
  const [code] = await once(child, 'exit')
  t.equal(code, 78)
  t.match(stderr, /Invalid configuration \(2 problems\)/)
  t.match(stderr, /PORT="eighty": expected an integer/)
  t.match(stderr, /RATE_LIMIT_FAIL_MODE="sometimes": expected one of "open", "closed"/)
  t.notMatch(stderr, /at .*\.ts:\d+/, 'no stack trace')
})
