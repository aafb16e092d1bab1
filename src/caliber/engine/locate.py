"""Where the table starts: the header row of an export that puts a title block above it
(report name, date range, filters, "Report generated ...", blank lines, a lone "Report"
cell), and which sheet of a workbook holds the table.

The header row is the first of the first 51 rows (so at most 50 are skipped) that names
at least two different inputs: a header of the catalogue (folded as
:func:`caliber.engine.headers.fold_header` folds it) or a header the user's column
mapping names. When no row does, the first non-blank row is the header, as before
detection existed, and an error about a missing column then says what was read.
``ReadOptions.header_row`` overrides the detection; ``ReadOptions.sheet`` the choice of
sheet, which otherwise goes to the sheet whose header row names the most inputs the
setup needs (ties: the first sheet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from caliber.engine.errors import EngineError
from caliber.engine.headers import ALIAS_INDEX, fold_header
from caliber.engine.metrics import METRICS
from caliber.engine.report import ProcessingReport
from caliber.engine.table import Layout, SheetChoice, Table

if TYPE_CHECKING:
    from caliber.engine.config import ResolvedSetup

MAX_SKIPPED = 50
HEAD_ROWS = MAX_SKIPPED + 1  # the rows the header is looked for in
MIN_KNOWN = 2  # a title line may name one input ("Site performance"); a header names more
_SHOWN_CHARS = 120  # a skipped line's text in the report is cut here
_HEADER_CHARS = 200  # a longer cell is no header: not folded
_SHOWN_HEADERS = 30  # headers named in an error message (details hold up to 500)


class KnownHeaders:
    """Which input a header names: the catalogue's aliases, and the headers the user's
    column mapping gives (which win over an alias of another input)."""

    def __init__(self, columns: Mapping[str, Sequence[str]] | None = None) -> None:
        given = (columns or {}).items()
        self._user = {fold_header(h): name for name, headers in given for h in headers}
        self._seen: dict[str, str | None] = {}

    def standard(self, cell: str | None) -> str | None:
        if not cell or len(cell) > _HEADER_CHARS:
            return None
        found = self._seen.get(cell, "")
        if found == "":
            folded = fold_header(cell)
            found = self._user.get(folded) or ALIAS_INDEX.get(folded)
            self._seen[cell] = found
        return found

    def names(self, cells: Iterable[str | None]) -> set[str]:
        """The inputs a row of cells names."""
        return {name for cell in cells if (name := self.standard(cell)) is not None}


def find_header(rows: Iterable[Sequence[str | None]], known: KnownHeaders) -> int | None:
    """The index of the first row (among the first :data:`HEAD_ROWS`) naming at least
    :data:`MIN_KNOWN` inputs, or None."""
    for index, row in enumerate(rows):
        if index >= HEAD_ROWS:
            break
        if len(known.names(row)) >= MIN_KNOWN:
            return index
    return None


def sheet_rank(names: set[str] | None, wanted: frozenset[str] | None) -> tuple[int, int]:
    """How well a sheet's header row (the inputs it names; None: no header row found)
    matches the setup: the inputs the setup needs it names, then all it names."""
    if names is None:
        return (-1, -1)
    return (len(names & wanted) if wanted else len(names), len(names))


def setup_inputs(
    resolved: ResolvedSetup, columns: Mapping[str, Sequence[str]] | None = None
) -> frozenset[str]:
    """The inputs a setup can use: its dimension, impressions, each metric's counts and
    rate columns, and whatever the user's column mapping names."""
    wanted = {str(resolved.level), "impressions", *(columns or {})}
    for metric in resolved.metrics:
        recipe = METRICS[metric.name]
        wanted.update(c for c in (recipe.numerator, recipe.denominator) if c is not None)
        wanted.update(recipe.rate_columns)
    return frozenset(wanted)


def shown(text: str) -> str:
    """A skipped line as the report shows it: trimmed, cut at 120 characters, without
    NUL characters (which no database text column takes)."""
    text = text.replace("\x00", "").strip()
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def layout(
    header_row: int, chosen: str, skipped: Iterable[str], sheet: SheetChoice | None = None
) -> Layout:
    """The layout of a header at 1-based ``header_row`` (``skipped``: the lines above)."""
    texts = tuple(shown(t) for _, t in zip(range(MAX_SKIPPED), skipped, strict=False))
    return Layout(header_row, chosen, texts, header_row - 1, sheet)


def where_read(table: Table) -> tuple[str, dict[str, Any]]:
    """What was read, for an error about a missing column: a sentence for the message and
    the details (``sheet``, ``other_sheets``, ``header_row``, ``headers_found``)."""
    found = [h for h in table.headers if h]
    details: dict[str, Any] = {"headers_found": found[:500]}
    parts: list[str] = []
    where = table.layout
    if where is not None:
        details["header_row"] = where.header_row
        sheet = where.sheet
        if sheet is not None:
            details["sheet"] = sheet.name
            details["other_sheets"] = sheet.others
            parts.append(f"sheet {sheet.name!r}")
        line = "row" if sheet is not None else "line"
        if where.chosen.startswith("first"):
            parts.append(
                f"{line} {where.header_row} as the header (no {line} among the first "
                f"{HEAD_ROWS} names two known headers)"
            )
        else:
            parts.append(f"{line} {where.header_row} as the header ({where.chosen})")
        if sheet is not None and sheet.others:
            parts.append("other sheets: " + ", ".join(repr(n) for n in sheet.others))
    names = ", ".join(repr(h) for h in found[:_SHOWN_HEADERS])
    more = f" and {len(found) - _SHOWN_HEADERS} more" if len(found) > _SHOWN_HEADERS else ""
    parts.append(f"headers found: {names}{more}" if found else "no headers found")
    return "Read " + "; ".join(parts), details


def located(exc: EngineError, table: Table) -> EngineError:
    """``exc`` (a missing column or metric) with what was read added to its message and
    details, so the user sees which sheet and row the headers came from."""
    clause, details = where_read(table)
    message = f"{exc.message.rstrip('.')}. {clause}"
    return type(exc)(message, **{**exc.details, **details})


def record_layout(table: Table, report: ProcessingReport) -> None:
    """Fill the report's ``header_row``, ``header_row_chosen``, ``skipped_lines``,
    ``sheet`` and ``sheets`` (a DataFrame has no layout: left empty)."""
    if table.layout is None:
        return
    found = table.layout.to_dict()
    report.header_row = found["header_row"]
    report.header_row_chosen = found["header_row_chosen"]
    report.skipped_lines = found["skipped_lines"]
    report.sheet = found["sheet"]
    report.sheets = found["sheets"]
