"""The counts inside an .xls (BIFF8 in an OLE2 compound file) that calamine allocates
from, checked first.

calamine reads every sheet of an .xls when it opens the file, and reserves room from
numbers in the file itself: the compound file header's sector counts, the string
table's count, each sheet's DIMENSIONS record (in 32-bit arithmetic that wraps: a
first row after the last row asks for four billion rows), and the rectangle its cell
records span. A 5 KB file can ask for terabytes; each number is bounded here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from caliber.engine.errors import UnreadableFileError, UnsafeFileError
from caliber.engine.extent import Extent, check_extent, too_many_cells
from caliber.engine.table import ReadLimits

_CELL_RECORDS = {0x0203: 14, 0x0204: 6, 0x0205: 8, 0x027E: 10, 0x00FD: 10, 0x0006: 20}
_MULRK, _DIMENSIONS, _SST, _BOUNDSHEET, _EOF, _CONTINUE = (
    0x00BD,
    0x0200,
    0x00FC,
    0x0085,
    0x000A,
    0x003C,
)


def check_xls(data: bytes, limits: ReadLimits) -> dict[str, Extent]:
    """Refuse an .xls whose own numbers would make calamine allocate beyond the limits;
    else every sheet's extent by name (calamine reads them all on opening)."""
    _check_compound_header(data)
    extents: dict[str, Extent] = {}
    for stream in _workbook_streams(data):
        for name, extent in _check_workbook(stream, limits).items():
            extents.setdefault(name, extent)
    return extents


def _check_workbook(stream: bytes, limits: ReadLimits) -> dict[str, Extent]:
    """The globals (sheet offsets, the string table's count), then every sheet."""
    sheets: list[tuple[int, str]] = []
    for kind, record in _records(stream, 0):
        if kind == _BOUNDSHEET and len(record) >= 6:
            sheets.append((struct.unpack_from("<I", record)[0], _sheet_name(record)))
        elif kind == _SST and len(record) >= 8:
            strings = struct.unpack_from("<i", record, 4)[0]
            if not 0 <= strings <= limits.max_sheet_cells:
                raise UnsafeFileError(
                    f"the XLS workbook's string table declares {strings:,} strings (limit "
                    f"{limits.max_sheet_cells:,}); refused",
                    strings=strings,
                )
        elif kind == _EOF:
            break
    total = 0
    extents: dict[str, Extent] = {}
    for number, (offset, name) in enumerate(sheets, start=1):
        if offset > len(stream):
            raise UnreadableFileError(
                "the XLS workbook could not be read: a sheet lies past its end"
            )
        where = "the first sheet" if number == 1 else f"sheet {number}"
        extent = _xls_sheet(stream, offset, where, limits)
        check_extent(extent, where, limits)
        total += extent.rectangle
        if total > limits.max_sheet_cells:  # calamine holds every sheet at once
            raise too_many_cells("the workbook (all its sheets)", limits)
        extents.setdefault(name, extent)
    return extents


def _sheet_name(record: memoryview) -> str:
    """A BOUNDSHEET record's sheet name (a short string: its length, a flag, then 8-bit
    or UTF-16 characters, as calamine reads them in the usual code page); empty when the
    record is cut."""
    if len(record) < 8:
        return ""
    length, wide = record[6], record[7] & 1
    raw = bytes(record[8 : 8 + length * (2 if wide else 1)])
    return raw.decode("utf-16-le" if wide else "cp1252", errors="replace")


def _check_compound_header(data: bytes) -> None:
    """The header's counts of FAT, directory, mini-FAT and DIFAT sectors size buffers
    that calamine allocates before reading them: none can exceed the file's sectors."""
    if len(data) < 512:
        raise UnreadableFileError(
            "the XLS workbook could not be read: it is shorter than its header"
        )
    shift = struct.unpack_from("<H", data, 30)[0]
    if shift not in (9, 12):
        raise UnreadableFileError("the XLS workbook could not be read: its header is damaged")
    sectors = len(data) // (1 << shift) + 1
    for offset, what in ((40, "directory"), (44, "FAT"), (64, "mini-FAT"), (72, "DIFAT")):
        count = struct.unpack_from("<I", data, offset)[0]
        if count > sectors:
            raise UnsafeFileError(
                f"the XLS workbook's header declares {count:,} {what} sectors but the file "
                f"holds only {sectors:,}; refused as damaged or hostile",
                declared_sectors=count,
            )


def _workbook_streams(data: bytes) -> list[bytes]:
    """Every stream calamine could take for the workbook: one named exactly ``Workbook``
    or ``Book`` (olefile's own lookup ignores case; calamine's does not)."""
    import olefile  # noqa: PLC0415  (only .xls files need it)

    try:
        with olefile.OleFileIO(data) as ole:
            for entry in ole.direntries:
                if entry is not None and entry.size > len(data):
                    raise UnsafeFileError(
                        f"the XLS workbook declares a {entry.size:,}-byte stream in a "
                        f"{len(data):,}-byte file; refused as damaged or hostile"
                    )
            paths = [p for p in ole.listdir() if p and p[-1] in ("Workbook", "Book")]
            streams: list[bytes] = [ole.openstream(path).read() for path in paths]
    except UnsafeFileError:
        raise
    except Exception as exc:  # olefile raises OSError and its own errors on bad files
        raise UnreadableFileError(f"the XLS workbook could not be read: {exc}") from None
    if not streams:
        raise UnreadableFileError("the XLS workbook could not be read: it has no Workbook stream")
    return streams


def _records(stream: bytes, offset: int) -> Iterator[tuple[int, memoryview]]:
    """BIFF records from ``offset`` as calamine splits them (CONTINUE records belong to
    the record before and are skipped); stops where the stream is cut."""
    view = memoryview(stream)
    position = offset
    while position + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, position)
        end = position + 4 + length
        if end > len(stream):
            return
        if kind != _CONTINUE:
            yield kind, view[position + 4 : end]
        position = end


def _xls_sheet(stream: bytes, offset: int, where: str, limits: ReadLimits) -> Extent:
    first_row = first_column = 1 << 40
    last_row = last_column = -1
    cells = 0
    for kind, record in _records(stream, offset):
        if kind == _EOF:
            break
        if kind == _DIMENSIONS:
            _check_dimensions(record, where, limits)
            continue
        if kind in _CELL_RECORDS and len(record) >= _CELL_RECORDS[kind]:
            row, column = struct.unpack_from("<HH", record)
            count = 1
        elif kind == _MULRK and len(record) >= 12:
            row, column = struct.unpack_from("<HH", record)
            count = (len(record) - 6) // 6  # one 6-byte value per column from ``column``
        else:
            continue
        cells += count
        if cells > limits.max_sheet_cells:
            raise too_many_cells(where, limits)
        first_row, last_row = min(first_row, row), max(last_row, row)
        first_column = min(first_column, column)
        last_column = max(last_column, column + count - 1)
    if not cells:
        return Extent(0, 0, 0, 0, 0)
    return Extent(cells, first_row, last_row, first_column, last_column)


def _check_dimensions(record: memoryview, where: str, limits: ReadLimits) -> None:
    """calamine reserves rows × columns cells from this record, in 32-bit arithmetic
    that wraps (first row after last row gives four billion rows)."""
    if len(record) == 10:
        first_row, last_row, first_col, last_col = struct.unpack_from("<HHHH", record)
    elif len(record) == 14:
        first_row, last_row, first_col, last_col = struct.unpack_from("<IIHH", record)
    else:
        return  # calamine refuses the record itself
    if last_row >= 1 and last_col >= 1:
        end_row, end_col = last_row - 1, last_col - 1
    else:
        end_row, end_col = first_row, first_col
    rows = (end_row - first_row + 1) & 0xFFFFFFFF
    columns = (end_col - first_col + 1) & 0xFFFFFFFF
    if rows * columns > limits.max_sheet_cells:
        raise UnsafeFileError(
            f"{where} of the XLS workbook declares {rows:,} rows × {columns:,} columns "
            f"({rows * columns:,} cells, limit {limits.max_sheet_cells:,}); refused. Save "
            "the sheet again from Excel, or as CSV",
            declared_cells=rows * columns,
            limit_cells=limits.max_sheet_cells,
        )
