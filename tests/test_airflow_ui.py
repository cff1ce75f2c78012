"""The migration as a person drives it: the Airflow trigger form and the outcome, in headless Chromium (Debian's
``chromium`` package, driven by Playwright) against the real deployment of the end-to-end suite.

The test also takes the README's pictures (``tests/screenshots/``), so they show what the UI really shows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from spotzee_loader.api.mock import MockSpotzee

from .airflow_deployment import Deployment
from .conftest import API_KEY
from .test_deployment import _ids, _orders

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless on a machine without a network: no GPU, no sandbox (root in CI), and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SECTIONS = [
    "Source: files",
    "Source: a warehouse table or query",
    "Mapping: how rows become events",
    "Time window (the cutover)",
    "Run options",
]

TITLES = (
    "Files", "Table", "Query", "Warehouse connection", "Mapping", "Since", "Until", "Dry run",
    "Rows per slice (files)", "Days per slice (tables)", "Rejected rows tolerated", "Restart", "Migration name",
)  # fmt: skip


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of headless Chromium; skips outside CI when Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"Playwright is not installed ({exc})"
    else:
        reason = "" if Path(CHROMIUM).exists() else f"Debian's chromium is not installed at {CHROMIUM}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the browser test (apt-get install chromium).")
        pytest.skip(f"{reason}; install it with: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def _open_trigger_form(page: Any, deployment: Deployment) -> Any:
    page.goto(f"{deployment.ui_url}/dags/spotzee_migration", wait_until="networkidle")
    page.get_by_role("button", name="Trigger").click()
    form = page.get_by_role("dialog")
    form.get_by_role("button", name=SECTIONS[0]).wait_for()
    return form


def _open(form: Any, section: str) -> None:
    """Open one section of the form (one is open at a time; the first may be open already)."""
    header = form.get_by_role("button", name=section)
    if header.get_attribute("aria-expanded") != "true":
        header.click()


def _xcom_page(page: Any, deployment: Deployment, run_id: str, task: str, expected: str) -> str:
    """The text of a task instance's XCom tab, once its values (loaded after the page) show ``expected``."""
    page.goto(f"{deployment.ui_url}/dags/spotzee_migration/runs/{quote(run_id)}/tasks/{task}/xcom")
    with contextlib.suppress(Exception):  # the caller's assertion shows what the page holds instead
        page.get_by_text(expected).first.wait_for(timeout=20_000)
    return str(page.inner_text("body"))


def test_a_person_starts_a_migration_from_the_trigger_form(
    deployment: Deployment,
    edge: MockSpotzee,
    page: Any,
    tmp_path: Path,
) -> None:
    path = _orders(tmp_path / "orders.parquet", 5_000_000, 20_000)
    form = _open_trigger_form(page, deployment)

    # A form a person can fill without the README: titles and descriptions, the presets offered, SQL in a
    # multi-line box, nothing marked required (a files run needs no warehouse field).
    labels = [text.strip() for text in form.locator("label").all_inner_texts()]
    for title in TITLES:
        assert title in labels, labels
    assert not [label for label in labels if label.endswith("*")], labels
    assert form.locator("#list_mapping option").evaluate_all("os => os.map(o => o.value)") == [
        "orders",
        "actions",
        "segment",
    ]
    assert form.locator("#element_sql").evaluate("e => e.tagName") == "TEXTAREA"

    _open(form, "Mapping: how rows become events")
    form.locator("#element_mapping").fill("orders")
    _open(form, "Run options")
    form.locator("[name=element_slice_rows]").fill("10000")
    _open(form, "Source: files")
    form.locator("#element_path").fill(path)
    assert "s3://CONN_ID@bucket/prefix/ reads with that Airflow connection" in form.inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    form.screenshot(path=str(SCREENSHOTS / "trigger-form.png"))
    form.get_by_role("button", name="Trigger", exact=True).click()
    page.wait_for_url("**/runs/**")
    run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("/")[0])

    assert deployment.wait_for_run(run_id) == "success", deployment.task_logs(run_id)[-3000:]
    ids = _ids(edge, 5_000_000, 5_020_000)
    assert sorted(ids) == list(range(5_000_000, 5_020_000)) and set(ids.values()) == {1}

    # The outcome where the person looks: the summarize task's XCom tab, without opening a log.
    shown = _xcom_page(page, deployment, run_id, "summarize", "events sent from")
    assert "20,000 events sent from 20,000 rows in 2 slices" in shown, shown[-2000:]
    assert "Rejected: 0 (none). Retries: 0. Dead letters: none." in shown
    page.screenshot(path=str(SCREENSHOTS / "finished-run.png"))


def test_a_failed_migration_shows_its_sentence_and_request_id(
    deployment: Deployment,
    edge: MockSpotzee,
    page: Any,
    tmp_path: Path,
) -> None:
    path = _orders(tmp_path / "orders.parquet", 6_000_000, 1_000)
    requests_before = len(edge.requests)
    edge.configure({"api_key": "sk_rotated_elsewhere"})  # the key in the connection was revoked
    try:
        form = _open_trigger_form(page, deployment)
        _open(form, "Mapping: how rows become events")
        form.locator("#element_mapping").fill("orders")
        _open(form, "Source: files")
        form.locator("#element_path").fill(path)
        form.get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_url("**/runs/**")
        run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("/")[0])
        assert deployment.wait_for_run(run_id) == "failed"
    finally:
        edge.configure({"api_key": API_KEY})
    refused = {r["request_id"] for r in edge.requests[requests_before:] if r["status"] == 401}
    assert refused, "the load never reached Spotzee"
    shown = _xcom_page(page, deployment, run_id, "load/mapped/0", "Spotzee did not accept")
    assert "Spotzee did not accept the API key" in shown, shown[-2000:]
    # The request that stopped the load (several were in flight, each refused), as its own XCom too.
    assert len([rid for rid in refused if "request_id\t" in shown and rid in shown]) == 1, (refused, shown[-800:])
    assert not _ids(edge, 6_000_000, 6_001_000)
    page.screenshot(path=str(SCREENSHOTS / "failed-run.png"))
