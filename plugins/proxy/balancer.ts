// Target selection: round-robin, least-connections and smooth weighted round-robin
// (the nginx algorithm). Pure: no I/O, no clock; availability is the caller's.

export type Strategy = 'round-robin' | 'least-connections' | 'weighted' | 'consistent-hashing'

export interface Balanced {
  readonly weight: number
  /** requests in flight to this target */
  inflight: number
  /** smooth weighted round-robin state */
  currentWeight: number
}

export type Picker<T extends Balanced> = (targets: readonly T[], usable: (t: T) => boolean, key?: string) => T | undefined

export function createPicker<T extends Balanced> (strategy: Strategy): Picker<T> {
  switch (strategy) {
    case 'least-connections': return leastConnections<T>()
    case 'weighted': return smoothWeighted<T>()
    case 'consistent-hashing': return rendezvous<T>()
    default: return roundRobin<T>()
  }
}

function roundRobin<T extends Balanced> (): Picker<T> {
  let next = 0
  return (targets, usable) => {
    const n = targets.length
    for (let i = 0; i < n; i++) {
      const t = targets[(next + i) % n]!
      if (usable(t)) {
        next = (next + i + 1) % n
        return t
      }
    }
    return undefined
  }
}

// Fewest in-flight requests; ties rotate so equal targets share the load.
function leastConnections<T extends Balanced> (): Picker<T> {
  let start = 0
  return (targets, usable) => {
    const n = targets.length
    let best: T | undefined
    for (let i = 0; i < n; i++) {
      const t = targets[(start + i) % n]!
      if (usable(t) && (best === undefined || t.inflight < best.inflight)) best = t
    }
    start = (start + 1) % (n || 1)
    return best
  }
}

// Each pick: every usable target gains its weight; the highest wins and pays back
// the total. Spreads picks evenly (a,a,b,a,... not a,a,a,b) over weights.
function smoothWeighted<T extends Balanced> (): Picker<T> {
  return (targets, usable) => {
    let total = 0
    let best: T | undefined
    for (const t of targets) {
      if (!usable(t)) continue
      t.currentWeight += t.weight
      total += t.weight
      if (best === undefined || t.currentWeight > best.currentWeight) best = t
    }
    if (best) best.currentWeight -= total
    return best
  }
}

/** FNV-1a, 32 bits: spreads short keys well enough for target choice, costs nothing */
function fnv1a (text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // a final avalanche (murmur3's fmix32): FNV alone leaves similar keys with similar low bits
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

// Weighted rendezvous (highest random weight) hashing: each key ranks every target by
// -weight / ln(hash(key, target)); the best usable one wins. The same key goes to the
// same target while it is usable; a target leaving moves only its own keys (like a
// hash ring, without the ring). Without a key it degrades to round-robin.
function rendezvous<T extends Balanced & { readonly origin?: string }> (): Picker<T> {
  const fallback = roundRobin<T>()
  return (targets, usable, key) => {
    if (key === undefined) return fallback(targets, usable)
    let best: T | undefined
    let bestScore = -Infinity
    for (const t of targets) {
      if (!usable(t)) continue
      const u = (fnv1a(`${key}\u0000${t.origin ?? ''}`) + 1) / 4294967297
      const score = -t.weight / Math.log(u)
      if (score > bestScore) { bestScore = score; best = t }
    }
    return best
  }
}
