"""Helpers for the notes-analysis panel around `app.services.nlp.NoteAnalyser`: which model
would run (or a clear message when none is installed), and turning a finished generation into
an evidence-checked analysis without touching the store (the panel stores it with
`nlp.store_analysis` through its service thread)."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import NovamindError
from app.services._engine_errors import engine_errors, translates_engine_errors
from app.services.nlp import NoteAnalyser
from engines.llm.manager import DEMO_LABEL
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, NoteAnalysis

__all__ = ["DEMO_LABEL", "ModelStatus", "finish_analysis", "model_status"]


@dataclass(frozen=True)
class ModelStatus:
    available: bool
    name: str
    label: str
    clinical_validity: bool
    message: str


def model_status(analyser: NoteAnalyser) -> ModelStatus:
    """The model the analyser would load, with its label; a clear message when none exists."""
    try:
        path = analyser.model_path()
        with engine_errors():
            prov = analyser.manager.provenance(path)
    except NovamindError as exc:
        return ModelStatus(False, "", "", False, exc.user_message())
    label = prov.label
    quant = f", {prov.quantization}" if prov.quantization else ""
    return ModelStatus(
        True,
        prov.name,
        label,
        prov.clinical_validity,
        f"{prov.name} ({prov.architecture}{quant}, {prov.file_name}, SHA-256 {prov.sha256[:12]}…)",
    )


@translates_engine_errors
def finish_analysis(
    analyser: NoteAnalyser, note_id: str, note_text: str, result: GenerationResult
) -> NoteAnalysis:
    """Decode, validate and evidence-check a finished generation (ValidationError if invalid)."""
    return parse_note_analysis(
        note_id, note_text, result, analyser.manager.provenance(analyser.model_path())
    )
