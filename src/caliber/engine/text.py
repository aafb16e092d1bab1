"""Delimited text: decoding, line endings, delimiter sniffing, and the polars scan.

Encodings: UTF-8 (with or without BOM), UTF-16 with BOM, Windows-1252. A file that is
UTF-8 except for some Windows-1252 bytes (two exports pasted together, a hand edit in
an old editor) is decoded as UTF-8 with those bytes read as Windows-1252, and a warning
names how many lines that touched and the first one; a file with no UTF-8 sequence at
all is Windows-1252 throughout. Line endings: LF, CRLF, and CR alone (old Mac exports).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from caliber.engine.columns import MISSING_SPELLINGS
from caliber.engine.errors import EmptyFileError, UnreadableFileError
from caliber.engine.report import DataWarning
from caliber.engine.table import ReadLimits, Table, clean_header

SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", "\t", ";", "|")
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


def _sniff_delimiter(lines: list[str]) -> str:
    """The candidate delimiter that splits the header most and the rows consistently."""
    best: tuple[float, int, str] | None = None
    for delimiter in _DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delimiter))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = [len(r) for r in rows[1:] if r]
        consistency = sum(1 for n in body if n == width) / len(body) if body else 1.0
        candidate = (consistency, width, delimiter)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else ","


def text_table(
    body: bytes | Path,
    head: bytes,
    encoding: str,
    filename: str | None,
    limits: ReadLimits,
    warnings: tuple[DataWarning, ...] = (),
) -> Table:
    """Delimited text in UTF-8 (``body``: the bytes, or a path to scan in place)."""
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
    text = head.decode("utf-8", errors="ignore")
    lines = text.splitlines()
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut mid-way
    lines = lines[:50]
    if not lines or not lines[0].strip():
        raise EmptyFileError("the file's first line (the header row) is empty")
    delimiter = _sniff_delimiter(lines)
    headers = tuple(clean_header(h) for h in next(csv.reader([lines[0]], delimiter=delimiter)))

    def scan(positions: Sequence[int]) -> pl.LazyFrame:
        # The header fixes the width: short rows get nulls, long rows are cut, and a file
        # with no data rows gives zero rows instead of a width guessed from nothing.
        schema = {f"c{i}": pl.String for i in range(len(headers))}
        return pl.scan_csv(
            body,
            has_header=False,
            skip_rows=1,
            schema=schema,
            separator=delimiter,
            truncate_ragged_lines=True,
            raise_if_empty=False,
            missing_columns="insert",
            extra_columns="ignore",
            null_values=list(MISSING_SPELLINGS),
        ).select([f"c{p}" for p in positions])

    return Table(headers, "csv", encoding, delimiter, scan, warnings=warnings)
