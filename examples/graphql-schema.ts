// The query service's GraphQL schema, over the same store as the REST routes:
// 15 queries (the REST reads), 15 mutations (the wallet commands and the
// payment, claim and MedCard commands, through the store's command methods)
// and 5 subscriptions fed by the store's events. The same in every API version.
// The parts live in graphql/: context.ts (visibility, caller, errors), types.ts,
// analytics.ts, queries.ts, mutations.ts, subscriptions.ts.
import { GraphQLSchema } from 'graphql'
import { Mutation } from './graphql/mutations.js'
import { Query } from './graphql/queries.js'
import { Subscription } from './graphql/subscriptions.js'

export type { GraphqlContext } from './graphql/context.js'

export function buildGraphqlSchema (): GraphQLSchema {
  return new GraphQLSchema({ query: Query, mutation: Mutation, subscription: Subscription })
}
