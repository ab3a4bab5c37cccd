// A size-bounded map with per-entry expiry: least recently used entries are evicted
// first. A Map keeps insertion order, so "touch" = delete + set and the oldest entry
// is the first key. Expired entries are dropped when read.

export class BoundedCache<K, V> {
  private readonly entries = new Map<K, { value: V, expiresAt: number }>()

  constructor (private readonly maxEntries: number, private readonly now: () => number = Date.now) {}

  get (key: K): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    if (entry.expiresAt <= this.now()) return undefined
    this.entries.set(key, entry)
    return entry.value
  }

  set (key: K, value: V, ttlMs: number): void {
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K)
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs })
  }

  delete (key: K): void {
    this.entries.delete(key)
  }

  clear (): void {
    this.entries.clear()
  }

  get size (): number {
    return this.entries.size
  }
}
