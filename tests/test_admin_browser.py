"""The admin page in a real headless Chromium: toggle in the page, see the change through the
REST API and in the state store. Debian's ``chromium`` driven by Playwright's Python package
(``executable_path``; no browser download)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import CHROMIUM, CHROMIUM_ARGS

from otel_camunda_telemetry import TelemetryControl
from otel_camunda_telemetry.admin import create_admin_app
from tests._admin_support import (
    ADMIN,
    EXAMPLE_NAMES,
    VIEWER,
    authorize,
    basic,
    call,
    in_ci,
    require,
    serve_example,
    serve_wsgi,
)

HOW_TO_RUN = "apt-get install chromium && pip install playwright (never `playwright install`)"
WAIT_MS = 60_000  # generous: the machine is shared


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = require("playwright.sync_api", HOW_TO_RUN)
    if not Path(CHROMIUM).exists():
        message = f"needs a Chromium binary at {CHROMIUM}: {HOW_TO_RUN}, or set CHROMIUM_PATH"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=120_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, TelemetryControl, str]]:
    state = str(tmp_path / "state.sqlite3")
    control = TelemetryControl(state=state)
    try:
        with serve_wsgi(create_admin_app(control, authorize=authorize)) as base:
            yield base, control, state
    finally:
        control.close()


def _open(browser: Any, url: str, credentials: tuple[str, str]) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(
        http_credentials={"username": credentials[0], "password": credentials[1]}
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url, wait_until="load", timeout=WAIT_MS)
    page.wait_for_selector("body[data-state]", timeout=WAIT_MS)
    return context, page, problems


def test_toggle_in_the_page_changes_consent(
    browser: Any, served: tuple[str, TelemetryControl, str], tmp_path: Path
) -> None:
    base, control, state = served
    context, page, problems = _open(browser, base + "/", ADMIN)
    try:
        assert page.get_attribute("body", "data-state") == "undecided"
        assert page.text_content("#installation") == control.status().installation_id
        assert page.text_content("#user") == "admin"
        assert '"installation"' in (page.text_content("#preview") or "")
        assert not page.is_checked("#enable-telemetry")

        page.click("#enable-telemetry")
        page.wait_for_selector("body[data-state=enabled]", timeout=WAIT_MS)
        assert page.text_content("#consent") == "enabled"
        assert page.is_checked("#enable-telemetry")
        assert page.text_content("#next-report") not in ("", "\u2013")  # en dash: no date
        page.screenshot(path=str(tmp_path / "admin-enabled.png"), full_page=True)

        # Through the REST API, and in the state store another process would read.
        assert call(base + "/telemetry/configuration", headers=basic(ADMIN))[2] == {
            "enableTelemetry": True
        }
        other = TelemetryControl(state=state)
        try:
            assert other.is_enabled()
        finally:
            other.close()

        page.click("#enable-telemetry")
        page.wait_for_selector("body[data-state=disabled]", timeout=WAIT_MS)
        assert control.status().enabled is False
        assert problems == []  # no script error, no CSP violation
    finally:
        context.close()
    assert (tmp_path / "admin-enabled.png").stat().st_size > 1000


def test_read_only_user_cannot_toggle(
    browser: Any, served: tuple[str, TelemetryControl, str]
) -> None:
    base, control, _ = served
    context, page, problems = _open(browser, base + "/", VIEWER)
    try:
        assert page.text_content("#user") == "viewer (read only)"
        assert page.is_disabled("#enable-telemetry")
        assert problems == []
    finally:
        context.close()
    assert control.status().enabled is None


def test_change_elsewhere_shows_after_reload(
    browser: Any, served: tuple[str, TelemetryControl, str]
) -> None:
    base, control, _ = served
    context, page, _ = _open(browser, base + "/", ADMIN)
    try:
        control.enable()  # e.g. the CLI, in another process
        page.reload(wait_until="load", timeout=WAIT_MS)
        page.wait_for_selector("body[data-state=enabled]", timeout=WAIT_MS)
        assert page.is_checked("#enable-telemetry")
    finally:
        context.close()


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_toggle_through_each_framework_example(
    browser: Any, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's path: mount the example, open the page under its prefix, toggle."""
    monkeypatch.setenv("TELEMETRY_ADMIN_PASSWORD", "example-pw")
    state = str(tmp_path / "state.sqlite3")
    with serve_example(name, state) as base:
        # Without the trailing slash: the redirect keeps the page's relative URLs right.
        context, page, problems = _open(browser, base + "/admin/telemetry", ("admin", "example-pw"))
        try:
            assert page.url == base + "/admin/telemetry/"
            page.click("#enable-telemetry")
            page.wait_for_selector("body[data-state=enabled]", timeout=WAIT_MS)
            page.screenshot(path=str(tmp_path / f"admin-{name}.png"))
            status = call(
                base + "/admin/telemetry/telemetry/configuration",
                headers=basic(("admin", "example-pw")),
            )
            assert status[2] == {"enableTelemetry": True}
            assert problems == []
        finally:
            context.close()
    control = TelemetryControl(state=state)
    try:
        assert control.is_enabled()
    finally:
        control.close()
