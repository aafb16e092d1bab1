"""`caliber score` on exports whose table does not start at the first line of the first
sheet (issue 16 §2): each shape writes the same results, lists and totals as its plain
twin; --header-row and --sheet override the detection; errors say what was read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from caliber.cli.main import main
from tests.engine import shapes
from tests.engine.exports import make_export

SETUP = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]
# what differs between twins: where the table was read, and the footer's dropped rows
READING = ("processing_report", "rows", "data_quality_warnings")


def _score(tmp_path: Path, name: str, data: bytes, *extra: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / f"out-{name}"
    assert main(["score", str(path), *SETUP, "-o", str(out), "--quiet", *extra]) == 0
    return out


def _summary(out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return summary


@pytest.fixture(scope="module")
def display() -> str:
    return make_export("trade_desk", "display", seed=31)


@pytest.fixture(scope="module")
def video() -> str:
    return make_export("trade_desk", "video", seed=32)


def _shapes(display: str, video: str) -> dict[str, bytes]:
    rows = shapes.rows_of(display)
    return {
        "titled.csv": shapes.titled_csv(display),
        "titled.xlsx": shapes.xlsx(("Report", shapes.titled(rows))),
        "second-sheet.xlsx": shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", rows)),
        "two-sheets.xlsx": shapes.xlsx(("Video", shapes.rows_of(video)), ("Display", rows)),
    }


@pytest.mark.parametrize(
    "name", ["titled.csv", "titled.xlsx", "second-sheet.xlsx", "two-sheets.xlsx"]
)
def test_every_shape_writes_what_its_plain_twin_writes(
    tmp_path: Path, display: str, video: str, name: str
) -> None:
    plain = _score(tmp_path, "plain.csv", display.encode())
    shaped = _score(tmp_path, name, _shapes(display, video)[name])
    for written in ("results.csv", "whitelist.csv", "blacklist.csv"):
        assert (shaped / written).read_bytes() == (plain / written).read_bytes(), written
    got, want = _summary(shaped), _summary(plain)
    assert {k: v for k, v in got.items() if k not in READING} == {
        k: v for k, v in want.items() if k not in READING
    }
    assert got["rows"]["scored"] == want["rows"]["scored"]
    report = got["processing_report"]
    assert report["header_row"] == (8 if name.startswith("titled") else 1)
    if name.endswith(".xlsx"):
        assert report["sheet"]["name"] == {"titled.xlsx": "Report"}.get(
            name, "Data" if name.startswith("second") else "Display"
        )


def test_header_row_and_sheet_given_on_the_command_line(
    tmp_path: Path, display: str, video: str
) -> None:
    plain = _score(tmp_path, "plain.csv", display.encode())
    data = _shapes(display, video)["titled.csv"]
    given = _score(tmp_path, "given.csv", data, "--header-row", "8")
    assert _summary(given)["processing_report"]["header_row_chosen"] == "given"
    assert (given / "results.csv").read_bytes() == (plain / "results.csv").read_bytes()
    workbook = _shapes(display, video)["two-sheets.xlsx"]
    for sheet in ("Display", "1"):
        out = _score(tmp_path, "two-sheets.xlsx", workbook, "--sheet", sheet)
        assert _summary(out)["processing_report"]["sheet"] == {
            "name": "Display",
            "index": 1,
            "chosen": "given",
        }


def test_a_sheet_that_cannot_be_scored_names_what_was_read(
    tmp_path: Path, display: str, video: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two-sheets.xlsx"
    path.write_bytes(_shapes(display, video)["two-sheets.xlsx"])
    code = main(["score", str(path), *SETUP, "-o", str(tmp_path / "o"), "--sheet", "Video"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "Read sheet 'Video'; row 1 as the header (detected); other sheets: 'Display'" in err
    assert "headers found: 'Date', 'Site', 'Supply Vendor'" in err
    code = main(["score", str(path), *SETUP, "-o", str(tmp_path / "o"), "--sheet", "Summary"])
    err = capsys.readouterr().err
    assert code == 2
    assert "the workbook has no sheet 'Summary' (its sheets: 0: 'Video', 1: 'Display')" in err
