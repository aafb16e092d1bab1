"""Excel workbooks (.xlsx, .xls), read by fastexcel (Rust calamine) once checked.

An .xlsx is a zip archive: it is checked before parsing (entry count, declared and
actual uncompressed size, compression ratio, no DTD or entity declarations in its XML
parts, the size of the shared-string table), so a zip bomb or an entity-expansion
attack is refused up front. Then the real extent of every sheet the reader may load is
measured before it loads it (:mod:`caliber.engine.extent`), and so are an .xls file's own
counts, so that the reader is never asked for more cells than the limit. Which sheet,
and which of its rows is the header: :mod:`caliber.engine.sheets`.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from caliber.engine import sheets, xls_extent, xlsx_extent
from caliber.engine.errors import UnreadableFileError, UnsafeFileError
from caliber.engine.extent import Extent, check_extent
from caliber.engine.options import ReadOptions
from caliber.engine.table import ReadLimits, Table

ZIP_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SHARED_STRINGS = "xl/sharedstrings.xml"
# What calamine parses into memory when it opens a workbook, besides sheets and strings.
_OPENING_PARTS = frozenset(
    {
        "[content_types].xml",
        "_rels/.rels",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
    }
)


def xlsx_table(
    data: bytes,
    limits: ReadLimits,
    options: ReadOptions | None = None,
    wanted: frozenset[str] | None = None,
) -> Table:
    """The table of an .xlsx (:mod:`caliber.engine.sheets`), after the archive checks;
    each sheet is measured before it is loaded."""
    with _open_archive(data) as archive:
        _check_archive(archive, limits)
        parts = xlsx_extent.sheet_parts(archive)
    measured: dict[str | None, int] = {}  # by part (None: every part that could be one)

    def measure(index: int, name: str) -> int:
        known = index < len(parts) and parts[index][0] == name
        part = parts[index][1] if known else None
        if part not in measured:
            where = "the first sheet" if index == 0 else f"sheet {index + 1} ({name!r})"
            with _open_archive(data) as archive:
                measured[part] = _measure_sheet(archive, part, where, limits)
        return measured[part]

    return sheets.excel_table(data, "xlsx", measure, options or ReadOptions(), wanted)


def xls_table(
    data: bytes,
    limits: ReadLimits,
    options: ReadOptions | None = None,
    wanted: frozenset[str] | None = None,
) -> Table:
    """The table of an .xls, after its counts are checked (calamine reads every sheet
    on opening, so every sheet is measured at once)."""
    extents = xls_extent.check_xls(data, limits)

    def measure(index: int, name: str) -> int:
        del index
        return _first_row(extents.get(name))

    return sheets.excel_table(data, "xls", measure, options or ReadOptions(), wanted)


def _first_row(extent: Extent | None) -> int:
    return 0 if extent is None or not extent.cells else extent.first_row


def _open_archive(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFileError("the file looks like a zip archive but is damaged") from None


def _check_archive(archive: zipfile.ZipFile, limits: ReadLimits) -> None:
    entries = archive.infolist()
    names = {e.filename.lower() for e in entries}
    if "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            raise UnreadableFileError(
                "the workbook is a binary .xlsb workbook, which is not supported; save it "
                "as .xlsx or CSV"
            )
        raise UnreadableFileError("the zip archive is not an Excel workbook (.xlsx)")
    if len(names) != len(entries):
        # the reader and these checks must see the same part under a name
        raise UnreadableFileError("the workbook archive is damaged: it repeats an entry name")
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
        _check_part_size(entry.filename, entry.file_size, limits)
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


def _part_limit(name: str, limits: ReadLimits) -> int | None:
    lowered = name.lower()
    if lowered == _SHARED_STRINGS:
        return limits.max_strings_bytes
    return limits.max_part_bytes if lowered in _OPENING_PARTS else None


def _check_part_size(name: str, size: int, limits: ReadLimits) -> None:
    limit = _part_limit(name, limits)
    if limit is not None and size > limit:
        raise UnsafeFileError(
            f"workbook part {name!r} expands to more than {limit:,} bytes (the limit for "
            "this part, which the reader holds in memory); refused",
            entry=name,
            limit_bytes=limit,
        )


def _scan_entry(
    archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: ReadLimits, budget: int
) -> int:
    """Decompress one entry in chunks: enforce the real size and ratio, refuse DTDs, and
    count the shared strings (calamine keeps every one in memory)."""
    is_xml = entry.filename.endswith((".xml", ".rels", ".vml"))
    is_strings = entry.filename.lower() == _SHARED_STRINGS
    seen = 0
    strings = 0
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
                _check_part_size(entry.filename, seen, limits)
                if is_xml:
                    window = tail + chunk
                    upper = window.upper()
                    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
                        raise UnsafeFileError(
                            f"workbook part {entry.filename!r} declares a DTD or entities; "
                            "refused (XML entity expansion is never processed)",
                            entry=entry.filename,
                        )
                    if is_strings:
                        # every <si> (or <x:si>) start; a tag cut between chunks counts
                        # twice at most, which only errs on the side of refusing
                        strings += window.count(b"<si") + window.count(b":si")
                        if strings > limits.max_sheet_cells:
                            raise UnsafeFileError(
                                "the workbook's shared-string table holds more than "
                                f"{limits.max_sheet_cells:,} strings (the limit); refused",
                                limit_cells=limits.max_sheet_cells,
                            )
                    tail = chunk[-16:]
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"the workbook archive is damaged: {exc}") from None
    except NotImplementedError as exc:  # e.g. an unsupported compression method
        raise UnreadableFileError(f"the workbook archive cannot be read: {exc}") from None
    return seen


def _measure_sheet(
    archive: zipfile.ZipFile, part: str | None, where: str, limits: ReadLimits
) -> int:
    """Measure a sheet's part (refusing it beyond the limits) and return the row of its
    first cell; when its part cannot be told (None), measure every part that could be a
    sheet (its first row is then unknown: 0)."""
    targets = [part] if part is not None else xlsx_extent.worksheet_parts(archive)
    extent: Extent | None = None
    for target in targets:
        label = where if target == part else f"sheet part {target!r}"
        try:
            found = xlsx_extent.xlsx_sheet_extent(archive, archive.getinfo(target), label, limits)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise UnreadableFileError(f"the workbook archive is damaged: {exc}") from None
        check_extent(found, label, limits)
        extent = found if target == part else None
    return _first_row(extent)
