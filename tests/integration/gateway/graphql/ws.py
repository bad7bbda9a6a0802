"""A graphql-transport-ws client over the real `websockets` library, for the tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.gateway.conftest import Server

PROTOCOL = "graphql-transport-ws"


async def open_socket(server: Server, protocols: tuple[str, ...] = (PROTOCOL,)) -> ClientConnection:
    url = server.url.replace("https://", "wss://") + "/graphql"
    return await connect(url, ssl=server.ca, subprotocols=list(protocols), open_timeout=10)  # type: ignore[arg-type]


async def init(ws: ClientConnection, token: str | None) -> dict[str, Any]:
    """connection_init with the token; the server's answer (connection_ack) or a close."""
    payload = {"authorization": f"Bearer {token}"} if token is not None else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return await receive(ws)


async def subscribe(ws: ClientConnection, op_id: str, query: str, **variables: Any) -> None:  # noqa: ANN401
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def receive(ws: ClientConnection, timeout_s: float = 10) -> dict[str, Any]:
    """The next message, or {"closed": code} once the server closed the socket."""
    try:
        text = await asyncio.wait_for(ws.recv(), timeout_s)
    except ConnectionClosed as exc:
        return {"closed": exc.rcvd.code if exc.rcvd else None,
                "reason": exc.rcvd.reason if exc.rcvd else ""}  # fmt: skip
    return dict(json.loads(text))


async def wait_for_subscribers(server: Server, n: int, timeout_s: float = 10) -> None:
    """Until the hub has `n` subscribers (the server has started following the hints)."""
    hub = server.app.state.gateway.hub
    deadline = asyncio.get_running_loop().time() + timeout_s
    while hub.subscribers < n:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{hub.subscribers} hub subscribers, wanted {n}")
        await asyncio.sleep(0.02)
