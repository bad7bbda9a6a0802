"""Local LLM engine (MentaLLaMA over llama.cpp): model management, IMHI and note analysis.

Pure logic: no Qt, no database. Inference runs in a child process (see `worker`).
"""

from engines.llm.manager import DEMO_LABEL, ModelEntry, ModelManager
from engines.llm.results import (
    GenerationResult,
    GenParams,
    LoadParams,
    ModelProvenance,
    NoteAnalysis,
    Task,
    TokenChunk,
)
from engines.llm.worker import LlmWorker, ModelProcessError, new_task

__all__ = [
    "DEMO_LABEL",
    "GenParams",
    "GenerationResult",
    "LlmWorker",
    "LoadParams",
    "ModelEntry",
    "ModelManager",
    "ModelProcessError",
    "ModelProvenance",
    "NoteAnalysis",
    "Task",
    "TokenChunk",
    "new_task",
]
