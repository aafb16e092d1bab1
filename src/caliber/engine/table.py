"""What every reader returns: a :class:`Table` (headers first, columns loaded on demand,
and where in the file they were found: :class:`Layout`) and the limits a reader refuses a
file beyond (:class:`ReadLimits`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from caliber.engine.columns import MISSING_MARKERS
from caliber.engine.errors import EmptyFileError, UnreadableFileError
from caliber.engine.report import DataWarning


@dataclass(frozen=True)
class ReadLimits:
    """Refusal thresholds, checked before a parser allocates anything for the file.

    Workbooks: the archive (entry count, uncompressed size, compression ratio) and the
    sheet, whose reader (calamine) allocates one slot per cell of the rectangle its
    cells span: ``max_sheet_cells`` bounds that rectangle (about 60 bytes a cell while
    reading, so 5,000,000 cells is about 300 MB), the cells present and the strings of
    the shared-string table. calamine also holds the parts it reads on opening in
    memory, at up to 4.5 times their size (the relationships, the sheet list, styles):
    ``max_part_bytes`` bounds each of them, ``max_strings_bytes`` the shared strings and
    ``max_uncompressed_bytes`` everything (a sheet of long text needs about twice its
    size). Text: ``max_header_bytes`` bounds the header row.
    """

    max_zip_entries: int = 1_000
    max_uncompressed_bytes: int = 512 * 1024 * 1024
    max_part_bytes: int = 16 * 1024 * 1024
    max_strings_bytes: int = 256 * 1024 * 1024
    max_compression_ratio: float = 200.0
    ratio_floor_bytes: int = 1024 * 1024  # small entries may compress well harmlessly
    max_sheet_cells: int = 5_000_000
    max_header_bytes: int = 64 * 1024


@dataclass(frozen=True)
class SheetChoice:
    """The sheet of a workbook that was read, and how it was chosen."""

    name: str
    index: int  # 0-based, in the workbook's order
    chosen: str  # "only sheet", "given" (ReadOptions.sheet) or "best match"
    names: tuple[str, ...]  # every sheet of the workbook, in order

    @property
    def others(self) -> list[str]:
        return [n for i, n in enumerate(self.names) if i != self.index]


@dataclass(frozen=True)
class Layout:
    """Where the table starts: its header row and the lines above it, and the sheet."""

    header_row: int  # 1-based: the file's line, or the sheet's row as Excel numbers it
    chosen: str  # "detected", "given" (ReadOptions.header_row) or "first line"
    skipped: tuple[str, ...] = ()  # the skipped lines' text (the first 50, truncated)
    skipped_count: int = 0
    sheet: SheetChoice | None = None

    def to_dict(self) -> dict[str, Any]:
        """The processing report's ``header_row``, ``header_row_chosen``,
        ``skipped_lines``, ``sheet`` and ``sheets``."""
        sheet = self.sheet
        return {
            "header_row": self.header_row,
            "header_row_chosen": self.chosen,
            "skipped_lines": {"count": self.skipped_count, "lines": list(self.skipped)},
            "sheet": None
            if sheet is None
            else {"name": sheet.name, "index": sheet.index, "chosen": sheet.chosen},
            "sheets": [] if sheet is None else list(sheet.names),
        }


@dataclass(frozen=True)
class Table:
    """A parsed header row and a lazy scan of selected columns (by position)."""

    headers: tuple[str, ...]
    format: str
    encoding: str | None
    delimiter: str | None
    _scanner: Callable[[Sequence[int]], pl.LazyFrame]
    # For a file scanned in place: the same file through the decoding path, used when
    # the scan finds bytes that are not UTF-8.
    reopen: Callable[[], Table] | None = None
    # What reading noticed without refusing (e.g. lines decoded as Windows-1252).
    warnings: tuple[DataWarning, ...] = ()
    # Where the header row was found (None for a DataFrame, which has no lines).
    layout: Layout | None = None

    def scan(self, positions: Sequence[int]) -> pl.LazyFrame:
        """Columns at ``positions`` (text, or the frame's own types), named ``c<position>``."""
        return self._scanner(sorted(set(positions)))

    def load(self, positions: Sequence[int]) -> pl.DataFrame:
        """:meth:`scan`, collected; raises :class:`EmptyFileError` on zero data rows."""
        try:
            frame = self.scan(positions).collect()
        except pl.exceptions.ComputeError as exc:
            if self.reopen is not None and is_encoding_error(exc):
                return self.reopen().load(positions)
            raise UnreadableFileError(f"the file could not be parsed: {first_line(exc)}") from None
        if frame.height == 0:
            raise EmptyFileError(
                "the file has a header row but no data rows", headers=list(self.headers)
            )
        return frame


def null_markers(text: pl.Expr) -> pl.Expr:
    """Turn missing markers (trimmed, any case) and blank cells into nulls."""
    marker = text.str.strip_chars().str.to_lowercase().is_in(MISSING_MARKERS)
    return pl.when(marker).then(None).otherwise(text)


def is_encoding_error(exc: BaseException) -> bool:
    """Whether a parser error says the bytes are not UTF-8."""
    text = first_line(exc).lower()
    return "utf-8" in text or "utf8" in text


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (parsers' messages run long)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def clean_header(text: str) -> str:
    """A header as the engine compares and reports it: trimmed, without NUL characters
    (which no database text column accepts)."""
    return text.replace("\x00", "").strip()
