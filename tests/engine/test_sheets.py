"""Which sheet of a workbook is read, and where its table starts (issue 16 §2): the sheet
whose header row matches the setup best (ties: the first), or the one asked for; a title
block above the header is skipped and rows are numbered as Excel numbers them; every
sheet that may be read is measured first; errors name the sheet read, the others and the
headers found."""

from __future__ import annotations

import io
import zipfile

import pytest

from caliber.engine.config import Setup
from caliber.engine.errors import (
    InvalidParameterError,
    MissingColumnError,
    MissingMetricError,
    UnsafeFileError,
)
from caliber.engine.options import ReadOptions
from caliber.engine.pipeline import score
from caliber.engine.read import open_table
from tests.engine import shapes
from tests.engine import workbooks as wb
from tests.engine.exports import make_export
from tests.engine.test_header_row import SKIPPED_TEXTS, assert_same_results

TD_DISPLAY = Setup.create("trade_desk", "awareness", "display")
TD_VIDEO = Setup.create("trade_desk", "action", "video")


@pytest.fixture(scope="module")
def display() -> str:
    return make_export("trade_desk", "display", seed=21)


@pytest.fixture(scope="module")
def video() -> str:
    return make_export("trade_desk", "video", seed=22)


def test_a_workbook_with_a_title_block_scores_as_its_plain_twin(display: str) -> None:
    plain = score(display.encode(), TD_DISPLAY)
    rows = shapes.titled(shapes.rows_of(display))
    got = score(shapes.xlsx(("Report", rows)), TD_DISPLAY)
    assert_same_results(got, plain)
    assert_same_results(score(shapes.xlsx(("Report", shapes.rows_of(display))), TD_DISPLAY), plain)
    report = got.summary()["processing_report"]
    assert report["header_row"] == 8
    assert report["header_row_chosen"] == "detected"
    assert report["skipped_lines"] == {"count": 7, "lines": SKIPPED_TEXTS}
    assert report["sheet"] == {"name": "Report", "index": 0, "chosen": "only sheet"}
    assert report["sheets"] == ["Report"]


def test_rows_are_numbered_as_excel_numbers_them(display: str) -> None:
    """A sheet whose cells start at B3: calamine counts from there, the report (and a
    given header row) from Excel's row 1."""
    rows = shapes.titled(shapes.rows_of(display), footer=False)
    data = shapes.xlsx(("Report", rows), first_cell=(2, 1))
    table = open_table(data)
    assert table.layout is not None
    assert table.layout.header_row == 10
    assert table.layout.skipped_count == 9
    assert table.layout.skipped[:3] == ("", "", "Site Performance Report")
    plain = score(display.encode(), TD_DISPLAY)
    assert_same_results(score(data, TD_DISPLAY), plain)
    assert_same_results(score(data, TD_DISPLAY, options=ReadOptions(header_row=10)), plain)
    with pytest.raises(
        InvalidParameterError, match=r"outside the cells of sheet 'Report' \(rows 3"
    ):
        open_table(data, options=ReadOptions(header_row=2))


def test_the_data_on_the_second_sheet_is_found(display: str) -> None:
    data = shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", shapes.rows_of(display)))
    got = score(data, TD_DISPLAY)
    assert_same_results(got, score(display.encode(), TD_DISPLAY))
    assert got.report.sheet == {"name": "Data", "index": 1, "chosen": "best match"}
    assert got.report.sheets == ["Notes", "Data"]
    assert got.report.header_row == 1
    # a preview (no setup) finds it too: it is the sheet that names known inputs
    table = open_table(data)
    assert table.layout is not None
    assert table.layout.sheet is not None
    assert table.layout.sheet.name == "Data"


def test_the_sheet_that_matches_the_setup_is_read(display: str, video: str) -> None:
    """The video sheet names more known inputs; the display setup needs the display one."""
    data = shapes.xlsx(("Video", shapes.rows_of(video)), ("Display", shapes.rows_of(display)))
    got = score(data, TD_DISPLAY)
    assert got.report.sheet == {"name": "Display", "index": 1, "chosen": "best match"}
    assert_same_results(got, score(display.encode(), TD_DISPLAY))
    other = score(data, TD_VIDEO)
    assert other.report.sheet == {"name": "Video", "index": 0, "chosen": "best match"}
    assert_same_results(other, score(video.encode(), TD_VIDEO))
    # without a setup, the sheet naming the most known inputs
    table = open_table(data)
    assert table.layout is not None
    assert table.layout.sheet is not None
    assert table.layout.sheet.name == "Video"


def test_a_tie_goes_to_the_first_sheet(display: str) -> None:
    rows = shapes.rows_of(display)
    renamed = [rows[0], *([r[0], r[1] + ".other", *r[2:]] for r in rows[1:])]
    got = score(shapes.xlsx(("March", rows), ("April", renamed)), TD_DISPLAY)
    assert got.report.sheet == {"name": "March", "index": 0, "chosen": "best match"}


@pytest.mark.parametrize("sheet", ["Video", "video ", 0, "0"])
def test_a_given_sheet_is_read_and_errors_say_what_was_read(
    display: str, video: str, sheet: str | int
) -> None:
    data = shapes.xlsx(("Video", shapes.rows_of(video)), ("Display", shapes.rows_of(display)))
    with pytest.raises(MissingMetricError) as caught:
        score(data, TD_DISPLAY, options=ReadOptions(sheet=sheet))
    error = caught.value
    assert "Read sheet 'Video'; row 1 as the header (detected); other sheets: 'Display'" in (
        error.message
    )
    assert error.details["sheet"] == "Video"
    assert error.details["other_sheets"] == ["Display"]
    assert error.details["header_row"] == 1
    assert error.details["headers_found"] == shapes.rows_of(video)[0]
    given = score(data, TD_VIDEO, options=ReadOptions(sheet=sheet))
    assert given.report.sheet == {"name": "Video", "index": 0, "chosen": "given"}


def test_a_workbook_of_notes_fails_naming_its_sheets_and_headers() -> None:
    data = shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Contacts", [["Name", "Email"]]))
    with pytest.raises(MissingColumnError, match="no domain column") as caught:
        score(data, TD_DISPLAY)
    error = caught.value
    assert error.message.endswith(
        ". Read sheet 'Notes'; row 1 as the header (no row among the first 51 names two "
        "known headers); other sheets: 'Contacts'; headers found: 'Campaign notes'"
    )
    assert error.details["sheet"] == "Notes"
    assert error.details["other_sheets"] == ["Contacts"]
    assert error.details["headers_found"] == ["Campaign notes"]


@pytest.mark.parametrize("sheet", ["Summary", 2, "2"])
def test_an_unknown_sheet_is_refused_with_the_sheets_listed(display: str, sheet: str | int) -> None:
    data = shapes.xlsx(("Notes", shapes.NOTES_SHEET), ("Data", shapes.rows_of(display)))
    with pytest.raises(InvalidParameterError, match="the workbook has no sheet") as caught:
        open_table(data, options=ReadOptions(sheet=sheet))
    assert "0: 'Notes', 1: 'Data'" in caught.value.message
    assert caught.value.details["sheets"] == ["Notes", "Data"]
    assert caught.value.details["field"] == "sheet"


def _two_sheets(first: str, second: str) -> bytes:
    """An .xlsx of two sheets written byte by byte (``wb.PARTS`` with a second sheet)."""
    parts = dict(wb.PARTS)
    rel = f"{wb.NS}/officeDocument/2006/relationships"
    parts["xl/workbook.xml"] = (
        f'<?xml version="1.0"?><workbook xmlns="{wb.MAIN}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Data" sheetId="1" r:id="rId1"/>'
        '<sheet name="Stray" sheetId="2" r:id="rId2"/></sheets></workbook>'
    )
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<?xml version="1.0"?><Relationships xmlns="{wb.NS}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/worksheet" Target="worksheets/sheet2.xml"/>'
        "</Relationships>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", first)
        archive.writestr("xl/worksheets/sheet2.xml", second)
    return out.getvalue()


def test_a_hostile_second_sheet_is_refused_before_it_is_read() -> None:
    """Choosing a sheet reads every sheet's first rows, so every sheet is measured first:
    a second sheet spanning A1:XFD1048576 is refused as the first one would be."""
    header = wb.text_cell("A1", "Site") + wb.text_cell("B1", "Impressions")
    data_rows = f'<row r="1">{header}</row><row r="2">{wb.text_cell("A2", "a.com")}</row>'
    stray = f'<row r="1">{wb.number_cell("A1", 1)}</row>'
    stray += f'<row r="1048576">{wb.number_cell("XFD1048576", 1)}</row>'
    data = _two_sheets(wb.sheet_xml(data_rows), wb.sheet_xml(stray))
    with pytest.raises(UnsafeFileError, match=r"sheet 2 \('Stray'\)'s cells span A1:XFD1048576"):
        open_table(data)
    # asked for the first sheet only, the second is never loaded, nor measured
    table = open_table(data, options=ReadOptions(sheet="Data"))
    assert table.headers == ("Site", "Impressions")
    with pytest.raises(UnsafeFileError, match="sheet 2"):
        open_table(data, options=ReadOptions(sheet=1))


def test_an_xls_with_notes_first_reads_its_data_sheet(display: str) -> None:
    rows = shapes.titled(shapes.rows_of(display), footer=False)
    # from row 3: the rows are numbered from the second sheet's own extent
    cells = [
        (r + 2, c, int(v) if v.isdigit() else v)
        for r, row in enumerate(rows)
        for c, v in enumerate(row)
        if v
    ]
    notes = [(0, 0, "Campaign notes"), (1, 0, "Data on the next sheet")]
    data = wb.xls(notes, cells)
    got = score(data, TD_DISPLAY)
    assert got.report.sheet == {"name": "S2", "index": 1, "chosen": "best match"}
    assert got.report.header_row == 10
    assert_same_results(got, score(display.encode(), TD_DISPLAY))
