"""The offline analyst's explanation of one scored row: its rank and status, the metrics
that pulled its score up and down against the campaign averages, and whether to keep,
monitor or block it. Used by the domain insight and by chat when a question names a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caliber.ai.offline.text import (
    NA,
    as_list,
    as_map,
    campaign_name,
    clean,
    direction_text,
    fmt_count,
    fmt_money,
    fmt_score,
    fmt_value,
    higher_is_better,
    label,
    low_volume_limit,
    names,
    num,
    row_count,
    row_name,
    sub,
    unit,
)


def metric_bullet(ctx: Mapping[str, Any], metric: str, part: Mapping[str, Any]) -> str:
    """``58.62% vs 4.39% average (worse; lower is better)``."""
    higher = higher_is_better(ctx, metric, part)
    value, average = num(part.get("value")), num(part.get("campaign_average"))
    versus = ""
    if value is not None and average is not None and higher is not None and value != average:
        versus = "better; " if (value > average) == higher else "worse; "
    return (
        f"{fmt_value(metric, value)} vs {fmt_value(metric, average)} average "
        f"({versus}{direction_text(higher)})"
    )


def domain_text(ctx: Mapping[str, Any], *, brief: bool = False) -> str:
    d, u = sub(ctx, "domain"), unit(ctx)
    if not d:
        return (
            f"**Row explanation: no {unit(ctx, plural=False)} selected**\n\n"
            f"Pick a row from {campaign_name(ctx)}'s results to see why it scored what it "
            "did: its rank, each metric's contribution against the campaign average, and "
            "whether to keep, monitor or block it."
        )
    name = row_name(d)
    parts = []
    for metric, raw in as_map(d.get("breakdown")).items():
        part = as_map(raw)
        weight, points = num(part.get("weight")), num(part.get("contribution"))
        if isinstance(metric, str) and weight and weight > 0 and points is not None:
            parts.append((points / (weight * 100), -weight, metric, points, part))
    parts.sort(key=lambda p: p[:3])
    up = sorted((p for p in parts if p[0] >= 0.5), key=lambda p: (-p[0], p[1], p[2]))
    down = [p for p in parts if p[0] < 0.5]
    on_black, on_white = d.get("on_blacklist") is True, d.get("on_whitelist") is True
    where = (
        "on the blacklist" if on_black else "on the whitelist" if on_white else "on neither list"
    )
    verdict = f"{name} is {where}"
    if lead := (up if on_white else parts)[:1]:
        _, neg, metric, points, part = lead[0]
        value = fmt_value(metric, part.get("value"))
        average = fmt_value(metric, part.get("campaign_average"))
        weakest = "" if on_black or on_white else "weakest metric, "
        verdict += (
            f"{';' if weakest else ':'} its {weakest}{label(metric)} ({value} vs {average} "
            f"campaign average){',' if weakest else ''} earned {points:.1f} of "
            f"{-neg * 100:.1f} possible points"
        )
    cap = 2 if brief else 4
    lines = [
        f"**Why {name} scored {fmt_score(d.get('score'))}**",
        f"Rank {fmt_count(d.get('rank'))} of {fmt_count(row_count(ctx))} {u}, status "
        f"{clean(d.get('quality_status'), NA)}, percentile rank "
        f"{fmt_count(d.get('percentile_rank'))}; {fmt_count(d.get('impressions'))} "
        f"impressions, {fmt_money(d.get('spend'))} spend.",
        "",
        verdict + ".",
    ]
    for title, group in (("Pulled it up", up), ("Pulled it down", down)):
        if group:
            lines += ["", f"**{title}**"] + [
                f"- {label(m)}: {metric_bullet(ctx, m, part)}, {pts:.1f} of {-neg * 100:.1f} points"
                for _, neg, m, pts, part in group[:cap]
            ]
    lines += ["", _domain_advice(ctx, d, on_black, on_white)]
    flags = [label(f) for f in as_list(d.get("flags")) if isinstance(f, str)]
    if flags and not brief:
        lines.append(
            f"**Outlier flags**: {names(flags)}. These values sit outside the campaign's normal "
            "range (IQR fence); confirm they are real before acting."
        )
    return "\n".join(lines)


def _domain_advice(
    ctx: Mapping[str, Any], d: Mapping[str, Any], on_black: bool, on_white: bool
) -> str:
    impressions = num(d.get("impressions")) or 0
    minimum = num(sub(ctx, "campaign").get("min_impressions")) or 0
    small = impressions < low_volume_limit(ctx)
    outlier = d.get("is_outlier") is True
    if on_black:
        text = "**Recommendation: block.** Add it to the block list"
        if small:
            text += f"; with only {fmt_count(impressions)} impressions, rule out a fluke first"
        if outlier:
            text += "; it is an outlier, so confirm the flagged values first"
        return text + "."
    if on_white:
        text = "**Recommendation: keep and scale.** Include it in the target list"
        if small:
            text += f"; with {fmt_count(impressions)} impressions, scale gradually and re-score"
        return text + "."
    if d.get("decision") == "undecided" and impressions >= minimum:
        return _undecided_advice(d)
    if impressions < minimum:
        return (
            f"**Recommendation: monitor.** Below the {fmt_count(minimum)}-impression minimum, "
            "it is not eligible for either list yet."
        )
    status = d.get("quality_status")
    if status == "poor":
        return "**Recommendation: monitor closely** and cap bids; block it if the next score drops."
    if status == "good":
        return "**Recommendation: keep** it running and re-check after the next re-score."
    return "**Recommendation: monitor**; no action needed until the next re-score."


def _undecided_advice(d: Mapping[str, Any]) -> str:
    """A confident run's undecided row (issue 17): its data cannot decide it yet."""
    low, high = fmt_score(d.get("score_low")), fmt_score(d.get("score_high"))
    text = (
        f"**Recommendation: gather evidence.** With its data, its score could be anywhere "
        f"from {low} to {high}, too wide to list it either way"
    )
    needed = num(d.get("impressions_needed"))
    if needed is not None and needed > 0:
        return (
            text + f"; it needs about {fmt_count(needed)} more impressions at its current "
            "rates to be decided: keep buying it at a capped bid, then re-score."
        )
    return text + ": no amount of volume will put it on a list, as its score sits between the bars."
