// The listen backlog (LISTEN_BACKLOG, server.backlog). Node's default of 511 overflows when
// a thousand clients connect at once while the gateway is busy: the kernel drops the
// handshakes it cannot queue and the clients' retransmissions (1 s, 2 s, 4 s …) show up as
// seconds of p99 (the bench's 1000-connection sweep measured 7 s). The kernel reports a
// listening socket's backlog as its Send-Q, which is what this test reads with `ss`.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { buildGateway } from '../../src/gateway.js'
import { loadConfig } from '../../src/config/index.js'
import { startUpstream, startGateway, servicesFor, testConfig, freePort, call } from '../helpers.js'

const hasSs = spawnSync('ss', ['-V']).status === 0
const somaxconn = (() => {
  try { return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) } catch { return Infinity }
})()

/** the backlog the kernel holds for the listening TCP socket on this port */
function listenBacklog (port: number): number {
  const out = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim()
  const columns = out.split('\n')[0]?.trim().split(/\s+/) ?? []
  // State Recv-Q Send-Q Local Peer: for a listener Send-Q is the backlog
  return Number(columns[2])
}

t.test('LISTEN_BACKLOG parses to server.backlog (default 4096) and a bad value stops start-up', async (t) => {
  t.equal(loadConfig({}).config.server.backlog, 4096)
  t.equal(loadConfig({ LISTEN_BACKLOG: '1024' }).config.server.backlog, 1024)
  t.throws(() => loadConfig({ LISTEN_BACKLOG: '0' }), /LISTEN_BACKLOG/)
  t.throws(() => loadConfig({ LISTEN_BACKLOG: 'lots' }), /LISTEN_BACKLOG/)
})

t.test('the public listener queues 4096 connections by default, not Node\'s 511', { skip: !hasSs && 'ss (iproute2) not installed' }, async (t) => {
  const up = await startUpstream(t)
  const gw = await startGateway(t, { services: servicesFor(up.url) })
  t.equal(listenBacklog(Number(new URL(gw.url).port)), Math.min(4096, somaxconn))
  t.equal((await call(`${gw.url}/v1/api/x`)).status, 200, 'and it serves')
})

t.test('server.backlog applies to the public and the WS_PORT listeners', { skip: !hasSs && 'ss (iproute2) not installed' }, async (t) => {
  const up = await startUpstream(t)
  const wsPort = await freePort()
  const gw = await buildGateway(testConfig({ services: servicesFor(up.url), server: { backlog: 128 }, websocket: { port: wsPort } }))
  t.teardown(() => gw.close())
  const { publicUrl } = await gw.listen()
  t.equal(listenBacklog(Number(new URL(publicUrl).port)), Math.min(128, somaxconn), 'public listener')
  t.equal(listenBacklog(wsPort), Math.min(128, somaxconn), 'WS_PORT listener')
})
