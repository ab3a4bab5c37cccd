// The request body as undici should send it: streamed straight from the client,
// but only once undici starts writing. Until then the client's stream is untouched,
// so a request whose connection was refused can go to another target intact.
import type { IncomingMessage } from 'node:http'
import { BodyTooLargeError } from '../../src/errors.js'

export class LazyBody implements AsyncIterable<Buffer> {
  /** undici began reading: the body can no longer be replayed */
  started = false
  /**
   * undici asked for more and the client has not sent it yet: a deadline that runs
   * out now is the client's slowness, not the service's
   */
  awaitingClient = false

  constructor (private readonly source: IncomingMessage, private readonly limit: number) {}

  async * [Symbol.asyncIterator] (): AsyncIterator<Buffer> {
    this.started = true
    let seen = 0
    this.awaitingClient = true
    try {
      // destroyOnReturn false: if undici stops early, the error path answers the client
      for await (const chunk of this.source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        this.awaitingClient = false
        seen += chunk.length
        // only chunked bodies get here over the limit: a declared length is checked up front
        if (seen > this.limit) throw new BodyTooLargeError(this.limit)
        yield chunk
        this.awaitingClient = true
      }
    } finally {
      this.awaitingClient = false
    }
  }
}

/** The request says a body follows: a non-zero Content-Length, or chunked. */
export function declaresBody (headers: IncomingMessage['headers']): boolean {
  const length = headers['content-length']
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined
}

/** null when the request has no body; throws 413 when the declared length is over the limit. */
export function requestBody (raw: IncomingMessage, limit: number): LazyBody | null {
  if (!declaresBody(raw.headers)) return null
  const length = raw.headers['content-length']
  if (length !== undefined && Number(length) > limit) throw new BodyTooLargeError(limit)
  return new LazyBody(raw, limit)
}
