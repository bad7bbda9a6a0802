"""Storing and reading minute-level actigraphy series as chunked compressed blobs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.events import RecordType
from app.core.security import rbac
from app.core.store import blobs
from app.core.store.models import ActigraphyChunk, ActigraphySeries
from app.core.store.store import Actor, UnitOfWork
from app.services import phi_audit
from app.services._records import add_audited, emit_created
from app.services.context import AppContext, actor_of
from engines.pat.recording import DEVICE_LIMITS


def add_series(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    start: datetime,
    counts: np.ndarray,
    *,
    epoch_s: int = 60,
    source: str = "",
    chunk: int = blobs.DEFAULT_CHUNK,
) -> str:
    """Write a series inside the caller's transaction (used by imports and the demo)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0:
        raise ValidationError("actigraphy: expected a non-empty 1-D series")
    ok = counts[~np.isnan(counts)]  # NaN = a gap; anything else must lie within the device limits
    if ok.size and (ok.min() < 0 or ok.max() > DEVICE_LIMITS.max_counts_per_minute):
        raise ValidationError(
            "actigraphy: counts outside the device limits "
            f"(0..{DEVICE_LIMITS.max_counts_per_minute:g} per minute); nothing was stored"
        )
    counts = counts.astype(np.float32)
    series = ActigraphySeries(
        patient_id=patient_id,
        start=start,
        epoch_s=epoch_s,
        n_epochs=len(counts),
        chunk_epochs=chunk,
        source=source,
        content_sha256=blobs.content_sha256(counts),
        author_id=actor.id,
    )
    add_audited(
        uow, actor, "actigraphy.import", series, patient_id=patient_id, record_type="actigraphy"
    )
    uow.session.add_all(
        ActigraphyChunk(series_id=series.id, index=i, n_epochs=n, codec=blobs.CODEC, data=blob)
        for i, n, blob in blobs.chunk_array(counts, chunk)
    )
    emit_created(uow, patient_id, RecordType.ACTIGRAPHY, series.id)
    return series.id


def save_series(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    start: datetime,
    counts: np.ndarray,
    *,
    epoch_s: int = 60,
    source: str = "",
) -> str:
    def do(uow: UnitOfWork) -> str:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        return add_series(
            uow, actor_of(principal), patient_id, start, counts, epoch_s=epoch_s, source=source
        )

    return ctx.store.write(do)


def load_series(
    ctx: AppContext, principal: Principal, series_id: str
) -> tuple[datetime, int, np.ndarray]:
    """(start, epoch seconds, values); the decoded content is checked against its hash."""

    def read(session: Session) -> tuple[datetime, int, np.ndarray, str]:
        series = session.get(ActigraphySeries, series_id)
        if series is None:
            raise NotFoundError("That actigraphy series does not exist.")
        rbac.require(session, principal, Action.READ_PHI, series.patient_id)
        rows = session.execute(
            select(
                ActigraphyChunk.index,
                ActigraphyChunk.n_epochs,
                ActigraphyChunk.codec,
                ActigraphyChunk.data,
            ).where(ActigraphyChunk.series_id == series_id)
        ).all()
        values = blobs.join_chunks([r.tuple() for r in rows])
        if len(values) != series.n_epochs or blobs.content_sha256(values) != series.content_sha256:
            raise ValidationError("actigraphy series: stored content does not match its checksum")
        return series.start, series.epoch_s, values, series.patient_id

    start, epoch, values, patient_id = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "actigraphy.read",
        patient_id=patient_id,
        record_type="actigraphy",
        record_id=series_id,
    )
    return start, epoch, values
