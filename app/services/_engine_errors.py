"""Translate the engines' error types into the app's user-facing errors.

The engines are a library that knows nothing of the app (``engines.errors``); services, the CLI,
the doctor and the demo call them through ``engine_errors()`` so callers keep seeing the app's
``NovamindError`` family with the same message and hint as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from app.core.errors import ConfigError, NotFoundError, NovamindError, ValidationError
from engines.errors import EngineConfigError, EngineError, InputError, MissingError

P = ParamSpec("P")
R = TypeVar("R")

# Most specific first: the first matching engine type picks the app type.
_APP_ERROR: tuple[tuple[type[EngineError], type[NovamindError]], ...] = (
    (InputError, ValidationError),
    (EngineConfigError, ConfigError),
    (MissingError, NotFoundError),
    (EngineError, NovamindError),
)


def to_app_error(exc: EngineError) -> NovamindError:
    """The app error carrying ``exc``'s message and hint."""
    for engine_type, app_type in _APP_ERROR:
        if isinstance(exc, engine_type):
            return app_type(str(exc), hint=exc.hint)
    raise AssertionError("unreachable: EngineError is the last entry")  # pragma: no cover


@contextmanager
def engine_errors() -> Iterator[None]:
    """Re-raise an engine error raised in the block as the matching app error."""
    try:
        yield
    except EngineError as exc:
        raise to_app_error(exc) from exc


def translates_engine_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of ``engine_errors()`` for a service function."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with engine_errors():
            return fn(*args, **kwargs)

    return wrapper
