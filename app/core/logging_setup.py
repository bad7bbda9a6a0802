"""Application logging: rotating files in the user log dir, ids and error classes only.

Modules log record ids, counts and error class names. Exception *messages* can carry stored
values (a database driver's error, a parser quoting the bad input), so nothing here ever writes
one: tracebacks are reduced to the exception classes and the frame locations
(``safe_traceback``), exceptions passed as log arguments become their class names, and records
from third-party libraries keep their message template but not its values. The plain-text log
file is therefore safe to attach to a support ticket.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
OWN_PACKAGES = ("app", "ui", "sync", "engines", "gateway", "viz", "tools", "__main__")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts, outermost last (as Python prints them)."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and not any(cur is s for s in seen):
        seen.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return list(reversed(seen))


def safe_traceback(exc: BaseException) -> str:
    """A traceback with classes and frame locations only: no messages, no source lines."""
    parts = []
    for i, e in enumerate(_chain(exc)):
        if i:
            parts.append("  (then, while handling it or caused by it:)")
        parts.append("Traceback (exception messages withheld):")
        for frame in traceback.extract_tb(e.__traceback__):
            parts.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        parts.append(f"{type(e).__module__}.{type(e).__qualname__}")
    return "\n".join(parts)


def _own(name: str) -> bool:
    return name == "root" or name.split(".", 1)[0] in OWN_PACKAGES


class WithholdValues(logging.Filter):
    """Strip what could carry PHI from a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 — logging API
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = safe_traceback(record.exc_info[1])
            record.exc_info = None
        if not _own(record.name):
            if record.args:
                kinds = ", ".join(type(a).__name__ for a in _as_tuple(record.args))
                record.msg = f"{record.msg} [values withheld: {kinds}]"
                record.args = ()
        elif record.args:
            record.args = tuple(
                type(a).__name__ if isinstance(a, BaseException) else a
                for a in _as_tuple(record.args)
            )
        return True


def _as_tuple(args: object) -> tuple[object, ...]:
    if isinstance(args, tuple):
        return args
    if isinstance(args, dict):
        return tuple(args.values())
    return (args,)


def _log_uncaught(
    kind: type[BaseException], exc: BaseException, tb: TracebackType | None, where: str
) -> None:
    logging.getLogger("app.uncaught").error(
        "uncaught %s in %s\n%s", kind.__name__, where, safe_traceback(exc)
    )
    print(
        f"novamind: unexpected error ({kind.__name__}); details are in the log file.",
        file=sys.stderr,
    )


def _install_hooks() -> None:
    """Uncaught exceptions (main or worker threads) reach the log as classes, not messages."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = lambda k, e, tb: _log_uncaught(k, e, tb, "main thread")
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = lambda a: _log_uncaught(
            a.exc_type, a.exc_value or a.exc_type(), a.exc_traceback, "a worker thread"
        )


_HANDLER_NAME = "novamind-log-file"


def configure_logging(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send the root logger to novamind.log in `log_dir` (rotated at 5 MB, 5 files kept)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "novamind.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:  # ours from an earlier call: replace it
            root.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(WithholdValues())
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic", "sqlalchemy", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)  # library warnings go through the same filter
    _install_hooks()
    return path
