"""The real extent of an .xlsx sheet, measured as a stream before calamine reads it.

Two ways, one answer. The fast way (regular expressions over the part, a chunk at a
time, C speed) applies when the part has the shape every spreadsheet program writes:
no comments, CDATA or processing instructions, UTF-8, and every cell tag starting
``<c r="A1"``; its answer can only exceed the exact one (a cell with a formula but no
value counts). Anything else goes the exact way: expat, with handlers that follow
calamine's cell reader step by step. Memory: one chunk (and one row, for the fast way).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from typing import IO, Any
from xml.parsers import expat

from caliber.engine.errors import UnreadableFileError
from caliber.engine.extent import MAX_COLUMNS, MAX_ROWS, Extent, cell_name, too_many_cells
from caliber.engine.table import ReadLimits

_CELL_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")
_CHUNK = 1024 * 1024
_FAR = 1 << 40
_DIGITS = "0123456789"


class _StopParsingError(Exception):
    """Raised from an expat handler to stop the parse."""


def _sheet_handlers(
    where: str, limits: ReadLimits
) -> tuple[Callable[[str, dict[str, str]], None], Callable[[str], None], Callable[[], Extent]]:
    """expat handlers mirroring calamine's cell reader, and the extent they found.

    Positions come from ``r`` attributes, else from the running row (set by
    ``<row r>``, one more after each ``</row>``) and column (one more after each cell).
    Elements inside a cell are its content, never rows or cells. A cell counts once it
    holds a ``<v>`` or ``<is>`` (calamine keeps no slot for an empty one). Closures over
    one list, not methods: this runs a few million times for a large sheet.
    """
    # started, row, column, open cell (row, column) or None, cell counted, cells seen,
    # cells with a value, first row, last row, first column, last column
    state: list[Any] = [False, 0, 0, None, False, 0, 0, _FAR, -1, _FAR, -1]
    names: dict[str, str] = {}
    columns = _ColumnNumbers()
    limit = limits.max_sheet_cells

    def start(name: str, attrs: dict[str, str]) -> None:
        local = names.get(name)
        if local is None:
            local = names[name] = name.rpartition(":")[2]
        cell = state[3]
        if cell is not None:
            if (local in {"v", "is"}) and not state[4]:
                state[4] = True
                state[6] += 1
                row, column = cell
                state[7] = min(state[7], row)
                state[8] = max(state[8], row)
                state[9] = min(state[9], column)
                state[10] = max(state[10], column)
            return
        if local == "c":
            if not state[0]:
                return
            ref = attrs.get("r")
            if ref is None:
                cell = (state[1], state[2])
                _check_position(state[1], state[2], where)
            else:
                letters = ref.rstrip(_DIGITS)
                column = columns[letters]
                digits = ref[len(letters) :]
                if column is None or not (digits.isascii() and digits.isdigit()):
                    cell = _cell_position(ref, where)  # the slow path names what is wrong
                else:
                    row = int(digits) - 1
                    if not 0 <= row < MAX_ROWS:
                        _check_position(row, column, where, ref)
                    cell = (row, column)
                state[2] = cell[1]
            state[3] = cell
            state[4] = False
            state[5] += 1
            if state[5] > limit:
                raise too_many_cells(where, limits)
        elif local == "row":
            if state[0]:
                ref = attrs.get("r")
                if ref is not None:
                    state[1] = _row_number(ref, where)
        elif local == "sheetData":
            state[0] = True

    def end(name: str) -> None:
        if not state[0]:
            return
        local = names.get(name) or name.rpartition(":")[2]
        if state[3] is not None:
            if local == "c":
                state[3] = None
                state[2] += 1
        elif local == "row":
            state[1] += 1
            state[2] = 0
        elif local == "sheetData":
            raise _StopParsingError

    def found() -> Extent:
        if not state[6]:
            return Extent(0, 0, 0, 0, 0)
        return Extent(state[6], state[7], state[8], state[9], state[10])

    return start, end, found


class _ColumnNumbers(dict[str, "int | None"]):
    """Column letters to 0-based numbers, computed once per distinct spelling."""

    def __missing__(self, letters: str) -> int | None:
        number: int | None = None
        if 1 <= len(letters) <= 3 and letters.isascii() and letters.isalpha():
            number = -1
            for letter in letters.upper():
                number = (number + 1) * 26 + ord(letter) - 65
            if number >= MAX_COLUMNS:
                number = None
        self[letters] = number
        return number


def _row_number(ref: str, where: str) -> int:
    if not ref.isascii() or not ref.isdigit() or not 1 <= int(ref) <= MAX_ROWS:
        raise _bad_reference(f"row number {ref[:20]!r}", where)
    return int(ref) - 1


def _cell_position(ref: str, where: str) -> tuple[int, int]:
    match = _CELL_REF.fullmatch(ref)
    if match is None:
        raise _bad_reference(f"cell reference {ref[:20]!r}", where)
    column = 0
    for letter in match.group(1).upper():
        column = column * 26 + ord(letter) - 64
    position = (int(match.group(2)) - 1, column - 1)
    _check_position(*position, where, ref)
    return position


def _check_position(row: int, column: int, where: str, ref: str | None = None) -> None:
    if not (0 <= row < MAX_ROWS and 0 <= column < MAX_COLUMNS):
        name = ref or cell_name(row, column)
        raise _bad_reference(f"cell {name[:20]!r}", where)


def _bad_reference(what: str, where: str) -> UnreadableFileError:
    return UnreadableFileError(
        f"the XLSX workbook could not be read: {where} has a {what} outside Excel's "
        "grid (A1 to XFD1048576)"
    )


def xlsx_sheet_extent(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, where: str, limits: ReadLimits
) -> Extent:
    """The extent of one worksheet part: the fast way when the part allows it, else the
    exact way, which refuses a part that is not well-formed XML (calamine reads
    leniently, so a part that stops parsing there could still hold cells further on)."""
    with archive.open(entry) as stream:
        fast = fast_extent(stream, where, limits)
    if fast is not None:
        return fast
    with archive.open(entry) as stream:
        return exact_extent(stream, where, limits)


# A tag that opens a cell: ``<c`` and a name end. A prefixed one (``<x:c``) sends the part
# the exact way; the two together can miss no cell tag.
_ANY_CELL = re.compile(rb"<c[\s/>]")
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
# The usual cell tag: r first, in double quotes; other attributes (never a second r);
# then whether it closes at once (no value).
_FAST_CELL = re.compile(
    rb'<c\s+r="([A-Za-z]{1,3})([0-9]{1,7})"'
    rb'(?:\s+(?!r\s*=)[A-Za-z_][\w.:\-]*\s*=\s*"[^"<]*")*\s*(/?)>(\s*</c\s*>)?'
)
_DECLARATION = re.compile(rb"<\?xml[^>]*?\?>")
_UTF8 = re.compile(rb"""encoding\s*=\s*["']utf-?8["']""", re.IGNORECASE)
_MAX_PENDING = 64 * 1024 * 1024  # one row (a 40 MB cell is one row's worth)


def fast_extent(stream: IO[bytes], where: str, limits: ReadLimits) -> Extent | None:
    """The extent by regular expressions, or None when the part is not of the usual
    shape. Regions are cut after a row's tag so that no cell tag is split."""
    columns = _ColumnNumbers()
    pending = b""
    first = True
    seen = cells = 0
    bounds = [_FAR, -1, _FAR, -1]
    while True:
        chunk = stream.read(_CHUNK)
        data = pending + chunk
        if chunk:
            cut = data.rfind(b"row>") + 4
            if cut < 4:
                if len(data) > _MAX_PENDING:
                    return None
                pending = data
                continue
            region, pending = data[:cut], data[cut:]
        else:
            region, pending = data, b""
        if first:
            first = False
            region = region.removeprefix(b"\xef\xbb\xbf")
            declaration = _DECLARATION.match(region)
            if declaration is not None:
                if b"encoding" in declaration.group() and not _UTF8.search(declaration.group()):
                    return None
                region = region[declaration.end() :]
        if b"<!" in region or b"<?" in region or b"\x00" in region:
            return None
        if _PREFIXED_CELL.search(region) is not None:
            return None
        matches = _FAST_CELL.findall(region)
        if len(matches) != len(_ANY_CELL.findall(region)):
            return None
        seen += len(matches)
        if seen > limits.max_sheet_cells:
            raise too_many_cells(where, limits)
        valued = [
            (letters, digits) for letters, digits, empty, closed in matches if not (empty or closed)
        ]
        if valued:
            rows = [int(digits) for _, digits in valued]
            numbers = [columns[letters.decode()] for letters in {letters for letters, _ in valued}]
            if None in numbers or min(rows) < 1 or max(rows) > MAX_ROWS:
                return None  # the exact way names the bad reference
            known = [n for n in numbers if n is not None]
            cells += len(valued)
            bounds = [
                min(bounds[0], min(rows) - 1),
                max(bounds[1], max(rows) - 1),
                min(bounds[2], *known),
                max(bounds[3], *known),
            ]
        if not chunk:
            break
    if not cells:
        return Extent(0, 0, 0, 0, 0)
    return Extent(cells, bounds[0], bounds[1], bounds[2], bounds[3])


def exact_extent(stream: IO[bytes], where: str, limits: ReadLimits) -> Extent:
    """The extent by expat (memory: one chunk and a few numbers)."""
    start, end, found = _sheet_handlers(where, limits)
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _StopParsingError:
        pass
    except expat.ExpatError as exc:
        raise UnreadableFileError(
            f"the XLSX workbook could not be read: {where} is not well-formed XML ({exc})"
        ) from None
    return found()


def sheet_parts(archive: zipfile.ZipFile) -> list[tuple[str, str | None]]:
    """Every sheet's name and archive part, in the workbook's order, found the way
    calamine finds them (``xl/workbook.xml``'s ``<sheet>`` elements, their relationships'
    targets); a part that cannot be told is None. Empty when there is no sheet list."""
    workbook = _find(archive, "xl/workbook.xml")
    rels = _find(archive, "xl/_rels/workbook.xml.rels")
    if workbook is None:
        return []
    targets: dict[str, str] = {}
    if rels is not None:
        for relationship in _elements(archive, rels, "Relationship"):
            if "Id" in relationship and "Target" in relationship:
                targets.setdefault(relationship["Id"], relationship["Target"])
    found: list[tuple[str, str | None]] = []
    for sheet in _elements(archive, workbook, "sheet"):
        rel_id = sheet.get("r:id") or sheet.get("relationships:id")
        target = targets.get(rel_id) if rel_id is not None else None
        found.append((sheet.get("name", ""), None if target is None else _part(archive, target)))
    return found


def _part(archive: zipfile.ZipFile, target: str) -> str | None:
    if target.startswith("/xl/"):
        target = target[1:]
    elif not target.startswith("xl/"):
        target = "xl/" + target
    found = _find(archive, target)
    return None if found is None else found.filename


def worksheet_parts(archive: zipfile.ZipFile) -> list[str]:
    """Every part that could be a worksheet (when a sheet's part cannot be told)."""
    return [info.filename for info in archive.infolist() if info.filename.lower().endswith(".xml")]


def _find(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    wanted = name.lower()
    for info in archive.infolist():
        if info.filename.lower() == wanted:
            return info
    return None


def _elements(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, local: str) -> list[dict[str, str]]:
    """The attributes of every element named ``local`` (none when the part is not
    well-formed XML: the sheets cannot be told then)."""
    found: list[dict[str, str]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.rpartition(":")[2] == local:
            found.append(dict(attrs))

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError:
        return []
    return found
