"""Reading a stored upload through the engine: ``preview`` (the headers and first rows as
text) and ``validate`` (can the file be scored, and by which campaign). Read-only: nothing
here changes a row. Every lookup is scoped by owner: another user's file or campaign is
"not found".
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from caliber.campaigns import choices
from caliber.campaigns import service as campaign_service
from caliber.campaigns.repository import get_campaign
from caliber.core.errors import NotFound
from caliber.db.models import Campaign, FileUpload
from caliber.engine.columns import INPUTS
from caliber.engine.errors import EngineError, UnreadableFileError
from caliber.engine.headers import ColumnMapping, map_headers, plan_sources
from caliber.engine.options import ReadOptions
from caliber.engine.read import Table, open_table
from caliber.files import repository
from caliber.storage.base import Storage

logger = logging.getLogger(__name__)

PREVIEW_MAX_ROWS = 100
# Cells longer than this are cut in a preview: a 40 MB cell (a quote left open) would
# otherwise be a 40 MB answer. The cut is marked with an ellipsis and counted.
PREVIEW_MAX_CELL = 1_000


# --------------------------------------------------------------------------- preview


def reading_for(campaign: Campaign | None, upload: FileUpload) -> choices.Resolved:
    """How a run of ``campaign`` reads ``upload``: field by field the upload's choice,
    else the campaign's, else detection."""
    base = choices.loaded(campaign.read_options) if campaign is not None else ReadOptions()
    return choices.resolve(base, choices.loaded(upload.read_options))


def _open(storage: Storage, record: FileUpload, options: ReadOptions | None = None) -> Table:
    try:
        data = storage.read(record.storage_key)
    except NotFound:  # the backend's message names the storage key: keep that private
        logger.error("stored bytes of file %s are missing (%s)", record.id, record.storage_key)
        raise NotFound(
            "the stored contents of this file are missing; upload it again",
            file_id=str(record.id),
        ) from None
    return open_table(data, record.original_filename, options=options)


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
