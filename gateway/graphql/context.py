"""Per-request GraphQL context and the one way a resolver reaches the service layer.

Every resolver calls a service function through `service()`: in a worker thread (the store is
synchronous), as the client's principal, so RBAC, validation and the PHI-read audit are the
desktop's own. Service errors become GraphQL errors carrying the service's PHI-free message and
a code; anything unexpected becomes "internal error" and is logged as class and frames only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from app.core.domain import Principal
from app.core.errors import (
    AuthenticationError,
    NotFoundError,
    NovamindError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.logging_setup import safe_traceback
from app.services._engine_errors import engine_errors
from app.services.context import AppContext
from gateway import clients

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway.graphql")
T = TypeVar("T")

MAX_SERVICE_CALLS = 40  # service calls (audited reads) one request or event may make
MAX_TIMELINE_POINTS = 20_000  # twin timeline points one request or event may return
TOO_COSTLY = "TOO_COSTLY"

SCOPE_QUERY = "graphql/query"
SCOPE_SUBSCRIBE = "graphql/subscribe"
INTERNAL = "internal error; see the gateway log"


@dataclass
class GraphQLContext:
    """Who is asking and over what: filled by the view once the token is verified."""

    gw: Gateway
    request: Any = None  # starlette Request or WebSocket
    response: Any = None
    transport: str = "http"  # "http" or "ws"
    principal: Principal | None = None
    client_id: str = ""
    scopes: frozenset[str] = frozenset()
    expires_at: int = 0  # the token's expiry (epoch seconds); the socket closes then
    connection_params: dict[str, Any] | None = None
    refused: list[str] = field(default_factory=list)  # error codes of an executed request
    close: Callable[[str], None] | None = None  # the socket's: close it 4401 with a reason


def still_admitted(ctx: GraphQLContext) -> bool:
    """Whether the client is still registered with its token's scopes and its account still
    active in the same role (re-read before each delivery on a long-lived socket)."""
    app = ctx.gw.ctx
    client = clients.get(app, ctx.client_id)
    if client is None or not ctx.scopes <= client.scopes:
        return False
    try:
        clients.principal_of(app, client)
    except AuthenticationError:
        return False
    return True


class Budget:
    """What one request (or one subscription event) may still cost: the guard against a
    query fanning out into hundreds of audited reads, which no static limit sees."""

    def __init__(self) -> None:
        self.calls = 0
        self.points = 0

    def charge(self, calls: int = 0, points: int = 0) -> None:
        self.calls += calls
        self.points += points
        if self.calls > MAX_SERVICE_CALLS or self.points > MAX_TIMELINE_POINTS:
            raise refusal(
                f"query too costly: at most {MAX_SERVICE_CALLS} record reads and "
                f"{MAX_TIMELINE_POINTS} timeline points per request",
                TOO_COSTLY,
            )


_budget: ContextVar[Budget | None] = ContextVar("graphql_budget", default=None)


def new_budget() -> Budget:
    """Start a fresh budget for the running task (a request, an operation, an event)."""
    budget = Budget()
    _budget.set(budget)
    return budget


def charge(calls: int = 0, points: int = 0) -> None:
    """Charge the running task's budget (no budget: nothing to charge)."""
    budget = _budget.get()
    if budget is not None:
        budget.charge(calls, points)


def context_of(info: Info) -> GraphQLContext:
    """The request's context (the view always sets one)."""
    ctx = info.context
    if not isinstance(ctx, GraphQLContext):
        raise refusal("not authenticated", "UNAUTHENTICATED")
    return ctx


def code_of(exc: NovamindError) -> str:
    """The GraphQL error code of a service error."""
    if isinstance(exc, AuthenticationError):
        return "UNAUTHENTICATED"
    if isinstance(exc, PermissionDeniedError):
        return "FORBIDDEN"
    if isinstance(exc, NotFoundError):
        return "NOT_FOUND"
    if isinstance(exc, ValidationError):
        return "BAD_USER_INPUT"
    return "REFUSED"


def refusal(message: str, code: str) -> GraphQLError:
    """A GraphQL error whose message is safe to show and to keep (never PHI)."""
    return GraphQLError(message, extensions={"code": code})


def require_scope(ctx: GraphQLContext, scope: str) -> Principal:
    """The principal, if the token carries `scope` (over HTTP the view checked it already)."""
    if ctx.principal is None:
        raise refusal("not authenticated", "UNAUTHENTICATED")
    if scope not in ctx.scopes:
        raise refusal(f"the token lacks scope {scope}", "FORBIDDEN")
    return ctx.principal


def _guarded(fn: Callable[..., T], app: AppContext, principal: Principal, *args: object) -> T:
    with engine_errors():
        return fn(app, principal, *args)


async def service(ctx: GraphQLContext, fn: Callable[..., T], *args: object) -> T:
    """``fn(app_ctx, principal, *args)`` in a worker thread as the client's principal."""
    principal = ctx.principal
    if principal is None:
        raise refusal("not authenticated", "UNAUTHENTICATED")
    charge(calls=1)
    try:
        return await run_in_threadpool(_guarded, fn, ctx.gw.ctx, principal, *args)
    except NovamindError as exc:
        code = code_of(exc)
        message = exc.user_message() if code == "REFUSED" else str(exc)
        raise refusal(message, code) from None
    except GraphQLError:
        raise
    except Exception as exc:  # a bug: class and frames only, nothing from the request
        log.error("graphql resolver failed: %s\n%s", type(exc).__name__, safe_traceback(exc))
        raise refusal(INTERNAL, "INTERNAL") from None


async def quietly(ctx: GraphQLContext, fn: Callable[..., T], *args: object) -> T | None:
    """Like `service`, but None where the service refuses (subscriptions: a record this
    principal may not see is skipped without a word, so its existence does not leak)."""
    principal = ctx.principal
    if principal is None:
        return None
    try:
        return await run_in_threadpool(_guarded, fn, ctx.gw.ctx, principal, *args)
    except NovamindError:
        return None
    except Exception as exc:  # a bug: class and frames only
        log.error("graphql subscription lookup failed: %s\n%s", type(exc).__name__,
                  safe_traceback(exc))  # fmt: skip
        return None
