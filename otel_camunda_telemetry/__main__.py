"""``python -m otel_camunda_telemetry`` runs the CLI."""

import sys

from ._cli import main

sys.exit(main())
