"""Readers: turn a file (its bytes, or its path) into a table of text cells.

Delimited text is parsed by polars (:mod:`caliber.engine.text`); XLSX and XLS by
fastexcel (Rust calamine) after checks that bound what it may allocate
(:mod:`caliber.engine.workbook`, :mod:`caliber.engine.extent`).

A :class:`Table` exposes the headers first and loads only the columns asked for,
every cell as text, so that cleaning rules are the same whatever the format. Where the
table starts (the header row below a title block, a workbook's sheet) is found by
:mod:`caliber.engine.locate`, or given by :class:`ReadOptions`.
"""

from __future__ import annotations

import codecs
from dataclasses import replace
from pathlib import Path

from caliber.engine import text, workbook
from caliber.engine.errors import EmptyFileError, UnreadableFileError
from caliber.engine.options import ReadOptions
from caliber.engine.table import ReadLimits, Table, is_encoding_error, null_markers

__all__ = ["ReadLimits", "Table", "is_encoding_error", "null_markers", "open_table"]


def open_table(
    source: bytes | Path,
    filename: str | None = None,
    limits: ReadLimits | None = None,
    options: ReadOptions | None = None,
    wanted: frozenset[str] | None = None,
) -> Table:
    """Detect the format of ``source`` (a file's bytes, or its path) and return its
    :class:`Table`, read as ``options`` say. A plain UTF-8 file given by path is scanned
    in place, never loaded. ``wanted``: the inputs the setup can use
    (:func:`caliber.engine.locate.setup_inputs`), by which a workbook's sheet is chosen;
    without it (a preview), the sheet whose header names the most known inputs."""
    limits = limits or ReadLimits()
    options = options or ReadOptions()
    if isinstance(source, Path):
        head = _read_head(source)
        if head.startswith((workbook.ZIP_MAGIC, workbook.XLS_MAGIC)) or text.needs_bytes(head):
            return open_table(_read_all(source), filename or source.name, limits, options, wanted)
        # Scanned in place: polars checks UTF-8 as it parses, and a file that turns out
        # not to be UTF-8 is re-read through the decoding path (Table.reopen).
        path = source
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        table = text.text_table(path, head, encoding, filename or path.name, limits, (), options)
        return replace(
            table,
            reopen=lambda: open_table(
                _read_all(path), filename or path.name, limits, options, wanted
            ),
        )
    data = source
    if not data or (not data[: text.SNIFF_BYTES].strip() and not data.strip()):
        raise EmptyFileError("the file is empty")
    if data.startswith(workbook.ZIP_MAGIC):
        return workbook.xlsx_table(data, limits, options, wanted)
    if data.startswith(workbook.XLS_MAGIC):
        return workbook.xls_table(data, limits, options, wanted)
    body, encoding, warnings = text.decode(data)
    return text.text_table(
        body, body[: text.SNIFF_BYTES], encoding, filename, limits, warnings, options
    )


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(text.SNIFF_BYTES)
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror or exc}") from None
