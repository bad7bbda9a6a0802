"""Clinical-note analysis with the local LLM: read the note (RBAC + audit), run the model in
its child process, store the evidence-checked result with provenance, publish the event.

The UI streams tokens through `NoteAnalyser.stream` on a worker thread and cancels with
`NoteAnalyser.cancel`; the CLI and tests use `analyse_note`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.events import Change, PatientDataUpdated, RecordType
from app.core.security import rbac
from app.core.store.models import ClinicalNote, NlpAnalysis
from app.core.store.store import UnitOfWork
from app.services import phi_audit, twin
from app.services._engine_errors import engine_errors, translates_engine_errors
from app.services._records import add_audited
from app.services.context import AppContext, actor_of
from app.services.engine_events import analysis_completed_event
from engines.llm.evidence import EvidenceIndex
from engines.llm.gguf_meta import read_gguf_info
from engines.llm.manager import ModelManager
from engines.llm.notes import note_task, parse_note_analysis
from engines.llm.results import (
    EvidenceQuote,
    Finding,
    GenerationResult,
    GenParams,
    NoteAnalysis,
    TokenChunk,
    risk_level_backing,
)
from engines.llm.worker import LlmWorker


class NoteAnalyser:
    """Owns the model manager and one long-lived model child process (started on first use)."""

    def __init__(self, settings: Settings, model_path: Path | None = None) -> None:
        with engine_errors():  # a malformed IT manifest is the app's ConfigError
            self.manager = ModelManager(settings.model_dirs, settings.model_manifest or None)
        self._model_path = model_path
        self._worker: LlmWorker | None = None
        self._lock = threading.Lock()

    @translates_engine_errors
    def model_path(self) -> Path:
        """The configured model: an explicit path, else the first usable non-demo, else demo."""
        if self._model_path is not None:
            return self._model_path
        usable = [e for e in self.manager.discover() if e.usable]
        if not usable:
            dirs = ", ".join(str(d) for d in self.manager.model_dirs)
            raise NotFoundError(
                f"No usable language model is installed (looked in {dirs}).",
                hint="IT installs MentaLLaMA GGUF files there; "
                "'novamind demo' installs a demo model.",
            )
        usable.sort(key=lambda e: e.is_demo)
        self._model_path = usable[0].path
        return self._model_path

    @translates_engine_errors
    def worker(self) -> LlmWorker:
        with self._lock:
            if self._worker is None:
                path = self.model_path()
                self.manager.provenance(path)  # verifies the IT manifest hash before loading
                info = read_gguf_info(path)
                self._worker = LlmWorker.start(path, self.manager.load_params(info))
            return self._worker

    def stream(
        self, note_text: str, params: GenParams | None = None
    ) -> Iterator[TokenChunk | GenerationResult]:
        """Token chunks, then one GenerationResult (runs in the model's child process)."""
        with engine_errors():
            yield from self.worker().submit(note_task(note_text, params))

    def cancel(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.cancel()

    def close(self) -> None:
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None


@dataclass(frozen=True)
class StoredAnalysis:
    id: str
    note_id: str
    model_name: str
    model_sha256: str
    result: dict[str, Any]
    review_status: str


def read_note(ctx: AppContext, principal: Principal, note_id: str) -> tuple[str, str]:
    """(patient id, note text) for analysis; an audited PHI read."""

    def read(session: Session) -> tuple[str, str]:
        note = session.get(ClinicalNote, note_id)
        if note is None:
            raise NotFoundError("That note does not exist.")
        rbac.require(session, principal, Action.WRITE_CLINICAL, note.patient_id)
        return note.patient_id, note.body

    patient_id, text = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "note.read_for_analysis",
        patient_id=patient_id,
        record_type="note",
        record_id=note_id,
    )
    return patient_id, text


def _as_json(analysis: NoteAnalysis) -> dict[str, Any]:
    data = dataclasses.asdict(analysis)
    for stored, finding in zip(data["findings"], analysis.findings, strict=True):
        stored["verified"] = finding.verified
        stored["reason"] = finding.reason
    data["verified_findings"] = len(analysis.verified_findings)
    data["unverified_findings"] = len(analysis.unverified_findings)
    data["risk_level_backing"] = list(analysis.risk_level_backing)
    data["risk_level_backed"] = analysis.risk_level_backed
    data["summary_backed"] = analysis.summary_backed
    data["decisions"] = {}  # finding index → accepted/rejected, by the clinician
    return data


def recheck_result(data: dict[str, Any], note_text: str) -> dict[str, Any]:
    """Re-apply today's evidence rules to a stored result, against the note's text: every quote
    is checked again (verbatim, at least a clause), a finding is verified only if all its quotes
    are, and the risk level's backing and the summary's status are recomputed. Results stored
    under older, looser rules (any one quote, 4 characters) are therefore never shown as more
    verified than the current rules allow. Changes `data` in place and returns it."""
    index = EvidenceIndex(note_text)
    kinds: list[tuple[str, bool]] = []
    rejected: list[str] = []
    for finding in data.get("findings", []):
        quotes: list[EvidenceQuote] = []
        for e in finding.get("evidence", []):
            chk = index.check(str(e.get("quote", "")))
            e.update(verified=chk.verified, start=chk.start, end=chk.end, reason=chk.reason)
            quotes.append(EvidenceQuote(chk.quote, chk.verified, chk.start, chk.end, chk.reason))
            if not chk.verified:
                rejected.append(chk.quote)
        checked = Finding(str(finding.get("kind", "")), "", "", tuple(quotes))
        finding["verified"] = checked.verified
        finding["reason"] = checked.reason
        kinds.append((checked.kind, checked.verified))
    data["rejected_quotes"] = rejected
    data["verified_findings"] = sum(ok for _, ok in kinds)
    data["unverified_findings"] = len(kinds) - data["verified_findings"]
    backing = risk_level_backing(str(data.get("risk_level", "")), kinds)
    data["risk_level_backing"] = list(backing)
    data["risk_level_backed"] = bool(backing)
    data["summary_backed"] = False
    return data


def store_analysis(
    ctx: AppContext, principal: Principal, patient_id: str, analysis: NoteAnalysis
) -> str:
    """Store an analysis of one of this patient's notes (a note of another patient, or a
    deleted one, is refused: the analysis would file one patient's text under another)."""

    def do(uow: UnitOfWork) -> str:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        note = uow.session.get(ClinicalNote, analysis.note_id)
        if note is None or note.deleted_at is not None:
            raise NotFoundError("The analysed note does not exist.")
        if note.patient_id != patient_id:
            raise ValidationError("The analysed note belongs to another patient; not stored.")
        row = NlpAnalysis(
            id=_uuid(analysis.analysis_id),
            patient_id=patient_id,
            note_id=analysis.note_id,
            model_name=analysis.model.name,
            model_sha256=analysis.model.sha256,
            params_json=json.dumps(
                {
                    "load": dataclasses.asdict(analysis.load),
                    "generation": dataclasses.asdict(analysis.params),
                }
            ),
            result_json=json.dumps(_as_json(analysis)),
            author_id=principal.user_id,
        )
        detail = {"note_id": analysis.note_id, "model_sha256": analysis.model.sha256}
        actor = actor_of(principal)
        add_audited(
            uow, actor, "nlp.analyse", row, patient_id=patient_id, record_type="nlp", detail=detail
        )
        uow.emit(
            analysis_completed_event(dataclasses.replace(analysis, analysis_id=row.id), patient_id)
        )
        return row.id

    return ctx.store.write(do)


def _uuid(hex_or_uuid: str) -> str:
    return str(uuid.UUID(hex_or_uuid))


@translates_engine_errors
def analyse_note(
    ctx: AppContext,
    principal: Principal,
    note_id: str,
    analyser: NoteAnalyser,
    *,
    params: GenParams | None = None,
    on_token: Callable[[str], None] | None = None,
) -> tuple[str, NoteAnalysis]:
    """Read, analyse, verify quotes, store; returns (stored id, analysis)."""
    patient_id, text = read_note(ctx, principal, note_id)
    result: GenerationResult | None = None
    for item in analyser.stream(text, params):
        if isinstance(item, TokenChunk):
            if on_token:
                on_token(item.text)
        else:
            result = item
    if result is None:
        raise ValidationError(f"analysis of note {note_id}: the model returned no result")
    analysis = parse_note_analysis(
        note_id, text, result, analyser.manager.provenance(analyser.model_path())
    )
    return store_analysis(ctx, principal, patient_id, analysis), analysis


def review_finding(
    ctx: AppContext,
    principal: Principal,
    analysis_id: str,
    finding: int,
    *,
    accept: bool,
    reason: str = "",
) -> None:
    """The clinician accepts or rejects one finding (audited; the model output itself is kept)."""

    def do(uow: UnitOfWork) -> None:
        row = uow.session.get(NlpAnalysis, analysis_id)
        if row is None:
            raise NotFoundError("That analysis does not exist.")
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, row.patient_id)
        data = json.loads(row.result_json)
        if not 0 <= finding < len(data.get("findings", [])):
            raise ValidationError(f"analysis has no finding number {finding}")
        data.setdefault("decisions", {})[str(finding)] = {
            "accepted": accept,
            "by": principal.user_id,
            "reason": reason.strip(),
        }
        row.result_json = json.dumps(data)
        decided = len(data["decisions"])
        row.review_status = "reviewed" if decided == len(data["findings"]) else "in review"
        uow.audit(
            actor_of(principal),
            "nlp.finding_accept" if accept else "nlp.finding_reject",
            patient_id=row.patient_id,
            record_type="nlp",
            record_id=row.id,
            detail={"finding": finding},
        )
        # an accepted finding feeds the twin (app/services/twin_notes.py): refresh it now
        twin.update_in(uow, actor_of(principal), row.patient_id, datetime.now(UTC))
        # ...and the models' nlp_* inputs (app/services/note_flags.py): tell listeners so the
        # views of those inputs are marked stale
        uow.emit(
            PatientDataUpdated(
                patient_id=row.patient_id,
                record_type=RecordType.NLP,
                record_id=row.id,
                change=Change.UPDATED,
            )  # fmt: skip
        )

    ctx.store.write(do)


def analyses_for_note(ctx: AppContext, principal: Principal, note_id: str) -> list[StoredAnalysis]:
    """Every stored analysis of one note (an audited PHI read naming the patient), its evidence
    re-checked against the note's text with the current rules (`recheck_result`)."""
    patient: list[str] = []

    def read(session: Session) -> list[StoredAnalysis]:
        note = session.get(ClinicalNote, note_id)
        if note is None:
            raise NotFoundError("That note does not exist.")
        rbac.require(session, principal, Action.READ_PHI, note.patient_id)
        patient.append(note.patient_id)
        rows = session.scalars(select(NlpAnalysis).where(NlpAnalysis.note_id == note_id))
        return [
            StoredAnalysis(
                r.id,
                r.note_id,
                r.model_name,
                r.model_sha256,
                recheck_result(json.loads(r.result_json), note.body),
                r.review_status,
            )
            for r in rows
        ]

    result = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "nlp.list",
        patient_id=patient[0],
        record_type="note",
        record_id=note_id,
        detail={"count": len(result)},
    )
    return result
