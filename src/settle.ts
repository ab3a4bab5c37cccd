// Hooks on the hot path answer synchronously when they can (a cached token, an
// in-memory count) and wait only when they must (a JWKS fetch, a Redis round trip).
// This runs such a step and hands its value or error on, without a Promise when none
// was needed.

export function settle<T> (step: () => T | Promise<T>, onValue: (value: T) => void, onError: (err: Error) => void): void {
  let result: T | Promise<T>
  try {
    result = step()
  } catch (err) {
    onError(err as Error)
    return
  }
  if (result instanceof Promise) result.then(onValue, onError)
  else onValue(result)
}
