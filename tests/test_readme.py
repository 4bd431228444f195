"""The README's two first commands stay true: CI runs the README's test command verbatim."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:12] if line.startswith("    ")]


def test_readme_starts_with_the_demo_and_the_test_command() -> None:
    demo, tests = readme_commands()[:2]
    assert demo.endswith("otel-camunda-telemetry demo")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_exactly() -> None:
    tests = readme_commands()[1]
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci_lines
