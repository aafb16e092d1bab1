"""The offline analyst: deterministic, data-grounded text when no OpenAI key is configured.

No network, no randomness, no model: every figure comes from the campaign context built by
:mod:`caliber.ai.context`, formatted by :mod:`caliber.ai.offline.text`. Names and the user's
message are data: they are shown cleaned and never followed as instructions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from caliber.ai.offline.text import (
    CHANNELS,
    NA,
    advice,
    as_list,
    as_map,
    campaign_name,
    clean,
    direction_text,
    domain_text,
    fmt_count,
    fmt_money,
    fmt_score,
    fmt_share,
    focus_note,
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
    platform,
    recommendations,
    row_count,
    row_name,
    row_text,
    rows,
    share_of,
    sub,
    top_flags,
    top_metric,
    unit,
    unscored,
    weights,
)

INSIGHT_KINDS = (
    "performance",
    "optimization",
    "campaign_overview",
    "domain",
    "whitelist",
    "blacklist",
)


# --- insights ----------------------------------------------------------------------------


def _performance(ctx: Mapping[str, Any]) -> str:
    s, u = sub(ctx, "summary"), unit(ctx)
    score, items = s.get("campaign_level_score"), []
    if num(score) is not None:
        items.append(
            f"**Campaign score {fmt_score(score)}/100 ({level_word(score)})**, impression-weighted"
            f" across {fmt_count(row_count(ctx))} {u}, {fmt_count(s.get('total_impressions'))} "
            f"impressions and {fmt_money(s.get('total_spend'))} spend (average CPM "
            f"{fmt_money(s.get('average_cpm'))})."
        )
    counts, total = sub(s, "status_counts"), row_count(ctx)
    dist = sub(s, "score_distribution")
    mix = ", ".join(
        f"{fmt_count(counts.get(k))} {k} ({fmt_share(share_of(counts.get(k), total))})"
        for k in ("good", "moderate", "poor")
    )
    items += (
        []
        if total is None
        else [
            f"**Quality mix**: {mix}. Median score {fmt_score(dist.get('median'))}; the middle "
            f"half sits between {fmt_score(dist.get('q25'))} and {fmt_score(dist.get('q75'))}."
        ]
    )
    top, bottom = rows(s.get("top_performers")), rows(s.get("bottom_performers"))
    if top or bottom:
        best = f"best: {names(row_text(r) for r in top[:2])}" if top else ""
        worst = f"worst: {names(row_text(r) for r in bottom[:2])}" if bottom else ""
        items.append(f"**Leaders and laggards**: {'; '.join(p for p in (best, worst) if p)}.")
    black = sub(ctx, "blacklist")
    if num(black.get("count")) is not None:
        heavy = (num(black.get("share_of_impressions")) or 0) >= 0.25
        items.append(
            f"**Concentration**: the {fmt_count(black.get('count'))} blacklisted {u} take "
            f"{list_share(black)}"
            + (": budget is concentrated where quality is lowest." if heavy else ".")
        )
    outliers, flags = sub(ctx, "outliers"), top_flags(ctx)
    if num(outliers.get("count")) is not None:
        common = (
            f"; most common flag: {label(flags[0][0])}, on {fmt_count(flags[0][1])} {u}"
            if flags
            else ""
        )
        items.append(
            f"**Outliers**: {fmt_count(outliers.get('count'))} {u} "
            f"({fmt_share(outliers.get('share'))}) have at least one extreme metric{common}."
        )
    body = "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
    if len(items) < 3:
        body += "\n\nThe stored results are incomplete: re-run scoring to refresh them."
    return f"**Key insights: {campaign_name(ctx)}**\n\n{body}"


def _optimization(ctx: Mapping[str, Any]) -> str:
    items = recommendations(ctx)[:4]
    items.append(
        "**Re-score after changes**: run the campaign for one to two weeks with the new lists, "
        "export again and score it to confirm the campaign score moves up."
    )
    body = "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))
    score = fmt_score(sub(ctx, "summary").get("campaign_level_score"))
    return (
        f"**Optimization plan: {campaign_name(ctx)}** (campaign score {score}/100), "
        f"ordered by impact:\n\n{body}"
    )


def _overview(ctx: Mapping[str, Any]) -> str:
    c, s, u = sub(ctx, "campaign"), sub(ctx, "summary"), unit(ctx)
    channel = CHANNELS.get(str(c.get("channel")), clean(c.get("channel"), "unknown"))
    flag = c.get("ctr_sensitivity")
    sensitivity = ("on" if flag else "off") if isinstance(flag, bool) else NA
    score, counts, total = s.get("campaign_level_score"), sub(s, "status_counts"), row_count(ctx)
    black, white = sub(ctx, "blacklist"), sub(ctx, "whitelist")
    top, bottom = rows(s.get("top_performers")), rows(s.get("bottom_performers"))
    lines = [
        f"**Campaign overview: {campaign_name(ctx)}**",
        "",
        f"**Setup**: {platform(ctx)}, {clean(c.get('goal'), 'unknown')} goal, {channel} "
        f"channel, CTR sensitivity {sensitivity}; scored per {unit(ctx, plural=False)}, "
        f"at least {fmt_count(c.get('min_impressions'))} impressions each.",
        "",
        f"**Assessment**: campaign score {fmt_score(score)}/100 ({level_word(score)}) over "
        f"{fmt_count(total)} {u}, {fmt_count(s.get('total_impressions'))} impressions and "
        f"{fmt_money(s.get('total_spend'))} spend.",
        "",
        "**Strengths**",
        f"- {fmt_count(counts.get('good'))} {u} ({fmt_share(share_of(counts.get('good'), total))})"
        " rate good.",
    ]
    if top:
        lines.append(f"- Top performers: {names(row_text(r) for r in top[:2])}.")
    if (num(white.get("count")) or 0) > 0:
        lines.append(
            f"- A whitelist of {fmt_count(white.get('count'))} {u} averaging "
            f"{fmt_score(white.get('average_score'))}."
        )
    lines += [
        "",
        "**Weaknesses**",
        f"- {fmt_count(counts.get('poor'))} {u} ({fmt_share(share_of(counts.get('poor'), total))})"
        " rate poor.",
    ]
    if (num(black.get("count")) or 0) > 0:
        lines.append(f"- The blacklist takes {list_share(black)}.")
    if bottom:
        lines.append(f"- Weakest: {names(row_text(r) for r in bottom[:2])}.")
    lines += [
        "",
        "**Next steps**: block the blacklist, move that budget to the whitelist, then re-score "
        "after one to two weeks.",
    ]
    return "\n".join(lines)


def _list_insight(ctx: Mapping[str, Any], which: str) -> str:
    listed, u = sub(ctx, which), unit(ctx)
    count = num(listed.get("count")) or 0
    title = which.capitalize()
    rule = list_rule(ctx, which)
    if count <= 0:
        return (
            f"**{title}: empty**\n\n"
            f"No {u} in {campaign_name(ctx)} meet the {which} rule: {rule}. This usually means "
            "few rows reach the minimum impressions or scores sit close together.\n\n"
            "**What to do**\n"
            "- Collect more delivery (a longer date range) or lower the minimum impressions, "
            "then re-score.\n"
            f"- Meanwhile use the score table: sort by score and review the "
            f"{'top' if which == 'whitelist' else 'bottom'} {u} by hand."
        )
    entries = rows(listed.get("entries"))
    lines = [
        f"**{title}: {fmt_count(count)} {u}**",
        "",
        f"- Rule: {rule} (the {'best' if which == 'whitelist' else 'worst'} quarter of "
        f"eligible {u}).",
        f"- Average score {fmt_score(listed.get('average_score'))}; "
        f"{fmt_count(listed.get('total_impressions'))} impressions, that is {list_share(listed)}.",
    ]
    if entries:
        lines.append(f"- First entries: {names(row_text(r) for r in entries[:5])}.")
    lines += ["", "**How to use it**"]
    if which == "whitelist":
        lines += [
            f"- Upload it to {platform(ctx)} as a target (include) list or raise bids on it.",
            "- Scale step by step: shift budget from the blacklist and watch delivery.",
        ]
    else:
        limit = low_volume_limit(ctx)
        small = [row_name(r) for r in entries if (num(r.get("impressions")) or 0) < limit]
        flagged = {row_name(r) for r in rows(sub(ctx, "outliers").get("examples"))}
        suspects = [row_name(r) for r in entries if row_name(r) in flagged]
        lines += [
            f"- Upload it to {platform(ctx)} as a block (exclude) list.",
            f"- Check false positives first: {len(small)} of the first {len(entries)} entries "
            f"{'has' if len(small) == 1 else 'have'} under {fmt_count(limit)} impressions"
            + (f" ({names(small[:3])})" if small else "")
            + (f"; outliers among them: {names(suspects[:3])}" if suspects else "")
            + ". Confirm these before blocking.",
        ]
    lines.append("- Re-score after the next export to confirm the change.")
    return "\n".join(lines)


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "performance": _performance,
    "optimization": _optimization,
    "campaign_overview": _overview,
    "domain": domain_text,
    "whitelist": lambda ctx: _list_insight(ctx, "whitelist"),
    "blacklist": lambda ctx: _list_insight(ctx, "blacklist"),
}


def offline_insight(kind: str, context: Mapping[str, Any]) -> str:
    """kind in INSIGHT_KINDS; context = campaign_context(...) (for kind "domain", with
    context["domain"] set to a domain sub-context). Raises ValueError for an unknown kind."""
    if not isinstance(kind, str) or kind not in _BUILDERS:
        raise ValueError(f"unknown insight kind {kind!r}; expected one of {INSIGHT_KINDS}")
    ctx = as_map(context)
    if not is_scored(ctx):
        return unscored(ctx, kind.replace("_", " ").capitalize()) + focus_note(ctx)
    return _BUILDERS[kind](ctx) + focus_note(ctx)


# --- chat --------------------------------------------------------------------------------

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
