"""GraphQL over HTTP POST and WebSocket (graphql-transport-ws) at /graphql (issue 23).

The schema, its limits and the authenticated view live in ``gateway.graphql``; see
docs/gateway-graphql.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.graphql.view import GatewayGraphQL

if TYPE_CHECKING:
    from gateway.app import Gateway


def routes(gw: Gateway) -> list[BaseRoute]:
    """One view for both: POST queries and graphql-transport-ws sockets."""
    view = GatewayGraphQL(gw)
    return [Route("/graphql", view), WebSocketRoute("/graphql", view)]
