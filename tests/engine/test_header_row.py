"""Where the table starts in delimited text (issue 16 §2): a title block above the header
is skipped (at most 50 lines), the header is the first line naming two known inputs, the
delimiter is sniffed on the header and the lines after it, ``ReadOptions.header_row``
overrides the detection, and what was skipped is in the processing report. Every shape
scores exactly as its plainly written twin."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from caliber.engine.config import Setup
from caliber.engine.errors import InvalidParameterError, MissingColumnError
from caliber.engine.options import ReadOptions
from caliber.engine.pipeline import ScoringResult, score
from caliber.engine.read import open_table
from tests.engine import shapes
from tests.engine.exports import SETUPS, make_export

TD_DISPLAY = Setup.create("trade_desk", "awareness", "display")
SKIPPED_TEXTS = [
    "Site Performance Report",
    "Advertiser: Acme Outdoor (acme-01)",
    "Date Range: 2026-03-01 - 2026-03-31",
    "Report generated 2026-04-01 07:15:42 UTC",
    "",
    "Report",
    "",
]


def assert_same_results(got: ScoringResult, want: ScoringResult) -> None:
    """Same scores, lists and totals (the reports differ: that is where they were read)."""
    assert_frame_equal(got.results, want.results)
    assert_frame_equal(got.lists.whitelist, want.lists.whitelist)
    assert_frame_equal(got.lists.blacklist, want.lists.blacklist)
    assert got.campaign == want.campaign
    assert got.report.rows_scored == want.report.rows_scored


@pytest.mark.parametrize(("platform", "goal", "channel", "sensitive"), SETUPS)
def test_a_title_block_csv_scores_as_its_plain_twin(
    platform: str, goal: str, channel: str, sensitive: bool
) -> None:
    text = make_export(platform, channel, seed=16)
    setup = Setup.create(platform, goal, channel, ctr_sensitivity=sensitive)
    plain = score(text.encode(), setup)
    titled = score(shapes.titled_csv(text), setup)
    assert_same_results(titled, plain)
    report = titled.summary()["processing_report"]
    assert report["header_row"] == 8
    assert report["header_row_chosen"] == "detected"
    assert report["skipped_lines"] == {"count": 7, "lines": SKIPPED_TEXTS}
    assert report["delimiter"] == ","
    assert report["sheet"] is None
    assert report["sheets"] == []
    # the footer's lines (a blank one and two notes) are rows without a name, dropped
    assert titled.report.rows_dropped["missing_dimension"] == (
        plain.report.rows_dropped.get("missing_dimension", 0) + 3
    )
    assert plain.summary()["processing_report"]["header_row"] == 1
    assert plain.report.skipped_lines == {"count": 0, "lines": []}


def test_a_title_block_used_to_fail_with_no_domain_column() -> None:
    """The shape of the issue: before detection the title line was read as the header."""
    text = make_export("trade_desk", "display", seed=1)
    table = open_table(shapes.titled_csv(text))
    assert table.headers[:3] == ("Date", "Site", "Supply Vendor")
    assert table.layout is not None
    assert table.layout.header_row == 8


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_sniffed_below_the_title_block(delimiter: str) -> None:
    """Title lines have commas ("March 1, 2026") and no delimiter: sniffing them as well
    would pick the comma, or nothing."""
    text = make_export("trade_desk", "display", seed=4)
    rows = shapes.rows_of(text)
    title = [
        ["Site Performance Report, Acme Outdoor"],
        ["Date Range: March 1, 2026 - March 31, 2026"],
        [],
        ["Report"],
    ]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerows([[", ".join(r)] if r else [] for r in title])
    writer.writerows(rows)
    got = score(out.getvalue().encode(), TD_DISPLAY)
    assert got.report.delimiter == delimiter
    assert got.report.header_row == 5
    assert_same_results(got, score(text.encode(), TD_DISPLAY))


def test_a_file_scanned_in_place_skips_its_title_block(tmp_path: Path) -> None:
    text = make_export("pulsepoint", "display", seed=5)
    setup = Setup.create("pulsepoint", "awareness", "display")
    path = tmp_path / "titled.csv"
    path.write_bytes(shapes.titled_csv(text))
    got = score(path, setup)
    assert got.report.header_row == 8
    assert_same_results(got, score(text.encode(), setup))


def test_a_quoted_title_spanning_lines_is_skipped_line_by_line() -> None:
    text = make_export("trade_desk", "display", seed=6)
    data = ('"Site report, March\n2026 (all vendors)"\n\n' + text).encode()
    got = score(data, TD_DISPLAY)
    assert got.report.header_row == 4
    assert got.report.skipped_lines["lines"] == ['"Site report, March', '2026 (all vendors)"', ""]
    assert_same_results(got, score(text.encode(), TD_DISPLAY))


@pytest.mark.parametrize(("skipped", "found"), [(50, True), (51, False)])
def test_at_most_fifty_lines_are_skipped(skipped: int, found: bool) -> None:
    text = make_export("trade_desk", "display", seed=7)
    data = ("".join(f"Filter {i}: all\n" for i in range(skipped)) + text).encode()
    if found:
        got = score(data, TD_DISPLAY)
        assert got.report.header_row == skipped + 1
        assert got.report.skipped_lines["count"] == skipped
        assert len(got.report.skipped_lines["lines"]) == 50
        return
    with pytest.raises(MissingColumnError) as caught:
        score(data, TD_DISPLAY)
    error = caught.value
    assert "line 1 as the header (no line among the first 51 names two known headers)" in (
        error.message
    )
    assert "headers found: 'Filter 0: all'" in error.message
    # ...and the header row can be given
    given = score(data, TD_DISPLAY, options=ReadOptions(header_row=skipped + 1))
    assert given.report.header_row_chosen == "given"
    assert_same_results(given, score(text.encode(), TD_DISPLAY))


def test_the_missing_column_error_says_what_was_read() -> None:
    data = b"Campaign notes\nExported by ops\n\nnothing,here\n1,2\n"
    with pytest.raises(MissingColumnError, match="no domain column") as caught:
        score(data, TD_DISPLAY)
    error = caught.value
    assert error.message.endswith(
        ". Read line 1 as the header (no line among the first 51 names two known headers); "
        "headers found: 'Campaign notes'"
    )
    assert error.details["header_row"] == 1
    assert error.details["headers_found"] == ["Campaign notes"]
    assert "sheet" not in error.details


def test_a_given_header_row_overrides_a_summary_above_the_table() -> None:
    """A totals block above the table names two known inputs: detection stops there, and
    the error shows it; the user gives the real header row."""
    text = make_export("trade_desk", "display", seed=8)
    data = ("Impressions,Clicks\n123456,789\n\n" + text).encode()
    with pytest.raises(MissingColumnError) as caught:
        score(data, TD_DISPLAY)
    assert caught.value.details["header_row"] == 1
    assert caught.value.details["headers_found"] == ["Impressions", "Clicks"]
    assert "line 1 as the header (detected)" in caught.value.message
    got = score(data, TD_DISPLAY, options=ReadOptions(header_row=4))
    assert got.report.header_row == 4
    assert got.report.header_row_chosen == "given"
    assert got.report.skipped_lines == {
        "count": 3,
        "lines": ["Impressions,Clicks", "123456,789", ""],
    }
    assert_same_results(got, score(text.encode(), TD_DISPLAY))


@pytest.mark.parametrize("as_path", [False, True])
def test_a_header_row_given_beyond_the_first_64_kib(tmp_path: Path, as_path: bool) -> None:
    text = make_export("trade_desk", "display", seed=9)
    title = "".join(f"Note {i}: " + "x" * 1000 + "\n" for i in range(100))
    data = (title + text).encode()
    source: bytes | Path = data
    if as_path:
        source = tmp_path / "long-title.csv"
        source.write_bytes(data)
    got = score(source, TD_DISPLAY, options=ReadOptions(header_row=101))
    assert got.report.skipped_lines["count"] == 100
    assert got.report.skipped_lines["lines"][0] == "Note 0: " + "x" * 112 + "…"
    assert_same_results(got, score(text.encode(), TD_DISPLAY))


def test_a_header_row_past_the_end_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="header_row 9 is past the end") as caught:
        open_table(b"Site,Impressions\na.com,1\n", options=ReadOptions(header_row=9))
    assert caught.value.details["field"] == "header_row"


def test_headers_of_the_users_mapping_count_as_known() -> None:
    """One catalogue header is not enough to take a line for the header; a header the
    user mapped is a second."""
    data = b"Publisher report\n\nPublisher Name,Impressions,Ad Revenue\nroku,1000,5\n"
    assert open_table(data).layout.header_row == 1  # type: ignore[union-attr]
    mapped = ReadOptions(columns={"domain": ("Publisher Name",)})
    table = open_table(data, options=mapped)
    assert table.layout is not None
    assert table.layout.header_row == 3
    assert table.headers == ("Publisher Name", "Impressions", "Ad Revenue")


def test_a_sheet_asked_of_a_text_file_is_a_warning() -> None:
    text = make_export("trade_desk", "display", seed=10)
    got = score(text.encode(), TD_DISPLAY, options=ReadOptions(sheet="Data"))
    assert [w.code for w in got.report.warnings if w.code == "sheet_ignored"] == ["sheet_ignored"]
    assert_same_results(got, score(text.encode(), TD_DISPLAY))


def test_blank_lines_above_an_unknown_header_are_skipped() -> None:
    """No known header anywhere: the first non-blank line is the header (as the first
    line was before detection), and the blank lines above it are reported."""
    table = open_table(b"\n\nfoo,bar\n1,2\n")
    assert table.headers == ("foo", "bar")
    assert table.layout is not None
    assert (table.layout.header_row, table.layout.chosen) == (3, "first line")
    assert table.load([0])["c0"].to_list() == ["1"]
