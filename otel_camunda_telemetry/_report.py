"""The reports, built by pure functions (SPEC section 4): inputs in, a JSON-ready dict out.

No I/O and no clock here. Key order is the documented order of the seeds' examples (Python
dicts keep insertion order and ``json.dumps`` preserves it), and a section with no data is
left out rather than invented.
"""

from __future__ import annotations

from typing import Any, Literal

from ._counts import METRIC_NAMES, Counts
from ._license import LicenseKey
from ._resource import EDITIONS, ProductInfo, interpreter

Report = dict[str, Any]
ReportKind = Literal["initial", "full"]

UNKNOWN = "unknown"


def _product_header(info: ProductInfo) -> dict[str, Any]:
    edition = info.edition.lower() if info.edition else "community"
    return {
        "name": info.name or UNKNOWN,
        "version": info.version or UNKNOWN,
        "edition": edition if edition in EDITIONS else "community",
    }


def _pair(first: tuple[str, str | None], second: tuple[str, str | None]) -> dict[str, str] | None:
    section = {k: v for k, v in (first, second) if v is not None}
    return section or None


def _license_section(key: LicenseKey, *, unlimited_as_text: bool) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if key.customer is not None:
        section["customer"] = key.customer
    if key.type is not None:
        section["type"] = key.type
    if key.valid_until is not None:
        section["valid-until"] = key.valid_until
    if key.unlimited is not None:
        # Camunda's engine sends a JSON boolean, Optimize the string "true"/"false".
        section["unlimited"] = str(key.unlimited).lower() if unlimited_as_text else key.unlimited
    if key.features:
        section["features"] = dict(key.features)
    section["raw"] = key.raw
    return section


def build_initial_report(
    installation: str, info: ProductInfo, *, telemetry_enabled: bool
) -> Report:
    """The anonymous one-time report of the engine profile.

    Example:
        >>> build_initial_report("b647de4d-e557-455a-a64f-feaecd55f53c",
        ...     ProductInfo(name="Camunda BPM Runtime", version="7.14.0"),
        ...     telemetry_enabled=False)["product"]["internals"]
        {'telemetry-enabled': False}
    """
    product = _product_header(info)
    product["internals"] = {"telemetry-enabled": telemetry_enabled}
    return {"installation": installation, "product": product}


def build_engine_report(
    installation: str,
    info: ProductInfo,
    counts: Counts,
    license_key: LicenseKey | None,
) -> Report:
    """The engine profile's full report (the seed's "Example").

    The four metrics are always present (0 when nothing was counted); commands only with a
    count above zero; the JDK section falls back to the running interpreter.
    """
    internals: dict[str, Any] = {}
    database = _pair(("vendor", info.database_vendor), ("version", info.database_version))
    if database:
        internals["database"] = database
    server = _pair(
        ("vendor", info.application_server_vendor), ("version", info.application_server_version)
    )
    if server:
        internals["application-server"] = server
    if info.jdk_vendor is None and info.jdk_version is None:
        vendor, version = interpreter()
        internals["jdk"] = {"version": version, "vendor": vendor}
    else:
        jdk = _pair(("version", info.jdk_version), ("vendor", info.jdk_vendor))
        internals["jdk"] = jdk
    commands = {name: {"count": n} for name, n in counts.commands.items() if n > 0}
    if commands:
        internals["commands"] = commands
    internals["metrics"] = {name: {"count": counts.metrics.get(name, 0)} for name in METRIC_NAMES}
    if info.integrations:
        internals["camunda-integration"] = list(info.integrations)
    if license_key is not None:
        internals["license-key"] = _license_section(license_key, unlimited_as_text=False)
    if info.webapps:
        internals["webapps"] = list(info.webapps)
    product = _product_header(info)
    product["internals"] = internals
    return {"installation": installation, "product": product}


def build_optimize_report(
    installation: str, info: ProductInfo, license_key: LicenseKey | None
) -> Report:
    """The Optimize profile's report: database, license key and engine installation ids."""
    internals: dict[str, Any] = {}
    database = _pair(("vendor", info.database_vendor), ("version", info.database_version))
    if database:
        internals["database"] = database
    if license_key is not None:
        internals["license-key"] = _license_section(license_key, unlimited_as_text=True)
    if info.engine_installation_ids:
        internals["engine-installation-ids"] = list(info.engine_installation_ids)
    product = _product_header(info)
    product["internals"] = internals
    return {"installation": installation, "product": product}


def build_full_report(
    profile: Literal["engine", "optimize"],
    installation: str,
    info: ProductInfo,
    counts: Counts,
    license_key: LicenseKey | None,
) -> Report:
    """The periodic report of either profile."""
    if profile == "optimize":
        return build_optimize_report(installation, info, license_key)
    return build_engine_report(installation, info, counts, license_key)
