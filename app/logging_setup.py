"""Application logging: rotating files in the user log dir, ids only, never PHI.

Modules log record ids, counts and codes. As a second line of defence, exception text from
libraries is not written at INFO/WARNING: tracebacks go to the file only through
`log.exception`, and user-facing messages come from app.errors, which carry no PHI.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def configure_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the root logger to novamind.log in `log_dir` (rotated at 5 MB, 5 files kept)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "novamind.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_novamind", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._novamind = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic", "sqlalchemy", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
