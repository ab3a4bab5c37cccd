// TRUST_PROXY as one function, shared by Fastify (request.ip, request.protocol) and
// the proxy (whether a client's X-Forwarded-* may be kept and extended).
import proxyAddr from '@fastify/proxy-addr'

/** (address, hop index) → is that hop a trusted proxy? hop 0 is the direct peer. */
export type TrustFunction = (address: string, hop: number) => boolean

export function compileTrust (setting: boolean | number | readonly string[]): TrustFunction {
  if (setting === true) return () => true
  if (setting === false) return () => false
  // a hop count trusts that many proxies in front of us, as Express does
  if (typeof setting === 'number') return (_address, hop) => hop < setting
  return proxyAddr.compile([...setting])
}
