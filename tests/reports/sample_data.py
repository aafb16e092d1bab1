"""A realistic :class:`ReportData` for the report tests: a Trade Desk display awareness
campaign with ordinary, Unicode and hostile domain names, built deterministically."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from datetime import UTC, datetime
from typing import Any

from caliber.reports.data import (
    CampaignFacts,
    Insight,
    ListSnapshot,
    MetricStats,
    ReportData,
    ResultLine,
)

UNICODE_DOMAINS = ("例え.jp", "bücher.de", "пример.рф")
HOSTILE_DOMAINS = ('=HYPERLINK("http://x")', "<b>bold</b>", "<para>")
LONG_DOMAIN = "a-really-long-subdomain-for-wrapping-tests.regional-news-publisher-network.co.uk"
# where the special names land in the ranking (0-based), so they appear in the top rows
_PLACED = {
    1: UNICODE_DOMAINS[0],
    4: UNICODE_DOMAINS[1],
    7: HOSTILE_DOMAINS[0],
    12: UNICODE_DOMAINS[2],
    18: HOSTILE_DOMAINS[1],
    26: LONG_DOMAIN,
    33: HOSTILE_DOMAINS[2],
}
_STEMS = ("news-site", "recipes-hub", "sports-daily", "tech-review", "travel-guide", "weather-now")
_TLDS = (".com", ".net", ".org", ".co.uk", ".io")

WEIGHTS = {
    "cpm": 0.15,
    "ias_display_fully_in_view_1s_rate": 0.25,
    "ctr": 0.20,
    "ad_load_xl_rate": 0.20,
    "ad_refresh_below_15s_rate": 0.20,
}
DIRECTIONS = {
    "cpm": "lower_is_better",
    "ias_display_fully_in_view_1s_rate": "higher_is_better",
    "ctr": "higher_is_better",
    "ad_load_xl_rate": "lower_is_better",
    "ad_refresh_below_15s_rate": "lower_is_better",
}
MIN_IMPRESSIONS = 250.0
GENERATED_AT = datetime(2026, 11, 27, 14, 5, tzinfo=UTC)


def _status(percentile: int) -> str:
    if percentile >= 75:
        return "good"
    return "moderate" if percentile >= 25 else "poor"


def _lines(rows: int, rng: random.Random) -> list[ResultLine]:
    raw: list[tuple[float, float, float, float, float]] = []
    for _ in range(rows):
        impressions = float(round(math.exp(rng.uniform(math.log(120), math.log(480_000)))))
        ctr = rng.uniform(0.001, 0.01)
        cpm = rng.uniform(1.0, 12.0)
        conversions = float(rng.randint(0, max(1, int(impressions // 4000))))
        # a score that follows the metrics loosely, as the engine's would
        quality = 0.55 * (ctr - 0.001) / 0.009 + 0.45 * (12.0 - cpm) / 11.0
        score = max(0.0, min(100.0, 100.0 * (0.8 * quality + 0.2 * rng.random())))
        raw.append((round(score, 2), impressions, ctr, cpm, conversions))
    raw.sort(key=lambda r: (-r[0], -r[1]))
    lines = []
    for index, (score, impressions, ctr, cpm, conversions) in enumerate(raw):
        name = _PLACED.get(index)
        if name is None:
            name = f"{_STEMS[index % len(_STEMS)]}-{index + 1}{_TLDS[index % len(_TLDS)]}"
        percentile = round(100 * (rows - index) / rows)
        spend = round(impressions * cpm / 1000.0, 2)
        lines.append(
            ResultLine(
                rank=index + 1,
                domain=name,
                score=score,
                quality_status=_status(percentile),
                percentile_rank=percentile,
                impressions=impressions,
                spend=spend,
                cpm=round(cpm, 4),
                ctr=round(ctr, 6),
                conversions=conversions,
                conversion_rate=conversions / impressions if impressions else None,
            )
        )
    return lines


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _lists(lines: list[ResultLine]) -> tuple[ListSnapshot, ListSnapshot]:
    eligible = [line for line in lines if line.impressions >= MIN_IMPRESSIONS]
    high = _quantile([line.score for line in eligible], 0.75)
    low = _quantile([line.score for line in eligible], 0.25)
    white = sorted(
        (line for line in eligible if line.score >= high), key=lambda r: (-r.score, -r.impressions)
    )
    black = sorted(
        (line for line in eligible if line.score <= low), key=lambda r: (r.score, -r.impressions)
    )
    criteria = {
        "min_impressions": MIN_IMPRESSIONS,
        "eligible_rows": len(eligible),
        "whitelist_min_score": round(high, 2),
        "blacklist_max_score": round(low, 2),
        "whitelist_count": len(white),
        "blacklist_count": len(black),
    }
    return _snapshot("whitelist", white, criteria), _snapshot("blacklist", black, criteria)


def _snapshot(kind: str, entries: list[ResultLine], criteria: dict[str, Any]) -> ListSnapshot:
    return ListSnapshot(
        list_type=kind,
        entries=tuple(entries),
        criteria=dict(criteria),
        average_score=round(statistics.fmean(e.score for e in entries), 2) if entries else None,
        total_impressions=sum(e.impressions for e in entries),
    )


def _stats(label: str, values: list[float], unit: str, description: str) -> MetricStats:
    return MetricStats(
        label=label,
        mean=statistics.fmean(values),
        median=statistics.median(values),
        minimum=min(values),
        maximum=max(values),
        unit=unit,
        description=description,
    )


def _performer(line: ResultLine) -> dict[str, Any]:
    return {
        "domain": line.domain,
        "score": line.score,
        "impressions": line.impressions,
        "percentile_rank": line.percentile_rank,
        "quality_status": line.quality_status,
    }


def _summary(lines: list[ResultLine]) -> dict[str, Any]:
    scores = [line.score for line in lines]
    impressions = sum(line.impressions for line in lines)
    spend = round(sum(line.spend or 0.0 for line in lines), 6)
    weighted = sum(line.score * line.impressions for line in lines) / impressions
    counts = dict.fromkeys(("good", "moderate", "poor"), 0)
    for line in lines:
        counts[line.quality_status] += 1
    bottom = sorted(lines, key=lambda r: (r.score, -r.impressions))
    return {
        "campaign_level_score": round(weighted, 2),
        "total_impressions": int(impressions),
        "total_spend": spend,
        "average_cpm": round(spend / impressions * 1000.0, 4),
        "row_count": len(lines),
        "score_distribution": {
            "mean": round(statistics.fmean(scores), 2),
            "median": round(statistics.median(scores), 2),
            "std": round(statistics.stdev(scores), 2) if len(scores) > 1 else None,
            "min": min(scores),
            "max": max(scores),
            "q25": round(_quantile(scores, 0.25), 2),
            "q75": round(_quantile(scores, 0.75), 2),
        },
        "status_counts": counts,
        "top_performers": [_performer(line) for line in lines[:5]],
        "bottom_performers": [_performer(line) for line in bottom[:5]],
    }


def _data_quality(rows: int) -> dict[str, Any]:
    dropped = {"aggregate_row": 1, "missing_dimension": 3}
    return {
        "file_format": "csv",
        "encoding": "utf-8",
        "delimiter": ",",
        "column_mapping": {
            "Site": "domain",
            "Impressions": "impressions",
            "Advertiser Cost (USD)": "spend",
            "Clicks": "clicks",
            "IAS Display Fully In View 1 Second Rate": "ias_display_fully_in_view_1s_rate",
            "Ad Load - XL (Excessive) - Rate": "ad_load_xl_rate",
            "Ad Refresh - Below 15s - Rate": "ad_refresh_below_15s_rate",
        },
        "unmapped_columns": ["Ad Group", "Creative <internal>"],
        "ignored_duplicate_columns": {},
        "metric_sources": {"cpm": "computed", "ctr": "computed"},
        "percent_columns": ["Ad Load - XL (Excessive) - Rate"],
        "rows_read": rows + sum(dropped.values()) + 6,
        "rows_dropped": dropped,
        "rows_dropped_total": sum(dropped.values()),
        "rows_aggregated": 6,
        "rows_filtered": 0,
        "rows_scored": rows,
        "filter_threshold": 0.0,
        "warnings": [
            {
                "code": "unparseable_values",
                "message": "12 cell(s) of 'Clicks' are not numbers and were treated as missing",
                "column": "Clicks",
                "count": 12,
            },
            {
                "code": "cpm_above_1000",
                "message": "2 value(s) of 'CPM <USD>' are above 1,000",
                "column": "CPM <USD>",
                "count": 2,
            },
        ],
    }


_INSIGHT = (
    "Scores are concentrated in the 40-70 band, with a clear head of premium news inventory.\n\n"
    "The blacklist removes <b>low-CTR</b> long-tail sites & keeps spend on proven domains. "
    "Consider re-scoring after two weeks of delivery."
)


def sample_report(rows: int = 120, **overrides: Any) -> ReportData:
    """A completed campaign with ``rows`` scored domains. ``overrides`` replace fields of
    :class:`ReportData` or, for the names of :class:`CampaignFacts` fields, of the campaign."""
    rng = random.Random(20261127)
    lines = _lines(rows, rng)
    whitelist, blacklist = _lists(lines) if lines else (_empty("whitelist"), _empty("blacklist"))
    histogram = [0] * 10
    for line in lines:
        histogram[min(int(line.score // 10), 9)] += 1
    campaign = CampaignFacts(
        id="cmp_01HZX8Q4T3",
        name="Holiday Awareness Q4 — Display",
        platform="trade_desk",
        goal="awareness",
        channel="display",
        ctr_sensitivity=False,
        analysis_level="domain",
        status="completed",
        created_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        completed_at=datetime(2026, 11, 27, 14, 2, tzinfo=UTC),
        source_filename="ttd_site_report_2026-11-25.csv",
        description="Q4 holiday push across premium news and lifestyle inventory.",
    )
    campaign_fields = {f.name for f in dataclasses.fields(CampaignFacts)}
    campaign_changes = {k: v for k, v in overrides.items() if k in campaign_fields}
    report_changes = {k: v for k, v in overrides.items() if k not in campaign_fields}
    data = ReportData(
        campaign=dataclasses.replace(campaign, **campaign_changes),
        generated_at=GENERATED_AT,
        summary=_summary(lines) if lines else {},
        weights=dict(WEIGHTS),
        directions=dict(DIRECTIONS),
        metric_stats=(
            _stats("Score", [r.score for r in lines], "points", "Weighted score, 0-100")
            if lines
            else MetricStats("Score", None, None, None, None, "points", "Weighted score"),
            *(
                (
                    _stats(
                        "CTR", [r.ctr or 0.0 for r in lines], "fraction", "Clicks per impression"
                    ),
                    _stats(
                        "CPM",
                        [r.cpm or 0.0 for r in lines],
                        "currency",
                        "Cost per 1,000 impressions",
                    ),
                    _stats(
                        "Impressions",
                        [r.impressions for r in lines],
                        "count",
                        "Ads served per domain",
                    ),
                )
                if lines
                else ()
            ),
        ),
        score_histogram=tuple(histogram),
        top_rows=tuple(lines[:50]),
        total_rows=rows,
        whitelist=whitelist,
        blacklist=blacklist,
        data_quality=_data_quality(rows),
        insights=(
            Insight("performance_summary", _INSIGHT, datetime(2026, 11, 27, 14, 3, tzinfo=UTC)),
        ),
    )
    return dataclasses.replace(data, **report_changes)


def _empty(kind: str) -> ListSnapshot:
    return ListSnapshot(
        kind, (), {"min_impressions": MIN_IMPRESSIONS, "eligible_rows": 0}, None, 0.0
    )
