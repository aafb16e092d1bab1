"""Shared by the browser tests: a real `caliber serve` on loopback, a Chromium context and
the watch that fails a test on a dialog or a page error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page

from tests.api.firebase import CertServer, mint
from tests.e2e.test_server import _free_port

CALIBER = str(Path(sys.executable).parent / "caliber")
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Server:
    base: str
    certs: CertServer | None
    process: subprocess.Popen[bytes]

    def token(self, uid: str) -> str:
        assert self.certs is not None
        return mint(self.certs.keys[0], uid, email=f"{uid}@example.com", name=uid.title())

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """A call of the dev server's API as the development user (no token)."""
        return httpx.request(method, f"{self.base}/api/v1{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def start_server(data_dir: Path, extra: dict[str, str], certs: CertServer | None) -> Server:
    port = _free_port()
    env = {**os.environ, "DATA_DIR": str(data_dir), "MAX_UPLOAD_MB": "20", **extra}
    env.pop("DATABASE_URL", None)
    if certs is None:
        env.pop("FIREBASE_PROJECT_ID", None)
        env.pop("FIREBASE_CERTS_URL", None)
    env.pop("FIREBASE_WEB_API_KEY", None)
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [CALIBER, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 40
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return Server(base, certs, process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.terminate()
            pytest.fail("caliber serve did not start: " + (data_dir / "server.log").read_text())
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    server.process.terminate()
    server.process.wait(timeout=30)


def new_context(browser: Browser, token: str | None = None, width: int = 1366) -> BrowserContext:
    height = 768 if width > 1000 else 1180
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    if token is not None:
        context.add_init_script(f"localStorage.setItem('caliber.token', {json.dumps(token)});")
    return context


def watch(page: Page, dialogs: list[str], errors: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
