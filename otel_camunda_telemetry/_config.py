"""Configuration: constructor argument > environment variable > default (SPEC section 6).

One small resolver per kind of setting. A bad value never raises: it logs one warning that
names the variable and the value, and the default is used.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

_logger = logging.getLogger("otel_camunda_telemetry")

ENDPOINT = "CAMUNDA_TELEMETRY_ENDPOINT"
STATE = "CAMUNDA_TELEMETRY_STATE"
INITIALIZE = "CAMUNDA_TELEMETRY_INITIALIZE"
REPORTER_ACTIVATE = "CAMUNDA_TELEMETRY_REPORTER_ACTIVATE"
REPORTING_PERIOD = "CAMUNDA_TELEMETRY_REPORTING_PERIOD"
REQUEST_TIMEOUT = "CAMUNDA_TELEMETRY_REQUEST_TIMEOUT"
REQUEST_RETRIES = "CAMUNDA_TELEMETRY_REQUEST_RETRIES"
SEND_ON_SHUTDOWN = "CAMUNDA_TELEMETRY_SEND_ON_SHUTDOWN"
SHUTDOWN_TIMEOUT = "CAMUNDA_TELEMETRY_SHUTDOWN_TIMEOUT"
PROFILE = "CAMUNDA_TELEMETRY_PROFILE"
LICENSE_KEY = "CAMUNDA_TELEMETRY_LICENSE_KEY"
MAX_COMMANDS = "CAMUNDA_TELEMETRY_MAX_COMMANDS"

Profile = Literal["engine", "optimize"]
_T = TypeVar("_T")

# Each (variable, value) pair is warned about once per process, however often it is read.
_warned: set[tuple[str, str]] = set()


def _warn_once(variable: str, value: object, why: str, default: object) -> None:
    key = (variable, repr(value))
    if key in _warned:
        return
    _warned.add(key)
    _logger.warning("%s=%r is invalid (%s); using the default %r", variable, value, why, default)


def _raw(variable: str, argument: object, env: Mapping[str, str]) -> object:
    if argument is not None:
        return argument
    value = env.get(variable)
    return None if value is None or value.strip() == "" else value.strip()


def resolve_bool(
    variable: str, argument: bool | None, default: bool, env: Mapping[str, str]
) -> bool:
    """``true``/``false`` in any case; anything else warns and gives ``default``."""
    raw = _raw(variable, argument, env)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).lower()
    if text in ("true", "false"):
        return text == "true"
    _warn_once(variable, raw, "expected true or false", default)
    return default


def resolve_number(
    variable: str,
    argument: float | None,
    default: _T,
    env: Mapping[str, str],
    *,
    kind: type[_T],
    minimum: float,
) -> _T:
    """A number of ``kind`` (int or float) no smaller than ``minimum``."""
    raw = _raw(variable, argument, env)
    if raw is None:
        return default
    try:
        value = kind(raw)  # type: ignore[call-arg]
        finite = math.isfinite(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        _warn_once(variable, raw, "expected a number", default)
        return default
    if not finite or value < minimum:  # type: ignore[operator]
        _warn_once(variable, raw, f"expected a finite number of at least {minimum:g}", default)
        return default
    return value


def resolve_profile(argument: str | None, env: Mapping[str, str]) -> Profile:
    raw = _raw(PROFILE, argument, env)
    if raw is None:
        return "engine"
    text = str(raw).lower()
    if text == "engine" or text == "optimize":
        return text  # type: ignore[return-value]
    _warn_once(PROFILE, raw, "expected engine or optimize", "engine")
    return "engine"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(argument: str | None, env: Mapping[str, str]) -> str | None:
    """The report URL, or None when nothing may be sent.

    Plain ``http://`` is refused unless the host is loopback: reports cross the network
    only encrypted (the seeds promise HTTPS).
    """
    raw = _raw(ENDPOINT, argument, env)
    if raw is None:
        return None
    url = str(raw)
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises on a port out of range
    except ValueError as exc:
        _warn_once(ENDPOINT, redact(url), f"not a URL: {exc}", None)
        return None
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and is_loopback_host(host):
        return url
    why = (
        "plain http is only accepted for loopback hosts"
        if parts.scheme == "http"
        else "expected an https:// URL"
    )
    _warn_once(ENDPOINT, redact(url), f"refused: {why}; no report will be sent", None)
    return None


def redact(url: str) -> str:
    """``url`` without the password of its user info (for logs and status displays)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    except ValueError:
        return "<unparseable URL>"


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def default_state_path(env: Mapping[str, str] | None = None) -> Path:
    """The per-user data directory's state file (XDG on Linux, the platform's elsewhere)."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "otel-camunda-telemetry" / "state.sqlite3"


def telemetry_vetoed(env: Mapping[str, str]) -> str | None:
    """The variable that forbids any reporting at all, if one does."""
    dnt = env.get("DO_NOT_TRACK", "").strip().lower()
    if dnt not in ("", "0", "false"):
        return "DO_NOT_TRACK"
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return "OTEL_SDK_DISABLED"
    return None


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :meth:`Settings.resolve`.

    Example:
        >>> s = Settings.resolve(reporting_period=60, env={})
        >>> s.reporting_period, s.send_on_shutdown
        (60.0, True)
    """

    endpoint: str | None
    state: str
    initialize: bool
    reporter_activate: bool
    reporting_period: float
    request_timeout: float
    request_retries: int
    send_on_shutdown: bool
    shutdown_timeout: float
    profile: Profile
    license_key: str | None
    max_commands: int

    @classmethod
    def resolve(
        cls,
        *,
        endpoint: str | None = None,
        state: str | os.PathLike[str] | None = None,
        initialize: bool | None = None,
        reporter_activate: bool | None = None,
        reporting_period: float | None = None,
        request_timeout_millis: float | None = None,
        request_retries: int | None = None,
        send_on_shutdown: bool | None = None,
        shutdown_timeout_millis: float | None = None,
        profile: str | None = None,
        license_key: str | None = None,
        max_commands: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Resolve every setting: argument, then environment variable, then default."""
        env = os.environ if env is None else env
        activate = resolve_bool(REPORTER_ACTIVATE, reporter_activate, True, env)
        # DO_NOT_TRACK and OTEL_SDK_DISABLED are the user's universal opt-outs: they win
        # over any argument.
        if activate and telemetry_vetoed(env):
            activate = False
        state_raw = _raw(STATE, None if state is None else os.fspath(state), env)
        return cls(
            endpoint=resolve_endpoint(endpoint, env) if activate else None,
            state=str(state_raw) if state_raw is not None else str(default_state_path(env)),
            initialize=resolve_bool(INITIALIZE, initialize, False, env),
            reporter_activate=activate,
            reporting_period=resolve_number(
                REPORTING_PERIOD, reporting_period, 86400.0, env, kind=float, minimum=0.001
            ),
            request_timeout=resolve_number(
                REQUEST_TIMEOUT, request_timeout_millis, 15000.0, env, kind=float, minimum=1
            )
            / 1000,
            request_retries=resolve_number(
                REQUEST_RETRIES, request_retries, 2, env, kind=int, minimum=0
            ),
            send_on_shutdown=resolve_bool(SEND_ON_SHUTDOWN, send_on_shutdown, True, env),
            shutdown_timeout=resolve_number(
                SHUTDOWN_TIMEOUT, shutdown_timeout_millis, 3000.0, env, kind=float, minimum=0
            )
            / 1000,
            profile=resolve_profile(profile, env),
            license_key=_optional_text(_raw(LICENSE_KEY, license_key, env)),
            max_commands=resolve_number(MAX_COMMANDS, max_commands, 2000, env, kind=int, minimum=1),
        )
