"""Uploaded files: intake (size, type and name checks while streaming to storage),
listing, preview and validation through the engine, deletion and campaign assignment.

Every lookup is scoped by owner: another user's file or campaign is "not found". Functions
that change rows flush but do not commit; the route commits (``commit_upload`` commits an
upload and removes its stored bytes if the commit fails).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import unicodedata
import uuid
from datetime import timedelta
from typing import Any, BinaryIO, cast

import polars as pl
from sqlalchemy.orm import Session

from caliber.campaigns import service as campaign_service
from caliber.campaigns.repository import get_campaign
from caliber.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from caliber.db.base import utcnow
from caliber.db.models import Campaign, CampaignStatus, FileUpload
from caliber.engine.columns import INPUTS
from caliber.engine.errors import EngineError, UnreadableFileError
from caliber.engine.headers import ColumnMapping, map_headers, plan_sources
from caliber.engine.read import Table, open_table
from caliber.files import repository
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

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
PREVIEW_MAX_ROWS = 100
# Cells longer than this are cut in a preview: a 40 MB cell (a quote left open) would
# otherwise be a 40 MB answer. The cut is marked with an ellipsis and counted.
PREVIEW_MAX_CELL = 1_000
_HEAD_BYTES = 64 * 1024
_CHUNK = 1024 * 1024

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


# --------------------------------------------------------------------------- intake


class _MeteredStream:
    """The head already read, then the rest of the upload: hashed, counted, and refused
    (``PayloadTooLarge``) as soon as more than ``limit`` bytes went through."""

    def __init__(self, head: bytes, rest: BinaryIO, limit: int) -> None:
        self._pending = head
        self._rest = rest
        self._limit = limit
        self.count = 0
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self._read_some(_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        return self._read_some(size)

    def _read_some(self, size: int) -> bytes:
        if size == 0:
            return b""
        if self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
        else:
            chunk = self._rest.read(size)
        self.count += len(chunk)
        if self.count > self._limit:
            raise too_large(self._limit)
        self._hash.update(chunk)
        return chunk


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than the {limit:,}-byte upload limit ({limit / 1024 / 1024:g} MiB)",
        limit_bytes=limit,
    )


def _read_head(stream: BinaryIO) -> bytes:
    parts: list[bytes] = []
    have = 0
    while have < _HEAD_BYTES and (chunk := stream.read(_HEAD_BYTES - have)):
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def _check_assignable(campaign: Campaign) -> Campaign:
    if campaign.status == CampaignStatus.PROCESSING:
        raise Conflict(
            "the campaign is processing; wait until it finishes before changing its file",
            campaign_id=str(campaign.id),
            status=str(campaign.status),
        )
    return campaign


def _assignable_campaign(session: Session, owner_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """The owner's campaign, locked and re-read (PostgreSQL), if its file may change now."""
    campaign = get_campaign(session, owner_id, campaign_id)
    # re-read under the lock: the session may hold an older copy of the row
    session.refresh(campaign, with_for_update=True)
    return _check_assignable(campaign)


def upload_file(
    session: Session,
    storage: Storage,
    *,
    owner_id: uuid.UUID,
    stream: BinaryIO,
    filename: str | None,
    limit: int,
    size_hint: int | None = None,
    campaign_id: uuid.UUID | None = None,
) -> tuple[FileUpload, Campaign | None]:
    """Check and store an upload, add its row (flushed, not committed), and assign it to
    ``campaign_id`` when given. Nothing stays in storage when a check fails."""
    name = safe_filename(filename)
    ext = extension_of(name)
    if size_hint is not None and size_hint > limit:
        raise too_large(limit)
    if campaign_id is not None:  # fail fast, before any byte is stored; re-checked below
        _check_assignable(get_campaign(session, owner_id, campaign_id))
    head = _read_head(stream)
    if not head:
        raise InvalidInput("the file is empty", filename=name)
    if len(head) > limit:
        raise too_large(limit)
    check_content(ext, head)
    if ext in TEXT_FORMATS and not head.strip() and len(head) < _HEAD_BYTES:
        raise InvalidInput("the file holds only blank space", filename=name)

    file_id = uuid.uuid4()
    key = f"uploads/{file_id.hex}.{ext}"
    metered = _MeteredStream(head, stream, limit)
    try:
        storage.save(key, cast(BinaryIO, metered))  # read() is all a backend calls
        record = FileUpload(
            id=file_id,
            owner_id=owner_id,
            original_filename=name,
            storage_key=key,
            content_type=CONTENT_TYPES[ext],
            file_format=ext,
            size_bytes=metered.count,
            sha256=metered.sha256,
        )
        session.add(record)
        session.flush()
        campaign: Campaign | None = None
        if campaign_id is not None:
            campaign = _assignable_campaign(session, owner_id, campaign_id)
            campaign.file_upload_id = record.id
            session.flush()
    except BaseException:
        _discard(storage, key)
        raise
    return record, campaign


def commit_upload(session: Session, storage: Storage, record: FileUpload) -> None:
    """Commit the upload's row; if that fails, remove its stored bytes."""
    try:
        session.commit()
    except BaseException:
        session.rollback()
        _discard(storage, record.storage_key)
        raise


def _discard(storage: Storage, key: str) -> None:
    try:
        storage.delete(key)
    except Exception:  # the original error matters more; log the leftover
        logger.exception("could not remove stored upload %s", key)


# --------------------------------------------------------------------------- queries


def list_files(
    session: Session, owner_id: uuid.UUID, *, page: int, per_page: int
) -> tuple[list[FileUpload], int]:
    return repository.list_files(session, owner_id, offset=(page - 1) * per_page, limit=per_page)


def get_file(session: Session, owner_id: uuid.UUID, file_id: uuid.UUID) -> FileUpload:
    return repository.get_file(session, owner_id, file_id)


def _open(storage: Storage, record: FileUpload) -> Table:
    try:
        data = storage.read(record.storage_key)
    except NotFound:  # the backend's message names the storage key: keep that private
        logger.error("stored bytes of file %s are missing (%s)", record.id, record.storage_key)
        raise NotFound(
            "the stored contents of this file are missing; upload it again",
            file_id=str(record.id),
        ) from None
    return open_table(data, record.original_filename)


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnreadableFileError(f"the file could not be parsed: {first}") from None


def preview(
    session: Session, storage: Storage, owner_id: uuid.UUID, file_id: uuid.UUID, rows: int
) -> dict[str, Any]:
    """The headers and the first ``rows`` data rows (cells as text, missing as null).
    Raises the engine's error (422) when the file cannot be read."""
    record = repository.get_file(session, owner_id, file_id)
    table = _open(storage, record)
    positions = list(range(len(table.headers)))
    # cut in the frame, so a huge cell is never copied whole into the answer
    frame = _collect(
        table.scan(positions)
        .head(rows)
        .select(pl.all().cast(pl.String).str.slice(0, PREVIEW_MAX_CELL + 1))
    )
    total = _collect(table.scan(positions[:1]).select(pl.len())).item()
    cut = 0
    shown: list[list[str | None]] = []
    for row in frame.rows():
        cells: list[str | None] = []
        for value in row:
            if value is not None and len(value) > PREVIEW_MAX_CELL:
                cells.append(value[:PREVIEW_MAX_CELL] + "…")
                cut += 1
            else:
                cells.append(value)
        shown.append(cells)
    return {
        "file_id": str(record.id),
        "format": table.format,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "headers": list(table.headers),
        "rows": shown,
        "total_rows": int(total),
        "cells_cut": cut,
        "warnings": [w.message for w in table.warnings],
    }


# --------------------------------------------------------------------------- validation


def _problem(exc: EngineError) -> dict[str, Any]:
    return {"error": exc.code, "message": exc.message, "details": exc.details}


def _basic_problems(mapping: ColumnMapping) -> list[dict[str, Any]]:
    """What every setup needs: an impressions column and a domain or supply vendor."""
    problems: list[dict[str, Any]] = []
    if "impressions" not in mapping.positions:
        accepted = list(INPUTS["impressions"].aliases)
        problems.append(
            {
                "error": "missing_column",
                "message": "no impressions column; add one of these headers: "
                + ", ".join(f"'{a}'" for a in accepted),
                "details": {"column": "impressions", "accepted_headers": accepted},
            }
        )
    if not {"domain", "supply_vendor"} & set(mapping.positions):
        accepted = list(INPUTS["domain"].aliases) + list(INPUTS["supply_vendor"].aliases)
        problems.append(
            {
                "error": "missing_column",
                "message": "no domain or supply vendor column; add one of these headers: "
                + ", ".join(f"'{a}'" for a in accepted),
                "details": {"column": "domain", "accepted_headers": accepted},
            }
        )
    return problems


def _campaign_check(campaign: Campaign, mapping: ColumnMapping) -> dict[str, Any]:
    check: dict[str, Any] = {"campaign_id": str(campaign.id), "ready": False}
    try:
        setup = campaign_service.setup_of(campaign)
        check["setup"] = setup.to_dict()
        resolved = setup.resolve()
        check["analysis_level"] = str(resolved.level)
        check["metrics"] = [m.name for m in resolved.metrics]
        sources = plan_sources(mapping, resolved)
    except EngineError as exc:
        check["problem"] = _problem(exc)
        return check
    headers = {standard: header for header, standard in mapping.mapped.items()}
    check["ready"] = True
    check["metric_sources"] = {name: src.describe(headers) for name, src in sources.items()}
    return check


def validate(
    session: Session,
    storage: Storage,
    owner_id: uuid.UUID,
    file_id: uuid.UUID,
    campaign_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Read the file through the engine and say whether it can be scored (by the given
    campaign, else the newest campaign it is assigned to). Problems with the file are a
    result with ``valid: false``, never an HTTP error."""
    record = repository.get_file(session, owner_id, file_id)
    campaign: Campaign | None
    if campaign_id is not None:
        campaign = get_campaign(session, owner_id, campaign_id)
    else:
        assigned = [
            c for c in repository.campaigns_using(session, record.id) if c.owner_id == owner_id
        ]
        campaign = assigned[0] if assigned else None
    result: dict[str, Any] = {
        "file_id": str(record.id),
        "valid": False,
        "message": "",
        "format": None,
        "encoding": None,
        "delimiter": None,
        "headers": [],
        "column_mapping": {},
        "unmapped_columns": [],
        "row_count": None,
        "campaign": None,
        "errors": [],
        "warnings": [],
    }
    try:
        table = _open(storage, record)
    except EngineError as exc:
        result["errors"].append(_problem(exc))
        result["message"] = exc.message
        return result
    mapping = map_headers(table.headers)
    result.update(
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        headers=list(table.headers),
        column_mapping=dict(mapping.mapped),
        unmapped_columns=list(mapping.unmapped),
    )
    result["warnings"].extend(w.message for w in table.warnings)
    for standard, ignored in mapping.ignored_duplicates.items():
        result["warnings"].append(
            f"several columns mean {standard}; using the first match, ignoring "
            + ", ".join(repr(h) for h in ignored)
        )
    try:
        result["row_count"] = table.load([0]).height
    except EngineError as exc:
        result["errors"].append(_problem(exc))
    if campaign is None:
        result["errors"].extend(_basic_problems(mapping))
    else:
        check = _campaign_check(campaign, mapping)
        result["campaign"] = check
        if not check["ready"]:
            result["errors"].append(check["problem"])
    result["valid"] = not result["errors"]
    if result["valid"]:
        result["message"] = (
            "the file can be scored by this campaign"
            if campaign is not None
            else "the file is readable and has the columns every setup needs"
        )
    else:
        result["message"] = result["errors"][0]["message"]
    return result


# --------------------------------------------------------------------------- changes


def delete_file(session: Session, owner_id: uuid.UUID, file_id: uuid.UUID) -> str:
    """Delete the file's row (flushed); return its storage key for the caller to remove
    after committing. A file used by a processing campaign is a conflict."""
    record = repository.get_file(session, owner_id, file_id)
    using = repository.campaigns_using(session, record.id, lock=True)
    busy = [c for c in using if c.status == CampaignStatus.PROCESSING]
    if busy:
        raise Conflict(
            "the file is being scored by a processing campaign; wait until it finishes",
            file_id=str(file_id),
            campaign_ids=[str(c.id) for c in busy],
        )
    for campaign in using:
        campaign.file_upload_id = None  # the database would too (SET NULL); keep the ORM in step
    key = record.storage_key
    session.delete(record)
    session.flush()
    return key


def remove_stored(storage: Storage, key: str) -> None:
    """Remove stored bytes after their row is gone (a failure leaves an orphan, logged)."""
    _discard(storage, key)


def assign_to_campaign(
    session: Session, owner_id: uuid.UUID, file_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    """Make the file the campaign's input (flushed). 404 for another user's file or
    campaign; 409 while the campaign is processing."""
    record = repository.get_file(session, owner_id, file_id)
    campaign = _assignable_campaign(session, owner_id, campaign_id)
    campaign.file_upload_id = record.id
    session.flush()
    return campaign


def cleanup_unused_files(session: Session, *, older_than_days: int) -> list[str]:
    """Delete the rows of uploads older than ``older_than_days`` that no campaign uses;
    return their storage keys for the caller to remove after committing."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    stale = repository.unused_files_before(session, cutoff)
    keys = [record.storage_key for record in stale]
    for record in stale:
        session.delete(record)
    session.flush()
    return keys
