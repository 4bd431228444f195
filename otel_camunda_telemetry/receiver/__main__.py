"""``python -m otel_camunda_telemetry.receiver [--host ...] [--port ...] [--db ...]``."""

from ._cli import main

raise SystemExit(main())
