"""CLI conventions (issue 5): ``--help`` on every command and subcommand, ``--json`` for
``status``, documented exit codes; run as a user would, ``python -m otel_camunda_telemetry``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_camunda_telemetry._cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every command path of the parser: ("status",), ("license", "set"), ..."""
    found: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found.extend(_commands(sub, (*prefix, name)))
    return found


COMMANDS = _commands(build_parser())


def cli(*args: str, state: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMUNDA_", "OTEL_"))}
    if state is not None:
        env["CAMUNDA_TELEMETRY_STATE"] = str(state)
    return subprocess.run(
        [sys.executable, "-m", "otel_camunda_telemetry", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_spec_commands_exist() -> None:
    top = {c[0] for c in COMMANDS}
    assert {"status", "enable", "disable", "show", "send", "demo"} <= top


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "(top)")
def test_help_on_every_command(command: tuple[str, ...]) -> None:
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
    assert result.stderr == ""


def test_exit_codes_are_documented_in_help() -> None:
    assert "Exit codes" in cli("--help").stdout


def test_usage_errors_exit_2() -> None:
    assert cli("no-such-command").returncode == 2
    assert cli("status", "--no-such-option").returncode == 2
    assert cli().returncode == 2


def test_status_json(tmp_path: Path) -> None:
    result = cli("status", "--json", state=tmp_path / "state.sqlite3")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["enableTelemetry"] is None
    assert {"installationId", "lastReportAt", "nextReportDue", "reportsWaiting"} <= set(status)
