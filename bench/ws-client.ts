// The client side of `npm run bench:ws`, in a process of its own (forked by
// bench/ws.ts, pinned to the other core): opens N authenticated /ws connections from
// several loopback source addresses, subscribes each, then times every event's
// arrival on every connection. Receipt times are taken before any parsing, with the
// monotonic clock the parent stamped the event with (CLOCK_MONOTONIC is one clock
// for every process on the machine).
import WebSocket from 'ws'
import { createSigner } from 'fast-jwt'

export interface ClientSetup {
  url: string
  secret: string
  connections: number
  /** loopback source addresses to spread connections over (127.0.0.1, .2, ...) */
  addresses: number
  /** connection attempts in flight at once */
  concurrency: number
}

export type ToClient = { cmd: 'setup', setup: ClientSetup } | { cmd: 'expect', id: string, timeoutMs: number } | { cmd: 'close' }
export type FromClient =
  | { type: 'connected', connected: number, failed: number, errors: string[], totalMs: number, handshakeMs: number[] }
  | { type: 'received', id: string, received: number, latenciesMs: number[] }
  | { type: 'closed' }

const send = (message: FromClient) => process.send!(message)
const sockets: WebSocket[] = []
/** per event id: receipt times (hrtime ns) */
const receipts = new Map<string, bigint[]>()
/** per event id: the stamp the parent put in data.t0 */
const stamps = new Map<string, bigint>()
let waiting: { id: string, resolve: () => void } | null = null

function onMessage (raw: WebSocket.RawData): void {
  const at = process.hrtime.bigint()
  const text = raw.toString()
  // {"type":"event","id":"…",…,"data":{"t0":"…"},…}: the id is found without parsing the whole frame
  if (!text.startsWith('{"type":"event"')) return
  const id = text.slice(text.indexOf('"id":"') + 6, text.indexOf('"', text.indexOf('"id":"') + 6))
  let list = receipts.get(id)
  if (list === undefined) {
    receipts.set(id, list = [])
    stamps.set(id, BigInt(JSON.parse(text).data.t0 as string))
  }
  list.push(at)
  if (waiting !== null && waiting.id === id && list.length === sockets.length) waiting.resolve()
}

async function connectAll (setup: ClientSetup): Promise<void> {
  const sign = createSigner({ key: setup.secret, algorithm: 'HS256', expiresIn: 3_600_000 })
  const handshakeMs: number[] = []
  const errors = new Map<string, number>()
  let failed = 0
  let next = 0
  const started = performance.now()
  const one = async (i: number) => {
    // role support: every subscriber sees every subject, so one event goes to all of them
    const token = sign({ sub: `u-bench-${i}`, roles: ['support'] })
    const t0 = performance.now()
    const ws = new WebSocket(`${setup.url}/ws`, { headers: { authorization: `Bearer ${token}` }, localAddress: `127.0.0.${1 + (i % setup.addresses)}`, perMessageDeflate: false })
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => {
          ws.send('{"type":"subscribe","channel":"wallet"}')
          ws.once('message', () => resolve())
        })
        ws.once('error', reject)
        ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
      })
      handshakeMs.push(performance.now() - t0)
      ws.on('message', onMessage)
      sockets.push(ws)
    } catch (err) {
      failed++
      const why = (err as Error).message
      errors.set(why, (errors.get(why) ?? 0) + 1)
      ws.terminate()
    }
  }
  await Promise.all(Array.from({ length: setup.concurrency }, async () => {
    while (next < setup.connections) await one(next++)
  }))
  send({ type: 'connected', connected: sockets.length, failed, errors: [...errors].map(([why, n]) => `${n} × ${why}`), totalMs: performance.now() - started, handshakeMs })
}

async function expect (id: string, timeoutMs: number): Promise<void> {
  if ((receipts.get(id)?.length ?? 0) < sockets.length) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      waiting = { id, resolve: () => { clearTimeout(timer); resolve() } }
    })
    waiting = null
  }
  const t0 = stamps.get(id)
  const at = receipts.get(id) ?? []
  send({ type: 'received', id, received: at.length, latenciesMs: t0 === undefined ? [] : at.map((t) => Number(t - t0) / 1e6) })
}

process.on('message', (message: ToClient) => {
  switch (message.cmd) {
    case 'setup': void connectAll(message.setup); break
    case 'expect': void expect(message.id, message.timeoutMs); break
    case 'close':
      for (const ws of sockets) ws.terminate()
      send({ type: 'closed' })
      process.disconnect()
  }
})
