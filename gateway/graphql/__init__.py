"""The gateway's GraphQL API (strawberry): schema, resolvers over the service layer, limits and
the authenticated HTTP / graphql-transport-ws view. ``gateway.graphql_api`` mounts it."""
