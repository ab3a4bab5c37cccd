// GW_RATE_LIMITED, shared by the tier limits and the multi-window ones.
import createError from '@fastify/error'

export const RateLimitedError = createError<[number, number, number]>('GW_RATE_LIMITED', 'Rate limit of %d requests per %d s exceeded; retry in %d s', 429)

export const seconds = (ms: number): number => Math.max(0, Math.ceil(ms / 1000))
