"""Building blocks of the offline analyst: safe access to a context, number wording, the
campaign's facts (unit, platform, weights, directions) and the lists' rule and share.

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


# --- the lists ---------------------------------------------------------------------------


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
