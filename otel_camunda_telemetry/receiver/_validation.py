"""Report kinds and their JSON Schemas (shipped in ``otel_camunda_telemetry/schemas``).

The receiver cannot trust a sender to say what it sent, so the kind is inferred from the
shape of ``product.internals`` and the body is then checked against that kind's schema.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "KINDS",
    "ReportKind",
    "ReportValidationError",
    "check_schemas",
    "classify_report",
    "load_schema",
    "validate_report",
]

ReportKind = Literal["engine-initial", "engine-full", "optimize"]

#: Every report kind, each with a schema file ``<kind>.schema.json``.
KINDS: tuple[ReportKind, ...] = ("engine-initial", "engine-full", "optimize")


@dataclass(frozen=True)
class ReportValidationError(ValueError):
    """A report does not match the schema of its kind.

    Attributes:
        kind: The kind the report was taken for.
        path: JSONPath of the failing element, e.g. ``$.product.edition``.
        message: What is wrong there.
    """

    kind: ReportKind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} report invalid at {self.path}: {self.message}"


@functools.cache
def load_schema(kind: ReportKind) -> dict[str, Any]:
    """Return the packaged JSON Schema of one report kind.

    Example:
        >>> load_schema("engine-initial")["title"]
        'Camunda engine initial report'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; expected one of {KINDS}")
    text = (
        resources.files("otel_camunda_telemetry")
        .joinpath("schemas")
        .joinpath(f"{kind}.schema.json")
        .read_text(encoding="utf-8")
    )
    return cast(dict[str, Any], json.loads(text))


@functools.cache
def _validator(kind: ReportKind) -> jsonschema.protocols.Validator:
    # Imported here so that the CLI can offer ``receive`` without the [receiver] extra and
    # say what to install when it is used.
    try:
        import jsonschema.validators
    except ImportError as exc:
        raise ImportError(
            "the receiver needs the [receiver] extra: "
            "pip install 'otel-camunda-telemetry[receiver]'"
        ) from exc
    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def check_schemas() -> None:
    """Load and check every packaged schema (fails early when ``jsonschema`` is missing)."""
    for kind in KINDS:
        _validator(kind)


def classify_report(report: object) -> ReportKind:
    """Tell which kind of report a decoded JSON body claims to be.

    ``internals`` holding only ``telemetry-enabled`` is an engine initial report; one with
    ``engine-installation-ids`` or without ``metrics`` is an Optimize report; everything
    else (malformed bodies included) is validated as an engine full report, so that the
    error names what is missing there.

    Example:
        >>> classify_report({"product": {"internals": {"telemetry-enabled": True}}})
        'engine-initial'
    """
    product = report.get("product") if isinstance(report, dict) else None
    internals = product.get("internals") if isinstance(product, dict) else None
    if not isinstance(internals, dict):
        return "engine-full"
    if set(internals) == {"telemetry-enabled"}:
        return "engine-initial"
    if "engine-installation-ids" in internals or "metrics" not in internals:
        return "optimize"
    return "engine-full"


def validate_report(report: object) -> ReportKind:
    """Check a decoded report against the schema of its kind and return the kind.

    Raises:
        ReportValidationError: naming the JSONPath of the most relevant failure.

    Example:
        >>> try:
        ...     validate_report({"installation": "x"})
        ... except ReportValidationError as exc:
        ...     print(exc.path, exc.message)
        $ 'product' is a required property
    """
    kind = classify_report(report)
    from jsonschema.exceptions import best_match

    error = best_match(_validator(kind).iter_errors(cast(Any, report)))
    if error is not None:
        raise ReportValidationError(kind, error.json_path, error.message)
    return kind
