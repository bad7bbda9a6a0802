"""Small typed readers for definition files: each failure names the file and the field."""

from __future__ import annotations

from typing import Any, Literal, overload

from engines.errors import EngineError, InputError


class Reader:
    """Reads fields of one JSON object, raising ``error`` with ``where.field: problem``."""

    def __init__(self, raw: Any, where: str, error: type[EngineError] = InputError) -> None:
        if not isinstance(raw, dict):
            raise error(f"{where}: must be an object")
        self.raw = raw
        self.where = where
        self.error = error

    def fail(self, key: str, problem: str) -> EngineError:
        """Build the error for ``key`` (the caller raises it)."""
        return self.error(f"{self.where}.{key}: {problem}")

    def only(self, allowed: set[str]) -> None:
        """Reject keys the schema does not know (catches typos such as 'requierd')."""
        unknown = set(self.raw) - allowed
        if unknown:
            raise self.error(f"{self.where}: unknown key(s) {sorted(unknown)}")

    @overload
    def str_(self, key: str, *, required: Literal[True] = ..., default: None = ...) -> str: ...
    @overload
    def str_(self, key: str, *, required: bool = ..., default: str) -> str: ...
    @overload
    def str_(self, key: str, *, required: bool, default: None = ...) -> str | None: ...
    def str_(self, key: str, *, required: bool = True, default: str | None = None) -> str | None:
        """A non-empty string field."""
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise self.fail(key, "required string is missing")
            return default
        value = self.raw[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value

    @overload
    def num(
        self, key: str, *, required: Literal[True] = ..., default: None = ..., integer: bool = ...
    ) -> float: ...
    @overload
    def num(
        self, key: str, *, required: bool = ..., default: float, integer: bool = ...
    ) -> float: ...
    @overload
    def num(
        self, key: str, *, required: bool, default: None = ..., integer: bool = ...
    ) -> float | None: ...
    def num(
        self,
        key: str,
        *,
        required: bool = True,
        default: float | None = None,
        integer: bool = False,
    ) -> float | None:
        """A number field (booleans are not numbers here)."""
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise self.fail(key, "required number is missing")
            return default
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "must be a number")
        if integer and not float(value).is_integer():
            raise self.fail(key, "must be a whole number")
        return value

    def bool_(self, key: str, default: bool) -> bool:
        """A boolean field with a default."""
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false")
        return value

    def list_(self, key: str, *, required: bool = True, non_empty: bool = True) -> list[Any]:
        """A list field."""
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise self.fail(key, "required list is missing")
            return []
        value = self.raw[key]
        if not isinstance(value, list) or (non_empty and not value):
            raise self.fail(key, "must be a non-empty list" if non_empty else "must be a list")
        return value

    @overload
    def obj(self, key: str, *, required: Literal[True] = ...) -> dict[str, Any]: ...
    @overload
    def obj(self, key: str, *, required: bool) -> dict[str, Any] | None: ...
    def obj(self, key: str, *, required: bool = True) -> dict[str, Any] | None:
        """An object field."""
        if key not in self.raw or self.raw[key] is None:
            if required:
                raise self.fail(key, "required object is missing")
            return None
        value = self.raw[key]
        if not isinstance(value, dict):
            raise self.fail(key, "must be an object")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        """A string field restricted to ``allowed``."""
        value = self.raw.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"must be one of {list(allowed)}")
        return value
