"""CSV and JSON exports of a scored campaign: pure functions of :mod:`caliber.reports.data`.

Every CSV cell goes through :func:`safe_cell`, which keeps spreadsheets from running a cell
as a formula (CSV/formula injection): a text cell whose first character, or first
character after leading whitespace, is ``= + - @`` tab, CR or LF gets a ``'`` in front,
unless the whole cell is a plain number such as ``-1.5``. JSON is not a spreadsheet and is
never altered. The DSP-ready lists live in :mod:`caliber.reports.dsp`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from caliber.reports.data import CampaignFacts, ListSnapshot, ReportData

FORMULA_PREFIXES = frozenset("=+-@\t\r\n")
"""Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection)."""

CHUNK_SIZE = 64 * 1024
BOM = "\ufeff".encode()

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

RESULT_COLUMNS: tuple[str, ...] = (
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "domain",
    "score",
    "quality_status",
    "percentile_rank",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
    "raw_metrics",
    "normalized_metrics",
    "score_breakdown",
    "quality_flags",
    "export_date",
)
"""One row per scored domain/app/vendor; ``campaign_type`` is the platform."""

LIST_COLUMNS: tuple[str, ...] = (
    "domain",
    "list_type",
    "score",
    "impressions",
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "min_impressions",
    "average_score",
    "total_impressions",
    "export_date",
)
"""A whitelist or blacklist CSV, and (both lists) the optimization-lists CSV."""

OPTIMIZATION_COLUMNS = LIST_COLUMNS

SUMMARY_COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "campaign_name",
    "campaign_type",
    "goal",
    "channel",
    "status",
    "analysis_level",
    "campaign_level_score",
    "total_impressions",
    "total_spend",
    "average_cpm",
    "row_count",
    "score_mean",
    "score_median",
    "score_std",
    "score_min",
    "score_max",
    "good_count",
    "moderate_count",
    "poor_count",
    "whitelist_count",
    "blacklist_count",
    "completed_at",
    "export_date",
)
"""The one-row campaign summary CSV."""


# --------------------------------------------------------------------------- cells


def is_plain_number(text: str) -> bool:
    """True when ``text`` is exactly a decimal number literal (no spaces, no inf/nan)."""
    return _NUMBER.fullmatch(text) is not None


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (see the module doc)."""
    if not text or is_plain_number(text):
        return text
    if text[0] in FORMULA_PREFIXES or text.lstrip()[:1] in FORMULA_PREFIXES:
        return "'" + text
    return text


def format_float(value: float) -> str:
    """Shortest text that reads back as the same float, written without an exponent for
    magnitudes a spreadsheet shows plainly (``1e-05`` -> ``0.00001``); NaN/inf -> ``""``."""
    if not math.isfinite(value):
        return ""
    text = repr(value)
    if "e" in text and -20 <= Decimal(text).adjusted() <= 20:
        return format(Decimal(text), "f")
    return text


def safe_cell(value: object) -> str:
    """One CSV cell as inert text: None -> "", bools -> true/false, numbers unchanged,
    dict/list -> compact JSON, text neutralised against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
        )
        return neutralise(text)
    return neutralise(str(value))


# --------------------------------------------------------------------------- CSV


def iter_csv(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = True
) -> Iterator[bytes]:
    """RFC 4180 CSV (CRLF, minimal quoting, quotes doubled) in UTF-8 chunks of about
    64 KiB, the first starting with a BOM unless ``bom=False``; every cell, the header's
    too, through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in columns])
    prefix = BOM if bom else b""
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        if buffer.tell() >= CHUNK_SIZE:
            yield prefix + buffer.getvalue().encode("utf-8", errors="replace")
            prefix = b""
            buffer.seek(0)
            buffer.truncate()
    yield prefix + buffer.getvalue().encode("utf-8", errors="replace")


def csv_bytes(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = True
) -> bytes:
    """The whole CSV of :func:`iter_csv` at once."""
    return b"".join(iter_csv(columns, rows, bom=bom))


_compact_json = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
).encode
# anything but plain JSON types goes to the standard library (orjson writes dates, enums
# and subclasses its own way, and raises for them with these options and no default)
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def json_cell(value: dict[str, Any] | list[Any]) -> str:
    """A dict or list read from a JSON column as the compact JSON text of
    :func:`safe_cell` (keys sorted; never a formula: it starts with ``{`` or ``[``).

    orjson writes it about five times faster than the standard library and the same text
    (UTF-8, keys sorted by code point, the shortest round-tripping float digits), except
    for floats under 1e-4 in magnitude (``0.00001`` / ``1e-7`` where Python writes
    ``1e-05`` / ``1e-07``) and NaN (``null``): any text that may hold one of those (an
    ``e-``, a ``0.0000`` or a ``null`` anywhere, strings included) is written again by
    the standard library, as is a value orjson refuses."""
    try:
        text = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError included: a type or integer it refuses
        return _compact_json(value)
    if b"e-" in text or b"0.0000" in text or b"null" in text:
        return _compact_json(value)
    return text.decode()


def _typed_cell(value: object) -> str:
    """:func:`safe_cell`, the types of stored results first."""
    kind = type(value)
    if kind is float:
        return format_float(value)  # type: ignore[arg-type]
    if value is None:
        return ""
    if kind is dict or kind is list:
        return json_cell(value)  # type: ignore[arg-type]
    return safe_cell(value)


STORED_RESULT_FIELDS: tuple[str, ...] = (
    "domain",
    "score",
    "quality_status",
    "percentile_rank",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    "conversions",
    "conversion_rate",
    "metrics",
    "score_breakdown",
    "outlier_flags",
)
"""The stored columns of a result row that :func:`results_csv` and
:func:`results_json_items` read, in this order (the JSON columns as loaded values)."""


def results_csv(
    campaign: CampaignFacts,
    batches: Iterable[Iterable[Sequence[Any]]],
    generated_at: datetime,
    *,
    bom: bool = True,
) -> Iterator[bytes]:
    """The results CSV of stored rows (tuples of :data:`STORED_RESULT_FIELDS`, in
    batches), in chunks of about 64 KiB: byte for byte what :func:`iter_csv` writes of
    :func:`result_row`, several times faster (a 300,000-row campaign is written row by
    row in Python, so the cells that are the same on every row are made once, and each
    cell goes straight to the conversion of its stored type)."""
    head = [safe_cell(v) for v in (campaign.name, campaign.platform, campaign.goal)]
    head.append(safe_cell(campaign.channel))
    exported = safe_cell(iso_utc(generated_at))
    cell = _typed_cell
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(name) for name in RESULT_COLUMNS])
    prefix = BOM if bom else b""
    for batch in batches:
        lines = []
        for (
            domain,
            score,
            status,
            percentile,
            impressions,
            spend,
            cpm,
            ctr,
            conversions,
            conversion_rate,
            metrics,
            breakdown,
            flags,
        ) in batch:
            stored = metrics or {}
            lines.append(
                [
                    *head,
                    cell(domain),
                    cell(score),
                    cell(status),
                    cell(percentile),
                    cell(impressions),
                    cell(spend),
                    cell(cpm),
                    cell(ctr),
                    cell(conversions),
                    cell(conversion_rate),
                    cell(stored.get("values", {})),
                    cell(stored.get("normalized", {})),
                    cell(breakdown or {}),
                    cell(list(flags or [])),
                    exported,
                ]
            )
            if len(lines) == 32:
                writer.writerows(lines)
                lines.clear()
                if buffer.tell() >= CHUNK_SIZE:
                    yield prefix + buffer.getvalue().encode("utf-8", errors="replace")
                    prefix = b""
                    buffer.seek(0)
                    buffer.truncate()
        writer.writerows(lines)
    yield prefix + buffer.getvalue().encode("utf-8", errors="replace")


_plain_json = json.JSONEncoder(ensure_ascii=False).encode


def results_json_items(batches: Iterable[Iterable[Sequence[Any]]]) -> Iterator[str]:
    """Each stored row (tuples of :data:`STORED_RESULT_FIELDS`) as the JSON object of a
    ``scoring_results`` entry of the campaign JSON (``json.dumps(row,
    ensure_ascii=False)``: the JSON columns as stored, in their stored key order)."""
    encode = _plain_json
    for batch in batches:
        for (
            domain,
            score,
            status,
            percentile,
            impressions,
            spend,
            cpm,
            ctr,
            conversions,
            conversion_rate,
            metrics,
            breakdown,
            flags,
        ) in batch:
            stored = metrics or {}
            yield encode(
                {
                    "domain": domain,
                    "score": score,
                    "quality_status": status,
                    "percentile_rank": percentile,
                    "impressions": impressions,
                    "spend": spend,
                    "cpm": cpm,
                    "ctr": ctr,
                    "conversions": conversions,
                    "conversion_rate": conversion_rate,
                    "raw_metrics": stored.get("values", {}),
                    "normalized_metrics": stored.get("normalized", {}),
                    "score_breakdown": breakdown or {},
                    "quality_flags": list(flags or []),
                }
            )


# --------------------------------------------------------------------------- rows


def iso_utc(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the second; a naive datetime is taken as UTC."""
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: Any) -> float | int | None:
    """A JSON-safe number: None for missing or non-finite values."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def result_row(
    campaign: CampaignFacts, values: Mapping[str, object], generated_at: datetime
) -> list[object]:
    """A :data:`RESULT_COLUMNS` row from one stored result (a mapping keyed by column
    name: ``domain``, ``score``, ..., ``quality_flags``; missing keys give empty cells)."""
    head: list[object] = [campaign.name, campaign.platform, campaign.goal, campaign.channel]
    body = [values.get(name) for name in RESULT_COLUMNS[4:-1]]
    return [*head, *body, iso_utc(generated_at)]


def list_rows(
    snapshot: ListSnapshot, campaign: CampaignFacts, generated_at: datetime
) -> list[list[object]]:
    """:data:`LIST_COLUMNS` rows, one per list entry in list order."""
    exported = iso_utc(generated_at)
    min_impressions = snapshot.criteria.get("min_impressions")
    return [
        [
            entry.domain,
            snapshot.list_type,
            entry.score,
            entry.impressions,
            campaign.name,
            campaign.platform,
            campaign.goal,
            campaign.channel,
            min_impressions,
            snapshot.average_score,
            snapshot.total_impressions,
            exported,
        ]
        for entry in snapshot.entries
    ]


def optimization_rows(
    whitelist: ListSnapshot,
    blacklist: ListSnapshot,
    campaign: CampaignFacts,
    generated_at: datetime,
) -> list[list[object]]:
    """Both lists in one table (:data:`OPTIMIZATION_COLUMNS`): the whitelist first, each
    row naming its list in ``list_type``."""
    return list_rows(whitelist, campaign, generated_at) + list_rows(
        blacklist, campaign, generated_at
    )


def summary_row(data: ReportData, generated_at: datetime) -> list[object]:
    """The :data:`SUMMARY_COLUMNS` row of a campaign (missing summary figures are empty)."""
    campaign = data.campaign
    summary = data.summary
    spread: Mapping[str, Any] = summary.get("score_distribution") or {}
    counts: Mapping[str, Any] = summary.get("status_counts") or {}
    return [
        campaign.id,
        campaign.name,
        campaign.platform,
        campaign.goal,
        campaign.channel,
        campaign.status,
        campaign.analysis_level,
        summary.get("campaign_level_score"),
        summary.get("total_impressions"),
        summary.get("total_spend"),
        summary.get("average_cpm"),
        summary.get("row_count", data.total_rows),
        spread.get("mean"),
        spread.get("median"),
        spread.get("std"),
        spread.get("min"),
        spread.get("max"),
        counts.get("good", 0),
        counts.get("moderate", 0),
        counts.get("poor", 0),
        len(data.whitelist.entries),
        len(data.blacklist.entries),
        None if campaign.completed_at is None else iso_utc(campaign.completed_at),
        iso_utc(generated_at),
    ]


# --------------------------------------------------------------------------- JSON


def list_json(
    snapshot: ListSnapshot, campaign: CampaignFacts, generated_at: datetime
) -> dict[str, Any]:
    """A whitelist/blacklist as a JSON-ready dict (non-finite numbers become null)."""
    return {
        "list_type": snapshot.list_type,
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "platform": campaign.platform,
            "goal": campaign.goal,
            "channel": campaign.channel,
            "analysis_level": campaign.analysis_level,
        },
        "domains": snapshot.domains,
        "entries": [
            {
                "domain": entry.domain,
                "score": _number(entry.score),
                "impressions": _number(entry.impressions),
                "percentile_rank": entry.percentile_rank,
                "quality_status": entry.quality_status,
            }
            for entry in snapshot.entries
        ],
        "criteria_used": dict(snapshot.criteria),
        "count": len(snapshot.entries),
        "average_score": _number(snapshot.average_score),
        "total_impressions": _number(snapshot.total_impressions),
        "generated_at": iso_utc(generated_at),
    }


# --------------------------------------------------------------------------- names


def _slug(text: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].strip("-")


def export_filename(campaign_name: str, kind: str, ext: str, when: datetime) -> str:
    """A safe ASCII file name, e.g. ``caliber-spring-sale-whitelist-20261127.csv``: the
    campaign slug (letters, digits, hyphens; at most 60 characters; ``campaign`` when
    nothing is left), the kind, the UTC date and the extension."""
    moment = when if when.tzinfo is None else when.astimezone(UTC)
    slug = _slug(campaign_name, 60) or "campaign"
    kind_slug = _slug(kind, 40) or "export"
    extension = re.sub(r"[^a-z0-9]", "", ext.lower())[:10] or "bin"
    return f"caliber-{slug}-{kind_slug}-{moment:%Y%m%d}.{extension}"
