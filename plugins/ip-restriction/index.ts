// A route's client-address allow/deny lists (Kong's ip-restriction), as an onRequest
// hook run before auth. The address is request.ip: the peer, or the client a trusted
// proxy names (TRUST_PROXY). Deny wins over allow; an empty allow list allows all.
import { BlockList, isIP } from 'node:net'
import createError from '@fastify/error'
import type { onRequestHookHandler } from 'fastify'
import type { RouteConfig } from '../proxy/options.js'

type IpRestriction = NonNullable<RouteConfig['ipRestriction']>

const forbiddenFor = new Map<number, ReturnType<typeof createError>>()
function forbiddenError (status: number): Error {
  let E = forbiddenFor.get(status)
  if (E === undefined) {
    E = createError('GW_IP_FORBIDDEN', 'Requests from this client address are not allowed on this route', status)
    forbiddenFor.set(status, E)
  }
  return new E()
}

/** "10.0.0.0/8", "::1", "192.168.1.7" → a BlockList; throws on anything else */
export function compileAddressList (entries: readonly string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits, extra] = entry.trim().split('/')
    const family = isIP(address ?? '')
    if (family === 0 || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR`)
    const type = family === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) {
      list.addAddress(address!, type)
      continue
    }
    const prefix = Number(bits)
    if (!/^\d{1,3}$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw new Error(`"${entry}" has a bad prefix length`)
    list.addSubnet(address!, prefix, type)
  }
  return list
}

/** an IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d */
function plain (address: string): { address: string, type: 'ipv4' | 'ipv6' } {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return { address: address.slice(7), type: 'ipv4' }
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' }
}

export function ipRestrictionHook (config: IpRestriction): onRequestHookHandler {
  const allow = config.allow.length > 0 ? compileAddressList(config.allow) : undefined
  const deny = config.deny.length > 0 ? compileAddressList(config.deny) : undefined
  return (request, _reply, done) => {
    const { address, type } = plain(request.ip)
    const ok = isIP(address) !== 0 && !(deny?.check(address, type) ?? false) && (allow?.check(address, type) ?? true)
    done(ok ? undefined : forbiddenError(config.status))
  }
}
