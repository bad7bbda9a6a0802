"""Clinical alert rules over observations: rules as data, IT policy overrides, evaluation.

A rule is a condition tree over metrics with a severity. Leaves:

    {"metric": "phq9.item.q9", "op": ">", "value": "$threshold", "window_days": 14}
    {"metric": "phq9.total", "change": "rise", "op": ">=", "value": 5, "window_days": 56}
    {"all": [...]}  {"any": [...]}

A value leaf looks at the latest observation of the metric inside the window (ending at
``now``). A change leaf compares that latest observation with the lowest (``rise``) or highest
(``fall``) earlier value inside the window before it. ``metric`` may be a glob
(``risk.*``); then any matching metric can satisfy the leaf. Rules apply to all patients or to
one (``patient_id``). Rules in the same ``group`` suppress each other per patient so only the
most severe fires (e.g. risk warning vs. risk critical).

Evaluation returns candidates only; the service layer de-duplicates (``dedup_key``), persists,
audits and publishes AlertTriggered.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from engines.errors import EngineConfigError, EngineError, InputError
from engines.scoring._checks import Reader
from engines.scoring.conditions import OP_TEXT, OPS
from engines.scoring.observations import Observation

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
#: How soon someone must act on an alert of each severity (None: no deadline).
RESPONSE_WINDOW: dict[str, timedelta | None] = {
    "critical": timedelta(hours=1),
    "warning": timedelta(hours=24),
    "info": None,
}
RULE_KEYS = {
    "id",
    "name",
    "description",
    "severity",
    "enabled",
    "locked",
    "group",
    "patient_id",
    "params",
    "condition",
}
#: What IT policy may change on a locked (patient-safety) built-in rule.
LOCKED_TUNABLE = {"id", "name", "description"}


@dataclass(frozen=True)
class MetricLeaf:
    """A comparison on one metric (value or change) inside an optional time window."""

    metric: str
    op: str
    value: float | str
    window: timedelta | None
    change: str | None = None  # None | rise | fall

    def _threshold(self, params: Mapping[str, float]) -> float:
        if isinstance(self.value, str):
            return params[self.value[1:]]
        return self.value

    def evaluate(
        self,
        series: Mapping[str, Sequence[Observation]],
        now: datetime,
        params: Mapping[str, float],
    ) -> tuple[bool, tuple[str, ...]]:
        """(satisfied, evidence observation ids) for one patient's time-sorted series."""
        threshold = self._threshold(params)
        evidence: list[str] = []
        for metric, obs in series.items():
            if metric != self.metric and not fnmatch.fnmatchcase(metric, self.metric):
                continue
            in_window = [
                o for o in obs if o.at <= now and (self.window is None or o.at > now - self.window)
            ]
            if not in_window:
                continue
            latest = in_window[-1]
            if self.change is None:
                if OPS[self.op](latest.value, threshold):
                    evidence.append(latest.id)
                continue
            start = latest.at - self.window if self.window is not None else None
            earlier = [
                o
                for o in obs
                if o.at < latest.at and (start is None or o.at >= start) and o.id != latest.id
            ]
            if not earlier:
                continue
            if self.change == "rise":
                base = min(earlier, key=lambda o: o.value)
                delta = latest.value - base.value
            else:
                base = max(earlier, key=lambda o: o.value)
                delta = base.value - latest.value
            if OPS[self.op](delta, threshold):
                evidence += [base.id, latest.id]
        return bool(evidence), tuple(evidence)

    def text(self, params: Mapping[str, float]) -> str:
        """Readable rule text."""
        t = self._threshold(params)
        t_txt = str(int(t)) if float(t).is_integer() else str(t)
        window = ""
        if self.window is not None:
            days = self.window / timedelta(days=1)
            window = f" within {int(days) if days.is_integer() else days} days"
        if self.change is None:
            return f"{self.metric} {OP_TEXT[self.op]} {t_txt}{window}"
        return f"{self.change} of {self.metric} {OP_TEXT[self.op]} {t_txt}{window}"


@dataclass(frozen=True)
class RuleCombo:
    """AND (``all``) / OR (``any``) of rule conditions."""

    mode: str
    children: tuple[RuleCondition, ...]

    def evaluate(
        self,
        series: Mapping[str, Sequence[Observation]],
        now: datetime,
        params: Mapping[str, float],
    ) -> tuple[bool, tuple[str, ...]]:
        """AND / OR of children; evidence is the union of satisfied children's evidence."""
        results = [c.evaluate(series, now, params) for c in self.children]
        ok = all(r[0] for r in results) if self.mode == "all" else any(r[0] for r in results)
        if not ok:
            return False, ()
        ids: list[str] = []
        for matched, ev in results:
            if matched:
                ids += [e for e in ev if e not in ids]
        return True, tuple(ids)

    def text(self, params: Mapping[str, float]) -> str:
        """Readable rule text."""
        joiner = " AND " if self.mode == "all" else " OR "
        return joiner.join(
            f"({c.text(params)})" if isinstance(c, RuleCombo) else c.text(params)
            for c in self.children
        )


RuleCondition = MetricLeaf | RuleCombo


@dataclass(frozen=True)
class AlertRule:
    """A validated alert rule."""

    id: str
    name: str
    description: str
    severity: str
    enabled: bool
    locked: bool
    group: str | None
    patient_id: str | None
    params: tuple[tuple[str, float], ...]
    condition: RuleCondition

    def text(self) -> str:
        """The condition as shown to clinicians, with parameters filled in."""
        return self.condition.text(dict(self.params))


@dataclass(frozen=True)
class AlertCandidate:
    """A rule that fired for a patient, with the observations that made it fire."""

    rule_id: str
    rule_name: str
    severity: str
    patient_id: str
    evidence_ids: tuple[str, ...]
    rule_text: str
    evidence_at: datetime
    dedup_key: str

    def due_at(self) -> datetime | None:
        """Act-by time: latest evidence time + the severity's response window."""
        window = RESPONSE_WINDOW[self.severity]
        return None if window is None else self.evidence_at + window


def parse_rule(raw: Any, where: str, error: type[EngineError] = InputError) -> AlertRule:
    """Validate one rule dict; ``error`` is EngineConfigError for IT policy, else InputError."""
    r = Reader(raw, where, error)
    r.only(RULE_KEYS)
    rid = r.str_("id")
    params_raw = r.obj("params", required=False) or {}
    params: dict[str, float] = {}
    for k, v in params_raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise r.fail(f"params.{k}", "must be a number")
        params[k] = float(v)
    patient_id = r.str_("patient_id", required=False)
    return AlertRule(
        id=rid,
        name=r.str_("name"),
        description=r.str_("description", required=False, default="") or "",
        severity=r.choice("severity", tuple(SEVERITY_RANK)),
        enabled=r.bool_("enabled", True),
        locked=r.bool_("locked", False),
        group=r.str_("group", required=False),
        patient_id=patient_id,
        params=tuple(sorted(params.items())),
        condition=_parse_condition(r.obj("condition"), f"{where}.condition", params, error),
    )


def _parse_condition(
    raw: dict[str, Any], where: str, params: Mapping[str, float], error: type[EngineError]
) -> RuleCondition:
    for mode in ("all", "any"):
        if mode in raw:
            children = raw[mode]
            if set(raw) != {mode} or not isinstance(children, list) or not children:
                raise error(f"{where}.{mode}: must be the only key, a non-empty list")
            return RuleCombo(
                mode,
                tuple(
                    _parse_condition(
                        Reader(c, f"{where}.{mode}[{i}]", error).raw,
                        f"{where}.{mode}[{i}]",
                        params,
                        error,
                    )
                    for i, c in enumerate(children)
                ),
            )
    r = Reader(raw, where, error)
    r.only({"metric", "op", "value", "window_days", "change"})
    metric = r.str_("metric")
    op = r.choice("op", tuple(OPS))
    value = raw.get("value")
    if isinstance(value, str) and value.startswith("$"):
        if value[1:] not in params:
            raise r.fail("value", f"parameter '{value}' is not defined in the rule's params")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise r.fail("value", "must be a number or '$parameter'")
    else:
        value = float(value)
    days = r.num("window_days", required=False)
    if days is not None and days <= 0:
        raise r.fail("window_days", "must be > 0")
    change = raw.get("change")
    if change not in (None, "rise", "fall"):
        raise r.fail("change", "must be 'rise' or 'fall'")
    if change is not None and days is None:
        raise r.fail("window_days", "a change rule needs a time window")
    return MetricLeaf(
        metric, op, value, None if days is None else timedelta(days=float(days)), change
    )


def builtin_rule_dicts() -> list[dict[str, Any]]:
    """The raw built-in rules from resources/alert_rules/builtin.json."""
    entry = resources.files("resources") / "alert_rules" / "builtin.json"
    try:
        doc = json.loads(entry.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"builtin.json: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    r = Reader(doc, "builtin.json")
    r.only({"schema_version", "rules"})
    if r.num("schema_version", integer=True) != 1:
        raise r.fail("schema_version", "only version 1 is supported")
    return r.list_("rules")


def load_rules(
    policy_rules: Iterable[Any] | None = None, *, source: str = "policy"
) -> tuple[AlertRule, ...]:
    """Built-in rules with IT policy merged over them (see merge_policy_rules)."""
    return merge_policy_rules(builtin_rule_dicts(), list(policy_rules or []), source=source)


def merge_policy_rules(
    builtin: Sequence[Mapping[str, Any]],
    policy: Sequence[Any],
    *,
    source: str = "policy",
) -> tuple[AlertRule, ...]:
    """Merge IT policy rule dicts over built-ins, validating the merged result.

    A policy dict with a built-in id tunes that rule (fields replace, ``params`` merge); a new
    id adds a rule. Locked (patient-safety) built-ins can be renamed but not disabled, weakened
    or re-thresholded: that raises EngineConfigError naming the policy entry.
    """
    merged: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(builtin):
        rule = parse_rule(raw, f"builtin.json.rules[{i}]")
        if rule.id in merged:
            raise InputError(f"builtin.json.rules[{i}].id: duplicate rule '{rule.id}'")
        merged[rule.id] = dict(raw)
    seen_policy: set[str] = set()
    for i, raw in enumerate(policy):
        where = f"{source}.alert_rules[{i}]"
        r = Reader(raw, where, EngineConfigError)
        rid = r.str_("id")
        if rid in seen_policy:
            raise r.fail("id", f"rule '{rid}' appears twice in the policy")
        seen_policy.add(rid)
        if rid in merged:
            base = merged[rid]
            if base.get("locked"):
                forbidden = sorted(set(raw) - LOCKED_TUNABLE)
                if forbidden:
                    raise EngineConfigError(
                        f"{where}: rule '{rid}' is a locked patient-safety rule; "
                        f"policy may not change {forbidden}"
                    )
            combined = {**base, **raw}
            combined["params"] = {**base.get("params", {}), **raw.get("params", {})}
            merged[rid] = combined
        else:
            merged[rid] = dict(raw)
        parse_rule(merged[rid], where, EngineConfigError)
    return tuple(
        parse_rule(raw, f"{source}:{rid}", EngineConfigError) for rid, raw in merged.items()
    )


def evaluate_rules(
    rules: Iterable[AlertRule], observations: Iterable[Observation], now: datetime
) -> tuple[AlertCandidate, ...]:
    """Evaluate enabled rules for every patient in ``observations`` (or the rule's one patient)."""
    if now.tzinfo is None:
        raise InputError("alert evaluation: 'now' must be timezone-aware")
    series: dict[str, dict[str, list[Observation]]] = defaultdict(lambda: defaultdict(list))
    by_id: dict[str, Observation] = {}
    for o in observations:
        series[o.patient_id][o.metric].append(o)
        by_id[o.id] = o
    for per_patient in series.values():
        for obs in per_patient.values():
            obs.sort(key=lambda o: (o.at, o.id))

    fired: list[AlertCandidate] = []
    for rule in rules:
        if not rule.enabled:
            continue
        params = dict(rule.params)
        patients = [rule.patient_id] if rule.patient_id else sorted(series)
        for pid in patients:
            ok, evidence = rule.condition.evaluate(series.get(pid, {}), now, params)
            if not ok:
                continue
            evidence = tuple(sorted(set(evidence)))
            digest = hashlib.sha256("\n".join(evidence).encode()).hexdigest()[:16]
            fired.append(
                AlertCandidate(
                    rule_id=rule.id,
                    rule_name=rule.name,
                    severity=rule.severity,
                    patient_id=pid,
                    evidence_ids=evidence,
                    rule_text=rule.text(),
                    evidence_at=max(by_id[e].at for e in evidence),
                    dedup_key=f"{rule.id}:{pid}:{digest}",
                )
            )
    return _suppress_within_groups(fired, {r.id: r.group for r in rules})


def _suppress_within_groups(
    fired: list[AlertCandidate], groups: Mapping[str, str | None]
) -> tuple[AlertCandidate, ...]:
    best: dict[tuple[str, str], AlertCandidate] = {}
    out: list[AlertCandidate] = []
    for c in fired:
        group = groups.get(c.rule_id)
        if group is None:
            out.append(c)
            continue
        key = (c.patient_id, group)
        if key not in best or SEVERITY_RANK[c.severity] > SEVERITY_RANK[best[key].severity]:
            best[key] = c
    out += best.values()
    return tuple(sorted(out, key=lambda c: (-SEVERITY_RANK[c.severity], c.patient_id, c.rule_id)))
