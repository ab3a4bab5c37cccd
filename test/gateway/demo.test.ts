// `npm run demo` = build, then dist/examples/demo.js. `npm test` builds first, so this
// runs the very file the demo command runs, on free ports, and pastes its lines.
import t from 'tap'
import WebSocket from 'ws'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { until } from '../helpers.js'

const DEMO = fileURLToPath(new URL('../../dist/examples/demo.js', import.meta.url))

t.test('the demo starts with no Redis, prints a JWT and curl lines that work when pasted', { skip: existsSync(DEMO) ? false : 'dist/ is missing: run `npm run build` (npm test does)' }, async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', ADMIN_PORT: '0', COMMAND_PORT: '0', QUERY_PORT: '0' }
  delete env.REDIS_URL
  delete env.REDIS_HOST
  const child = spawn(process.execPath, [DEMO], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  await until(() => out.includes('Ctrl-C stops everything') || child.exitCode !== null, 20_000, 'the demo banner')
  t.equal(child.exitCode, null, 'still running')
  t.match(out, /no Redis/)
  const token = /TOKEN=(\S+)/.exec(out)?.[1]
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT is printed')
  const claims = JSON.parse(Buffer.from(token!.split('.')[1]!, 'base64url').toString())
  t.match(claims, { sub: 'u-alice', roles: ['customer'] })

  // the printed lines, run as printed
  const get = /curl -s (http:\/\/\S+\/v1\/api\/wallets\/w-alice-1) -H "Authorization: Bearer (\S+)"/.exec(out)!
  const wallet = await fetch(get[1]!, { headers: { authorization: `Bearer ${get[2]}` } })
  t.equal(wallet.status, 200)
  const before = await wallet.json() as { id: string, balance: number }
  t.equal(before.id, 'w-alice-1')
  t.ok(wallet.headers.get('x-request-id'), 'answered through the gateway')

  const post = /curl -s -X POST (http:\/\/\S+\/deposit) -H "Authorization: Bearer (\S+)" -H 'content-type: application\/json' -d '([^']+)'/.exec(out)!
  const deposit = await fetch(post[1]!, { method: 'POST', headers: { authorization: `Bearer ${post[2]}`, 'content-type': 'application/json' }, body: post[3] })
  t.equal(deposit.status, 202)
  const after = await (await fetch(get[1]!, { headers: { authorization: `Bearer ${get[2]}` } })).json() as { balance: number }
  t.equal(after.balance, before.balance + 25, 'the command service wrote, the query service reads it back')

  // the v2 line: negotiated by header, money in minor units, the same balance
  const v2 = /curl -s (http:\/\/\S+\/api\/wallets\/w-alice-1\/balance) -H "X-API-Version: 2" -H "Authorization: Bearer (\S+)"/.exec(out)!
  const v2res = await fetch(v2[1]!, { headers: { 'x-api-version': '2', authorization: `Bearer ${v2[2]}` } })
  t.equal(v2res.status, 200)
  t.equal(v2res.headers.get('x-api-version'), '2')
  t.same((await v2res.json() as { balance: unknown }).balance, { amountMinor: Math.round(after.balance * 100), currency: 'EGP' })

  const apiKey = /API_KEY=(\S+)/.exec(out)?.[1]
  t.match(apiKey, /^hpk_[\w-]{43}$/, 'an API key is printed')
  const analytics = /curl -s (http:\/\/\S+\/v1\/api\/analytics\/summary) -H "X-API-Key: (\S+)"/.exec(out)!
  t.equal(analytics[2], apiKey)
  t.equal((await fetch(analytics[1]!, { headers: { 'x-api-key': analytics[2]! } })).status, 200, 'the key opens the analytics route (carol is an analyst)')
  const denied = /curl -s (http:\/\/\S+\/v1\/api\/analytics\/summary) -H "Authorization: Bearer (\S+)"/.exec(out)!
  t.equal((await fetch(denied[1]!, { headers: { authorization: `Bearer ${denied[2]}` } })).status, 403, 'alice is refused there, as printed')

  const admin = /curl -s (http:\/\/\S+\/admin\/upstreams) -H "Authorization: Bearer (\S+)"/.exec(out)!
  t.equal((await fetch(admin[1]!, { headers: { authorization: `Bearer ${admin[2]}` } })).status, 200)

  const metrics = /curl -s (http:\/\/\S+\/metrics) \| grep '\^gateway_http_requests_total'/.exec(out)!
  const exposition = await (await fetch(metrics[1]!)).text()
  t.match(exposition, /^gateway_http_requests_total\{route="\/v1\/api\/\*",method="GET",status="200"\} [1-9]/m, 'the requests above are counted')

  // the event lines: alice's socket, as printed, gets the event the printed curl publishes
  const wsLine = /wscat -c "(ws:\/\/\S+\/ws\?token=\S+)"\s+# then send (\{.+\})/.exec(out)!
  const socket = new WebSocket(wsLine[1]!)
  t.teardown(() => socket.terminate())
  const messages: Array<Record<string, unknown>> = []
  const arrived = (type: string) => until(() => messages.some((m) => m.type === type), 5000, `a ${type} message`)
  socket.on('message', (data) => messages.push(JSON.parse(String(data))))
  await once(socket, 'open')
  socket.send(wsLine[2]!)
  await arrived('subscribed')
  const publishLine = /curl -s -X POST (http:\/\/\S+\/admin\/events) -H "Authorization: Bearer (\S+)" -H 'content-type: application\/json' -d '([^']+)'/.exec(out)!
  const published = await fetch(publishLine[1]!, { method: 'POST', headers: { authorization: `Bearer ${publishLine[2]}`, 'content-type': 'application/json' }, body: publishLine[3] })
  t.equal(published.status, 202)
  await arrived('event')
  t.match(messages.find((m) => m.type === 'event'), { channel: 'wallet', event: 'wallet.updated', subject: 'u-alice', data: { walletId: 'w-alice-1' } })

  const exited = once(child, 'exit')
  child.kill('SIGINT')
  t.same(await exited, [0, null], 'Ctrl-C stops it cleanly')
})
