// The sample command service (CQRS write side) that the gateway fronts on
// /v1/auth/*, /v1/commands/* and the same under /v2 (see api-versions.ts: one
// plugin per version, same handlers). It changes the shared store; the query
// service reads it. In v2 the money commands take `amountMinor` (integer minor
// units) instead of `amount`, responses show money as { amountMinor, currency }
// and a new wallet's Location is /v2/api/wallets/<id>; auth is the same in both.
// Run directly: node dist/examples/command-service.js
import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import { API_VERSIONS, type ApiVersion } from './api-versions.js'
import { callerOf, registerAuthRoutes, ACCESS_TOKEN_TTL_SECONDS } from './command-auth.js'
import { canSee, isPrivileged } from './consumer.js'
import { ProblemError, installProblemHandlers, notFound } from './problem.js'
import { isMain, portFromEnv, serve } from './serve.js'
import { CURRENCIES, store as defaultStore, type Currency, type Store, type WalletChange, type WalletView } from './store.js'

export interface CommandServiceOptions {
  store?: Store
  jwtSecret: string
  issuer?: string
  audience?: string
  logger?: boolean
}

export const DEFAULT_JWT_SECRET = 'demo-secret-change-me-at-least-32-chars'
const ID_PATTERN = '^[A-Za-z0-9._:-]{1,64}$'

const reference = { type: 'string', minLength: 1, maxLength: 100 } as const
const walletParams = { type: 'object', required: ['walletId'], properties: { walletId: { type: 'string', pattern: ID_PATTERN } } } as const
const body = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', required, additionalProperties: false, properties }) as const
// unfreeze and close carry no data, but a client may still send `{}` or a note
const optionalNote = { ...body({ reason: { type: 'string', maxLength: 200 } }), nullable: true } as const

interface WalletParams { walletId: string }
/** `amount` (v1) or `amountMinor` (v2), as the version's schema requires */
type MoneyBody = Record<string, unknown> & { reference?: string }

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
      // without a word (a v1 `amount` sent to v2 is refused, not ignored); each
      // violation is reported, not only the first. multipleOfPrecision makes v1's
      // multipleOf 0.01 work (api-versions.ts).
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

  for (const api of API_VERSIONS) {
    app.register(async (scope) => {
      registerAuthRoutes(scope, store)
      registerWalletCommands(scope, store, api)
    }, { prefix: api.prefix })
  }
  return app
}

function registerWalletCommands (app: FastifyInstance, store: Store, api: ApiVersion): void {
  const { present, amountInput } = api
  const accepted = (change: WalletChange) => ({ commandId: `cmd-${randomUUID()}`, status: 'accepted' as const, ...present.change(change) })

  // The caller must own the wallet or be admin/support. A stranger's wallet
  // answers 404, like the read side, so ids cannot be probed for existence.
  const authorize = (request: FastifyRequest<{ Params: WalletParams }>): WalletView => {
    const caller = callerOf(app, store, request)
    const wallet = store.findWallet(request.params.walletId)
    if (wallet === undefined || !canSee(caller, wallet.ownerId)) throw notFound('wallet', request.params.walletId)
    return wallet
  }
  /** Runs a store command; a conflict that reports amounts (insufficient funds, not empty) reports them in this version's shape. */
  const run = <T>(wallet: WalletView, command: () => T): T => {
    try {
      return command()
    } catch (err) {
      throw err instanceof ProblemError ? present.problem(err, wallet.currency) : err
    }
  }

  app.post<{ Body: { ownerId?: string, currency: Currency } }>('/commands/wallets', {
    schema: { body: body({ ownerId: { type: 'string', pattern: ID_PATTERN }, currency: { type: 'string', enum: CURRENCIES } }, ['currency']) }
  }, async (request, reply) => {
    const caller = callerOf(app, store, request)
    const ownerId = request.body.ownerId ?? caller.id
    if (ownerId !== caller.id && !isPrivileged(caller)) {
      throw new ProblemError(403, 'forbidden', 'Only admin or support may open a wallet for another owner')
    }
    const change = store.createWallet(ownerId, request.body.currency)
    return reply.code(201).header('location', `${api.prefix}/api/wallets/${change.wallet.id}`).send(accepted(change))
  })

  const amount = { [amountInput.field]: amountInput.schema }
  const moneySchema = { params: walletParams, body: body({ ...amount, reference }, [amountInput.field]) }

  app.post<{ Params: WalletParams, Body: MoneyBody }>('/commands/wallets/:walletId/deposit', { schema: moneySchema }, async (request, reply) => {
    const wallet = authorize(request)
    return reply.code(202).send(accepted(run(wallet, () => store.deposit(request.params.walletId, amountInput.read(request.body), request.body.reference))))
  })

  app.post<{ Params: WalletParams, Body: MoneyBody }>('/commands/wallets/:walletId/withdraw', { schema: moneySchema }, async (request, reply) => {
    const wallet = authorize(request)
    return reply.code(202).send(accepted(run(wallet, () => store.withdraw(request.params.walletId, amountInput.read(request.body), request.body.reference))))
  })

  app.post<{ Params: WalletParams, Body: MoneyBody & { toWalletId: string } }>('/commands/wallets/:walletId/transfer', {
    schema: { params: walletParams, body: body({ toWalletId: { type: 'string', pattern: ID_PATTERN }, ...amount, reference }, ['toWalletId', amountInput.field]) }
  }, async (request, reply) => {
    const wallet = authorize(request)
    const { counterparty, ...source } = run(wallet, () => store.transfer(request.params.walletId, request.body.toWalletId, amountInput.read(request.body), request.body.reference))
    // Only the ids of the receiving side: its balance is not the sender's business.
    return reply.code(202).send({ ...accepted(source), counterparty: { walletId: counterparty.wallet.id, transactionId: counterparty.transaction?.id } })
  })

  app.post<{ Params: WalletParams, Body: { reason: string } }>('/commands/wallets/:walletId/freeze', {
    schema: { params: walletParams, body: body({ reason: { type: 'string', minLength: 1, maxLength: 200 } }, ['reason']) }
  }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.freeze(request.params.walletId, request.body.reason)))
  })

  app.post<{ Params: WalletParams }>('/commands/wallets/:walletId/unfreeze', { schema: { params: walletParams, body: optionalNote } }, async (request, reply) => {
    authorize(request)
    return reply.code(202).send(accepted(store.unfreeze(request.params.walletId)))
  })

  app.post<{ Params: WalletParams }>('/commands/wallets/:walletId/close', { schema: { params: walletParams, body: optionalNote } }, async (request, reply) => {
    const wallet = authorize(request)
    return reply.code(202).send(accepted(run(wallet, () => store.close(request.params.walletId))))
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
