// What consistent hashing keys a request on (service.hashOn, Kong's hash_on /
// hash_fallback): the first source in the list that has a value. Compiled per route.
import type { FastifyRequest } from 'fastify'
import type { ServiceConfig } from './options.js'
import { cookieValue, queryValue } from '../auth/credentials.js'

type Source = NonNullable<ServiceConfig['hashOn']>[number]

function reader (source: Source): (request: FastifyRequest) => string | undefined {
  const name = source.name ?? ''
  switch (source.by) {
    case 'consumer': return (r) => (r.consumer !== null && r.consumer.via !== 'anonymous' ? r.consumer.id : undefined)
    case 'header': {
      const lower = name.toLowerCase()
      return (r) => { const v = r.headers[lower]; return (Array.isArray(v) ? v.join(',') : v) || undefined }
    }
    case 'cookie': return (r) => cookieValue(r.headers.cookie, name)
    case 'path': return (r) => r.url.split('?')[0]
    case 'query': return (r) => queryValue(r, name)
    default: return (r) => r.ip
  }
}

/** undefined when the service does not hash */
export function compileHashKey (service: ServiceConfig): ((request: FastifyRequest) => string | undefined) | undefined {
  if (service.loadBalancing !== 'consistent-hashing') return undefined
  const readers = (service.hashOn ?? [{ by: 'ip' as const }]).map(reader)
  return (request) => {
    for (const read of readers) {
      const key = read(request)
      if (key !== undefined) return key
    }
    return undefined
  }
}
