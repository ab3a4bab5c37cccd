// Target selection: round-robin, least-connections and smooth weighted round-robin
// (the nginx algorithm). Pure: no I/O, no clock; availability is the caller's.

export type Strategy = 'round-robin' | 'least-connections' | 'weighted'

export interface Balanced {
  readonly weight: number
  /** requests in flight to this target */
  inflight: number
  /** smooth weighted round-robin state */
  currentWeight: number
}

export type Picker<T extends Balanced> = (targets: readonly T[], usable: (t: T) => boolean) => T | undefined

export function createPicker<T extends Balanced> (strategy: Strategy): Picker<T> {
  switch (strategy) {
    case 'least-connections': return leastConnections<T>()
    case 'weighted': return smoothWeighted<T>()
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
