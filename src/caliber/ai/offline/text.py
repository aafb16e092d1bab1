"""Building blocks of the offline analyst: safe access to a context and number wording.

Pure stdlib. Everything here tolerates missing keys, ``None`` and wrong types: a context
is data (possibly partial), and names in it are data too, so they are shown cleaned
(one line, no Markdown or control characters, bounded length) and never acted upon.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

NA = "n/a"
MAX_NAME = 80
LOW_VOLUME = 1000  # impressions below which a row's score rests on little data

METRIC_LABELS = {
    "ctr": "CTR",
    "cpm": "CPM",
    "ecpm": "eCPM",
    "cpc": "CPC",
    "conversion_rate": "conversion rate",
    "cpa": "CPA",
    "vcr": "video completion rate",
    "video_completion_rate": "video completion rate",
    "ias_display_fully_in_view_1s_rate": "viewability (fully in view 1 s)",
    "ad_load_xl_rate": "excessive ad load rate",
    "ad_refresh_below_15s_rate": "fast ad refresh rate (<15 s)",
}
MONEY_METRICS = frozenset({"cpm", "ecpm", "cpc", "cpa", "cpcv", "spend"})
RATE_METRICS = frozenset({"ctr", "vcr"})
PLATFORMS = {"trade_desk": "The Trade Desk", "pulsepoint": "PulsePoint"}
CHANNELS = {"display": "display", "ctv": "CTV", "video": "video", "audio": "audio"}
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
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f*`#<>\[\]|\\{}]")


# --- safe access -------------------------------------------------------------------------


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def rows(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a list (other items skipped)."""
    return [r for r in as_list(value) if isinstance(r, Mapping)]


def num(value: Any) -> float | None:
    """A finite number, or None (bools, strings and NaN/inf are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def clean(value: Any, default: str = "") -> str:
    """A data string made safe to show: one line, no Markdown/control characters."""
    if not isinstance(value, str):
        return default
    text = " ".join(_UNSAFE.sub(" ", value).split())
    if len(text) > MAX_NAME:
        text = text[: MAX_NAME - 1].rstrip() + "…"
    return text or default


def sub(context: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """A nested mapping (empty when any level is missing)."""
    current: Mapping[str, Any] = context
    for key in keys:
        current = as_map(current.get(key))
    return current


# --- numbers -----------------------------------------------------------------------------


def fmt_score(value: Any) -> str:
    number = num(value)
    return NA if number is None else f"{number:.1f}"


def fmt_count(value: Any) -> str:
    number = num(value)
    return NA if number is None else f"{round(number):,}"


def fmt_money(value: Any) -> str:
    number = num(value)
    if number is None:
        return NA
    return f"-${-number:,.2f}" if number < 0 else f"${number:,.2f}"


def fmt_share(value: Any) -> str:
    number = num(value)
    return NA if number is None else f"{number * 100:.1f}%"


def share_of(part: Any, total: Any) -> float | None:
    a, b = num(part), num(total)
    return a / b if a is not None and b else None


def fmt_value(metric: str, value: Any) -> str:
    """A metric value in its unit: money, a percentage for rates, else a plain number."""
    number = num(value)
    if number is None:
        return NA
    if metric in MONEY_METRICS or metric.endswith(("_cpm", "_cpa", "_cpc")):
        return fmt_money(number)
    rate = metric in RATE_METRICS or metric.endswith("_rate")
    return f"{number * 100:.2f}%" if rate else f"{number:,.2f}"


def label(metric: Any) -> str:
    key = metric if isinstance(metric, str) else ""
    return METRIC_LABELS.get(key) or clean(key.replace("_", " "), "unnamed metric")


def names(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    parts = [i for i in items if i]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --- campaign facts ----------------------------------------------------------------------


def level_word(score: Any) -> str:
    number = num(score)
    if number is None:
        return "unrated"
    if number >= 80:
        return "excellent"
    if number >= 60:
        return "good"
    return "moderate" if number >= 40 else "poor"


def unit(context: Mapping[str, Any], *, plural: bool = True) -> str:
    level = sub(context, "campaign").get("analysis_level") or sub(context, "summary").get(
        "analysis_level"
    )
    if level == "supply_vendor":
        return "supply vendors" if plural else "supply vendor"
    return "domains" if plural else "domain"


def platform(context: Mapping[str, Any]) -> str:
    value = sub(context, "campaign").get("platform")
    if isinstance(value, str) and value in PLATFORMS:
        return PLATFORMS[value]
    return clean(value, "the DSP")


def campaign_name(context: Mapping[str, Any]) -> str:
    return clean(sub(context, "campaign").get("name"), "this campaign")


def is_scored(context: Mapping[str, Any]) -> bool:
    return context.get("scored") is True and bool(sub(context, "summary"))


def row_count(context: Mapping[str, Any]) -> float | None:
    summary = sub(context, "summary")
    count = num(summary.get("row_count"))
    if count is not None:
        return count
    values = [num(v) for v in sub(context, "summary", "status_counts").values()]
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def row_name(row: Mapping[str, Any]) -> str:
    return clean(row.get("name"), "(unnamed)")


def row_text(row: Mapping[str, Any]) -> str:
    """``name (score 88.6, 806 impressions)``."""
    score, impressions = fmt_score(row.get("score")), fmt_count(row.get("impressions"))
    return f"{row_name(row)} (score {score}, {impressions} impressions)"


def ranked(mapping: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Positive numeric values, largest first (ties by name)."""
    found = [
        (key, n)
        for key, value in mapping.items()
        if isinstance(key, str) and (n := num(value)) is not None and n > 0
    ]
    return sorted(found, key=lambda kv: (-kv[1], kv[0]))


def weights(context: Mapping[str, Any]) -> list[tuple[str, float]]:
    return ranked(as_map(context.get("weights")))


def higher_is_better(context: Mapping[str, Any], metric: str, part: Any = None) -> bool | None:
    flag = as_map(part).get("higher_is_better")
    if isinstance(flag, bool):
        return flag
    direction = as_map(context.get("directions")).get(metric)
    if direction == "higher_is_better":
        return True
    return False if direction == "lower_is_better" else None


def direction_text(higher: bool | None) -> str:
    if higher is None:
        return "direction unknown"
    return "higher is better" if higher else "lower is better"


def top_flags(context: Mapping[str, Any]) -> list[tuple[str, float]]:
    return ranked(sub(context, "outliers", "by_flag"))


def low_volume_limit(context: Mapping[str, Any]) -> float:
    minimum = num(sub(context, "campaign").get("min_impressions")) or 0.0
    return max(float(LOW_VOLUME), 2 * minimum)


def advice(metric: str, average: str, higher: bool | None) -> str:
    """What a buyer can do about one metric (``average`` already formatted)."""
    m = metric.lower()
    for fragment, text in _ADVICE.items():
        if fragment in m:
            return text.format(a=average)
    side = ("below", "above") if higher is False else ("above", "below")
    return f"favour rows {side[0]} the {average} average and cut those well {side[1]} it"


def metric_average(context: Mapping[str, Any], metric: str) -> str:
    return fmt_value(metric, as_map(context.get("metric_averages")).get(metric))


def focus_note(context: Mapping[str, Any]) -> str:
    """A brief acknowledgment of the client's focus; its text is never repeated or obeyed."""
    client = as_map(context.get("client_context"))
    focus = client.get("focus") or client.get("question")
    if not isinstance(focus, str) or not focus.strip():
        return ""
    wanted = focus.lower()
    for metric, _ in weights(context):
        if metric.lower() in wanted or label(metric).lower() in wanted:
            average = metric_average(context, metric)
            return f"\n\n**Your focus:** {label(metric)} ({average} campaign average)."
    return "\n\n**Your focus** note was received; all figures above come from the stored results."


# --- shared text blocks ------------------------------------------------------------------


def list_rule(ctx: Mapping[str, Any], which: str) -> str:
    listed = sub(ctx, which)
    sign = ">=" if which == "whitelist" else "<="
    minimum = listed.get("min_impressions", sub(ctx, "campaign").get("min_impressions"))
    return (
        f"score {sign} {fmt_score(listed.get('score_threshold'))} and at least "
        f"{fmt_count(minimum)} impressions"
    )


def list_share(listed: Mapping[str, Any]) -> str:
    text = f"{fmt_share(listed.get('share_of_impressions'))} of impressions"
    if num(listed.get("share_of_spend")) is not None:
        text += f" and {fmt_share(listed.get('share_of_spend'))} of spend"
    return text


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
            f"{list_rule(ctx, 'blacklist')} take {list_share(black)}"
            + (f"; worst: {worst}." if worst else ".")
        )
    if (num(white.get("count")) or 0) > 0:
        items.append(
            f"**Move budget to the whitelist**: {fmt_count(white.get('count'))} {u} averaging "
            f"{fmt_score(white.get('average_score'))} get only {list_share(white)}; "
            "shift the freed budget there step by step."
        )
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


def unscored(ctx: Mapping[str, Any], title: str) -> str:
    status = clean(sub(ctx, "campaign").get("status"), "not scored")
    step = {
        "processing": "Scoring is running now: refresh this page when the status is completed.",
        "failed": (
            "The last scoring run failed: check the error on the campaign, fix the file "
            "(missing columns, wrong delimiter, empty rows) and upload it again."
        ),
    }.get(status, "Once the file is uploaded, start scoring from the campaign page.")
    return (
        f"**{title}: not available yet**\n\n"
        f"Scoring has not completed for {campaign_name(ctx)} on {platform(ctx)} (status: "
        f"{status}), so there are no scores, lists or metric figures to analyse yet, and "
        "none are guessed here.\n\n"
        "**What to do**\n"
        f"- Upload the campaign's performance export from {platform(ctx)} (CSV or Excel with "
        f"impressions, spend and the metric columns, one line per {unit(ctx, plural=False)}).\n"
        f"- Start scoring: each {unit(ctx, plural=False)} gets a 0-100 score from its metrics, "
        "weighted for the campaign's goal and channel.\n"
        f"- {step}\n"
        "- Then come back: this analysis will show the campaign score, the quality mix, the "
        "best and worst performers, the whitelist and blacklist and concrete next steps."
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
