"""What the browser tests of issues 17 and 18 share: the page's number formats (so every
figure on screen is checked against the API's own answer, formatted as dom.js ``fmt``
and confidence.js ``about`` format it), the flow a module's tests hand on, and scoring a
file through the page."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.web.harness import Server


# ---- the page's number formats (dom.js fmt, confidence.js about) --------------------------
def _fixed(value: float, digits: int) -> str:
    """Number.prototype.toFixed for a positive or negative value (ties away from zero,
    on the value's exact binary expansion)."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def score(value: float | None) -> str:
    return "—" if value is None else _fixed(value, 1)


def whole(value: float | None) -> str:
    return "—" if value is None else f"{int(Decimal(value).quantize(Decimal(1), ROUND_HALF_UP)):,}"


def money(value: float | None) -> str:
    return "—" if value is None else f"${Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{_fixed(value * 100, digits)}%"


def about(n: float) -> str:
    if n < 100:
        return whole(math.ceil(n))
    step = 10 ** (math.floor(math.log10(n)) - 1)
    return whole(int(Decimal(n / step).quantize(Decimal(1), ROUND_HALF_UP)) * step)


def decision_note(row: dict[str, Any], min_impressions: float) -> str:
    if row["decision"] != "undecided":
        return ""
    if row["impressions_needed"] is not None:
        return f"needs about {about(row['impressions_needed'])} more impressions"
    if row["impressions"] >= min_impressions:
        return "no amount of data decides it"
    return f"under the {whole(min_impressions)} impressions lists need"


@dataclass
class Flow:
    page: Page
    server: Server
    shots: Path
    campaign_id: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first

    def get(self, path: str, **params: Any) -> Any:
        """The API's answer; a 429 (the page holds the user's heavy-request slots) is
        asked again after its Retry-After, as the page itself does."""
        for _ in range(10):
            answer = self.server.api("GET", path, params=params)
            if answer.status_code != 429:
                break
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        assert answer.status_code == 200, answer.text
        return answer.json()


def score_file(flow: Flow, path: Path, button: str) -> None:
    page = flow.page
    page.locator("#file-input").set_input_files(path)
    expect(page.locator(".file-info")).to_contain_text(f"Uploaded {path.name}")
    page.get_by_role("button", name=button).click()
    expect(page.locator("#progress-status")).to_contain_text("completed", timeout=60_000)
