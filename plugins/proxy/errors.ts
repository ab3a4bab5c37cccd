import createError from '@fastify/error'

export const NoHealthyTargetError = createError<[string]>('GW_PROXY_NO_HEALTHY_TARGET', 'Service "%s" has no healthy target right now; retry shortly', 503)
export const UpstreamUnreachableError = createError<[string]>('GW_PROXY_UPSTREAM_UNREACHABLE', 'Service "%s" could not be reached (connection refused or reset); retry shortly', 502)
export const UpstreamTimeoutError = createError<[string, number]>('GW_PROXY_UPSTREAM_TIMEOUT', 'Service "%s" did not answer within %d ms', 504)
export const BadUpstreamResponseError = createError<[string]>('GW_PROXY_BAD_UPSTREAM_RESPONSE', 'Service "%s" sent a response the gateway could not relay', 502)
export const UpgradeWithBodyError = createError('GW_REQUEST_MALFORMED', 'A WebSocket upgrade request has no body (RFC 6455): send it without Content-Length or Transfer-Encoding', 400)
