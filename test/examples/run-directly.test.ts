// Each service file started as a program: it listens on the ports named in the
// environment and exits 0 on SIGTERM. The child runs with this process's
// execArgv, i.e. with tap's TypeScript loader, so no build is needed.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'

interface Test { teardown: (fn: () => unknown) => void }

/** Spawns examples/<file>, resolves with the first `count` addresses it reports, and stops it with SIGTERM on demand. */
async function start (t: Test, file: string, env: Record<string, string>, count: number) {
  const path = fileURLToPath(new URL(`../../examples/${file}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, path], { env: { ...process.env, HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const exited = once(child, 'exit')
  let stderr = ''
  const addresses = await new Promise<string[]>((resolve, reject) => {
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk
      const found = [...stderr.matchAll(/listening on (http:\/\/127\.0\.0\.1:\d+)/g)].map((m) => m[1])
      if (found.length === count) resolve(found)
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)))
  })
  const stop = async (): Promise<{ code: number | null, stderr: string }> => {
    child.kill('SIGTERM')
    const [code] = await exited
    return { code, stderr }
  }
  return { addresses, stop }
}

for (const [file, service] of [['command-service.ts', 'command'], ['query-service.ts', 'query']] as const) {
  t.test(`node examples/${file} listens on PORT and exits 0 on SIGTERM`, async (t) => {
    const { addresses: [address], stop } = await start(t, file, { PORT: '0' }, 1)
    const res = await fetch(`${address}/health`)
    t.same(await res.json(), { status: 'ok', service })
    const { code, stderr } = await stop()
    t.equal(code, 0)
    t.match(stderr, /SIGTERM received, closing/)
  })
}

t.test('node examples/backends.ts runs both services over one store', async (t) => {
  const { addresses: [commandUrl, queryUrl], stop } = await start(t, 'backends.ts', { COMMAND_PORT: '0', QUERY_PORT: '0' }, 2)
  const headers = { 'content-type': 'application/json', 'x-consumer-id': 'u-carol' }
  const deposit = await fetch(`${commandUrl}/v1/commands/wallets/w-carol-1/deposit`, { method: 'POST', headers, body: JSON.stringify({ amount: 20 }) })
  t.equal(deposit.status, 202)
  const balance = await (await fetch(`${queryUrl}/v1/api/wallets/w-carol-1/balance`)).json()
  t.equal(balance.balance, 1400, 'the write on the command port is read on the query port')
  t.equal((await stop()).code, 0)
})
