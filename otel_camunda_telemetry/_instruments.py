"""The OpenTelemetry instruments the report is made of (SPEC section 2).

Applications count with any meter; only these instrument names reach a report. The SDK
lower-cases instrument names, so matching is case-insensitive.
"""

from __future__ import annotations

from typing import Final

COMMANDS: Final = "camunda.commands"
ROOT_PROCESS_INSTANCE_START: Final = "camunda.root-process-instance-start"
ACTIVITY_INSTANCE_START: Final = "camunda.activity-instance-start"
EXECUTED_DECISION_INSTANCES: Final = "camunda.executed-decision-instances"
EXECUTED_DECISION_ELEMENTS: Final = "camunda.executed-decision-elements"

#: The attribute of ``camunda.commands`` that names the command.
COMMAND_ATTRIBUTE: Final = "command"

#: Where commands past the per-report cap are folded (their counts are kept, not dropped).
OVERFLOW_COMMAND: Final = "(other)"

#: Report key of each metric instrument, in the documented order of ``internals.metrics``.
METRIC_KEYS: Final[dict[str, str]] = {
    ROOT_PROCESS_INSTANCE_START: "root-process-instance-start",
    ACTIVITY_INSTANCE_START: "activity-instance-start",
    EXECUTED_DECISION_INSTANCES: "executed-decision-instances",
    EXECUTED_DECISION_ELEMENTS: "executed-decision-elements",
}

#: The SDK marks the data point that absorbs attribute sets past its cardinality limit so.
SDK_OVERFLOW_ATTRIBUTE: Final = "otel.metric.overflow"
