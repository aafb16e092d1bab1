"""Workbooks built byte by byte for the reader's limits: .xlsx archives whose sheet XML
is written here (so the tests control every cell reference), and .xls files from xlwt
with their counts patched in place (DIMENSIONS, the string table, the compound file
header)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterable, Mapping

NS = "http://schemas.openxmlformats.org"
MAIN = f"{NS}/spreadsheetml/2006/main"
PARTS: dict[str, str] = {
    "[Content_Types].xml": (
        f'<?xml version="1.0"?><Types xmlns="{NS}/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<?xml version="1.0"?><Relationships xmlns="{NS}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{NS}/officeDocument/2006/relationships/officeDocument"'
        ' Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0"?><workbook xmlns="{MAIN}" '
        f'xmlns:r="{NS}/officeDocument/2006/relationships"><sheets>'
        '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<?xml version="1.0"?><Relationships xmlns="{NS}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{NS}/officeDocument/2006/relationships/worksheet"'
        ' Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def text_cell(ref: str | None, value: str) -> str:
    """An inline-string cell (``ref`` None: no ``r`` attribute)."""
    at = f' r="{ref}"' if ref else ""
    return f'<c{at} t="inlineStr"><is><t>{value}</t></is></c>'


def number_cell(ref: str | None, value: float) -> str:
    at = f' r="{ref}"' if ref else ""
    return f"<c{at}><v>{value}</v></c>"


def sheet_xml(rows: str, dimension: str | None = None, prefix: str = "") -> str:
    """A worksheet part around ``rows`` (the ``<row>`` elements)."""
    dim = f'<{prefix}dimension ref="{dimension}"/>' if dimension else ""
    ns = f"xmlns:{prefix[:-1]}" if prefix else "xmlns"
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<{prefix}worksheet {ns}="{MAIN}">{dim}<{prefix}sheetData>{rows}'
        f"</{prefix}sheetData></{prefix}worksheet>"
    )


def xlsx(sheet: str | bytes, extra: Mapping[str, str | bytes] | None = None) -> bytes:
    """An .xlsx archive whose first (only) sheet is ``sheet``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def sparse_xlsx(far: str = "XFD1048576") -> bytes:
    """A header cell at A1 and one value at ``far``: about 1.4 KB."""
    row = far.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    rows = (
        f'<row r="1">{text_cell("A1", "Site")}{text_cell("B1", "Impressions")}</row>'
        f'<row r="{row}">{number_cell(far, 1)}</row>'
    )
    return xlsx(sheet_xml(rows))


def rows_xml(cells: Iterable[tuple[int, int, str]]) -> str:
    """``<row>`` elements for (0-based row, column, text) cells, in row order."""
    by_row: dict[int, list[str]] = {}
    for row, column, value in sorted(cells):
        by_row.setdefault(row, []).append(text_cell(ref(row, column), value))
    return "".join(f'<row r="{r + 1}">{"".join(cs)}</row>' for r, cs in sorted(by_row.items()))


def ref(row: int, column: int) -> str:
    letters = ""
    number = column + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row + 1}"


# --------------------------------------------------------------------------- xls


def xls(
    cells: Iterable[tuple[int, int, str | float]],
    *more_sheets: Iterable[tuple[int, int, str | float]],
) -> bytes:
    """An .xls (BIFF8) written by xlwt, with one sheet per list of cells."""
    import xlwt

    book = xlwt.Workbook()
    for number, sheet_cells in enumerate((cells, *more_sheets), start=1):
        sheet = book.add_sheet(f"S{number}")
        for row, column, value in sheet_cells:
            sheet.write(row, column, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def small_xls() -> bytes:
    return xls([(0, 0, "Site"), (0, 1, "Impressions"), (1, 0, "a.com"), (1, 1, 300)])


def with_dimensions(
    data: bytes, first_row: int, last_row: int, first_col: int, last_col: int
) -> bytes:
    """``data`` with its (first) DIMENSIONS record rewritten (32-bit rows)."""
    at = data.index(struct.pack("<HH", 0x0200, 14)) + 4
    record = struct.pack("<IIHHH", first_row, last_row, first_col, last_col, 0)
    return data[:at] + record + data[at + 14 :]


def with_header_count(data: bytes, offset: int, value: int) -> bytes:
    """``data`` with a 32-bit count of its compound file header set to ``value``
    (40 directory, 44 FAT, 64 mini-FAT, 72 DIFAT sectors)."""
    patched = bytearray(data)
    struct.pack_into("<I", patched, offset, value)
    return bytes(patched)


def with_string_count(data: bytes, value: int) -> bytes:
    """``data`` (from :func:`small_xls`: three distinct strings) with its string table
    (SST) declaring ``value`` distinct strings."""
    at = data.index(struct.pack("<ii", 3, 3)) + 4
    assert data[at - 8 : at - 6] == b"\xfc\x00"  # the SST record's type
    return data[:at] + struct.pack("<i", value) + data[at + 4 :]
