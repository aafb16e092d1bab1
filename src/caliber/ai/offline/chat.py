"""The offline analyst's chat: answers a user's message from the campaign context.

The message picks the answer (a named row, why a row is on a list, what to change first,
outliers, the best or worst rows, a metric, the method); without a campaign, or before it
is scored, it answers about metrics and the method in general. The message and names in
the context are data: they are matched and shown cleaned, never followed as instructions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from caliber.ai.offline.advice import advice, recommendations, top_metric
from caliber.ai.offline.domain import domain_text
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
    fmt_share,
    higher_is_better,
    is_scored,
    label,
    level_word,
    list_rule,
    list_share,
    low_volume_limit,
    metric_average,
    names,
    num,
    row_count,
    row_name,
    row_text,
    rows,
    sub,
    top_flags,
    unit,
    weights,
)

METRIC_DEFINITIONS = {
    "ctr": "clicks divided by impressions",
    "cpm": "cost per 1,000 impressions",
    "ecpm": "effective cost per 1,000 impressions",
    "cpc": "cost per click",
    "conversion_rate": "conversions divided by impressions",
    "cpa": "cost per acquisition: spend divided by conversions",
    "vcr": "share of video starts played to the end",
    "video_completion_rate": "share of video starts played to the end",
    "ias_display_fully_in_view_1s_rate": "share of impressions fully in view for 1 s or more",
    "ad_load_xl_rate": "share of impressions on pages with excessive ad load",
    "ad_refresh_below_15s_rate": "share of impressions in slots refreshing faster than 15 s",
}
_DOTTED = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_METRIC_HINTS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    # (message words: whole tokens if the fragment is "", else substrings; default key;
    #  fragment that finds the campaign's own key)
    (("ecpm",), "ecpm", ""),
    (("cpm", "cpms"), "cpm", ""),
    (("cpa",), "cpa", ""),
    (("ctr", "click", "clicks"), "ctr", ""),
    (("viewab", "in view", "in-view"), "ias_display_fully_in_view_1s_rate", "in_view"),
    (("ad load", "ad-load", "clutter"), "ad_load_xl_rate", "ad_load"),
    (("refresh",), "ad_refresh_below_15s_rate", "refresh"),
    (("conversion",), "conversion_rate", "conversion_rate"),
    (("completion", "vcr"), "vcr", "completion"),
)
_LOWER_IS_BETTER = frozenset({"cpm", "ecpm", "cpa", "ad_load_xl_rate", "ad_refresh_below_15s_rate"})
_EXAMPLES = '- "What should I change first?"\n- "Which {u} are the worst?"\n'
_METHOD = (
    "**How the score works**\n"
    "1. Each metric is normalized within the campaign (min-max to 0-100); for lower-is-better "
    "metrics such as CPM the scale is flipped, so 100 is always best.\n"
    "2. The score is the weighted sum of those values, from 0 to 100{weights}.\n"
    "3. Labels are by percentile: the top quarter is good, the bottom quarter poor, the rest "
    "moderate.\n"
    "4. The whitelist is the best quarter of rows with enough impressions, the blacklist the "
    "worst quarter."
)


def _metric_key(text: str, tokens: set[str], ctx: Mapping[str, Any]) -> str | None:
    known = sorted(
        k
        for k in {**as_map(ctx.get("weights")), **as_map(ctx.get("metric_averages"))}
        if isinstance(k, str)
    )
    for words, key, fragment in _METRIC_HINTS:
        if any((w in text) if fragment else (w in tokens) for w in words):
            found = [k for k in known if k == key or (fragment and fragment in k)]
            return key if key in found or not found else found[0]
    return next((k for k in known if len(k) > 3 and label(k).lower() in text), None)


def _metric_answer(ctx: Mapping[str, Any] | None, metric: str) -> str:
    definition = METRIC_DEFINITIONS.get(metric)
    head = f"**{label(metric)}**" + (f" ({definition})" if definition else "")
    if ctx is None or not is_scored(ctx):
        later = "Open a scored campaign" if ctx is None else "Once this campaign is scored, ask"
        return (
            f"{head}: {direction_text(metric not in _LOWER_IS_BETTER)}. Caliber normalizes "
            "each metric within a campaign, so a row is judged against the other rows of the "
            f"same campaign, weighted by goal and channel. {later} to see its average, its "
            "weight and a tip."
        )
    weight = dict(weights(ctx)).get(metric)
    higher, average = higher_is_better(ctx, metric), metric_average(ctx, metric)
    lines = [
        f"{head} in {campaign_name(ctx)}:",
        f"- Campaign average: {average} (mean across the scored {unit(ctx)}).",
    ]
    if metric == "cpm" and num(sub(ctx, "summary").get("average_cpm")) is not None:
        overall = fmt_money(sub(ctx, "summary").get("average_cpm"))
        lines.append(f"- Overall CPM (spend per 1,000 impressions): {overall}.")
    if weight is None:
        others = ", ".join(f"{label(k)} {fmt_share(w)}" for k, w in weights(ctx)) or NA
        lines.append(f"- It is not part of this campaign's score; the weights are: {others}.")
    else:
        lines += [
            f"- Weight: {fmt_share(weight)} of the score, {direction_text(higher)}: the best "
            f"{unit(ctx, plural=False)} on it earns {weight * 100:.1f} points, the worst 0.",
            f"- Tip: {advice(metric, average, higher)}.",
        ]
    return "\n".join(lines)


def _performers(ctx: Mapping[str, Any], *, best: bool) -> str:
    u, s = unit(ctx), sub(ctx, "summary")
    listed = rows(s.get("top_performers" if best else "bottom_performers"))
    if not listed:
        return f"No {'top' if best else 'bottom'} {u} are stored for {campaign_name(ctx)} yet."
    body = "\n".join(
        f"{i}. {row_text(r)}, {clean(r.get('quality_status'), NA)}" for i, r in enumerate(listed, 1)
    )
    limit = low_volume_limit(ctx)
    small = sum(1 for r in listed if (num(r.get("impressions")) or 0) < limit)
    which = "whitelist" if best else "blacklist"
    listing = sub(ctx, which)
    note = (
        f"{small} of them {'has' if small == 1 else 'have'} under {fmt_count(limit)} "
        "impressions, so " + ("scale them gradually. " if best else "check them before blocking. ")
        if small
        else ""
    )
    return (
        f"**{'Top' if best else 'Bottom'} {len(listed)} {u}** in {campaign_name(ctx)} (campaign "
        f"score {fmt_score(s.get('campaign_level_score'))}):\n{body}\n\n{note}The {which} holds "
        f"{fmt_count(listing.get('count'))} {u} with {list_share(listing)}."
    )


def _outliers_answer(ctx: Mapping[str, Any]) -> str:
    u, outliers = unit(ctx), sub(ctx, "outliers")
    flags = ", ".join(f"{label(k)} ({fmt_count(n)})" for k, n in top_flags(ctx)[:4]) or "none"
    examples = names(row_text(r) for r in rows(outliers.get("examples"))[:3])
    return (
        f"**Outliers in {campaign_name(ctx)}**: {fmt_count(outliers.get('count'))} {u} "
        f"({fmt_share(outliers.get('share'))}) have at least one metric outside the campaign's "
        f"normal range (IQR fence).\n- Flags, most common first: {flags}.\n"
        + (f"- Examples: {examples}.\n" if examples else "")
        + "Outliers can be real (a cluttered site) or noise on low volume: confirm them before "
        "blocking or scaling."
    )


def _why_list(ctx: Mapping[str, Any], text: str) -> str:
    which = "blacklist" if "black" in text or "block" in text else "whitelist"
    u, name = unit(ctx), campaign_name(ctx)
    missing = _DOTTED.search(text)
    lines = [
        f"**How the {which} works**: a {unit(ctx, plural=False)} is on it with "
        f"{list_rule(ctx, which)}; rows under the minimum impressions are on neither list."
    ]
    if missing:
        lines.append(
            f'I could not find "{clean(missing.group(0))}" among the scored {u} of {name}: '
            "check the spelling (a leading www. is ignored) or pick it from the results table."
        )
    lines.append(
        f"Currently the {which} holds {fmt_count(sub(ctx, which).get('count'))} {u} with "
        f"{list_share(sub(ctx, which))}."
    )
    return "\n\n".join(lines)


def _general() -> str:
    return (
        "**Caliber** scores every domain/app or supply vendor of a programmatic campaign from "
        "0 to 100 using its The Trade Desk or PulsePoint export, labels rows good, moderate or "
        "poor by percentile, and builds a whitelist (best quarter) and a blacklist (worst "
        "quarter).\n\nKey metrics: CTR (clicks divided by impressions, higher is better), CPM "
        "(cost per 1,000 impressions, lower is better), viewability (share fully in view, "
        "higher is better), excessive ad load and fast ad refresh (lower is better).\n\n"
        "Open a scored campaign to ask about its numbers, for example:\n"
        + _EXAMPLES.format(u="domains")
        + '- "How is the score calculated?"'
    )


def _intro(ctx: Mapping[str, Any], greet: bool) -> str:
    u, s = unit(ctx), sub(ctx, "summary")
    hello = "Hi! " if greet else ""
    if not is_scored(ctx):
        status = clean(sub(ctx, "campaign").get("status"), "not scored")
        return (
            f"{hello}Scoring has not completed for {campaign_name(ctx)} (status: {status}), so "
            "there are no figures to discuss yet. Upload the platform export and start scoring; "
            f"then ask me about the best and worst {u}, the lists, outliers or any metric. "
            'Meanwhile I can explain the method: ask "How is the score calculated?"'
        )
    score = s.get("campaign_level_score")
    worst = rows(s.get("bottom_performers"))[:1]
    example = f'- "Why is {row_name(worst[0])} on the blacklist?"' if worst else ""
    return (
        f"{hello}I'm the offline analyst for {campaign_name(ctx)}: campaign score "
        f"{fmt_score(score)}/100 ({level_word(score)}) over {fmt_count(row_count(ctx))} {u}. I "
        f"can explain any row's score, list the best and worst {u}, walk through the whitelist, "
        "blacklist, outliers and metrics, and say what to change first. Try:\n"
        + _EXAMPLES.format(u=u)
        + (example or '- "How is the score calculated?"')
    )


def offline_chat(
    message: str, context: Mapping[str, Any] | None, history: Sequence[Mapping[str, str]]
) -> str:
    """Answer a user's chat message. context: a campaign context (may have "domain" set when
    the message names a scored row; may be unscored: context["scored"] is False; None for a
    general conversation). history: earlier messages [{"role": "user"|"assistant", "content": ...}],
    oldest first (may be empty)."""
    text = " ".join(message.lower().split()) if isinstance(message, str) else ""
    tokens = set(re.findall(r"[a-z0-9]+", text))
    greet = bool(tokens & {"hello", "hi", "hey"}) and not any(
        as_map(h).get("role") == "assistant" for h in as_list(history)
    )
    ctx = as_map(context) if context is not None else None
    metric = _metric_key(text, tokens, ctx or {})
    method = any(w in text for w in ("score", "how is", "calculat", "weight", "method"))
    if ctx is None:
        if metric:
            return _metric_answer(None, metric)
        return _METHOD.format(weights="") if method else _general()
    if not is_scored(ctx):
        if metric:
            return _metric_answer(ctx, metric)
        return _METHOD.format(weights="") if method else _intro(ctx, greet)
    improve = "first" in tokens or any(w in text for w in ("priorit", "change", "improv", "optimi"))
    if sub(ctx, "domain"):
        return domain_text(ctx, brief=True)
    if "why" in tokens and any(w in text for w in ("blacklist", "whitelist", "blocked")):
        return _why_list(ctx, text)
    if improve and not metric:
        items = "\n".join(f"{i}. {r}" for i, r in enumerate(recommendations(ctx)[:3], 1))
        return f"**What to change first** in {campaign_name(ctx)}:\n{items or top_metric(ctx)}"
    if "outlier" in text:
        return _outliers_answer(ctx)
    if tokens & {"worst", "bottom", "poor", "weakest", "lowest"}:
        return _performers(ctx, best=False)
    if tokens & {"top", "best", "strongest", "highest"}:
        return _performers(ctx, best=True)
    if metric:
        return _metric_answer(ctx, metric)
    if method:
        ranked = ", ".join(f"{label(k)} {fmt_share(w)}" for k, w in weights(ctx))
        score = fmt_score(sub(ctx, "summary").get("campaign_level_score"))
        return _METHOD.format(weights=f"; weights here: {ranked}" if ranked else "") + (
            f"\n\nThe campaign score, {score}, is the impression-weighted average of the rows."
        )
    return _intro(ctx, greet)
