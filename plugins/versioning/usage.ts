// Calls per API version on this instance, and for deprecated versions which
// consumers still make them: what an SRE needs before a sunset (GET
// /admin/versions, and the gateway_api_version_* metrics). Bounded: past
// MAX_CONSUMERS distinct consumers per version the rest count as "(other)".
export const MAX_CONSUMERS = 1000
export const OTHER_CONSUMERS = '(other)'

export class VersionUsage {
  readonly #calls = new Map<number, number>()
  readonly #consumers = new Map<number, Map<string, number>>()

  count (version: number): void {
    this.#calls.set(version, (this.#calls.get(version) ?? 0) + 1)
  }

  countConsumer (version: number, consumerId: string): void {
    let byConsumer = this.#consumers.get(version)
    if (byConsumer === undefined) this.#consumers.set(version, (byConsumer = new Map()))
    const key = byConsumer.has(consumerId) || byConsumer.size < MAX_CONSUMERS ? consumerId : OTHER_CONSUMERS
    byConsumer.set(key, (byConsumer.get(key) ?? 0) + 1)
  }

  /** [version, calls] of every version called so far */
  entries (): IterableIterator<[number, number]> {
    return this.#calls.entries()
  }

  calls (version: number): number {
    return this.#calls.get(version) ?? 0
  }

  /** consumer id → calls, most calls first */
  consumers (version: number): Record<string, number> {
    const entries = [...(this.#consumers.get(version) ?? [])].sort((a, b) => b[1] - a[1])
    return Object.fromEntries(entries)
  }
}
