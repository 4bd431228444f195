"""The license key: runtime state, sent without any signature (SPEC section 3, issue 3.9).

Camunda's raw keys look like ``<signature>;customer=...;expiryDate=...;camundaBPM=true``,
sometimes wrapped in ``BEGIN/END CAMUNDA LICENSE KEY`` lines. The signature proves the key
to its owner; the telemetry service has no use for it, so it never leaves the process.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

_ARMOR = re.compile(r"^-+\s*(BEGIN|END)\b.*-*$", re.IGNORECASE)
_PAIR = re.compile(r"^\s*([A-Za-z][\w.-]*)\s*[=:]\s*(.*?)\s*$")
_SIGNATURE_KEYS = {"signature", "sig"}
_KNOWN = {"customer", "type", "expirydate", "validuntil", "valid-until", "unlimited"}


def strip_signature(raw: str) -> str:
    """``raw`` without armor lines and without its signature (spacing kept as given).

    Only ``key=value`` (or ``key: value``) segments are kept: a signature has no fixed
    shape, so anything else is dropped rather than guessed at.

    Example:
        >>> strip_signature("QUJDREVGR0hJSktMTU5PUA==;customer=acme;expiryDate=2030-01-01")
        'customer=acme;expiryDate=2030-01-01'
    """
    lines = [ln.strip() for ln in raw.strip().splitlines() if not _ARMOR.match(ln.strip())]
    kept: list[str] = []
    for segment in "".join(lines).split(";"):
        text = segment.strip()
        if not text:
            kept.append(segment)  # keeps a trailing ";" as given
            continue
        pair = _PAIR.match(text)
        # A base64 token ends in "=" padding but is no pair: "QUJD==" has an empty value.
        if pair is None or not pair.group(2).strip("=").strip():
            continue
        if pair.group(1).lower() in _SIGNATURE_KEYS:
            continue
        kept.append(segment)
    return ";".join(kept).strip().lstrip(";")


@dataclass(frozen=True)
class LicenseKey:
    """A license key as the report carries it: ``raw`` always, structured fields when known.

    As in Camunda, a key given as a raw string is sent raw; structured fields are sent only
    when they were given (or parsed on request with :meth:`parse`).

    Example:
        >>> key = LicenseKey.parse(
        ...     "sig0123456789ABCDEF;customer=acme;expiryDate=2030-01-01;optimize=true")
        >>> key.customer, key.valid_until, key.features
        ('acme', '2030-01-01', {'optimize': 'true'})
    """

    raw: str
    customer: str | None = None
    type: str | None = None
    valid_until: str | None = None
    unlimited: bool | None = None
    features: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw", strip_signature(self.raw))

    @classmethod
    def parse(cls, raw: str) -> LicenseKey:
        """Read customer, expiry and boolean features out of a raw key's ``k=v`` pairs."""
        clean = strip_signature(raw)
        values: dict[str, str] = {}
        for segment in clean.split(";"):
            pair = _PAIR.match(segment)
            if pair:
                values[pair.group(1)] = pair.group(2)
        lowered = {k.lower(): v for k, v in values.items()}
        valid_until = (
            lowered.get("expirydate") or lowered.get("validuntil") or lowered.get("valid-until")
        )
        unlimited_text = lowered.get("unlimited")
        features = {
            k: v.lower()
            for k, v in values.items()
            if k.lower() not in _KNOWN and v.lower() in ("true", "false")
        }
        return cls(
            raw=clean,
            customer=lowered.get("customer"),
            type=lowered.get("type"),
            valid_until=valid_until,
            unlimited=None if unlimited_text is None else unlimited_text.lower() == "true",
            features=features,
        )

    def to_json(self) -> str:
        """Serialized form for the state store."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LicenseKey:
        data: dict[str, Any] = json.loads(text)
        return cls(**data)
