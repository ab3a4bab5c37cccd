// Shared "run this file directly" plumbing for the sample services: listen on
// HOST/PORT from the environment and close cleanly on SIGTERM/SIGINT (docker
// stop sends SIGTERM; compose waits ~10 s before SIGKILL).
import { pathToFileURL } from 'node:url'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'

/** True when the module with this import.meta.url is the process entry point. */
export function isMain (moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && moduleUrl === pathToFileURL(entry).href
}

export function portFromEnv (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`${name} must be an integer port between 0 and 65535; got "${raw}"`)
  }
  return port
}

/** Starts the already-built apps and closes them all on the first signal or fatal error. */
export async function serve (listeners: Array<{ app: FastifyInstance, port: number }>, host = process.env.HOST ?? '127.0.0.1'): Promise<void> {
  closeWithGrace({ delay: 8_000 }, async ({ err, signal }) => {
    if (err !== undefined) console.error(err)
    else if (signal !== undefined) console.error(`${signal} received, closing`)
    await Promise.all(listeners.map(async ({ app }) => await app.close()))
  })
  for (const { app, port } of listeners) {
    const address = await app.listen({ host, port })
    console.error(`listening on ${address}`)
  }
}
