"""Helpers for the notes-analysis panel around `app.services.nlp.NoteAnalyser`: which model
would run (or a clear message when none is installed), and turning a finished generation into
an evidence-checked analysis without touching the store (the panel stores it with
`nlp.store_analysis` through its service thread); and the placeholder identity of an analysis
that no model produced, so no screen ever shows one as model output."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import NovamindError
from app.services._engine_errors import engine_errors, translates_engine_errors
from app.services.nlp import NoteAnalyser, StoredAnalysis
from engines.llm.manager import DEMO_LABEL
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, ModelProvenance, NoteAnalysis

__all__ = [
    "DEMO_LABEL",
    "ILLUSTRATIVE_MODEL",
    "NO_MODEL_SHA256",
    "ModelStatus",
    "finish_analysis",
    "is_model_output",
    "model_status",
]

# The model hash of a stored analysis that no model produced (the demo clinic's placeholder
# record, the documentation's illustrative example): the panel labels such a record "not model
# output" and never presents it as a model's answer.
NO_MODEL_SHA256 = "0" * 64
ILLUSTRATIVE_MODEL = ModelProvenance(
    name="illustrative example — not model output",
    file_name="no model file",
    sha256=NO_MODEL_SHA256,
    architecture="none",
    quantization="hand-written",
    parameters=0,
    context_length=0,
    label="written by hand to illustrate the evidence display; no language model produced it",
    clinical_validity=False,
)


def is_model_output(stored: StoredAnalysis) -> bool:
    """False for a placeholder or illustrative record that no model produced."""
    return stored.model_sha256 != NO_MODEL_SHA256


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
