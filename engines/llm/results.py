"""Typed, immutable results of the LLM engine, each carrying its provenance.

The service layer persists these and publishes events; the UI shows them. Every result names the
model (file name, SHA-256, architecture, quantisation, demo flag) and the generation parameters,
so a clinician or auditor can always tell which model said what, and with which settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelProvenance:
    """Which model produced an output; `clinical_validity` is False for demo models."""

    name: str
    file_name: str
    sha256: str
    architecture: str
    quantization: str
    parameters: int
    context_length: int
    label: str
    clinical_validity: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for storage beside the result."""
        return asdict(self)


@dataclass(frozen=True)
class LoadParams:
    """How the model is loaded in the child process (None means 'choose automatically')."""

    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    n_batch: int = 512
    seed: int = 0


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters of one request; recorded with every result."""

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    repeat_penalty: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """One request for the child process: chat messages (or a raw prompt) and optional schema."""

    task_id: str
    messages: tuple[tuple[str, str], ...] = ()
    prompt: str | None = None
    json_schema: str | None = None
    params: GenParams = field(default_factory=GenParams)


@dataclass(frozen=True)
class TokenChunk:
    """A piece of generated text, streamed as soon as the model produces it."""

    task_id: str
    index: int
    text: str


@dataclass(frozen=True)
class GenerationResult:
    """The end of one request: full text, counts, timings and why generation stopped."""

    task_id: str
    text: str
    n_prompt_tokens: int
    n_tokens: int
    ttft_s: float
    elapsed_s: float
    stop_reason: str  # stop | length | cancelled
    load: LoadParams
    params: GenParams

    @property
    def tokens_per_s(self) -> float:
        """Decode speed after the first token (prefill excluded)."""
        decode = self.elapsed_s - self.ttft_s
        return (self.n_tokens - 1) / decode if self.n_tokens > 1 and decode > 0 else 0.0


@dataclass(frozen=True)
class EvidenceQuote:
    """A quote offered by the model; `verified` only if it is verbatim in the note and at least a
    clause (see engines.llm.evidence); `reason` says why not when it is not."""

    quote: str
    verified: bool
    start: int = -1
    end: int = -1
    reason: str = ""


@dataclass(frozen=True)
class Finding:
    """A condition, risk factor or protective factor with its evidence.

    A finding is `verified` only when it has quotes and EVERY one of them is verified (verbatim in
    the note and at least a clause); a finding with any unverifiable quote is an unverified model
    suggestion, never shown as fact, and `reason` says which quote failed and why.
    """

    kind: str  # condition | risk_factor | protective_factor
    label: str
    confidence: str  # low | moderate | high (model's own, uncalibrated)
    evidence: tuple[EvidenceQuote, ...]

    @property
    def verified(self) -> bool:
        """True when every quote backing this finding is verified (and there is at least one)."""
        return bool(self.evidence) and all(e.verified for e in self.evidence)

    @property
    def reason(self) -> str:
        """Why this finding is only a suggestion ("" when verified)."""
        return finding_reason([(e.quote, e.verified, e.reason) for e in self.evidence])


# Risk levels a verified finding can back: "none" asserts an absence, which no quote can show.
BACKABLE_RISK_LEVELS = ("low", "moderate", "high", "imminent")
RISK_BACKING_KINDS = ("risk_factor", "condition")


def finding_reason(quotes: list[tuple[str, bool, str]]) -> str:
    """The reason a finding with these (quote, verified, reason) is a suggestion, "" if none."""
    if not quotes:
        return "no quote offered"
    bad = [(q, r or "not verified") for q, ok, r in quotes if not ok]
    return "; ".join(f"“{q}”: {r}" for q, r in bad)


def risk_level_backing(risk_level: str, findings: list[tuple[str, bool]]) -> tuple[int, ...]:
    """Indices of the (kind, verified) findings that back a model risk level.

    The level is backed only when it is one of BACKABLE_RISK_LEVELS and at least one verified
    risk-factor or condition finding exists: then the note holds verbatim evidence bearing on
    risk. The level itself stays the model's judgement; backing does not make it correct.
    """
    if risk_level not in BACKABLE_RISK_LEVELS:
        return ()
    return tuple(i for i, (kind, ok) in enumerate(findings) if ok and kind in RISK_BACKING_KINDS)


@dataclass(frozen=True)
class NoteAnalysis:
    """Structured analysis of one clinical note, evidence-checked, with provenance."""

    analysis_id: str
    note_id: str
    summary: str
    risk_level: str
    findings: tuple[Finding, ...]
    rejected_quotes: tuple[str, ...]
    model: ModelProvenance
    load: LoadParams
    params: GenParams
    n_tokens: int
    elapsed_s: float

    @property
    def verified_findings(self) -> tuple[Finding, ...]:
        """Findings whose every quote is verified."""
        return tuple(f for f in self.findings if f.verified)

    @property
    def unverified_findings(self) -> tuple[Finding, ...]:
        """Findings with any unverifiable quote: show only as unverified suggestions."""
        return tuple(f for f in self.findings if not f.verified)

    @property
    def risk_level_backing(self) -> tuple[int, ...]:
        """Indices of the verified risk-factor / condition findings backing the risk level."""
        return risk_level_backing(self.risk_level, [(f.kind, f.verified) for f in self.findings])

    @property
    def risk_level_backed(self) -> bool:
        """False: show the risk level as unverified model text (see `risk_level_backing`)."""
        return bool(self.risk_level_backing)

    @property
    def summary_backed(self) -> bool:
        """Always False: free-text summary cannot be checked against the note; shown as
        unverified model text."""
        return False


@dataclass(frozen=True)
class ImhiAnswer:
    """A MentaLLaMA IMHI answer: parsed label (None if none found) and the raw text."""

    task: str
    label: str | None
    text: str
    model: ModelProvenance
    params: GenParams
