"""FHIR search parameters the gateway accepts, parsed strictly: an unknown parameter, a bad
date or count is a ValidationError (a 400 OperationOutcome), never a guess. Messages name the
parameter, never its value (values may be names or dates of birth)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from starlette.datastructures import QueryParams

from app.core.errors import ValidationError
from engines.scoring.fhir import URL_PREFIX

MAX_COUNT = 200
_TINY = timedelta(microseconds=1)


def only(q: QueryParams, allowed: Iterable[str]) -> None:
    """Refuse parameters this search does not support (FHIR's strict handling)."""
    if set(q.keys()) - set(allowed):
        raise ValidationError(f"unsupported search parameter; use {', '.join(sorted(allowed))}")


def patient(q: QueryParams) -> str:
    """The required ``patient`` reference (``Patient/<id>`` or ``<id>``), given once."""
    values = q.getlist("patient")
    ref = values[0].strip() if len(values) == 1 else ""
    pid = ref.removeprefix("Patient/")
    if not pid or "/" in pid:
        raise ValidationError("patient=<id> is required, once")
    return pid


def count(q: QueryParams, default: int) -> int:
    """``_count``: 1 to MAX_COUNT."""
    raw = q.get("_count", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise ValidationError(f"_count must be a number 1-{MAX_COUNT}")
    return int(raw)


def categories(q: QueryParams, served: set[str]) -> set[str]:
    """``category`` codes (``code`` or ``system|code``, comma-separated or repeated); all the
    served ones when absent."""
    asked = {c.strip().rpartition("|")[2] for v in q.getlist("category") for c in v.split(",")}
    if not asked <= served:
        raise ValidationError(f"category: {', '.join(sorted(served))}")
    return asked or served


def instrument(q: QueryParams, known: Iterable[str]) -> str | None:
    """``questionnaire``: the canonical URL (``urn:novamind:instrument:<id>[|version]``) or
    the instrument id; None when absent."""
    values = q.getlist("questionnaire")
    if not values:
        return None
    if len(values) > 1:
        raise ValidationError("questionnaire may be given once")
    wanted = values[0].strip().partition("|")[0].removeprefix(URL_PREFIX)
    for inst in known:
        if wanted in (inst, inst.replace("_", "-")):
            return inst
    raise ValidationError("questionnaire: not a shipped instrument")


def _instant(text: str) -> tuple[datetime, bool]:
    """(start, is_a_whole_day): a date is a UTC day; a dateTime must carry its zone."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), UTC), True
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no zone")
    return moment, False


def date_range(values: Iterable[str]) -> tuple[datetime | None, datetime | None]:
    """FHIR date search (``ge``, ``gt``, ``le``, ``lt``, ``eq`` or no prefix) as
    [since, until): dates are whole UTC days, dateTimes exact."""
    since: datetime | None = None
    until: datetime | None = None
    for raw in values:
        prefix, text = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        try:
            start, whole_day = _instant(text.strip())
        except ValueError:
            raise ValidationError(
                "date: use [ge|gt|le|lt|eq]YYYY-MM-DD or a dateTime with a time zone"
            ) from None
        end = start + (timedelta(days=1) if whole_day else _TINY)
        if prefix not in {"ge", "gt", "le", "lt", "eq"}:
            raise ValidationError("date prefix: ge, gt, le, lt or eq")
        low = {"ge": start, "gt": end, "eq": start}.get(prefix)
        high = {"le": end, "lt": start, "eq": end}.get(prefix)
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    if since is not None and until is not None and since >= until:
        raise ValidationError("date: the range is empty")
    return since, until
