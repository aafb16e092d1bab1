"""The checks an upload passes before a byte of it is stored: its name (``safe_filename``,
``extension_of``) and whether its first bytes are what the extension says (``sniff``,
``check_content``). Pure functions of a name or a file's first bytes; the intake in
:mod:`caliber.files.service` calls them.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from caliber.core.errors import UnsupportedMediaType

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
}
TEXT_FORMATS = frozenset({"csv", "tsv", "txt"})
ALLOWED = ", ".join(f".{ext}" for ext in CONTENT_TYPES)
MAX_FILENAME = 255

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Recognised only to name them in the refusal.
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF-", "a PDF document"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"\x7fELF", "an executable program"),
)


# --------------------------------------------------------------------------- names


def safe_filename(raw: str | None) -> str:
    """The user's file name as metadata: no directories, no control characters, at most
    255 characters (the extension is kept when the name is cut)."""
    text = unicodedata.normalize("NFC", raw or "")
    # control characters (Cc) and invisible format characters such as bidi overrides (Cf)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = re.split(r"[/\\]", text)[-1].strip().strip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name


def extension_of(filename: str) -> str:
    """The lower-case extension of ``filename`` if it is one we accept; else 415."""
    stem, dot, ext = filename.rpartition(".")
    ext = ext.lower()
    if not dot or not stem:
        raise UnsupportedMediaType(
            f"the file name {filename!r} has no extension; upload a {ALLOWED} file",
            filename=filename,
            accepted_extensions=list(CONTENT_TYPES),
        )
    if ext not in CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"files of type .{ext} are not accepted; upload a {ALLOWED} file",
            filename=filename,
            extension=ext,
            accepted_extensions=list(CONTENT_TYPES),
        )
    return ext


# --------------------------------------------------------------------------- content


def sniff(head: bytes) -> str:
    """What the first bytes are: ``"xlsx"`` (a zip archive), ``"xls"`` (an OLE2 compound
    file), ``"text"``, or a description of something else ("a PNG image", "binary data")."""
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_OLE_MAGIC):
        return "xls"
    for magic, description in _OTHER_MAGIC:
        if head.startswith(magic):
            return description
    if head.startswith(b"MZ") and b"\x00" in head:
        return "a Windows executable"
    return "text" if _is_text(head) else "binary data"


def _is_text(head: bytes) -> bool:
    """No NUL bytes (outside UTF-16) and decodes as UTF-8, UTF-16 with a BOM, or cp1252.
    ``head`` may end mid-character."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(codec)().decode(head[len(bom) :])
            except UnicodeDecodeError:
                return False
            return "\x00" not in text and not _mostly_control(text)
    if b"\x00" in head:
        return False
    body = head.removeprefix(codecs.BOM_UTF8)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(body)
    except UnicodeDecodeError:
        try:
            text = body.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return not _mostly_control(text)


def _mostly_control(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r")
    return controls > max(8, len(text) // 100)


def _describe(found: str) -> str:
    return {
        "xlsx": "a zip archive (an .xlsx workbook?)",
        "xls": "an OLE2 compound file (an .xls workbook?)",
        "text": "text",
    }.get(found, found)


def check_content(ext: str, head: bytes) -> None:
    """The first bytes must match the extension (415 naming what was found)."""
    found = sniff(head)
    expected = "text" if ext in TEXT_FORMATS else ext
    if found == expected:
        return
    wanted = {
        "text": "CSV/TSV text",
        "xlsx": "an Excel .xlsx workbook (a zip archive)",
        "xls": "an Excel 97-2003 .xls workbook (an OLE2 compound file)",
    }[expected]
    hint = ""
    if found in ("xlsx", "xls", "text") and found != expected:
        hint = {
            "xlsx": "; rename it to .xlsx",
            "xls": "; rename it to .xls",
            "text": "; rename it to .csv",
        }[found]
    raise UnsupportedMediaType(
        f"the file is named .{ext} but its content is {_describe(found)}, not {wanted}{hint}",
        extension=ext,
        detected=found,
    )
