import createError from '@fastify/error'

export const BreakerOpenError = createError<[string]>('GW_BREAKER_OPEN', 'Service "%s" is failing and the gateway is holding requests back from it (circuit breaker open); retry after the Retry-After delay', 503)
