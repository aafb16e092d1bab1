"""Reading a stored upload through the engine: ``preview`` (the headers and first rows as
text) and ``validate`` (can the file be scored by a campaign, and how it is read: the
reading choices in effect, the number format, header row and sheet, each input's column,
what is missing and what could give it). Read-only: nothing here changes a row. Every
lookup is scoped by owner: another user's file or campaign is "not found".
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
from caliber.engine import number_format
from caliber.engine.columns import INPUTS, Kind
from caliber.engine.config import Setup
from caliber.engine.errors import EmptyFileError, EngineError, UnreadableFileError
from caliber.engine.headers import map_headers
from caliber.engine.inspect import inspect_columns
from caliber.engine.locate import setup_inputs
from caliber.engine.number_format import NumberColumn, NumberReading
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


def _campaign_of(
    session: Session,
    org_id: uuid.UUID,
    record: FileUpload,
    campaign_id: uuid.UUID | None = None,
) -> Campaign | None:
    """The campaign asked for (404 if not the owner's), else the newest the file is
    assigned to, else None."""
    if campaign_id is not None:
        return get_campaign(session, org_id, campaign_id)
    assigned = [
        c for c in repository.campaigns_using(session, record.id) if c.organization_id == org_id
    ]
    return assigned[0] if assigned else None


def _open(
    storage: Storage,
    record: FileUpload,
    options: ReadOptions | None = None,
    wanted: frozenset[str] | None = None,
) -> Table:
    try:
        data = storage.read(record.storage_key)
    except NotFound:  # the backend's message names the storage key: keep that private
        logger.error("stored bytes of file %s are missing (%s)", record.id, record.storage_key)
        raise NotFound(
            "the stored contents of this file are missing; upload it again",
            file_id=str(record.id),
        ) from None
    return open_table(data, record.original_filename, options=options, wanted=wanted)


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    try:
        return frame.collect()
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnreadableFileError(f"the file could not be parsed: {first}") from None


def preview(
    session: Session, storage: Storage, org_id: uuid.UUID, file_id: uuid.UUID, rows: int
) -> dict[str, Any]:
    """The headers and the first ``rows`` data rows (cells as text, missing as null).
    Raises the engine's error (422) when the file cannot be read."""
    record = repository.get_file(session, org_id, file_id)
    # where the table starts as a run of its campaign would find it (header row, sheet)
    options = reading_for(_campaign_of(session, org_id, record), record).options
    table = _open(storage, record, options)
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


def _number_reading(table: Table, options: ReadOptions) -> NumberReading | None:
    """The decimal mark of the file's mapped numeric columns, decided on their first rows
    as scoring decides it (None when the user's mapping does not fit the file: inspecting
    the columns says why)."""
    try:
        mapping = map_headers(table.headers, options.columns)
    except EngineError:
        return None
    numeric = [
        NumberColumn(name, position, table.headers[position])
        for name, positions in mapping.columns.items()
        if INPUTS[name].kind is not Kind.DIMENSION
        for position in positions
    ]
    return number_format.detect(table, numeric, options.number_format, _collect)


def _layout(table: Table) -> dict[str, Any]:
    if table.layout is not None:
        return table.layout.to_dict()
    return {
        "header_row": None,
        "header_row_chosen": None,
        "skipped_lines": {"count": 0, "lines": []},
        "sheet": None,
        "sheets": [],
    }


def _campaign_setup(
    campaign: Campaign, options: ReadOptions
) -> tuple[dict[str, Any], Setup | None, frozenset[str] | None]:
    """The campaign's part of the answer, its setup and the inputs it can use (by which
    a workbook's sheet is chosen); a setup the engine no longer accepts is a problem."""
    check: dict[str, Any] = {"campaign_id": str(campaign.id), "ready": False}
    try:
        setup = campaign_service.setup_of(campaign)
        resolved = setup.resolve()
    except EngineError as exc:
        check["problem"] = exc.to_dict()
        return check, None, None
    check["setup"] = setup.to_dict()
    check["analysis_level"] = str(resolved.level)
    check["metrics"] = [m.name for m in resolved.metrics]
    return check, setup, setup_inputs(resolved, options.columns)


def validate(
    session: Session,
    storage: Storage,
    org_id: uuid.UUID,
    file_id: uuid.UUID,
    campaign_id: uuid.UUID | None = None,
    trying: ReadOptions | None = None,
    *,
    count_rows: bool = True,
) -> dict[str, Any]:
    """Read the file through the engine, as a run of the campaign (the given one, else
    the newest the file is assigned to) would, and say how: the reading choices in effect
    and where each came from (``trying``, then the upload's, then the campaign's, else
    detected), the number format, header row and sheet read, where each input comes
    from, and what is missing with the columns that look like it. Problems with the file
    are a result with ``valid: false``, never an HTTP error. ``count_rows=False`` (the
    check before a run, which parses the whole file itself) reads the header and the
    first rows only: ``row_count`` is then None, and a file without data rows is still
    refused."""
    record = repository.get_file(session, org_id, file_id)
    campaign = _campaign_of(session, org_id, record, campaign_id)
    layers = [("upload", choices.loaded(record.read_options))]
    if campaign is not None:
        layers.insert(0, ("campaign", choices.loaded(campaign.read_options)))
    if trying is not None:
        layers.append(("request", trying))
    resolved = choices.layered(layers)
    options = resolved.options
    result: dict[str, Any] = {
        "file_id": str(record.id),
        "valid": False,
        "message": "",
        "format": None,
        "encoding": None,
        "delimiter": None,
        "headers": [],
        "row_count": None,
        "read_options": resolved.to_dict(),
        "reading": None,
        "inputs": {},
        "metric_sources": {},
        "missing": [],
        "column_mapping": choices.fields_of(options)["column_mapping"],
        "column_mapping_used": {},
        "unmapped_columns": [],
        "campaign": None,
        "errors": [],
        "warnings": [],
    }
    setup: Setup | None = None
    wanted: frozenset[str] | None = None
    if campaign is not None:
        result["campaign"], setup, wanted = _campaign_setup(campaign, options)
        if "problem" in result["campaign"]:
            result["errors"].append(result["campaign"]["problem"])
    try:
        table = _open(storage, record, options, wanted)
    except EngineError as exc:
        return _verdict(result, exc.to_dict())
    inspection = inspect_columns(table.headers, setup, options)
    result.update(
        format=table.format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        headers=list(table.headers),
        reading={"number_format": None, **_layout(table)},
        inputs=inspection.inputs,
        metric_sources=inspection.metric_sources,
        missing=[m.to_dict() for m in inspection.missing],
        column_mapping_used=inspection.column_mapping,
        unmapped_columns=inspection.unmapped_columns,
    )
    result["warnings"].extend(w.message for w in table.warnings)
    for standard, ignored in inspection.ignored_duplicate_columns.items():
        result["warnings"].append(
            f"several columns mean {standard}; using the first match, ignoring "
            + ", ".join(repr(h) for h in ignored)
        )
    try:
        if count_rows:
            result["row_count"] = table.load([0]).height
        else:
            _has_rows(table)
        numbers = _number_reading(table, options)
    except EngineError as exc:
        return _verdict(result, exc.to_dict())
    if numbers is not None:
        result["reading"]["number_format"] = numbers.to_dict()
        result["warnings"].extend(w.message for w in numbers.warnings())
    if result["campaign"] is not None and setup is not None:
        result["campaign"]["ready"] = inspection.ready
        result["campaign"]["metric_sources"] = inspection.metric_sources
    result["errors"].extend(inspection.problems)
    return _verdict(result)


def _has_rows(table: Table) -> None:
    """Refuse a file with no data row, as counting them would, reading the first only.
    When the first rows give none, the whole file is read: a quote left open after the
    header swallows every row, and the parser's message says so where "no data rows"
    would mislead."""
    if _collect(table.scan([0]).head(1)).height == 0 and table.load([0]).height == 0:
        raise EmptyFileError(
            "the file has a header row but no data rows", headers=list(table.headers)
        )


def _verdict(result: dict[str, Any], error: dict[str, Any] | None = None) -> dict[str, Any]:
    if error is not None:
        result["errors"].append(error)
    result["valid"] = not result["errors"]
    if result["valid"]:
        result["message"] = (
            "the file can be scored by this campaign"
            if result["campaign"] is not None
            else "the file is readable and has the columns every setup needs"
        )
    else:
        result["message"] = result["errors"][0]["message"]
    return result
