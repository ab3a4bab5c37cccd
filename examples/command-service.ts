// The sample command service (CQRS write side) that the gateway fronts on
// /v1/auth/* and /v1/commands/*. It changes the shared store; the query
// service reads it. Run directly: node dist/examples/command-service.js
import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { callerOf, registerAuthRoutes, ACCESS_TOKEN_TTL_SECONDS } from './command-auth.js'
import { canSee, isPrivileged } from './consumer.js'
import { ProblemError, installProblemHandlers, notFound } from './problem.js'
import { isMain, portFromEnv, serve } from './serve.js'
import { CURRENCIES, store as defaultStore, type Currency, type Store, type WalletChange } from './store.js'

export interface CommandServiceOptions {
  store?: Store
  jwtSecret: string
  issuer?: string
  audience?: string
  logger?: boolean
}

export const DEFAULT_JWT_SECRET = 'demo-secret-change-me-at-least-32-chars'
const ID_PATTERN = '^[A-Za-z0-9._:-]{1,64}$'

// multipleOf 0.01 only works with Ajv's multipleOfPrecision set (below):
// 0.07 / 0.01 is 7.000000000000001 in binary floating point.
const amount = { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000_000, multipleOf: 0.01 } as const
const reference = { type: 'string', minLength: 1, maxLength: 100 } as const
const walletParams = { type: 'object', required: ['walletId'], properties: { walletId: { type: 'string', pattern: ID_PATTERN } } } as const
const body = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', required, additionalProperties: false, properties }) as const
// unfreeze and close carry no data, but a client may still send `{}` or a note
const optionalNote = { ...body({ reason: { type: 'string', maxLength: 200 } }), nullable: true } as const

interface WalletParams { walletId: string }
interface MoneyBody { amount: number, reference?: string }

export function buildCommandService (opts: CommandServiceOptions): FastifyInstance {
  if (typeof opts.jwtSecret !== 'string' || opts.jwtSecret === '') throw new Error('jwtSecret must be a non-empty string')
  // Only a warning: a demo secret is well known whatever its length, and the
  // point is to say so rather than refuse to start.
  if (opts.jwtSecret.length < 32) process.emitWarning('jwtSecret is shorter than 32 characters; HS256 wants at least 256 bits of key', 'HealthPayWarning')
  const store = opts.store ?? defaultStore
  const app = Fastify({
    logger: opts.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: {
      // Commands are strict: no "12" silently becoming 12, no unknown fields dropped
      // without a word; each violation is reported, not only the first.
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true, multipleOfPrecision: 9 }
    }
  })
  installProblemHandlers(app)

  app.register(fastifyJwt, {
    secret: opts.jwtSecret,
    sign: {
      algorithm: 'HS256',
      expiresIn: `${ACCESS_TOKEN_TTL_SECONDS}s`,
      ...(opts.issuer !== undefined ? { iss: opts.issuer } : {}),
      ...(opts.audience !== undefined ? { aud: opts.audience } : {})
    },
    verify: {
      algorithms: ['HS256'],
      ...(opts.issuer !== undefined ? { allowedIss: opts.issuer } : {}),
      ...(opts.audience !== undefined ? { allowedAud: opts.audience } : {})
    }
  })

  app.get('/health', async () => ({ status: 'ok', service: 'command' }))

  app.register(async (scope) => {
    registerAuthRoutes(scope, store)
    registerWalletCommands(scope, store)
  })
  return app
}

function registerWalletCommands (app: FastifyInstance, store: Store): void {
  const accepted = (change: WalletChange) => ({ commandId: `cmd-${randomUUID()}`, status: 'accepted' as const, ...change })

  // The caller must own the wallet or be admin/support. A stranger's wallet
  // answers 404, like the read side, so ids cannot be probed for existence.
  const authorize = (request: FastifyRequest<{ Params: WalletParams }>): void => {
    const caller = callerOf(app, store, request)
    const wallet = store.findWallet(request.params.walletId)
    if (wallet === undefined || !canSee(caller, wallet.ownerId)) throw notFound('wallet', request.params.walletId)
  }

  app.post<{ Body: { ownerId?: string, currency: Currency } }>('/v1/commands/wallets', {
    schema: { body: body({ ownerId: { type: 'string', pattern: ID_PATTERN }, currency: { type: 'string', enum: CURRENCIES } }, ['currency']) }
  }, async (request, reply) => {
    const caller = callerOf(app, store, request)
    const ownerId = request.body.ownerId ?? caller.id
    if (ownerId !== caller.id && !isPrivileged(caller)) {
      throw new ProblemError(403, 'forbidden', 'Only admin or support may open a wallet for another owner')
    }
    const change = store.createWallet(ownerId, request.body.currency)
    return reply.code(201).header('location', `/v1/api/wallets/${change.wallet.id}`).send(accepted(change))
  })

  const moneySchema = { params: walletParams, body: body({ amount, reference }, ['amount']) }

  app.post<{ Params: WalletParams, Body: MoneyBody }>('/v1/commands/wallets/:walletId/deposit', { schema: moneySchema }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.deposit(request.params.walletId, request.body.amount, request.body.reference)))
  })

  app.post<{ Params: WalletParams, Body: MoneyBody }>('/v1/commands/wallets/:walletId/withdraw', { schema: moneySchema }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.withdraw(request.params.walletId, request.body.amount, request.body.reference)))
  })

  app.post<{ Params: WalletParams, Body: MoneyBody & { toWalletId: string } }>('/v1/commands/wallets/:walletId/transfer', {
    schema: { params: walletParams, body: body({ toWalletId: { type: 'string', pattern: ID_PATTERN }, amount, reference }, ['toWalletId', 'amount']) }
  }, async (request, reply) => {
    authorize(request)
    const { counterparty, ...source } = store.transfer(request.params.walletId, request.body.toWalletId, request.body.amount, request.body.reference)
    // Only the ids of the receiving side: its balance is not the sender's business.
    return reply.code(202).send({ ...accepted(source), counterparty: { walletId: counterparty.wallet.id, transactionId: counterparty.transaction?.id } })
  })

  app.post<{ Params: WalletParams, Body: { reason: string } }>('/v1/commands/wallets/:walletId/freeze', {
    schema: { params: walletParams, body: body({ reason: { type: 'string', minLength: 1, maxLength: 200 } }, ['reason']) }
  }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.freeze(request.params.walletId, request.body.reason)))
  })

  app.post<{ Params: WalletParams }>('/v1/commands/wallets/:walletId/unfreeze', { schema: { params: walletParams, body: optionalNote } }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.unfreeze(request.params.walletId)))
  })

  app.post<{ Params: WalletParams }>('/v1/commands/wallets/:walletId/close', { schema: { params: walletParams, body: optionalNote } }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.close(request.params.walletId)))
  })
}

if (isMain(import.meta.url)) {
  const app = buildCommandService({
    jwtSecret: process.env.JWT_SECRET ?? DEFAULT_JWT_SECRET,
    issuer: process.env.JWT_ISSUER,
    audience: process.env.JWT_AUDIENCE,
    logger: true
  })
  serve([{ app, port: portFromEnv('PORT', 3000) }]).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
