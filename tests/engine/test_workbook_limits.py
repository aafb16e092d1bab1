"""Workbooks that would make the reader (calamine) allocate without bound are refused
before it reads them, naming what was found; ordinary ones read as before.

The sheets are written here byte by byte (``tests/engine/workbooks.py``). Before these
checks, ``sparse_xlsx()`` (1.4 KB) made the process abort asking for 549,755,813,888
bytes, and the patched .xls files asked for 8 GB to 11 PB.
"""

from __future__ import annotations

import io
import random
import re
import zipfile

import fastexcel
import pytest

from caliber.engine.config import Setup
from caliber.engine.errors import UnreadableFileError, UnsafeFileError
from caliber.engine.extent import Extent
from caliber.engine.pipeline import score
from caliber.engine.read import ReadLimits, open_table
from caliber.engine.xlsx_extent import exact_extent, fast_extent
from tests.engine import workbooks as wb

SMALL = ReadLimits(max_sheet_cells=1_000)


def test_a_cell_at_xfd1048576_is_refused_naming_the_span_and_the_stray_cell() -> None:
    data = wb.sparse_xlsx("XFD1048576")
    assert len(data) < 2_000
    with pytest.raises(UnsafeFileError) as caught:
        open_table(data, "sparse.xlsx")
    error = caught.value
    assert error.code == "unsafe_file"
    assert "the first sheet's cells span A1:XFD1048576 (17,179,869,184 cells)" in error.message
    assert "only 3 cell(s) with a value" in error.message
    assert "Remove the stray cell at XFD1048576" in error.message
    assert error.details["span"] == "A1:XFD1048576"
    assert error.details["cells"] == 3
    with pytest.raises(UnsafeFileError, match="XFD1048576"):
        score(data, Setup.create("trade_desk", "awareness", "display"))


def test_a_far_corner_inside_excels_grid_is_refused_too() -> None:
    with pytest.raises(UnsafeFileError, match=r"A1:AX1048576 \(52,428,800 cells\)"):
        open_table(wb.sparse_xlsx("AX1048576"))


def test_a_sparse_sheet_under_the_limit_reads() -> None:
    table = open_table(wb.sparse_xlsx("E2000"))
    assert table.headers[:2] == ("Site", "Impressions")
    assert table.load([0]).height == 1999


@pytest.mark.parametrize("dimension", ["A1:B2", "A1:XFD1048576", "ZZ9"])
def test_the_declared_dimension_is_never_trusted(dimension: str) -> None:
    far = wb.rows_xml([(0, 0, "Site"), (0, 1, "Impressions"), (1, 0, "a.com"), (5000, 300, "x")])
    with pytest.raises(UnsafeFileError, match="A1:KO5001"):
        open_table(wb.xlsx(wb.sheet_xml(far, dimension)), limits=SMALL)
    near = wb.rows_xml([(0, 0, "Site"), (0, 1, "Impressions"), (1, 0, "a.com")])
    assert open_table(wb.xlsx(wb.sheet_xml(near, dimension)), limits=SMALL).headers == (
        "Site",
        "Impressions",
    )


def test_empty_cells_take_no_room() -> None:
    rows = (
        f'<row r="1">{wb.text_cell("A1", "Site")}</row><row r="2">{wb.text_cell("A2", "a")}'
        '<c r="XFD2" s="1"/><c r="XFD3"></c><c r="XFD4"> </c></row>'
    )
    assert open_table(wb.xlsx(wb.sheet_xml(rows))).load([0]).height == 1


def test_positions_of_cells_without_a_reference_are_inferred_like_the_reader() -> None:
    # no r on the cell: the row's r, then the next column; no r on the row: one more
    rows = (
        '<row r="1"><c t="inlineStr"><is><t>Site</t></is></c></row>'
        '<row r="3000"><c t="inlineStr"><is><t>x</t></is></c><c><v>1</v></c></row>'
    )
    with pytest.raises(UnsafeFileError, match=r"A1:B3000 \(6,000 cells\)"):
        open_table(wb.xlsx(wb.sheet_xml(rows)), limits=SMALL)
    rows = '<row r="1"><c t="inlineStr"><is><t>Site</t></is></c></row>' + "<row/>" * 1500
    rows += "<row><c><v>1</v></c></row>"
    with pytest.raises(UnsafeFileError, match=r"A1:A1502 \(1,502 cells\)"):
        open_table(wb.xlsx(wb.sheet_xml(rows)), limits=SMALL)


def test_a_prefixed_namespace_or_a_comment_takes_the_exact_way_with_the_same_answer() -> None:
    cells = [(0, 0, "Site"), (0, 1, "Impressions"), (1, 0, "a.com"), (4000, 2, "x")]
    prefixed = wb.sheet_xml(
        wb.rows_xml(cells).replace("<", "<x:").replace("<x:/", "</x:"), prefix="x:"
    )
    commented = wb.sheet_xml("<!-- a note -->" + wb.rows_xml(cells))
    for sheet in (prefixed, commented):
        with pytest.raises(UnsafeFileError, match=r"A1:C4001 \(12,003 cells\)"):
            open_table(wb.xlsx(sheet), limits=SMALL)


def test_too_many_cells_are_refused_while_counting() -> None:
    cells = [(r, c, "v") for r in range(40) for c in range(30)]
    with pytest.raises(UnsafeFileError, match="holds more than 1,000 cells"):
        open_table(wb.xlsx(wb.sheet_xml(wb.rows_xml(cells))), limits=SMALL)


def test_a_large_shared_string_table_is_refused() -> None:
    strings = f'<?xml version="1.0"?><sst xmlns="{wb.MAIN}">' + "<si><t/></si>" * 1_200 + "</sst>"
    data = wb.xlsx(wb.sheet_xml(wb.rows_xml([(0, 0, "Site")])), {"xl/sharedStrings.xml": strings})
    with pytest.raises(UnsafeFileError, match="shared-string table holds more than 1,000"):
        open_table(data, limits=SMALL)


@pytest.mark.parametrize(
    "part", ["xl/_rels/workbook.xml.rels", "xl/workbook.xml", "xl/styles.xml", "_rels/.rels"]
)
def test_a_large_part_the_reader_holds_on_opening_is_refused(part: str) -> None:
    """calamine keeps every relationship and sheet entry in memory (4.5 times the part's
    size: a 10 MB upload of relationships took 652 MB)."""
    entries = dict(wb.PARTS)
    entries[part] = entries.get(part, f'<?xml version="1.0"?><styleSheet xmlns="{wb.MAIN}"/>')
    entries[part] = entries[part].replace("?>", "?>" + " " * 5_000, 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", wb.sheet_xml(wb.rows_xml([(0, 0, "S")])))
    with pytest.raises(UnsafeFileError, match=f"part '{re.escape(part)}' expands to more than"):
        open_table(buffer.getvalue(), limits=ReadLimits(max_part_bytes=4_000))
    assert open_table(buffer.getvalue()).headers == ("S",)


def test_large_shared_strings_are_refused_by_size() -> None:
    strings = f'<?xml version="1.0"?><sst xmlns="{wb.MAIN}"><si><t>{"s" * 5_000}</t></si></sst>'
    data = wb.xlsx(wb.sheet_xml(wb.rows_xml([(0, 0, "Site")])), {"xl/sharedStrings.xml": strings})
    with pytest.raises(UnsafeFileError, match=r"sharedStrings\.xml' expands to more than 4,000"):
        open_table(data, limits=ReadLimits(max_strings_bytes=4_000))


@pytest.mark.parametrize("bad", ["A0", "XFE1", "A1048577", "A-1", "1A"])
def test_a_cell_outside_excels_grid_is_unreadable(bad: str) -> None:
    rows = f'<row r="1">{wb.text_cell("A1", "Site")}{wb.number_cell(bad, 1)}</row>'
    with pytest.raises(UnreadableFileError, match="outside Excel's grid"):
        open_table(wb.xlsx(wb.sheet_xml(rows)))


def test_a_sheet_the_exact_way_cannot_parse_is_unreadable() -> None:
    """calamine reads leniently: a part that stops parsing here could hold cells further
    on, so it is refused (a comment sends the part the exact way)."""
    rows = f'<!-- x --><row r="1">{wb.text_cell("A1", "Site")}</row><row r="2"><c r="A2"><v>1</c>'
    rows += f'</row><row r="9000">{wb.number_cell("ZZ9000", 1)}</row>'
    with pytest.raises(UnreadableFileError, match="not well-formed XML"):
        open_table(wb.xlsx(wb.sheet_xml(rows)))


def test_a_binary_xlsb_workbook_is_named() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
    with pytest.raises(UnreadableFileError, match=r"\.xlsb"):
        open_table(buffer.getvalue())


def _random_sheet(rng: random.Random) -> str:
    """Rows and cells in every form the reader accepts: with and without references,
    empty and valued, rows with and without r."""
    parts: list[str] = []
    row = 0
    with_refs = rng.choice([1.0, 0.7])  # every cell referenced: the fast way applies
    for _ in range(rng.randint(1, 8)):
        row += rng.randint(0, 40)
        with_r = rng.random() < 0.7
        cells: list[str] = []
        column = rng.randint(0, 3)
        for _ in range(rng.randint(0, 6)):
            column += rng.randint(0, 20)
            ref = wb.ref(row, column) if rng.random() < with_refs else None
            at = f' r="{ref}"' if ref else ""
            kind = rng.choice(["text", "number", "empty", "empty-closed", "shared"])
            cells.append(
                {
                    "text": wb.text_cell(ref, "t"),
                    "number": wb.number_cell(ref, 1.5),
                    "empty": f'<c{at} s="1"/>',
                    "empty-closed": f"<c{at}></c>",
                    "shared": f'<c{at} t="s"><v>0</v></c>',
                }[kind]
            )
        attr = f' r="{row + 1}"' if with_r else ""
        parts.append(f"<row{attr}>{''.join(cells)}</row>")
    return wb.sheet_xml("".join(parts))


def _reader_rectangle(data: bytes) -> int:
    """The rectangle the reader really builds: its frame plus the header row."""
    sheet = fastexcel.read_excel(data).load_sheet(0, dtypes="string")
    frame = sheet.to_polars()
    return (frame.height + 1) * frame.width if frame.width else 0


def test_the_measured_extent_is_the_readers_on_random_sheets() -> None:
    rng = random.Random(14)
    strings = f'<?xml version="1.0"?><sst xmlns="{wb.MAIN}"><si><t>s</t></si></sst>'
    checked = fast_ones = 0
    for _ in range(300):
        sheet = _random_sheet(rng)
        data = wb.xlsx(sheet, {"xl/sharedStrings.xml": strings})
        archive = zipfile.ZipFile(io.BytesIO(data))
        entry = archive.getinfo("xl/worksheets/sheet1.xml")
        exact = exact_extent(archive.open(entry), "the first sheet", ReadLimits())
        fast = fast_extent(archive.open(entry), "the first sheet", ReadLimits())
        if fast is not None:
            assert fast == exact, sheet
            fast_ones += 1
        assert exact.rectangle == _reader_rectangle(data), sheet
        checked += exact.cells > 0
    assert checked > 200
    assert 50 < fast_ones < 250  # both ways were compared


def test_extent_span_names_cells_like_excel() -> None:
    assert Extent(2, 0, 1048575, 0, 16383).span() == "A1:XFD1048576"
    assert Extent(1, 4, 4, 26, 26).span() == "AA5:AA5"


# --------------------------------------------------------------------------- xls


def test_a_small_xls_reads() -> None:
    table = open_table(wb.small_xls(), "small.xls")
    assert table.format == "xls"
    assert table.load([0, 1]).rows() == [("a.com", "300")]


def test_an_xls_with_cells_at_far_corners_is_refused() -> None:
    data = wb.xls([(0, 0, "Site"), (65535, 255, "x")])  # 5.5 KB; 1.4 GB to read
    with pytest.raises(UnsafeFileError, match=r"65,536 rows × 256 columns \(16,777,216 cells"):
        open_table(data)
    # with its DIMENSIONS record made small, the cells' own corners still count
    hidden = wb.with_dimensions(wb.xls([(0, 0, "Site"), (60000, 200, "x")]), 0, 1, 0, 1)
    with pytest.raises(UnsafeFileError, match=r"cells span A1:GS60001"):
        open_table(hidden)


def test_every_sheet_of_an_xls_counts_the_reader_holds_them_all() -> None:
    corners = [(0, 0, "Site"), (29, 29, "x")]  # 900 cells each
    far = [(0, 0, "a"), (29, 40, "y")]  # 1,230 cells
    with pytest.raises(UnsafeFileError, match="sheet 2 of the XLS workbook declares 30 rows"):
        open_table(wb.xls(corners, far), limits=SMALL)
    with pytest.raises(UnsafeFileError, match=r"the workbook \(all its sheets\) holds more than"):
        open_table(wb.xls(corners, corners), limits=SMALL)
    assert open_table(wb.xls(corners), limits=SMALL).headers[0] == "Site"


@pytest.mark.parametrize(
    ("first_row", "last_row", "first_col", "last_col", "cells"),
    [
        (0, 0xFFFFFFFF, 0, 0xFFFF, "281,470,681,677,825"),
        (5, 1, 0, 1, "4,294,967,292"),  # first row after the last: the count wraps
    ],
)
def test_an_xls_declaring_huge_dimensions_is_refused(
    first_row: int, last_row: int, first_col: int, last_col: int, cells: str
) -> None:
    data = wb.with_dimensions(wb.small_xls(), first_row, last_row, first_col, last_col)
    with pytest.raises(UnsafeFileError, match=f"declares .*{cells} cells"):
        open_table(data)


@pytest.mark.parametrize(("offset", "what"), [(44, "FAT"), (64, "mini-FAT"), (72, "DIFAT")])
def test_an_xls_header_declaring_more_sectors_than_the_file_holds_is_refused(
    offset: int, what: str
) -> None:
    data = wb.with_header_count(wb.small_xls(), offset, 0x7FFFFFFF)
    with pytest.raises(UnsafeFileError, match=f"declares 2,147,483,647 {what} sectors"):
        open_table(data)


def test_an_xls_string_table_declaring_billions_of_strings_is_refused() -> None:
    with pytest.raises(UnsafeFileError, match="declares 2,000,000,000 strings"):
        open_table(wb.with_string_count(wb.small_xls(), 2_000_000_000))
