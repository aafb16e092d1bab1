"""Delimited text: decoding, line endings, delimiter sniffing, and the polars scan.

Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, Windows-1252. A file that is
UTF-8 except for some Windows-1252 bytes (two exports pasted together, a hand edit in
an old editor) is decoded as UTF-8 with those bytes read as Windows-1252, and a warning
names how many lines that touched and the first one; a file with no UTF-8 sequence at
all is Windows-1252 throughout. Line endings: LF, CRLF, and CR alone (old Mac exports).
The header row is found among the first lines (:mod:`caliber.engine.locate`), and the
delimiter is sniffed on it and the lines after it, never on a title block above it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import polars as pl

from caliber.engine import locate
from caliber.engine.columns import MISSING_SPELLINGS
from caliber.engine.errors import EmptyFileError, InvalidParameterError, UnreadableFileError
from caliber.engine.locate import KnownHeaders
from caliber.engine.options import ReadOptions
from caliber.engine.report import DataWarning
from caliber.engine.table import ReadLimits, Table, clean_header

SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_LINES = 50  # the header and the lines after it that the delimiter is sniffed on
_UTF8_CHUNK = 4 * 1024 * 1024
# undecodable bytes under errors="surrogateescape", and anything a real UTF-8 sequence
# decodes to (non-ASCII, not one of those)
_ESCAPED = re.compile("[\udc80-\udcff]+")
_DECODED_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")


def needs_bytes(head: bytes) -> bool:
    """Whether a file starting with ``head`` must be read into memory (to decode it or
    to rewrite its line endings) instead of being scanned in place as UTF-8."""
    if not head.strip() or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if cr_only(head):
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a cut last character is fine
    except UnicodeDecodeError:
        return True
    return False


def cr_only(head: bytes) -> bool:
    """Lines end in CR alone (polars splits rows on LF only)."""
    return b"\r" in head and b"\n" not in head


def decode(data: bytes) -> tuple[bytes, str, tuple[DataWarning, ...]]:
    """UTF-8 bytes of ``data`` with LF or CRLF line endings, the encoding it was found
    in, and what decoding had to guess."""
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        if not is_utf8(body):
            raise UnreadableFileError("the file starts with a UTF-8 BOM but is not valid UTF-8")
        return _lf(body), "utf-8-sig", ()
    for bom, name in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(name)
            except UnicodeDecodeError:
                raise UnreadableFileError(
                    "the file starts with a UTF-16 BOM but is not valid UTF-16"
                ) from None
            return _lf(text.encode("utf-8")), "utf-16", ()
    data = _lf(data)  # CR and LF are single bytes in UTF-8 and Windows-1252 alike
    if data.isascii() or is_utf8(data):
        return data, "utf-8", ()
    text = data.decode("utf-8", errors="surrogateescape")
    if _DECODED_NON_ASCII.search(text) is None:
        return _cp1252(data).encode("utf-8"), "windows-1252", ()
    return _mixed(text)


def _mixed(text: str) -> tuple[bytes, str, tuple[DataWarning, ...]]:
    """UTF-8 text whose undecodable bytes (as surrogate escapes) are read as Windows-1252."""
    lines = 0
    first = 0
    line = 1  # line number at ``position``
    position = 0
    last = 0  # last line counted
    for match in _ESCAPED.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        if line != last:
            lines += 1
            first = first or line
            last = line
    fixed = _ESCAPED.sub(lambda m: _cp1252(m.group().encode("utf-8", "surrogateescape")), text)
    warning = DataWarning(
        "windows_1252_lines",
        f"{lines} line(s) are not UTF-8 like the rest of the file and were read as "
        f"Windows-1252, the first at line {first}; check their accented names",
        None,
        lines,
    )
    return fixed.encode("utf-8"), "utf-8", (warning,)


def _cp1252(data: bytes) -> str:
    # Windows-1252 leaves five bytes undefined; Latin-1 maps them, so decoding cannot fail.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r", b"\n") if cr_only(data[:SNIFF_BYTES]) else data


def is_utf8(data: bytes) -> bool:
    """Whether all of ``data`` is valid UTF-8 (decoded in chunks, nothing kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _UTF8_CHUNK):
            decoder.decode(view[start : start + _UTF8_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > max(8, len(head) // 100)


def _sniff_delimiter(lines: list[str], among: Sequence[str] = _DELIMITERS) -> str:
    """The candidate delimiter that splits the header (the first line) most and the
    rows after it consistently."""
    best: tuple[float, int, str] | None = None
    for delimiter in among:
        rows = list(csv.reader(lines, delimiter=delimiter))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = [len(r) for r in rows[1:] if r]
        consistency = sum(1 for n in body if n == width) / len(body) if body else 1.0
        candidate = (consistency, width, delimiter)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else among[0]


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _find_header(lines: list[str], known: KnownHeaders) -> tuple[int, list[str]] | None:
    """The first line naming two known headers under some delimiter, and the
    delimiters that name the most there."""
    for index, line in enumerate(lines[: locate.HEAD_ROWS]):
        if not line.strip():
            continue
        counts = {d: len(known.names(_cells(line, d))) for d in _DELIMITERS}
        most = max(counts.values())
        if most >= locate.MIN_KNOWN:
            return index, [d for d in _DELIMITERS if counts[d] == most]
    return None


def _head_lines(head: bytes) -> list[str]:
    """The complete lines of ``head`` (the first bytes of the file, LF or CRLF)."""
    lines = [line.removesuffix("\r") for line in head.decode("utf-8", errors="ignore").split("\n")]
    if lines and not lines[-1]:
        lines.pop()  # the file's last line break
    elif len(head) == SNIFF_BYTES and len(lines) > 1:
        lines.pop()  # the last line may be cut mid-way
    return lines


def _line_start(stream: BinaryIO, index: int) -> int | None:
    """The byte offset of 0-based line ``index`` of ``stream``, or None past its end."""
    offset = 0
    remaining = index
    while remaining:
        chunk = stream.read(_UTF8_CHUNK)
        if not chunk:
            return None
        breaks = chunk.count(b"\n")
        if breaks < remaining:
            remaining -= breaks
            offset += len(chunk)
            continue
        position = -1
        for _ in range(remaining):
            position = chunk.find(b"\n", position + 1)
        return offset + position + 1
    return offset


def _lines_at(body: bytes | Path, index: int) -> list[str]:
    """The lines from 0-based line ``index`` on (its first 64 KiB), for a header row given
    beyond the head of the file."""
    try:
        with body.open("rb") if isinstance(body, Path) else io.BytesIO(body) as stream:
            start = _line_start(stream, index)
            stream.seek(start or 0)
            window = stream.read(SNIFF_BYTES) if start is not None else b""
    except OSError as exc:
        raise UnreadableFileError(f"cannot read the file: {exc.strerror or exc}") from None
    lines = _head_lines(window)
    if not lines:
        raise InvalidParameterError(
            f"header_row {index + 1} is past the end of the file", field="header_row"
        )
    return lines


def text_table(
    body: bytes | Path,
    head: bytes,
    encoding: str,
    filename: str | None,
    limits: ReadLimits,
    warnings: tuple[DataWarning, ...] = (),
    options: ReadOptions | None = None,
) -> Table:
    """Delimited text in UTF-8 (``body``: the bytes, or a path to scan in place), its
    header row found (or given) among the first lines."""
    options = options or ReadOptions()
    head = head.removeprefix(codecs.BOM_UTF8)
    if _looks_binary(head):
        raise UnreadableFileError(
            "the file is not a CSV/TSV text file or an Excel workbook (it looks binary)",
            filename=filename,
        )
    window = head[: limits.max_header_bytes]
    whole_file = len(head) < SNIFF_BYTES
    too_long = len(head) > limits.max_header_bytes or not whole_file
    if b"\n" not in window and b"\r" not in window and too_long:
        raise UnreadableFileError(
            f"the first line (the header row) is longer than {limits.max_header_bytes:,} "
            "bytes: the file is not a CSV/TSV export (or its line breaks are missing)",
            limit_bytes=limits.max_header_bytes,
        )
    lines = _head_lines(head)
    known = KnownHeaders(options.columns)
    among: Sequence[str] = _DELIMITERS
    if options.header_row is not None:
        index = options.header_row - 1
        chosen = "given"
        window_lines = lines[index:] if index < len(lines) else _lines_at(body, index)
    else:
        found = _find_header(lines, known)
        if found is not None:
            (index, among), chosen = found, "detected"
        else:
            index = next((i for i, line in enumerate(lines) if line.strip()), 0)
            chosen = "first line"
        window_lines = lines[index:]
    if not window_lines or not window_lines[0].strip():
        if chosen != "given":
            raise EmptyFileError("the file's first line (the header row) is empty")
        window_lines = window_lines or [""]
    delimiter = _sniff_delimiter(window_lines[:_SNIFF_LINES], among)
    headers = tuple(clean_header(h) for h in _cells(window_lines[0], delimiter))
    where = locate.layout(index + 1, chosen, lines[:index])
    if options.sheet is not None:
        warnings = (*warnings, _sheet_ignored(options.sheet))
    # the header line of a usual file is skipped as a CSV record (a quoted line break in
    # it is part of it, as before detection); the lines above a header found lower down
    # are skipped as raw lines, the way they were counted
    skip_rows, skip_lines = (1, 0) if index == 0 else (0, index + 1)

    def scan(positions: Sequence[int]) -> pl.LazyFrame:
        # The header fixes the width: short rows get nulls, long rows are cut, and a file
        # with no data rows gives zero rows instead of a width guessed from nothing.
        schema = {f"c{i}": pl.String for i in range(len(headers))}
        return pl.scan_csv(
            body,
            has_header=False,
            schema=schema,
            separator=delimiter,
            truncate_ragged_lines=True,
            raise_if_empty=False,
            missing_columns="insert",
            extra_columns="ignore",
            null_values=list(MISSING_SPELLINGS),
            skip_rows=skip_rows,
            skip_lines=skip_lines,
        ).select([f"c{p}" for p in positions])

    return Table(headers, "csv", encoding, delimiter, scan, warnings=warnings, layout=where)


def _sheet_ignored(sheet: str | int) -> DataWarning:
    return DataWarning(
        "sheet_ignored",
        f"the file is delimited text, not a workbook: the sheet asked for ({sheet!r}) "
        "does not apply and the file was read as it is",
    )
