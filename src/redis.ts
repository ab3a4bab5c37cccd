// One ioredis client factory. Defaults would park a command for ~73 s when Redis
// dies (STACK.md); a gateway must answer in milliseconds, so every command fails
// fast and the caller's fallback (fail open / closed) decides.
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'

export type { Redis } from 'ioredis'

export interface RedisClientOptions {
  url: string
  log: FastifyBaseLogger
  /** label for logs, e.g. "commands" or "events" */
  name?: string
  /** ms a command may take (default 200); a blocking read needs longer than its block */
  commandTimeout?: number
}

export function createRedisClient ({ url, log, name = 'main', commandTimeout = 200 }: RedisClientOptions): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: 500,
    enableAutoPipelining: true,
    // reconnect forever, backing off to 2 s: Redis coming back must heal by itself
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    connectionName: `healthpay-gateway:${name}`
  })
  let down = false
  client.on('error', (err) => {
    if (!down) log.warn({ redis: name, err: err.message }, 'redis unavailable')
    down = true
  })
  client.on('ready', () => {
    if (down) log.info({ redis: name }, 'redis available again')
    down = false
  })
  return client
}

/** Resolves true once the client is ready, false after `ms` (it keeps reconnecting). */
export async function waitForRedis (client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return true
  let timer: NodeJS.Timeout | undefined
  let onReady: (() => void) | undefined
  const result = await new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
    onReady = () => resolve(true)
    client.once('ready', onReady)
  })
  clearTimeout(timer)
  client.off('ready', onReady!)
  return result
}

/** QUIT politely, but never wait more than `ms` for a dead server. */
export async function closeRedis (client: Redis, ms = 500): Promise<void> {
  if (client.status === 'end') return
  await Promise.race([
    client.quit().catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, ms).unref())
  ])
  client.disconnect()
}
