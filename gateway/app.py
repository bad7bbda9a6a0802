"""The gateway's ASGI application (Starlette): OAuth token endpoint and FHIR R4 REST.

Every FHIR call: bearer token checked (signature, expiry, audience, issuer), the client still
registered with the scopes the token claims, the call's scope granted, the client's rate limit,
then the service function runs as the client's principal (RBAC, audit, validation are the
service's). Every refusal is an OperationOutcome with a 4xx status and a ``gateway.refused``
audit event naming the client (never PHI). Bodies larger than policy are refused before they
are parsed. The access log is the gateway's own: method, route template, status, client and
time, never a URL (query strings carry names and birth dates).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app import __version__
from app.core.domain import Principal
from app.core.errors import (
    AuthenticationError,
    NotFoundError,
    NovamindError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.logging_setup import safe_traceback
from app.core.store.store import Actor
from app.services import assessments, instrument_catalog, pat, patients, predictions
from app.services._engine_errors import engine_errors
from app.services.context import AppContext, actor_of
from engines.scoring.definitions import builtin_instruments
from engines.scoring.fhir import import_bundle as read_fhir_bundle
from engines.scoring.fhir import questionnaire
from gateway import (
    activity,
    clients,
    exchange,
    graphql_api,
    hints,
    resources,
    risk,
    search,
    tokens,
)
from gateway.hub import Hub
from gateway.ratelimit import RateLimiter

log = logging.getLogger("gateway")
FHIR_JSON = "application/fhir+json"
VIA_PREFIX = "gateway-client:"  # Principal.via of a call made through the gateway
GATEWAY_MODE = "fhir-gateway"  # the assessments' mode: came in through the gateway
MAX_SEARCH = 200


class RefusalError(Exception):
    """A 4xx answer: HTTP status, FHIR issue code, PHI-free diagnostics, and for the audit
    event only (never the answer) a PHI-free reason where the answer hides it."""

    def __init__(self, status: int, code: str, diagnostics: str, reason: str = "") -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics
        self.reason = reason
        self.client_id = ""  # the client, once its token proved it (for the refusal's audit)


@dataclass(frozen=True)
class Admission:
    """A request or socket let in: the registered client, whom it runs as, its token."""

    client: clients.GatewayClient
    principal: Principal
    claims: tokens.TokenClaims


def _refusal_of(exc: NovamindError) -> RefusalError:
    """The service's own error as a FHIR refusal (its message is already PHI-free)."""
    if isinstance(exc, AuthenticationError):
        return RefusalError(401, "login", str(exc))
    if isinstance(exc, PermissionDeniedError):
        return RefusalError(403, "forbidden", str(exc))
    if isinstance(exc, NotFoundError):
        return RefusalError(404, "not-found", str(exc))
    if isinstance(exc, ValidationError):
        return RefusalError(400, "invalid", str(exc))
    return RefusalError(409, "processing", exc.user_message())


class Gateway:
    """The running gateway: the store, the token key, the rate limiter and the routes."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.key = tokens.signing_key(ctx)
        self.limiter = RateLimiter(ctx.settings.gateway_rate_per_min)
        self.token_limiter = RateLimiter(ctx.settings.gateway_rate_per_min)  # per remote address
        self._verify_slots = threading.BoundedSemaphore(4)
        self.max_body = ctx.settings.gateway_max_body_kb * 1024
        self._throttled: set[str] = set()  # clients whose current empty-bucket run was audited
        self.hub = Hub()  # replaced by create_app's

    # --- plumbing ---------------------------------------------------------------------------

    def _audit_refusal(self, who: Actor, route: str, r: RefusalError, client_id: str) -> None:
        detail = {"route": route, "status": r.status, "code": r.code, "client_id": client_id}
        if r.reason:
            detail["reason"] = r.reason
        self.ctx.store.write(lambda uow: uow.audit(who, "gateway.refused", detail=detail))

    async def _body(self, request: Request) -> bytes:
        """The request body, refused (413) once it passes the policy limit."""
        too_big = RefusalError(413, "too-costly", f"body over {self.max_body // 1024} KiB")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def admit(self, authorization: str, scope: str) -> Admission:
        """Check an ``Authorization`` value ("Bearer TOKEN") for ``scope``: signature, expiry,
        audience, the client still registered with the token's scopes, its rate, its account
        (and an exchanged token's clinician). Raises RefusalError, whose ``client_id`` names
        the client once the token has proved it; the HTTP routes and the GraphQL socket's
        connection_init both come here."""
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise RefusalError(401, "login", "a bearer token is required")
        try:
            claims = tokens.verify(self.ctx, token.strip(), self.key)
        except AuthenticationError as exc:
            raise RefusalError(401, "login", str(exc)) from None
        client = clients.get(self.ctx, claims.client_id)
        if client is None or not claims.scopes <= client.scopes:
            raise RefusalError(401, "login", "the token's client or scopes are not registered")
        try:
            return self._admit_client(client, claims, scope)
        except RefusalError as r:
            r.client_id = client.client_id
            raise

    def _admit_client(
        self, client: clients.GatewayClient, claims: tokens.TokenClaims, scope: str
    ) -> Admission:
        if claims.on_behalf_of is not None and exchange.EXCHANGE_SCOPE not in client.scopes:
            raise RefusalError(401, "login", "the client may no longer act for clinicians")
        if scope not in claims.scopes:
            raise RefusalError(403, "forbidden", f"the token lacks scope {scope}")
        if not self.limiter.allow(client.client_id):
            raise RefusalError(429, "throttled", "rate limit exceeded; retry later")
        self._throttled.discard(client.client_id)
        try:  # the client's own account must be active, even when it acts for a clinician
            principal = clients.principal_of(self.ctx, client)
            if claims.on_behalf_of is not None:  # exchanged: the clinician's own role and team
                principal = exchange.acting_principal(self.ctx, claims)
        except AuthenticationError as exc:
            raise RefusalError(401, "login", str(exc)) from None
        # every audit event the services write for this call names the client too
        principal = replace(principal, via=f"{VIA_PREFIX}{client.client_id}")
        if claims.on_behalf_of is not None:
            exchange.audit_use(self.ctx, principal, client.client_id, scope, claims.jti)
        return Admission(client, principal, claims)

    def _authorize(self, request: Request, scope: str) -> tuple[clients.GatewayClient, Principal]:
        """`admit` for a request's Authorization header; the client and principal go on
        ``request.state`` (the refusal audit and the access log name the client)."""
        try:
            admitted = self.admit(request.headers.get("authorization", ""), scope)
        except RefusalError as r:
            request.state.client_id = r.client_id
            raise
        request.state.client_id = admitted.client.client_id
        request.state.principal = admitted.principal
        return admitted.client, admitted.principal

    async def _serve(
        self,
        request: Request,
        route: str,
        scope: str | None,
        work: Callable[[Principal, bytes], tuple[int, dict[str, Any]]],
        *,
        body: bool = False,
    ) -> Response:
        """Authorize, read the body, run `work` in a thread, and answer (or refuse) in FHIR.
        `scope` None: a public route (metadata, unknown paths); it gets no principal."""
        started = time.perf_counter()
        request.state.client_id = ""
        request.state.principal = None
        headers: dict[str, str] = {}
        try:
            if scope is None:
                status, doc = await run_in_threadpool(work, None, b"")  # type: ignore[arg-type]
            else:  # who first: an unauthenticated upload is refused before it is read
                _, principal = await run_in_threadpool(self._authorize, request, scope)
                raw = await self._body(request) if body else b""
                status, doc = await run_in_threadpool(self._guarded, work, principal, raw)
            if status == 201:
                headers["Location"] = f"{doc['resourceType']}/{doc['id']}"
        except RefusalError as r:
            status, doc = r.status, resources.outcome(r.status, r.code, r.diagnostics)
            who = request.state.principal
            client_id = request.state.client_id
            actor = (
                actor_of(who) if who else Actor(id=f"gateway:{client_id or 'anonymous'}", role="")
            )
            if r.status == 429:
                headers["Retry-After"] = "1"
            if r.status != 429 or client_id not in self._throttled:
                self._throttled.add(client_id) if r.status == 429 else None
                await run_in_threadpool(self._audit_refusal, actor, route, r, client_id)
        except Exception as exc:  # a bug: class and frames only, nothing from the request
            log.error("gateway %s failed: %s\n%s", route, type(exc).__name__, safe_traceback(exc))
            status = 500
            doc = resources.outcome(500, "exception", "internal error; see the gateway log")
        log.info(
            "%s %s -> %d client=%s %.1f ms",
            request.method,
            route,
            status,
            request.state.client_id or "-",
            1000 * (time.perf_counter() - started),
        )
        return JSONResponse(doc, status_code=status, media_type=FHIR_JSON, headers=headers)

    @staticmethod
    def _guarded(
        work: Callable[[Principal, bytes], tuple[int, dict[str, Any]]],
        principal: Principal,
        raw: bytes,
    ) -> tuple[int, dict[str, Any]]:
        try:
            with engine_errors():
                return work(principal, raw)
        except NovamindError as exc:
            raise _refusal_of(exc) from None

    # --- OAuth ------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        """POST /oauth/token: client credentials (form fields or HTTP Basic) → bearer JWT, or a
        token exchange (RFC 8693, gateway/exchange.py) → a JWT acting for a clinician."""
        addr = f"addr:{request.client.host if request.client else '?'}"
        try:
            if not self.token_limiter.allow(addr):  # Argon2 per attempt: bound what one host costs
                raise RefusalError(429, "throttled", "too many token requests; retry later")
            self._throttled.discard(addr)
            raw = await self._body(request)
            return await run_in_threadpool(self._token, request, raw)
        except RefusalError as r:
            if r.status != 429 or addr not in self._throttled:
                if r.status == 429:
                    self._throttled.add(addr)
                await run_in_threadpool(
                    self._audit_refusal, Actor(id="gateway:anonymous", role=""), "/oauth/token",
                    r, "",
                )  # fmt: skip
            log.info("POST /oauth/token -> %d client=-", r.status)
            headers = {"Retry-After": "1"} if r.status == 429 else {}
            return JSONResponse({"error": "invalid_request"}, r.status, headers=headers)

    def _token(self, request: Request, raw: bytes) -> Response:
        from urllib.parse import parse_qs, unquote_plus

        try:
            form = {k: v[0] for k, v in parse_qs(raw.decode("ascii"), strict_parsing=False).items()}
        except (UnicodeDecodeError, ValueError):
            form = {}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            import base64
            import binascii

            try:  # RFC 6749 2.3.1: each half form-urlencoded, then Basic
                cid, _, sec = base64.b64decode(auth[6:], validate=True).decode().partition(":")
                client_id, secret = unquote_plus(cid), unquote_plus(sec)
            except (binascii.Error, UnicodeDecodeError):
                client_id, secret = "", ""

        def refuse(status: int, error: str, why: str, who: Actor, cid: str) -> Response:
            self._audit_refusal(who, "/oauth/token", RefusalError(status, "login", why), cid)
            log.info("POST /oauth/token -> %d client=%s (%s)", status, cid or "-", error)
            return JSONResponse({"error": error}, status_code=status)

        anonymous = Actor(id="gateway:anonymous", role="")
        if form.get("grant_type") == exchange.GRANT_TYPE:
            try:
                with self._verify_slots:  # the clinician's password is an Argon2 check too
                    cid, doc = exchange.exchange(self.ctx, self.key, form)
            except exchange.ExchangeRefusedError as no:
                return refuse(400, no.error, no.why, no.who or anonymous, no.client_id)
            log.info("POST /oauth/token -> 200 client=%s (token exchange)", cid)
            return JSONResponse(doc, headers={"Cache-Control": "no-store"})
        if form.get("grant_type") != "client_credentials":
            return refuse(400, "unsupported_grant_type", "grant type", anonymous, "")
        try:
            with self._verify_slots:  # Argon2 holds ~19 MiB per check: a few at a time
                client = clients.authenticate(self.ctx, client_id, secret)
        except AuthenticationError:
            return refuse(401, "invalid_client", "client credentials", anonymous, "")
        asked = frozenset(form.get("scope", "").split()) or client.scopes
        if not asked <= client.scopes:  # scope escalation: never a partial grant
            who = Actor(id=client.user_id, role=client.role.value)
            return refuse(400, "invalid_scope", "scope not granted", who, client.client_id)
        token, ttl = tokens.issue(self.ctx, client.client_id, asked, self.key)
        log.info("POST /oauth/token -> 200 client=%s", client.client_id)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",  # nosec B105 — the OAuth token type, not a secret
                "expires_in": ttl,
                "scope": " ".join(sorted(asked)),
            },
            headers={"Cache-Control": "no-store"},
        )

    # --- FHIR -------------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        return await self._serve(
            request,
            "/fhir/metadata",
            None,
            lambda _p, _b: (200, resources.capability_statement(__version__)),
        )

    async def patient_read(self, request: Request) -> Response:
        pid = request.path_params["id"]

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            return 200, resources.patient(patients.get_patient(self.ctx, p, pid))

        return await self._serve(request, "/fhir/Patient/{id}", "system/Patient.read", work)

    async def patient_search(self, request: Request) -> Response:
        q = request.query_params
        ident = q.get("identifier", "").rpartition("|")[2].strip()
        name = q.get("name", "").strip()
        born = q.get("birthdate", "").strip()

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            unknown = set(q.keys()) - {"identifier", "name", "birthdate", "_count"}
            if unknown:
                raise RefusalError(400, "not-supported", "unsupported search parameter")
            try:
                day = date.fromisoformat(born) if born else None
                count = int(q.get("_count", "50"))
            except ValueError:
                raise RefusalError(
                    400, "invalid", "birthdate must be YYYY-MM-DD, _count a number"
                ) from None
            if not 1 <= count <= MAX_SEARCH:
                raise RefusalError(400, "invalid", f"_count must be 1-{MAX_SEARCH}")
            found = patients.list_patients(self.ctx, p, search=ident or name)
            hits = [
                x
                for x in found
                if (not ident or x.mrn == ident)
                and (not name or name.lower() in x.display_name.lower())
                and (day is None or x.birth_date == day)
            ]
            return 200, resources.searchset([resources.patient(x) for x in hits[:count]])

        return await self._serve(request, "/fhir/Patient", "system/Patient.read", work)

    async def questionnaire_list(self, request: Request) -> Response:
        def work(_p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            qs = [resources.validated(questionnaire(i)) for i in instrument_catalog.instruments()]
            return 200, resources.searchset(qs)

        return await self._serve(request, "/fhir/Questionnaire", "system/Questionnaire.read", work)

    async def questionnaire_read(self, request: Request) -> Response:
        wanted = request.path_params["instrument"]

        def work(_p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            for inst in instrument_catalog.instruments():
                if wanted in (inst.id, inst.id.replace("_", "-")):
                    return 200, questionnaire(inst)
            raise RefusalError(404, "not-found", "no such Questionnaire")

        return await self._serve(
            request, "/fhir/Questionnaire/{instrument}", "system/Questionnaire.read", work
        )

    async def response_create(self, request: Request) -> Response:
        conditional = "if-none-exist" in request.headers

        def work(p: Principal, raw: bytes) -> tuple[int, dict[str, Any]]:
            if conditional:  # the store keeps no external identifier to match (see the docs)
                raise RefusalError(400, "not-supported", "conditional create is not supported")
            try:
                doc = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                raise RefusalError(400, "structure", "body is not valid JSON") from None
            if not isinstance(doc, dict) or doc.get("resourceType") != "QuestionnaireResponse":
                raise RefusalError(400, "invalid", "resourceType must be QuestionnaireResponse")
            doc = {**doc, "id": str(doc.get("id") or uuid.uuid4())}
            bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": doc}]}
            (record,) = read_fhir_bundle(json.dumps(bundle).encode())  # engine checks, re-score
            res = record.result
            outcome = assessments.submit(
                self.ctx,
                p,
                record.patient_id,
                res.instrument_id,
                dict(res.answers),
                mode=GATEWAY_MODE,
                administered_at=record.authored,
                params=dict(res.parameters) or None,
            )
            return 201, {**doc, "id": outcome.assessment_id}

        return await self._serve(
            request,
            "/fhir/QuestionnaireResponse",
            "system/QuestionnaireResponse.write",
            work,
            body=True,
        )

    async def observation_search(self, request: Request) -> Response:
        q = request.query_params

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            search.only(q, {"patient", "category", "_count"})
            pid = search.patient(q)
            kinds = search.categories(q, {"survey", "activity"})
            limit = search.count(q, search.MAX_COUNT)
            obs: list[dict[str, Any]] = []
            matched = 0
            if "survey" in kinds:  # one audited read: the scored administrations
                found = assessments.responses(self.ctx, p, pid, limit=limit)
                known = {i.id: i for i in instrument_catalog.instruments()}
                obs += [
                    resources.observation(r, known.get(r.result.instrument_id))
                    for r in found.records
                ]
                matched += found.matched
            if "activity" in kinds:  # the newest recording's stored results (audited read)
                results = pat.latest_results(self.ctx, p, pid)
                day_and_night = activity.observations(pid, results) if results else []
                obs += day_and_night
                matched += len(day_and_night)
            return 200, resources.searchset(obs, total=matched)

        return await self._serve(request, "/fhir/Observation", "system/Observation.read", work)

    async def risk_search(self, request: Request) -> Response:
        q = request.query_params

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            search.only(q, {"patient"})
            pid = search.patient(q)
            views = predictions.latest(self.ctx, p, pid)  # newest per target and option, audited
            return 200, resources.searchset([risk.risk_assessment(pid, v) for v in views])

        return await self._serve(
            request, "/fhir/RiskAssessment", "system/RiskAssessment.read", work
        )

    async def risk_read(self, request: Request) -> Response:
        rid = request.path_params["id"]

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            try:
                v = predictions.get(self.ctx, p, rid)  # audited read of its patient's record
            except (NotFoundError, PermissionDeniedError) as exc:
                # alike: an id of another team's patient must not show that it exists
                reason = "not-permitted" if isinstance(exc, PermissionDeniedError) else "unknown"
                raise RefusalError(404, "not-found", "no such RiskAssessment", reason) from None
            return 200, risk.risk_assessment(v.patient_id, v)

        return await self._serve(
            request, "/fhir/RiskAssessment/{id}", "system/RiskAssessment.read", work
        )

    async def response_search(self, request: Request) -> Response:
        q = request.query_params

        def work(p: Principal, _: bytes) -> tuple[int, dict[str, Any]]:
            search.only(q, {"patient", "questionnaire", "authored", "_count"})
            pid = search.patient(q)
            known = [i.id for i in instrument_catalog.instruments()]
            inst = search.instrument(q, known)
            since, until = search.date_range(q.getlist("authored"))
            limit = search.count(q, 50)
            found = assessments.responses(
                self.ctx, p, pid, instrument=inst, since=since, until=until, limit=limit
            )
            docs = resources.questionnaire_responses(found.records, builtin_instruments())
            return 200, resources.searchset(docs, total=found.matched)

        return await self._serve(
            request, "/fhir/QuestionnaireResponse", "system/QuestionnaireResponse.read", work
        )

    async def not_found(self, request: Request) -> Response:
        return await self._serve(request, "(unknown)", None, _no_route)


def _no_route(_p: Principal, _b: bytes) -> tuple[int, dict[str, Any]]:
    raise RefusalError(404, "not-supported", "no such endpoint")


def create_app(ctx: AppContext, hub: Hub | None = None) -> Starlette:
    """The ASGI app over an open context (the caller owns and closes `ctx`). ``hub`` fans the
    store's changes out to live subscribers (GraphQL subscriptions, workstation hints); a new
    one attached to ``ctx.bus`` when not given."""
    gw = Gateway(ctx)
    if hub is None:
        hub = Hub()
        hub.attach(ctx.bus)
    gw.hub = hub
    routes: list[BaseRoute] = [
        Route("/oauth/token", gw.token, methods=["POST"]),
        Route("/fhir/metadata", gw.metadata, methods=["GET"]),
        Route("/fhir/Patient", gw.patient_search, methods=["GET"]),
        Route("/fhir/Patient/{id}", gw.patient_read, methods=["GET"]),
        Route("/fhir/Questionnaire", gw.questionnaire_list, methods=["GET"]),
        Route("/fhir/Questionnaire/{instrument}", gw.questionnaire_read, methods=["GET"]),
        Route("/fhir/QuestionnaireResponse", gw.response_create, methods=["POST"]),
        Route("/fhir/QuestionnaireResponse", gw.response_search, methods=["GET"]),
        Route("/fhir/Observation", gw.observation_search, methods=["GET"]),
        Route("/fhir/RiskAssessment", gw.risk_search, methods=["GET"]),
        Route("/fhir/RiskAssessment/{id}", gw.risk_read, methods=["GET"]),
        *graphql_api.routes(gw),
        *hints.routes(gw),
        Route("/{path:path}", gw.not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    app = Starlette(routes=routes)
    app.state.gateway = gw  # the running gateway (its limiter, for operators and tests)
    return app
