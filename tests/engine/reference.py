"""An independent, deliberately plain reference of ``scoring.md``.

Written from the contract with loops and the standard library only (no polars, no
engine code beyond the setup table), so the engine can be checked against it on
random exports. It understands only the canonical headers used by the tests.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

AGGREGATES = {
    "total",
    "totals",
    "grand total",
    "summary",
    "row labels",
    "[tail aggregate]",
    "(not set)",
    "(not available)",
}
MISSING = {"", "-", "--", "n/a", "null"}

# canonical header -> (standard name, kind)
HEADERS: dict[str, tuple[str, str]] = {
    "Site": ("domain", "dim"),
    "Domain": ("domain", "dim"),
    "Supply Vendor": ("supply_vendor", "dim"),
    "Impressions": ("impressions", "count"),
    "Clicks": ("clicks", "count"),
    "Advertiser Cost (Adv Currency)": ("spend", "count"),
    "Total Spend": ("spend", "count"),
    "All Last Click + View Conversions": ("conversions", "count"),
    "Conversions": ("conversions", "count"),
    "Ad Load - XL (Excessive) - Impressions": ("ad_load_xl_impressions", "count"),
    "Ad Refresh - Below 15s - Impressions": ("ad_refresh_below_15s_impressions", "count"),
    "Sampled Tracked Impressions": ("sampled_tracked_impressions", "count"),
    "Sampled Viewed Impressions": ("sampled_viewed_impressions", "count"),
    "Player Starts": ("player_starts", "count"),
    "Player Completed Views": ("player_completed_views", "count"),
    "Player Errors": ("player_errors", "count"),
    "Player Mute": ("player_mutes", "count"),
    "TV Quality Index Raw": ("tv_quality_index_raw", "count"),
    "TV Quality Index Measured Impressions": ("tv_quality_index_measured_impressions", "count"),
    "Unique IDs": ("unique_ids", "count"),
    "CPM": ("cpm", "money"),
    "eCPM": ("ecpm", "money"),
    "CTR": ("ctr", "rate"),
    "Conversion Rate": ("conversion_rate", "rate"),
    "IAS Display Fully In View 1 Second Rate": ("ias_display_fully_in_view_1s_rate", "rate"),
    "Completion Rate": ("completion_rate", "rate"),
}

# metric -> (numerator, denominator, scale, rate columns in order of preference)
RECIPES: dict[str, tuple[str | None, str | None, float, tuple[str, ...]]] = {
    "cpm": ("spend", "impressions", 1000.0, ("cpm", "ecpm")),
    "ecpm": ("spend", "impressions", 1000.0, ("ecpm", "cpm")),
    "ctr": ("clicks", "impressions", 1.0, ("ctr",)),
    "conversion_rate": ("conversions", "impressions", 1.0, ("conversion_rate",)),
    "ias_display_fully_in_view_1s_rate": (None, None, 1.0, ("ias_display_fully_in_view_1s_rate",)),
    "ad_load_xl_rate": ("ad_load_xl_impressions", "impressions", 1.0, ()),
    "ad_refresh_below_15s_rate": ("ad_refresh_below_15s_impressions", "impressions", 1.0, ()),
    "tv_quality_index_rate": (
        "tv_quality_index_raw",
        "tv_quality_index_measured_impressions",
        1.0,
        (),
    ),
    "unique_id_ratio": ("unique_ids", "impressions", 1.0, ()),
    "sampled_in_view_rate": ("sampled_viewed_impressions", "sampled_tracked_impressions", 1.0, ()),
    "player_completion_rate": ("player_completed_views", "player_starts", 1.0, ()),
    "completion_rate": ("player_completed_views", "player_starts", 1.0, ("completion_rate",)),
    "player_errors_rate": ("player_errors", "impressions", 1.0, ()),
    "player_mute_rate": ("player_mutes", "impressions", 1.0, ()),
}


@dataclass
class Reference:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> row
    whitelist: list[str] = field(default_factory=list)
    blacklist: list[str] = field(default_factory=list)
    campaign_level_score: float = 0.0


def parse_cell(text: str | None) -> tuple[float | None, bool]:
    """(value, carried a percent sign)."""
    if text is None:
        return None, False
    cell = text.strip()
    if cell.lower() in MISSING:
        return None, False
    percent = cell.endswith("%")
    for ch in "$€£, ":
        cell = cell.replace(ch, "")
    if cell.endswith("%"):
        cell = cell[:-1]
    try:
        value = float(cell)
    except ValueError:
        return None, percent
    return (value if math.isfinite(value) else None), percent


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def reference_score(
    text: str,
    level: str,
    metrics: list[tuple[str, float, bool]],
    *,
    pulsepoint: bool,
    min_impressions: float = 250,
) -> Reference:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    names = [HEADERS.get(h.strip(), (None, None))[0] for h in header]
    kinds = {HEADERS[h.strip()][0]: HEADERS[h.strip()][1] for h in header if h.strip() in HEADERS}
    dim_index = names.index(level)
    parsed: list[dict[str, Any]] = []
    percent_seen: dict[str, bool] = {}
    for raw in reader:
        if not raw:
            continue
        dim_text = raw[dim_index].strip().lower() if dim_index < len(raw) else ""
        first = raw[0].strip().lower()
        if dim_text in AGGREGATES or first in AGGREGATES:
            continue
        if dim_text.startswith("www."):
            dim_text = dim_text[4:].strip()
        if not dim_text:
            continue
        row: dict[str, Any] = {"__dim": dim_text}
        for i, name in enumerate(names):
            if name is None or kinds[name] == "dim" or i >= len(raw):
                continue
            value, percent = parse_cell(raw[i])
            if percent:
                percent_seen[name] = True
            if value is not None and value < 0 and kinds[name] in ("count", "money"):
                value = None
            row[name] = value
        parsed.append(row)
    for name, kind in kinds.items():
        if kind != "rate":
            continue
        largest = max((r[name] for r in parsed if r.get(name) is not None), default=None)
        if percent_seen.get(name) or (largest is not None and largest > 1):
            for r in parsed:
                if r.get(name) is not None:
                    r[name] = r[name] / 100.0
    total_impressions = sum(r["impressions"] or 0.0 for r in parsed)

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in parsed:
        groups.setdefault(r["__dim"], []).append(r)
    wanted = [m for m, _, _ in metrics]
    for extra in ("cpm", "ctr", "conversion_rate"):
        if extra not in wanted:
            wanted.append(extra)
    rows: dict[str, dict[str, Any]] = {}
    for name, members in groups.items():
        agg: dict[str, Any] = {}
        for column, kind in kinds.items():
            if kind == "count":
                values = [m[column] for m in members if m.get(column) is not None]
                agg[column] = sum(values) if values else None
        for metric in wanted:
            num, den, scale, rates = RECIPES[metric]
            if num is not None and den is not None and num in kinds and den in kinds:
                n, d = agg.get(num), agg.get(den)
                agg[metric] = n / d * scale if n is not None and d is not None and d > 0 else None
                continue
            rate = next((c for c in rates if c in kinds), None)
            if rate is None:
                agg[metric] = None
                continue
            weighted = [
                (m[rate], m["impressions"])
                for m in members
                if m.get(rate) is not None and m.get("impressions") is not None
            ]
            weight = sum(w for _, w in weighted)
            agg[metric] = sum(v * w for v, w in weighted) / weight if weight > 0 else None
        rows[name] = agg

    threshold = min_impressions
    if pulsepoint:
        threshold = max(threshold, 0.0005 * total_impressions)
    kept = {k: v for k, v in rows.items() if (v["impressions"] or 0) >= threshold}
    weight_sum = sum(w for _, w, _ in metrics)
    for metric, weight, higher in metrics:
        finite = [r[metric] for r in kept.values() if r[metric] is not None]
        lo, hi = min(finite), max(finite)
        for r in kept.values():
            v = r[metric]
            if v is None:
                n = 0.0
            elif hi > lo:
                n = (v - lo) / (hi - lo) * 100 if higher else (hi - v) / (hi - lo) * 100
            else:
                n = 50.0
            r[f"{metric}_normalized"] = min(100.0, max(0.0, n))
            r[f"{metric}_contribution"] = weight * r[f"{metric}_normalized"] / weight_sum
    for r in kept.values():
        r["raw_score"] = sum(r[f"{m}_contribution"] for m, _, _ in metrics)
        r["score"] = round(r["raw_score"], 2)
    scores = sorted(r["score"] for r in kept.values())
    count = len(scores)
    for r in kept.values():
        below = sum(1 for s in scores if s < r["score"])
        equal = sum(1 for s in scores if s == r["score"])
        average_rank = below + (equal + 1) / 2
        r["percentile_rank"] = round(100 * average_rank / count)  # Python rounds half to even
        pr = r["percentile_rank"]
        r["quality_status"] = "good" if pr >= 75 else "moderate" if pr >= 25 else "poor"
    for metric, _, _ in metrics:
        finite = [r[metric] for r in kept.values() if r[metric] is not None]
        q1, q3 = quantile(finite, 0.25), quantile(finite, 0.75)
        lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
        for r in kept.values():
            v = r[metric]
            if v is not None and (v < lo or v > hi):
                r.setdefault("outlier_flags", []).append(metric)
    eligible = {k: v for k, v in kept.items() if v["impressions"] >= min_impressions}
    result = Reference(rows=kept)
    if eligible:
        values = [v["score"] for v in eligible.values()]
        q75, q25 = quantile(values, 0.75), quantile(values, 0.25)
        white = [k for k, v in eligible.items() if v["score"] >= q75]
        black = [k for k, v in eligible.items() if v["score"] <= q25]
        result.whitelist = sorted(
            white, key=lambda k: (-eligible[k]["score"], -eligible[k]["impressions"], k)
        )
        result.blacklist = sorted(
            black, key=lambda k: (eligible[k]["score"], -eligible[k]["impressions"], k)
        )
    total = sum(v["impressions"] for v in kept.values())
    result.campaign_level_score = round(
        sum(v["score"] * v["impressions"] for v in kept.values()) / total, 2
    )
    return result
