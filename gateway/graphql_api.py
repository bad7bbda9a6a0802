"""GraphQL over HTTP and WebSocket (graphql-transport-ws) at /graphql: to be built (issue 23)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from gateway.app import Gateway


def routes(gw: Gateway) -> list[BaseRoute]:
    """The GraphQL endpoint's routes (none yet)."""
    return []
