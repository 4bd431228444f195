"""What describes the installation: OTel Resource attributes -> report fields (SPEC section 3).

The mapping is a declarative table, not a chain of ifs. Only the keys in the table are ever
read, so nothing else a Resource carries (host names, pids, paths) can reach a report.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from opentelemetry.util.types import AttributeValue

# resource attribute -> attribute of ProductInfo. Scalars are str; lists are list[str].
_SCALARS: dict[str, str] = {
    "camunda.product.name": "name",
    "camunda.product.version": "version",
    "camunda.product.edition": "edition",
    "camunda.database.vendor": "database_vendor",
    "camunda.database.version": "database_version",
    "camunda.application_server.vendor": "application_server_vendor",
    "camunda.application_server.version": "application_server_version",
    "camunda.jdk.vendor": "jdk_vendor",
    "camunda.jdk.version": "jdk_version",
}
_LISTS: dict[str, str] = {
    "camunda.webapps": "webapps",
    "camunda.integrations": "integrations",
    "camunda.engine_installation_ids": "engine_installation_ids",
}

#: Every Resource attribute this library reads.
RESOURCE_KEYS: tuple[str, ...] = (*_SCALARS, *_LISTS)

EDITIONS = ("community", "enterprise")


@dataclass(frozen=True)
class ProductInfo:
    """The product and its environment, as far as the Resource describes them.

    ``None`` (or an empty list) means "not described": the report leaves that section out.

    Example:
        >>> from opentelemetry.sdk.resources import Resource
        >>> info = ProductInfo.from_attributes({"camunda.webapps": "cockpit,admin"})
        >>> info.webapps
        ['cockpit', 'admin']
    """

    name: str | None = None
    version: str | None = None
    edition: str | None = None
    database_vendor: str | None = None
    database_version: str | None = None
    application_server_vendor: str | None = None
    application_server_version: str | None = None
    jdk_vendor: str | None = None
    jdk_version: str | None = None
    webapps: list[str] = field(default_factory=list)
    integrations: list[str] = field(default_factory=list)
    engine_installation_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, AttributeValue]) -> ProductInfo:
        """Read the table's keys from Resource attributes; ignore everything else."""
        values: dict[str, Any] = {}
        for key, target in _SCALARS.items():
            value = attributes.get(key)
            if value is not None and str(value).strip():
                values[target] = str(value).strip()
        for key, target in _LISTS.items():
            values[target] = _as_list(attributes.get(key))
        return cls(**values)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProductInfo:
        """Inverse of :meth:`to_json` (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable dict (what the state store persists)."""
        return asdict(self)

    def with_runtime(self) -> ProductInfo:
        """This description, with the running interpreter as the JDK when none is given
        (stored so that reports built elsewhere, by the CLI, name the app's runtime)."""
        if self.jdk_vendor is not None or self.jdk_version is not None:
            return self
        vendor, version = interpreter()
        return replace(self, jdk_vendor=vendor, jdk_version=version)

    def is_described(self) -> bool:
        """True when any Camunda attribute was present."""
        return any(v for v in asdict(self).values())


def _as_list(value: AttributeValue | None) -> list[str]:
    # OTEL_RESOURCE_ATTRIBUTES cannot carry a list: a comma-separated string stands for one.
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = [str(value)]
    return [item.strip() for item in items if item.strip()]


def interpreter() -> tuple[str, str]:
    """(vendor, version) of the running interpreter, the default for ``internals.jdk``."""
    return platform.python_implementation(), platform.python_version()
