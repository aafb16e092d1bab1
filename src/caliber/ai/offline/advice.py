"""What the offline analyst tells a buyer to do: the advice for one metric, the work on the
heaviest metric, and a campaign's actions ordered by impact (block, shift budget, the top
metric, outliers, data quality). Figures come from the context, worded by
:mod:`caliber.ai.offline.text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caliber.ai.offline import confidence
from caliber.ai.offline.text import (
    as_list,
    clean,
    direction_text,
    fmt_count,
    fmt_score,
    fmt_share,
    higher_is_better,
    label,
    list_rule,
    list_share,
    metric_average,
    names,
    num,
    row_name,
    rows,
    sub,
    top_flags,
    unit,
    weights,
)

_VIEW = "set a pre-bid viewability target of at least {a} and drop placements below it"
_DONE = "favour placements completing above {a}; shorter creatives help"
_ADVICE = {  # first key found in the metric's name wins
    "ctr": "for CTR lower than the {a} average, refresh creatives and cut weak placements",
    "in_view": _VIEW,
    "viewab": _VIEW,
    "ad_load": "exclude cluttered pages: rows above the {a} average lose points fast",
    "refresh": "exclude slots refreshing faster than 15 s; rows above {a} lose points fast",
    "cpm": "cap bids on rows priced above the {a} average unless their quality earns it",
    "conversion": "favour rows converting above {a} and check tracking on rows with none",
    "cpa": "cap bids on rows whose CPA is above the {a} average",
    "completion": _DONE,
    "vcr": _DONE,
}


def advice(metric: str, average: str, higher: bool | None) -> str:
    """What a buyer can do about one metric (``average`` already formatted)."""
    m = metric.lower()
    for fragment, text in _ADVICE.items():
        if fragment in m:
            return text.format(a=average)
    side = ("below", "above") if higher is False else ("above", "below")
    return f"favour rows {side[0]} the {average} average and cut those well {side[1]} it"


def top_metric(ctx: Mapping[str, Any]) -> str:
    ranked = weights(ctx)
    if not ranked:
        return ""
    metric, weight = ranked[0]
    higher = higher_is_better(ctx, metric)
    average = metric_average(ctx, metric)
    return (
        f"**Work on {label(metric)}**, the largest weight ({fmt_share(weight)}, "
        f"{direction_text(higher)}; campaign average {average}): "
        f"{advice(metric, average, higher)}."
    )


def recommendations(ctx: Mapping[str, Any]) -> list[str]:
    """Actions ordered by impact: block, shift budget, top metric, outliers, data quality."""
    u, items = unit(ctx), []
    black, white = sub(ctx, "blacklist"), sub(ctx, "whitelist")
    if (num(black.get("count")) or 0) > 0:
        worst = names(row_name(r) for r in rows(black.get("entries"))[:3])
        items.append(
            f"**Block the blacklist**: {fmt_count(black.get('count'))} {u} with "
            f"{confidence.list_rule(ctx, 'blacklist', list_rule(ctx, 'blacklist'))} take "
            f"{list_share(black)}" + (f"; worst: {worst}." if worst else ".")
        )
    if (num(white.get("count")) or 0) > 0:
        items.append(
            f"**Move budget to the whitelist**: {fmt_count(white.get('count'))} {u} averaging "
            f"{fmt_score(white.get('average_score'))} get only {list_share(white)}; "
            "shift the freed budget there step by step."
        )
    if gather := confidence.evidence_advice(ctx):
        items.append(gather)
    if metric := top_metric(ctx):
        items.append(metric)
    outliers, flags = sub(ctx, "outliers"), top_flags(ctx)
    if (num(outliers.get("count")) or 0) > 0:
        common = f"; most common flag: {label(flags[0][0])}" if flags else ""
        items.append(
            f"**Review outliers** before acting: {fmt_count(outliers.get('count'))} {u} "
            f"({fmt_share(outliers.get('share'))}) have extreme values{common}."
        )
    quality = sub(ctx, "data_quality")
    dropped = num(quality.get("rows_dropped_total")) or 0
    warnings = [clean(w) for w in as_list(quality.get("warnings")) if clean(w)]
    if dropped > 0 or warnings:
        items.append(
            f"**Check data quality**: {fmt_count(dropped)} of {fmt_count(quality.get('rows_read'))}"
            f" rows were dropped and {len(warnings)} warning(s) raised; fix the export if key "
            "rows are missing."
        )
    return items
