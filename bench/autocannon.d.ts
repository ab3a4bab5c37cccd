// the part of autocannon's API bench/established.ts uses (the package ships no types)
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'
  interface Options { url: string, connections: number, duration: number, headers?: Record<string, string>, timeout?: number }
  interface Result { errors: number, timeouts: number, non2xx: number }
  type Instance = EventEmitter & PromiseLike<Result>
  export default function autocannon (opts: Options): Instance
}
