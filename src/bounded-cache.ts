// A size-bounded map with per-entry expiry: least recently used entries are evicted
// first. A Map keeps insertion order, so "touch" = delete + set and the oldest entry
// is the first key. An entry read while it is still among the newest half is not
// moved (it cannot be next to go): whatever is read survives at least maxEntries/2
// more insertions, and the least recently used of the older half goes first.
// Expired entries are dropped when read.

export class BoundedCache<K, V> {
  private readonly entries = new Map<K, { value: V, expiresAt: number, touched: number }>()
  /** counts insertions and moves to the end: how far an entry is from being evicted */
  private clock = 0
  private readonly fresh: number

  constructor (private readonly maxEntries: number, private readonly now: () => number = Date.now) {
    this.fresh = maxEntries >> 1
  }

  get (key: K): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    // An entry moved to the end within the last maxEntries/2 insertions is in the
    // newer half and far from eviction: it is not moved again. Moving (delete + set)
    // on every hit made the Map rebuild its table under load, garbage that outlived
    // the young generation; a hot entry now costs one lookup.
    if (this.clock - entry.touched > this.fresh) {
      this.entries.delete(key)
      entry.touched = ++this.clock
      this.entries.set(key, entry)
    }
    return entry.value
  }

  set (key: K, value: V, ttlMs: number): void {
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K)
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs, touched: ++this.clock })
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
