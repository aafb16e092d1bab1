"""A workbook sheet's real extent: what the workbook reader would allocate for it.

The reader (calamine, through fastexcel) allocates one slot for every cell of the
rectangle that a sheet's cells span, whatever lies between them: a 1.6 KB .xlsx with a
cell at A1 and one at XFD1048576 asks for 549,755,813,888 bytes, and the process
aborts. So the sheet is measured first, as a stream in bounded memory, the way
calamine reads it (:mod:`caliber.engine.xlsx_extent`, :mod:`caliber.engine.xls_extent`;
the declared ``<dimension>`` is never trusted), and refused here when its rectangle is
over :attr:`ReadLimits.max_sheet_cells`.
"""

from __future__ import annotations

from dataclasses import dataclass

from caliber.engine.errors import UnsafeFileError
from caliber.engine.table import ReadLimits

MAX_ROWS = 1_048_576  # Excel's last row and column (XFD1048576)
MAX_COLUMNS = 16_384


@dataclass(frozen=True)
class Extent:
    """The cells of a sheet holding a value and the rectangle they span (0-based)."""

    cells: int
    first_row: int
    last_row: int
    first_column: int
    last_column: int

    @property
    def rectangle(self) -> int:
        if not self.cells:
            return 0
        return (self.last_row - self.first_row + 1) * (self.last_column - self.first_column + 1)

    def span(self) -> str:
        """The rectangle in Excel's notation, e.g. ``A1:XFD1048576``."""
        top = cell_name(self.first_row, self.first_column)
        return f"{top}:{cell_name(self.last_row, self.last_column)}"


def cell_name(row: int, column: int) -> str:
    """Excel's name of a 0-based (row, column), e.g. (0, 0) -> ``A1``."""
    letters = ""
    number = column + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row + 1}"


def check_extent(extent: Extent, where: str, limits: ReadLimits) -> None:
    """Refuse a sheet whose rectangle would not fit the limit, naming what was found."""
    if extent.rectangle <= limits.max_sheet_cells:
        return
    corner = cell_name(extent.last_row, extent.last_column)
    raise UnsafeFileError(
        f"{where}'s cells span {extent.span()} ({extent.rectangle:,} cells) but it holds "
        f"only {extent.cells:,} cell(s) with a value; reading it would need room for every "
        f"cell in between (limit {limits.max_sheet_cells:,}). Remove the stray cell at "
        f"{corner} (or whatever lies far from the data) and export again, or save the "
        "sheet as CSV",
        span=extent.span(),
        rectangle_cells=extent.rectangle,
        cells=extent.cells,
        limit_cells=limits.max_sheet_cells,
    )


def too_many_cells(where: str, limits: ReadLimits) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where} holds more than {limits.max_sheet_cells:,} cells (the limit); split the "
        "export, or save the sheet as CSV",
        limit_cells=limits.max_sheet_cells,
    )
