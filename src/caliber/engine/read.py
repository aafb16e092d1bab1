"""Readers: turn a file (its bytes, or its path) into a table of text cells.

Delimited text (delimiter sniffed; UTF-8 with or without BOM, UTF-16 with BOM,
Windows-1252) is parsed by polars; XLSX and XLS by fastexcel (Rust calamine).
An XLSX is a zip archive: it is checked before parsing (entry count, declared and
actual uncompressed size, compression ratio, no DTD or entity declarations in its
XML parts), so a zip bomb or an entity-expansion attack is refused up front.

A :class:`Table` exposes the headers first and loads only the columns asked for,
every cell as text, so that cleaning rules are the same whatever the format.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from caliber.engine.columns import MISSING_MARKERS, MISSING_SPELLINGS
from caliber.engine.errors import EmptyFileError, UnreadableFileError, UnsafeFileError

_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_BYTES = 64 * 1024
_UTF8_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """Refusal thresholds for workbooks (zip archives)."""

    max_zip_entries: int = 1_000
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_compression_ratio: float = 200.0
    ratio_floor_bytes: int = 1024 * 1024  # small entries may compress well harmlessly


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
            raise UnreadableFileError(f"the file could not be parsed: {_first_line(exc)}") from None
        if frame.height == 0:
            raise EmptyFileError(
                "the file has a header row but no data rows", headers=list(self.headers)
            )
        return frame


def open_table(
    source: bytes | Path, filename: str | None = None, limits: ReadLimits | None = None
) -> Table:
    """Detect the format of ``source`` (a file's bytes, or its path) and return its
    :class:`Table`. A plain UTF-8 file given by path is scanned in place, never loaded."""
    limits = limits or ReadLimits()
    if isinstance(source, Path):
        head = _read_head(source)
        if _needs_bytes(head):
            return open_table(_read_all(source), filename or source.name, limits)
        # Scanned in place: polars checks UTF-8 as it parses, and a file that turns out
        # not to be UTF-8 is re-read through the decoding path (Table.reopen).
        path = source
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        table = _text_table(path, head, encoding, filename or path.name)
        return replace(
            table, reopen=lambda: open_table(_read_all(path), filename or path.name, limits)
        )
    data = source
    if not data or (not data[:_SNIFF_BYTES].strip() and not data.strip()):
        raise EmptyFileError("the file is empty")
    if data.startswith(_ZIP_MAGIC):
        _check_workbook_archive(data, limits)
        return _excel_table(data, "xlsx")
    if data.startswith(_XLS_MAGIC):
        return _excel_table(data, "xls")
    body, encoding = _decode(data)
    return _text_table(body, body[:_SNIFF_BYTES], encoding, filename)


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def _needs_bytes(head: bytes) -> bool:
    """Workbooks, UTF-16, blank heads and heads that are not UTF-8 are read into memory."""
    if not head.strip() or head.startswith(
        (_ZIP_MAGIC, _XLS_MAGIC, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a cut last character is fine
    except UnicodeDecodeError:
        return True
    return False


# --------------------------------------------------------------------------- text


def _decode(data: bytes) -> tuple[bytes, str]:
    """UTF-8 bytes of ``data`` and the encoding it was found in."""
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        if not _is_utf8(body):
            raise UnreadableFileError("the file starts with a UTF-8 BOM but is not valid UTF-8")
        return body, "utf-8-sig"
    for bom, name in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(name)
            except UnicodeDecodeError:
                raise UnreadableFileError(
                    "the file starts with a UTF-16 BOM but is not valid UTF-16"
                ) from None
            return text.encode("utf-8"), "utf-16"
    if data.isascii() or _is_utf8(data):
        return data, "utf-8"
    # Windows-1252 leaves five bytes undefined; Latin-1 maps them, so decoding cannot fail.
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return text.encode("utf-8"), "windows-1252"


def _is_utf8(data: bytes) -> bool:
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


def _text_table(body: bytes | Path, head: bytes, encoding: str, filename: str | None) -> Table:
    """Delimited text in UTF-8 (``body``: the bytes, or a path to scan in place)."""
    head = head.removeprefix(codecs.BOM_UTF8)
    if _looks_binary(head):
        raise UnreadableFileError(
            "the file is not a CSV/TSV text file or an Excel workbook (it looks binary)",
            filename=filename,
        )
    text = head.decode("utf-8", errors="ignore")
    lines = text.splitlines()
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut mid-way
    lines = lines[:50]
    if not lines or not lines[0].strip():
        raise EmptyFileError("the file's first line (the header row) is empty")
    delimiter = _sniff_delimiter(lines)
    headers = tuple(h.strip() for h in next(csv.reader([lines[0]], delimiter=delimiter)))

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

    return Table(headers, "csv", encoding, delimiter, scan)


def null_markers(text: pl.Expr) -> pl.Expr:
    """Turn missing markers (trimmed, any case) and blank cells into nulls."""
    marker = text.str.strip_chars().str.to_lowercase().is_in(MISSING_MARKERS)
    return pl.when(marker).then(None).otherwise(text)


def is_encoding_error(exc: BaseException) -> bool:
    """Whether a parser error says the bytes are not UTF-8."""
    text = _first_line(exc).lower()
    return "utf-8" in text or "utf8" in text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- excel


def _check_workbook_archive(data: bytes, limits: ReadLimits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFileError("the file looks like a zip archive but is damaged") from None
    with archive:
        entries = archive.infolist()
        names = {e.filename for e in entries}
        if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
            raise UnreadableFileError("the zip archive is not an Excel workbook (.xlsx)")
        if len(entries) > limits.max_zip_entries:
            raise UnsafeFileError(
                f"the workbook has {len(entries)} archive entries (limit "
                f"{limits.max_zip_entries}); refused as a possible zip bomb",
                entries=len(entries),
            )
        declared = sum(e.file_size for e in entries)
        if declared > limits.max_uncompressed_bytes:
            raise UnsafeFileError(
                f"the workbook would expand to {declared:,} bytes (limit "
                f"{limits.max_uncompressed_bytes:,}); refused as a possible zip bomb",
                uncompressed_bytes=declared,
            )
        for entry in entries:
            _check_ratio(entry.filename, entry.file_size, entry.compress_size, limits)
        actual = 0
        for entry in entries:
            actual += _scan_entry(archive, entry, limits, limits.max_uncompressed_bytes - actual)


def _check_ratio(name: str, size: int, compressed: int, limits: ReadLimits) -> None:
    if size <= limits.ratio_floor_bytes:
        return
    ratio = size / max(compressed, 1)
    if ratio > limits.max_compression_ratio:
        raise UnsafeFileError(
            f"workbook part {name!r} has a compression ratio of {ratio:,.0f}:1 (limit "
            f"{limits.max_compression_ratio:,.0f}:1); refused as a possible zip bomb",
            entry=name,
            ratio=ratio,
        )


def _scan_entry(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: ReadLimits, budget: int
) -> int:
    """Decompress one entry in chunks: enforce the real size and ratio, refuse DTDs."""
    is_xml = entry.filename.endswith((".xml", ".rels", ".vml"))
    seen = 0
    tail = b""
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(1024 * 1024):
                seen += len(chunk)
                if seen > budget:
                    raise UnsafeFileError(
                        "the workbook expands beyond the size limit; refused as a possible "
                        "zip bomb",
                        entry=entry.filename,
                    )
                _check_ratio(entry.filename, seen, entry.compress_size, limits)
                if is_xml:
                    window = (tail + chunk).upper()
                    if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                        raise UnsafeFileError(
                            f"workbook part {entry.filename!r} declares a DTD or entities; "
                            "refused (XML entity expansion is never processed)",
                            entry=entry.filename,
                        )
                    tail = chunk[-16:]
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"the workbook archive is damaged: {exc}") from None
    except NotImplementedError as exc:  # e.g. an unsupported compression method
        raise UnreadableFileError(f"the workbook archive cannot be read: {exc}") from None
    return seen


def _excel_table(data: bytes, kind: str) -> Table:
    """The first sheet, read once (calamine parses a whole sheet whatever is asked)."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(data)
        names = reader.sheet_names
        if not names:
            raise EmptyFileError("the workbook has no sheets")
        sheet = reader.load_sheet(0, dtypes="string")
        headers = tuple(str(c.name).strip() for c in sheet.available_columns())
        frame = pl.DataFrame(sheet.to_polars())
    except EmptyFileError:
        raise
    except Exception as exc:  # fastexcel raises its own exception tree; any is unreadable
        raise UnreadableFileError(
            f"the {kind.upper()} workbook could not be read: {_first_line(exc)}"
        ) from None
    if not headers:
        raise EmptyFileError("the workbook's first sheet is empty", sheet=names[0])
    frame = frame.rename(
        dict(zip(frame.columns, [f"c{i}" for i in range(frame.width)], strict=True))
    )

    def scan(positions: Sequence[int]) -> pl.LazyFrame:
        return frame.lazy().select(
            null_markers(pl.col(f"c{p}").cast(pl.String)).alias(f"c{p}") for p in positions
        )

    return Table(headers, kind, None, None, scan)
