"""Fixtures of the browser tests: the system Chromium, the screenshots folder and the
servers (one per test module)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.api.firebase import PROJECT_ID, CertServer, make_key
from tests.web.figures import Flow
from tests.web.harness import CHROMIUM, Server, new_context, start_server, stop_server, watch


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        message = f"{CHROMIUM} is missing (install the system package `chromium`)"
        if os.environ.get("CALIBER_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("CALIBER_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Server]:
    del browser  # skip before starting a server when there is no browser
    data_dir = tmp_path_factory.mktemp("dev-serve")
    server = start_server(data_dir, {"ENVIRONMENT": "development", "AUTH_DEV_MODE": "true"}, None)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Server]:
    del browser
    certs = CertServer([make_key("web-key")])
    certs.start()
    data_dir = tmp_path_factory.mktemp("token-serve")
    extra = {
        "ENVIRONMENT": "development",
        "AUTH_DEV_MODE": "false",
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_CERTS_URL": certs.url,
    }
    try:
        server = start_server(data_dir, extra, certs)
        yield server
        stop_server(server)
    finally:
        certs.stop()


@pytest.fixture(scope="module")
def flow(browser: Browser, dev_server: Server, shots: Path) -> Iterator[Flow]:
    """One page on the dev server, handed from test to test of a module (no dialog, no
    page error)."""
    context = new_context(browser)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    watch(page, dialogs, errors)
    yield Flow(page, dev_server, shots)
    context.close()
    assert dialogs == [], dialogs
    assert errors == [], errors
