"""Settings: per-user preferences, the IT site policy, and environment overrides.

Precedence (lowest to highest): built-in defaults < user settings < site policy < environment,
except for the SECURITY_SETTINGS, where IT's system-wide policy always wins: the environment
may set those (and NOVAMIND_POLICY may point at another policy file) only in a development build
(source checkout with NOVAMIND_DEV=1, never a PyInstaller bundle), and each such use is logged.
Even then, a system-wide policy file present on the machine keeps its security settings.
In a normal build a user who sets NOVAMIND_MFA_REQUIRED=0 or NOVAMIND_POLICY=/dev/null changes
nothing: the policy at default_policy_path() still applies.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from app.core.errors import ConfigError

log = logging.getLogger(__name__)
APP_NAME = "Novamind"
APP_AUTHOR = "Novamind"


def is_dev_build(env: dict[str, str] | None = None) -> bool:
    """A source checkout run with NOVAMIND_DEV=1 (tests, developers); never a frozen bundle.
    NOVAMIND_DEV is read from `env` when it names it, else from the process environment."""
    flag = (env or {}).get("NOVAMIND_DEV", os.environ.get("NOVAMIND_DEV"))
    return not getattr(sys, "frozen", False) and flag == "1"


_warned: set[tuple[str, str]] = set()


def _warn_once(message: str, name: str) -> None:
    """Log each overridden or ignored security setting once per process (its name only)."""
    if (message, name) not in _warned:
        _warned.add((message, name))
        log.warning(message, name)


def default_policy_path() -> Path:
    """Where IT puts the site policy on each OS."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Novamind" / "policy.toml"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Novamind/policy.toml")
    return Path("/etc/novamind/policy.toml")


@dataclass(frozen=True)
class Settings:
    """Effective configuration after merging defaults, user settings, policy and environment."""

    data_dir: Path
    log_dir: Path
    idle_lock_minutes: int = 15
    mfa_required: bool = False
    lockout_threshold: int = 5
    unlock_max_attempts: int = 5  # wrong passwords on the lock screen before it signs out
    sync_endpoint: str = ""
    sync_bucket: str = ""
    sync_region: str = "us-east-1"
    sync_role_arn: str = ""  # workstation role assumed with the device's session tag
    sync_max_clock_skew_s: int = 300  # a bundle whose clocks run further ahead is quarantined
    sync_max_bundle_mb: int = 32  # download cap per bundle or snapshot
    sync_max_inflated_mb: int = 64  # decompression cap per bundle body
    proxy: str = ""
    ca_bundle: str = ""
    model_dirs: tuple[Path, ...] = ()
    model_manifest: str = ""
    theme: str = "system"  # system | light | dark
    allowed_demographics: tuple[str, ...] = ("age_years",)
    backup_dir: str = ""  # empty: <data dir>/backups
    backup_interval_hours: int = 24
    backup_keep: int = 14
    store_busy_timeout_s: int = 30  # how long a write waits for another process's store lock
    retention_discharged_days: int = 0  # 0: keep discharged patients' local copies
    alert_rules: tuple[dict[str, Any], ...] = ()  # IT's tuning/additions over the built-ins
    security_rules: tuple[dict[str, Any], ...] = ()  # IT's tuning of the security-monitoring rules
    operations: dict[str, Any] = field(default_factory=dict, hash=False)  # [policy.operations]
    password_time_cost: int = 2  # Argon2id iterations (OWASP minimum profile)
    password_memory_kib: int = 19 * 1024  # Argon2id memory
    audit_bucket: str = ""  # Object Lock bucket for signed audit-chain anchors
    keyring_backends_allowed: tuple[str, ...] = ()  # extra keyring backends IT accepts by name
    model_trust_file: str = ""  # IT's trusted model-signing keys (default: beside the policy)
    # the clinic gateway (`novamind gateway serve`, gateway/): TLS pair, listen address, limits
    gateway_tls_cert: str = ""
    gateway_tls_key: str = ""
    gateway_bind: str = "127.0.0.1:8443"
    gateway_max_body_kb: int = 256  # a larger request body gets 413 before it is parsed
    gateway_token_ttl_s: int = 300  # lifetime of an access token
    gateway_rate_per_min: int = 120  # requests per client per minute (token bucket)
    gateway_sync_interval_s: int = 60  # seconds between the gateway's background sync rounds
    # a workstation's instant-sync hints from the gateway (app/services/instant_sync.py):
    gateway_hints_url: str = ""  # wss://HOST:PORT/ws/hints; empty: polling only
    gateway_ca_cert: str = ""  # PEM of the CA that issued the gateway's certificate
    keyring_service: str = "novamind"
    policy_path: Path | None = None
    locked_by_policy: frozenset[str] = field(default_factory=frozenset)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "novamind.db"

    @property
    def user_model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def backups_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else self.data_dir / "backups"

    @property
    def user_settings_path(self) -> Path:
        return self.data_dir / "settings.json"


# Keys a user may set, keys IT may set, and their types (for validation).
_TYPES: dict[str, type[Any]] = {
    "idle_lock_minutes": int,
    "mfa_required": bool,
    "lockout_threshold": int,
    "unlock_max_attempts": int,
    "sync_endpoint": str,
    "sync_bucket": str,
    "sync_region": str,
    "sync_role_arn": str,
    "sync_max_clock_skew_s": int,
    "sync_max_bundle_mb": int,
    "sync_max_inflated_mb": int,
    "proxy": str,
    "ca_bundle": str,
    "model_dirs": list,
    "model_manifest": str,
    "theme": str,
    "allowed_demographics": list,
    "backup_dir": str,
    "backup_interval_hours": int,
    "backup_keep": int,
    "store_busy_timeout_s": int,
    "retention_discharged_days": int,
    "alert_rules": list,
    "security_rules": list,
    "operations": dict,
    "password_time_cost": int,
    "password_memory_kib": int,
    "audit_bucket": str,
    "keyring_backends_allowed": list,
    "model_trust_file": str,
    "gateway_tls_cert": str,
    "gateway_tls_key": str,
    "gateway_bind": str,
    "gateway_max_body_kb": int,
    "gateway_token_ttl_s": int,
    "gateway_rate_per_min": int,
    "gateway_sync_interval_s": int,
    "gateway_hints_url": str,
    "gateway_ca_cert": str,
}
# Settings that protect PHI or the app's trust anchors: IT's policy wins over the user and the
# environment, and the environment may set them only in a development build.
SECURITY_SETTINGS = frozenset(
    {
        "mfa_required",
        "lockout_threshold",
        "unlock_max_attempts",
        "idle_lock_minutes",
        "keyring_backends_allowed",
        "model_trust_file",
        "model_manifest",
        "retention_discharged_days",
        "password_time_cost",
        "password_memory_kib",
        "audit_bucket",
        "alert_rules",
        "security_rules",
        "operations",
        "allowed_demographics",
        "ca_bundle",
        "sync_role_arn",
        "sync_max_clock_skew_s",
        "sync_max_bundle_mb",
        "sync_max_inflated_mb",
        "backup_dir",
        "backup_keep",
        "gateway_tls_cert",
        "gateway_tls_key",
        "gateway_bind",
        "gateway_max_body_kb",
        "gateway_token_ttl_s",
        "gateway_rate_per_min",
        "gateway_sync_interval_s",
        "gateway_hints_url",
        "gateway_ca_cert",
    }
)
# lists of tables and tables: only the policy file can express them
_NOT_FROM_ENV = {"alert_rules", "security_rules", "operations"}
_USER_KEYS = {"theme", "idle_lock_minutes"}
_RANGES = {
    "idle_lock_minutes": (1, 240),
    "lockout_threshold": (1, 100),
    "unlock_max_attempts": (1, 100),
    "backup_interval_hours": (1, 24 * 30),
    "backup_keep": (1, 365),
    "store_busy_timeout_s": (1, 600),
    "retention_discharged_days": (0, 36500),
    "sync_max_clock_skew_s": (0, 86400),
    "sync_max_bundle_mb": (1, 4096),
    "sync_max_inflated_mb": (1, 4096),
    "password_time_cost": (1, 20),
    "password_memory_kib": (8 * 1024, 1024 * 1024),
    "gateway_max_body_kb": (1, 64 * 1024),
    "gateway_token_ttl_s": (30, 3600),
    "gateway_rate_per_min": (1, 100_000),
    "gateway_sync_interval_s": (5, 3600),
}


def _validate(values: dict[str, Any], allowed: set[str], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in allowed:
            raise ConfigError(f"{source}: unknown setting '{key}'")
        expected = _TYPES[key]
        if (expected is int and isinstance(value, bool)) or not isinstance(value, expected):
            raise ConfigError(
                f"{source}: setting '{key}' must be {expected.__name__}, got {type(value).__name__}"
            )
        if key in _RANGES:
            lo, hi = _RANGES[key]
            if not lo <= value <= hi:
                raise ConfigError(f"{source}: setting '{key}' must be between {lo} and {hi}")
        if key == "theme" and value not in {"system", "light", "dark"}:
            raise ConfigError(f"{source}: setting 'theme' must be system, light or dark")
        if key == "model_dirs":
            if not all(isinstance(p, str) for p in value):
                raise ConfigError(f"{source}: setting 'model_dirs' must be a list of paths")
            value = tuple(Path(p) for p in value)
        if key == "keyring_backends_allowed":
            if not all(isinstance(p, str) for p in value):
                raise ConfigError(
                    f"{source}: setting 'keyring_backends_allowed' must be a list of names"
                )
            value = tuple(value)
        if key == "allowed_demographics":
            if not all(isinstance(p, str) for p in value):
                raise ConfigError(
                    f"{source}: setting 'allowed_demographics' must be a list of names"
                )
            value = tuple(value)
        if key in {"alert_rules", "security_rules"}:
            value = _rule_tables(key, value, source)
        out[key] = value
    return out


def _rule_tables(key: str, value: list[Any], source: str) -> tuple[dict[str, Any], ...]:
    """IT's rules as given (one table per rule). Their content is checked against the built-ins
    where the rules are used: engines.scoring.alerts.load_rules for `alert_rules`,
    app.services.security_monitoring for `security_rules` (the core must not import them)."""
    if not all(isinstance(r, dict) for r in value):
        raise ConfigError(f"{source}: setting '{key}' must be a list of tables")
    return tuple(value)


def read_policy(path: Path) -> dict[str, Any]:
    """Read and validate IT's site policy; a missing file means no policy."""
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses per nested array / inline table
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or 'I/O error'})") from None
    policy = raw.get("policy", raw)
    if not isinstance(policy, dict):
        raise ConfigError(f"{path}: [policy] must be a table")
    # other sub-tables belong to other readers; [policy.operations] holds the monitoring
    # thresholds (checked by app.services.ops_policy)
    policy = {k: v for k, v in policy.items() if not isinstance(v, dict) or k == "operations"}
    return _validate(policy, set(_TYPES), str(path))


def read_user_settings(path: Path) -> dict[str, Any]:
    """Read the user's own settings file; only the keys a user may set are accepted."""
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    return _validate(raw, _USER_KEYS, str(path))


def _env_overrides(env: dict[str, str], dev: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, typ in _TYPES.items():
        name = f"NOVAMIND_{key.upper()}"
        if name not in env or key in _NOT_FROM_ENV:
            continue
        if key in SECURITY_SETTINGS:
            if not dev:
                _warn_once("ignored %s: security settings come from IT's policy", name)
                continue
            _warn_once("development build: security setting %s taken from the environment", key)
        text = env[name]
        try:
            if typ is bool:
                value: Any = text.strip().lower() in {"1", "true", "yes", "on"}
            elif typ is int:
                value = int(text)
            elif typ is list:
                value = [p for p in text.split(os.pathsep) if p]
            else:
                value = text
        except ValueError:
            raise ConfigError(f"environment {name}: not a valid {typ.__name__}") from None
        out.update(_validate({key: value}, set(_TYPES), f"environment {name}"))
    return out


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Merge defaults, user settings, IT policy and environment into one Settings."""
    env = dict(os.environ) if env is None else env
    data_dir = Path(
        env.get("NOVAMIND_DATA_DIR") or platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)
    )
    log_dir = Path(
        env.get("NOVAMIND_LOG_DIR")
        or (data_dir / "logs" if "NOVAMIND_DATA_DIR" in env else None)
        or platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)
    )
    dev = is_dev_build(env)
    policy_path, policy = _policy(env, dev)
    settings = Settings(data_dir=data_dir, log_dir=log_dir, policy_path=policy_path)
    user = read_user_settings(settings.user_settings_path)
    merged = {**user, **policy, **_env_overrides(env, dev)}
    merged.update({k: v for k, v in policy.items() if k in SECURITY_SETTINGS})  # IT wins
    if "keyring_service" not in merged and env.get("NOVAMIND_KEYRING_SERVICE"):
        merged["keyring_service"] = env["NOVAMIND_KEYRING_SERVICE"]
    settings = replace(settings, **merged, locked_by_policy=frozenset(policy))
    model_dirs = (settings.user_model_dir, *settings.model_dirs)
    return replace(settings, model_dirs=tuple(dict.fromkeys(model_dirs)))


def _policy(env: dict[str, str], dev: bool) -> tuple[Path, dict[str, Any]]:
    """IT's policy file and its settings. NOVAMIND_POLICY replaces it only in a development
    build; in a normal build that file counts as environment: its other settings apply, its
    security settings are ignored and the system policy is still read."""
    system = default_policy_path()
    override = env.get("NOVAMIND_POLICY")
    if not override or Path(override) == system:
        return system, read_policy(system)
    if dev:
        _warn_once("development build: site policy taken from %s", "NOVAMIND_POLICY")
        # a machine IT manages keeps its security settings even in a development run
        pinned = {k: v for k, v in read_policy(system).items() if k in SECURITY_SETTINGS}
        return Path(override), {**read_policy(Path(override)), **pinned}
    extra = read_policy(Path(override))
    for key in sorted(SECURITY_SETTINGS & set(extra)):
        _warn_once("ignored %s from NOVAMIND_POLICY: security settings come from IT's policy", key)
    ordinary = {k: v for k, v in extra.items() if k not in SECURITY_SETTINGS}
    return system, {**ordinary, **read_policy(system)}


def model_trust_path(settings: Settings) -> Path:
    """IT's trusted model-signing keys: the policy's model_trust_file, else beside the policy."""
    if settings.model_trust_file:
        return Path(settings.model_trust_file)
    base = settings.policy_path or default_policy_path()
    return base.parent / "trusted_model_keys.json"


def save_user_setting(settings: Settings, key: str, value: Any) -> Settings:
    """Persist one user preference unless IT's policy pins it."""
    if key in settings.locked_by_policy:
        raise ConfigError(f"'{key}' is set by your organisation's policy and cannot be changed")
    _validate({key: value}, _USER_KEYS, "user setting")
    path = settings.user_settings_path
    current = read_user_settings(path)
    current[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return replace(settings, **{key: value})


def documented_settings() -> list[str]:
    """Names of every policy setting (the deployment guide documents each)."""
    return [f.name for f in fields(Settings) if f.name in _TYPES]
