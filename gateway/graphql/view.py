"""The authenticated GraphQL endpoint: strawberry's ASGI view behind the gateway's checks.

HTTP: POST only, ``application/json``; the bearer token is checked by ``Gateway._authorize``
(signature, expiry, audience, the client still registered with its scopes, scope
``graphql/query``, rate limit) before the body is read, the body is bounded by policy, and a
document refused before execution (syntax, validation, depth / alias / token limits) is a 400.
WebSocket: graphql-transport-ws only (the legacy graphql-ws protocol is closed with 4406); the
token travels in the connection_init payload (``{"authorization": "Bearer ..."}``) and goes
through the same check with scope ``graphql/subscribe``: refused with close code 4401 (no or
bad token), 4403 (missing scope) or 4429 (rate limit). An admitted socket is closed with 4401
when its token expires. Every refusal writes a ``gateway.refused`` audit event naming the
client, never a value from the request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.core.logging_setup import safe_traceback
from app.core.store.store import Actor
from app.services.context import actor_of
from gateway.graphql.context import (
    SCOPE_QUERY,
    SCOPE_SUBSCRIBE,
    TOO_COSTLY,
    GraphQLContext,
    new_budget,
)
from gateway.graphql.schema import build_schema

if TYPE_CHECKING:
    from gateway.app import Gateway, RefusalError

log = logging.getLogger("gateway.graphql")
ROUTE = "/graphql"
WS_ROUTE = "/graphql (ws)"
INIT_WAIT_S = 10  # a socket that sends no connection_init by then is closed (4408)
MAX_OPERATIONS_PER_SOCKET = 10
# a refused field's GraphQL code -> the audit event's status and code (REST's vocabulary)
FIELD_REFUSALS = {
    "UNAUTHENTICATED": (401, "login"),
    "FORBIDDEN": (403, "forbidden"),
    "NOT_FOUND": (404, "not-found"),
    "BAD_USER_INPUT": (400, "invalid"),
    "REFUSED": (409, "processing"),
}
CLOSE_CODES = {400: 4400, 401: 4401, 403: 4403, 429: 4429}
CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 405: "BAD_REQUEST",
         413: "TOO_LARGE", 415: "BAD_REQUEST", 429: "THROTTLED"}  # fmt: skip


def _refusal(status: int, code: str, diagnostics: str) -> RefusalError:
    from gateway.app import RefusalError

    return RefusalError(status, code, diagnostics)


class _TransportWS(BaseGraphQLTransportWSHandler[GraphQLContext, None]):
    """graphql-transport-ws with the gateway's admission at connection_init and a close at
    token expiry."""

    view: GatewayGraphQL
    _expiry: asyncio.Task[None] | None = None
    _closing: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if (
            self.connection_init_received
            or self.connection_timed_out
            or not isinstance(payload, dict)
        ):  # strawberry closes these: 4429 (a second init), 4400 (payload not an object)
            await self.handle_invalid_init()
            await super().handle_connection_init(message)
            return
        refused = await self.view.admit(self.context, payload)
        if refused is not None:
            self.connection_init_received = True
            if self.connection_init_timeout_task:
                self.connection_init_timeout_task.cancel()
            await self.websocket.close(CLOSE_CODES.get(refused.status, 4400), refused.diagnostics)
            return
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self._expiry = asyncio.create_task(self._close_at_expiry())
            self.context.close = self._close_soon

    async def handle_invalid_init(self) -> None:
        if not self.connection_timed_out:
            await self.view.refused_ws(self.context, _refusal(400, "invalid", "connection_init"))

    async def handle_invalid_message(self, error_message: str) -> None:
        """Not JSON, not text, an unknown type: audited, then closed 4400 by strawberry."""
        await self.view.refused_ws(self.context, _refusal(400, "invalid", "message"))
        await super().handle_invalid_message(error_message)

    async def handle_connection_init_timeout(self) -> None:
        """No connection_init in time: audited, then closed 4408 (as strawberry closes it)."""
        await asyncio.sleep(self.connection_init_wait_timeout.total_seconds())
        if self.connection_init_received:
            return
        self.connection_timed_out = True
        await self.view.refused_ws(self.context, _refusal(401, "login", "no connection_init"))
        with suppress(RuntimeError):
            await self.websocket.close(4408, "Connection initialisation timeout")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged:  # strawberry closes it 4401; we audit it too
            await self.view.refused_ws(self.context, _refusal(401, "login", "no connection_init"))
        new_budget()  # inherited by the operation's task
        await super().handle_subscribe(message)

    async def _close_at_expiry(self) -> None:
        await asyncio.sleep(max(0.0, self.context.expires_at - time.time()))
        await self._close_refused("token expired")

    def _close_soon(self, reason: str) -> None:
        """From an operation's own task: close in another (closing cancels the operations)."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close_refused(reason))

    async def _close_refused(self, reason: str) -> None:
        for op in list(self.operations):
            await self.cleanup_operation(op)
        await self.view.refused_ws(self.context, _refusal(401, "login", reason))
        with suppress(RuntimeError):  # the client may have gone at the same moment
            await self.websocket.close(4401, reason)

    async def shutdown(self) -> None:
        if self._expiry is not None and not self._expiry.done():
            self._expiry.cancel()
            with suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()


class GatewayGraphQL(GraphQL[GraphQLContext, None]):
    """strawberry's ASGI view with the gateway's authentication, limits and audit."""

    graphql_transport_ws_handler_class = _TransportWS

    def __init__(self, gw: Gateway) -> None:
        super().__init__(
            build_schema(),
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=INIT_WAIT_S),
            max_subscriptions_per_connection=MAX_OPERATIONS_PER_SOCKET,
        )
        self.gw = gw

    # --- HTTP --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if GRAPHQL_TRANSPORT_WS_PROTOCOL not in scope.get("subprotocols", []):
                await self.refused_ws(
                    GraphQLContext(self.gw, transport="ws"),
                    _refusal(400, "not-supported", "use the graphql-transport-ws subprotocol"),
                )
            await super().__call__(scope, receive, send)  # strawberry closes it with 4406
            return
        response = await self._http(Request(scope, receive))
        await response(scope, receive, send)

    async def _http(self, request: Request) -> Response:
        from gateway.app import RefusalError

        started = time.perf_counter()
        request.state.client_id, request.state.principal = "", None
        ctx = GraphQLContext(self.gw, request)
        try:
            try:
                client, principal = await run_in_threadpool(
                    self.gw._authorize, request, SCOPE_QUERY
                )
                if request.method != "POST":
                    raise RefusalError(405, "not-supported", "GraphQL is served by POST only")
                raw = await self.gw._body(request)
                ctx.principal, ctx.client_id = principal, client.client_id
                ctx.scopes = frozenset({SCOPE_QUERY})  # checked by _authorize; queries only
                new_budget()
                response = await self.run(_replay(request, raw), context=ctx)
            except HTTPException as exc:  # strawberry's own 4xx (bad JSON, content type, ...)
                raise RefusalError(exc.status_code, "invalid", exc.reason) from None
            if response.status_code == 400:  # refused before execution (syntax, limits) or cost
                code = "too-costly" if TOO_COSTLY in ctx.refused else "invalid"
                await run_in_threadpool(self._audit, ctx, _refusal(400, code, "query"))
            elif ctx.refused:  # answered, with fields refused: one event for the request
                status, code = FIELD_REFUSALS.get(ctx.refused[0], (500, "exception"))
                await run_in_threadpool(self._audit, ctx, _refusal(status, code, "field"))
            status = response.status_code
        except RefusalError as r:
            ctx.client_id = request.state.client_id  # known once the token was read
            await run_in_threadpool(self._audit, ctx, r)
            status = r.status
            code = CODES.get(r.status, "BAD_REQUEST")
            body = {"errors": [{"message": r.diagnostics, "extensions": {"code": code}}]}
            headers = {"Retry-After": "1"} if r.status == 429 else {}
            response = JSONResponse(body, status_code=r.status, headers=headers)
        except Exception as exc:  # a bug: class and frames only, nothing from the request
            log.error("graphql failed: %s\n%s", type(exc).__name__, safe_traceback(exc))
            status = 500
            body = {"errors": [{"message": "internal error", "extensions": {"code": "INTERNAL"}}]}
            response = JSONResponse(body, status_code=500)
        ms = 1000 * (time.perf_counter() - started)
        who = request.state.client_id or "-"
        log.info("%s %s -> %d client=%s %.1f ms", request.method, ROUTE, status, who, ms)
        return response

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GraphQLContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Queries only (subscriptions go over WebSocket); a document refused before execution
        (no data at all: syntax, validation, limits, variables) answers 400, not 200."""
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types={OperationType.QUERY},
                operation_extensions=request_data.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError) as exc:
            raise HTTPException(400, "only queries are served over HTTP") from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        errors = list(result.errors or ())
        codes = [str((e.extensions or {}).get("code", "")) for e in errors]
        if TOO_COSTLY in codes:  # the whole request is refused, not answered in part
            result = ExecutionResult(data=None, errors=[errors[codes.index(TOO_COSTLY)]])
            context.refused = [TOO_COSTLY]
        elif errors and result.data is not None:  # fields refused: audited like REST refusals
            context.refused = codes
        if result.data is None and result.errors:
            sub_response.status_code = 400
        return result

    def _audit(self, ctx: GraphQLContext, r: RefusalError, route: str = ROUTE) -> None:
        who = (
            actor_of(ctx.principal)
            if ctx.principal
            else Actor(id=f"gateway:{ctx.client_id or 'anonymous'}", role="")
        )
        self.gw._audit_refusal(who, route, r, ctx.client_id)

    # --- WebSocket ---------------------------------------------------------------------------

    async def get_context(self, request: Request | WebSocket, response: Any) -> GraphQLContext:  # noqa: ANN401
        return GraphQLContext(self.gw, request, response, transport="ws")

    async def admit(self, ctx: GraphQLContext, payload: dict[str, Any]) -> RefusalError | None:
        """Check the connection_init token as the HTTP header is checked; None when admitted."""
        from gateway.app import RefusalError

        auth = payload.get("authorization", payload.get("Authorization", ""))
        try:
            admitted = await run_in_threadpool(
                self.gw.admit, auth if isinstance(auth, str) else "", SCOPE_SUBSCRIBE
            )
        except RefusalError as r:
            ctx.client_id = r.client_id
            await self.refused_ws(ctx, r)
            return r
        client, principal, claims = admitted.client, admitted.principal, admitted.claims
        ctx.principal, ctx.client_id = principal, client.client_id
        ctx.scopes = claims.scopes & {SCOPE_QUERY, SCOPE_SUBSCRIBE}
        ctx.expires_at = claims.expires_at
        log.info("WS %s -> admitted client=%s", ROUTE, client.client_id)
        return None

    async def refused_ws(self, ctx: GraphQLContext, r: RefusalError) -> None:
        """Audit and log a refused socket (or operation) by client id only."""
        await run_in_threadpool(self._audit, ctx, r, WS_ROUTE)
        log.info("WS %s -> %d client=%s", ROUTE, CLOSE_CODES.get(r.status, 4400),
                 ctx.client_id or "-")  # fmt: skip


def _replay(request: Request, raw: bytes) -> Request:
    """The request again, its (already bounded) body served from memory."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(request.scope, receive)
