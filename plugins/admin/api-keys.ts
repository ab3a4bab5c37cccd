// /admin/api-keys: create (the key is shown once), list (digests only), revoke.
import { Type, type Static } from '@sinclair/typebox'
import createError from '@fastify/error'
import type { FastifyInstance } from 'fastify'
import { ConsumerId, KeyTier, RoleName, SHA256_HEX } from '../auth/options.js'
import type { ApiKeyRegistry } from '../auth/api-keys.js'

const StoreUnavailable = createError('GW_AUTH_STORE_UNAVAILABLE', 'The API key store (Redis) is unreachable; the change may not have been applied, retry', 503)
const KeyNotFound = createError<[string]>('GW_AUTH_API_KEY_NOT_FOUND', 'No API key has the hash %s (already revoked?)', 404)
const KeyInConfig = createError('GW_AUTH_API_KEY_IN_CONFIG', 'This API key comes from the configuration file: remove it there and restart', 409)

const CreateBody = Type.Object({
  consumerId: ConsumerId,
  tier: KeyTier,
  roles: Type.Array(RoleName, { default: [], maxItems: 50 })
}, { additionalProperties: false })

const HashParams = Type.Object({ hash: Type.String({ pattern: SHA256_HEX }) })

/** Runs a store operation; a Redis failure becomes a 503 problem, not a 500. */
async function store<T> (operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (err) {
    throw new StoreUnavailable({ cause: err })
  }
}

export function apiKeyRoutes (scope: FastifyInstance, registry: ApiKeyRegistry): void {
  scope.post<{ Body: Static<typeof CreateBody> }>('/api-keys', { schema: { body: CreateBody } }, async (request, reply) => {
    const { key, record } = await store(() => registry.create(request.body))
    request.log.info({ consumerId: record.consumerId, hash: record.hash }, 'API key created')
    return reply.code(201).header('cache-control', 'no-store').header('location', `/admin/api-keys/${record.hash}`)
      .send({ key, hash: record.hash, consumerId: record.consumerId, tier: record.tier, roles: record.roles, createdAt: record.createdAt })
  })

  scope.get('/api-keys', async () => ({ apiKeys: await store(() => registry.list()) }))

  scope.delete<{ Params: Static<typeof HashParams> }>('/api-keys/:hash', { schema: { params: HashParams } }, async (request, reply) => {
    const outcome = await store(() => registry.revoke(request.params.hash))
    if (outcome === 'not-found') throw new KeyNotFound(request.params.hash)
    if (outcome === 'in-config') throw new KeyInConfig()
    request.log.info({ hash: request.params.hash }, 'API key revoked')
    return reply.code(204).send()
  })
}
