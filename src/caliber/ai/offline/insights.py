"""The offline analyst's insights: the six kinds of analysis as deterministic text.

The offline analyst answers when no OpenAI key (or compatible server) is configured: no
network, no randomness, no model. Every figure comes from the campaign context built by
:mod:`caliber.ai.context`, worded by :mod:`caliber.ai.offline.text`; the row explanation
is :mod:`caliber.ai.offline.domain`, the recommendations :mod:`caliber.ai.offline.advice`,
and chat answers :mod:`caliber.ai.offline.chat`. Names are data: they are shown cleaned
and never followed as instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from caliber.ai.offline import confidence
from caliber.ai.offline.advice import recommendations
from caliber.ai.offline.domain import domain_text
from caliber.ai.offline.text import (
    CHANNELS,
    NA,
    as_map,
    campaign_name,
    clean,
    fmt_count,
    fmt_money,
    fmt_score,
    fmt_share,
    focus_note,
    is_scored,
    label,
    level_word,
    list_rule,
    list_share,
    low_volume_limit,
    names,
    num,
    platform,
    row_count,
    row_name,
    row_text,
    rows,
    share_of,
    sub,
    top_flags,
    unit,
)

INSIGHT_KINDS = (
    "performance",
    "optimization",
    "campaign_overview",
    "domain",
    "whitelist",
    "blacklist",
)


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
    if sure := confidence.decisions_line(ctx):
        items.append(sure)
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
    rule = confidence.list_rule(ctx, which, list_rule(ctx, which))
    why = (
        "few rows reach the minimum impressions or scores sit close together"
        if confidence.level_of(ctx) is None
        else "the data is too thin to be that sure of any row yet"
    )
    if count <= 0:
        return (
            f"**{title}: empty**\n\n"
            f"No {u} in {campaign_name(ctx)} meet the {which} rule: {rule}. This usually means "
            f"{why}.\n\n"
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
    if note := confidence.list_note(ctx, which):
        lines.append(f"- {note}")
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
