"""A workbook's table: which sheet is read, which of its rows is the header, read by
fastexcel (Rust calamine) once measured.

The sheet is the one asked for (``ReadOptions.sheet``: a name or a 0-based index), the
only one, or the one whose header row names the most inputs the setup needs (ties: the
first). Every sheet that may be read is measured first by the caller's ``measure``
(:mod:`caliber.engine.workbook`), which refuses a sheet calamine could not hold, and the
sheets are loaded one at a time, the candidates only for their first rows, so choosing
holds one sheet in memory at most. calamine numbers rows from a sheet's first cell;
the report numbers them as Excel does, from the extent ``measure`` returns.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from caliber.engine import locate
from caliber.engine.errors import EmptyFileError, InvalidParameterError, UnreadableFileError
from caliber.engine.locate import KnownHeaders
from caliber.engine.options import ReadOptions
from caliber.engine.table import SheetChoice, Table, clean_header, first_line, null_markers

if TYPE_CHECKING:
    import fastexcel

# Measure (and refuse) sheet ``index`` named ``name`` before it is loaded; return the
# 0-based row of its first cell.
Measure = Callable[[int, str], int]


def excel_table(
    data: bytes,
    kind: str,
    measure: Measure,
    options: ReadOptions,
    wanted: frozenset[str] | None,
) -> Table:
    """The table of the sheet to read (see the module), from its header row on."""
    reader = _open(data, kind)
    names = tuple(str(n) for n in reader.sheet_names)
    if not names:
        raise EmptyFileError("the workbook has no sheets")
    known = KnownHeaders(options.columns)
    if options.sheet is not None:
        index, chosen = given_sheet(options.sheet, names), "given"
    elif len(names) == 1:
        index, chosen = 0, "only sheet"
    else:
        index, chosen = _best_sheet(reader, kind, names, measure, known, options, wanted)
    choice = SheetChoice(names[index], index, chosen, names)
    offset = measure(index, names[index])
    frame = _load(reader, kind, index)
    if frame.width == 0:
        where = "first sheet" if index == 0 else f"sheet {names[index]!r}"
        raise EmptyFileError(f"the workbook's {where} is empty", sheet=names[index])
    header, row_chosen = _header_index(frame, offset, options, known, choice)
    headers = tuple(clean_header(cell or "") for cell in frame.row(header))
    above = itertools.chain(
        itertools.repeat("", offset), (_row_text(r) for r in frame.head(header).iter_rows())
    )
    layout = locate.layout(offset + header + 1, row_chosen, above, choice)
    body = frame.slice(header + 1)
    body = body.rename(dict(zip(body.columns, [f"c{i}" for i in range(body.width)], strict=True)))

    def scan(positions: Sequence[int]) -> pl.LazyFrame:
        return body.lazy().select(
            null_markers(pl.col(f"c{p}").cast(pl.String)).alias(f"c{p}") for p in positions
        )

    return Table(headers, kind, None, None, scan, layout=layout)


def given_sheet(sheet: str | int, names: Sequence[str]) -> int:
    """The index of the sheet ``ReadOptions.sheet`` names: an index from 0, a name
    (exact, else the one name equal ignoring case and surrounding spaces), or an index
    written as text when no sheet has that name."""
    listing = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names))
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return sheet
        raise InvalidParameterError(
            f"the workbook has no sheet {sheet} (its {len(names)} sheet(s), numbered from "
            f"0: {listing})",
            field="sheet",
            sheets=list(names),
        )
    if sheet in names:
        return names.index(sheet)
    folded = [i for i, n in enumerate(names) if n.strip().casefold() == sheet.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    if sheet.strip().isdigit() and int(sheet.strip()) < len(names):
        return int(sheet.strip())
    raise InvalidParameterError(
        f"the workbook has no sheet {sheet!r} (its sheets: {listing})",
        field="sheet",
        sheets=list(names),
    )


def _best_sheet(
    reader: fastexcel.ExcelReader,
    kind: str,
    names: tuple[str, ...],
    measure: Measure,
    known: KnownHeaders,
    options: ReadOptions,
    wanted: frozenset[str] | None,
) -> tuple[int, str]:
    """The sheet whose header row matches the setup best (ties: the first). Every sheet
    is measured before any is loaded; each is then loaded for its first rows only."""
    offsets = [measure(i, name) for i, name in enumerate(names)]
    best: tuple[tuple[int, int], int] | None = None
    for index, offset in enumerate(offsets):
        given = options.header_row
        rows = locate.HEAD_ROWS if given is None else max(given - offset, 1)
        try:
            head = _load(reader, kind, index, rows)
        except UnreadableFileError:
            head = pl.DataFrame()  # a chart sheet, or damaged: not the table
        found: set[str] | None = None
        if head.width:
            header = locate.find_header(head.iter_rows(), known) if given is None else None
            if given is not None and 0 <= given - 1 - offset < head.height:
                header = given - 1 - offset
            if header is not None:
                found = known.names(head.row(header))
        rank = locate.sheet_rank(found, wanted)
        if best is None or rank > best[0]:
            best = (rank, index)
    assert best is not None  # names is not empty
    return best[1], "best match"


def _header_index(
    frame: pl.DataFrame,
    offset: int,
    options: ReadOptions,
    known: KnownHeaders,
    choice: SheetChoice,
) -> tuple[int, str]:
    """The 0-based index in ``frame`` (rows from the sheet's first cell) of the header
    row, and how it was chosen."""
    if options.header_row is not None:
        header = options.header_row - 1 - offset
        if not 0 <= header < frame.height:
            first, last = offset + 1, offset + frame.height
            raise InvalidParameterError(
                f"header_row {options.header_row} is outside the cells of sheet "
                f"{choice.name!r} (rows {first} to {last})",
                field="header_row",
                sheet=choice.name,
            )
        return header, "given"
    found = locate.find_header(frame.head(locate.HEAD_ROWS).iter_rows(), known)
    return (0, "first row") if found is None else (found, "detected")


def _row_text(row: tuple[Any, ...]) -> str:
    return " | ".join(str(c).strip() for c in row if c is not None and str(c).strip())


def _open(data: bytes, kind: str) -> fastexcel.ExcelReader:
    import fastexcel  # noqa: PLC0415  (imported on the first workbook only)

    try:
        return fastexcel.read_excel(data)
    except Exception as exc:  # fastexcel raises its own exception tree; any is unreadable
        raise UnreadableFileError(
            f"the {kind.upper()} workbook could not be read: {first_line(exc)}"
        ) from None


def _load(
    reader: fastexcel.ExcelReader, kind: str, index: int, rows: int | None = None
) -> pl.DataFrame:
    """Sheet ``index`` as text cells, from its first cell (no header: the header row is
    found in the rows), its first ``rows`` rows or all. calamine parses the whole sheet
    either way; fewer rows only spare the conversion."""
    try:
        sheet = reader.load_sheet(index, header_row=None, n_rows=rows, dtypes="string")
        return pl.DataFrame(sheet.to_polars())
    except Exception as exc:  # fastexcel raises its own exception tree; any is unreadable
        raise UnreadableFileError(
            f"the {kind.upper()} workbook could not be read: {first_line(exc)}"
        ) from None
