// Store events as an AsyncIterator for GraphQL subscriptions.
//
// Why not `events.on(store, 'event')`: wrapped in a filtering async generator,
// its `return()` cannot run while the generator is parked awaiting the next
// event, so an unsubscribed client would keep its listener until some later
// event happened to arrive. This iterator detaches in `return()` at once.
import type { Store, StoreEvent } from './store.js'

export function storeEvents (store: Store, select: (e: StoreEvent) => boolean, maxQueued = 100): AsyncIterableIterator<StoreEvent> {
  const queued: StoreEvent[] = []
  const waiting: Array<(result: IteratorResult<StoreEvent>) => void> = []
  let finished = false

  const listener = (e: StoreEvent): void => {
    if (!select(e)) return
    const resolve = waiting.shift()
    if (resolve !== undefined) { resolve({ value: e, done: false }); return }
    // A reader that does not keep up loses its oldest events, never memory:
    // each wallet event carries the full wallet snapshot, so the newest ones
    // supersede what is dropped.
    if (queued.length >= maxQueued) queued.shift()
    queued.push(e)
  }
  store.on('event', listener)

  const finish = (): IteratorResult<StoreEvent> => {
    if (!finished) {
      finished = true
      store.off('event', listener)
      queued.length = 0
      for (const resolve of waiting.splice(0)) resolve({ value: undefined, done: true })
    }
    return { value: undefined, done: true }
  }

  return {
    async next () {
      const e = queued.shift()
      if (e !== undefined) return { value: e, done: false }
      if (finished) return { value: undefined, done: true }
      return await new Promise<IteratorResult<StoreEvent>>((resolve) => waiting.push(resolve))
    },
    async return () { return finish() },
    async throw (err?: unknown) { finish(); throw err },
    [Symbol.asyncIterator] () { return this }
  }
}
