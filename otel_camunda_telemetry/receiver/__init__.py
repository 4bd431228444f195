"""The telemetry receiver: validates, protects privacy, deduplicates, stores and shows reports.

Needs the ``[receiver]`` extra (``jsonschema``). Run it with ``otel-camunda-telemetry
receive`` or host :func:`create_app` (a WSGI application) under any WSGI server.

Example:
    >>> import json, tempfile, urllib.request
    >>> with ReceiverServer(db=tempfile.mkdtemp() + "/reports.sqlite3") as server:
    ...     body = json.dumps({"installation": "b647de4d-e557-455a-a64f-feaecd55f53c",
    ...         "product": {"name": "Camunda BPM Runtime", "version": "7.14.0",
    ...         "edition": "community", "internals": {"telemetry-enabled": False}}}).encode()
    ...     request = urllib.request.Request(server.url, body, method="POST",
    ...         headers={"Content-Type": "application/json"})
    ...     with urllib.request.urlopen(request) as response:
    ...         status = response.status
    ...     status, server.store.count()
    (202, 1)
"""

from ._app import DEFAULT_MAX_BODY_BYTES, ReceiverApp, create_app
from ._cli import add_receive_command, default_db_path, run_receive
from ._flagging import FlagPolicy
from ._privacy import IpHasher, load_or_create_secret
from ._ratelimit import RateLimit
from ._server import ReceiverServer
from ._storage import AddResult, NewReport, ReportStore, SQLiteReportStore, StoredReport
from ._summary import summarize
from ._validation import (
    KINDS,
    ReportKind,
    ReportValidationError,
    classify_report,
    load_schema,
    validate_report,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "KINDS",
    "AddResult",
    "FlagPolicy",
    "IpHasher",
    "NewReport",
    "RateLimit",
    "ReceiverApp",
    "ReceiverServer",
    "ReportKind",
    "ReportStore",
    "ReportValidationError",
    "SQLiteReportStore",
    "StoredReport",
    "add_receive_command",
    "classify_report",
    "create_app",
    "default_db_path",
    "load_or_create_secret",
    "load_schema",
    "run_receive",
    "summarize",
    "validate_report",
]
