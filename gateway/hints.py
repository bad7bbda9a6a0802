"""Workstation hints over WebSocket at /ws/hints: to be built (issue 23)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from gateway.app import Gateway


def routes(gw: Gateway) -> list[BaseRoute]:
    """The hint endpoint's routes (none yet)."""
    return []
