"""How sure a run's lists are (issue 17), in the analyst's words: the decisions of a run
scored with ``list_confidence`` and, when a list is thin because the data is thin, why.

Works on the context's ``confidence`` block (:mod:`caliber.ai.context`): ``level``,
``decisions`` {whitelist|blacklist|undecided: {count, impressions, spend}},
``classic_lists`` {whitelist_count, blacklist_count}. :func:`thin_notes` is also what
the context hands the model, so the offline analyst and the model say the same thing.
Every read is defensive: a partial or junk block gives fewer sentences, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from caliber.ai.offline.text import fmt_count, fmt_score, fmt_share, num, share_of, sub, unit

# Most rows undecided: the data, not the campaign, is what keeps the lists short.
THIN_UNDECIDED_SHARE = 0.5
# A confident list under half its classic size: thin because the evidence is.
THIN_LIST_RATIO = 0.5
LISTS = ("whitelist", "blacklist")


def level_of(ctx: Mapping[str, Any]) -> float | None:
    """The run's confidence level, None for classic lists."""
    level = num(sub(ctx, "confidence").get("level"))
    return level if level is not None and 0 < level < 1 else None


def _count(block: Mapping[str, Any], decision: str) -> float:
    return num(sub(block, "decisions", decision).get("count")) or 0.0


def thin_lists(block: Mapping[str, Any]) -> list[str]:
    """The lists under :data:`THIN_LIST_RATIO` of their classic size."""
    classic = sub(block, "classic_lists")
    found = []
    for which in LISTS:
        before = num(classic.get(f"{which}_count"))
        if before and _count(block, which) < THIN_LIST_RATIO * before:
            found.append(which)
    return found


def thin_notes(block: Mapping[str, Any], noun: str = "domains") -> list[str]:
    """Plain sentences saying when the lists are thin because the data is thin: most rows
    undecided, or a list under half its classic size. None when the data decides enough."""
    level = num(block.get("level"))
    if level is None:
        return []
    sure = f"{level:.0%}"
    total = sum(_count(block, d) for d in (*LISTS, "undecided"))
    undecided = _count(block, "undecided")
    notes = []
    if total and undecided / total >= THIN_UNDECIDED_SHARE:
        notes.append(
            f"{fmt_count(undecided)} of the {fmt_count(total)} {noun} "
            f"({fmt_share(undecided / total)}) are undecided: their data is too thin to be "
            f"{sure} sure either way, so the lists are short because the data is thin, not "
            "because the rest is average."
        )
    classic = sub(block, "classic_lists")
    for which in thin_lists(block):
        before = num(classic.get(f"{which}_count")) or 0
        notes.append(
            f"The {which} holds {fmt_count(_count(block, which))} {noun} against "
            f"{fmt_count(before)} by the classic rule: the others lack the evidence to be "
            f"listed at {sure}."
        )
    return notes


def decisions_line(ctx: Mapping[str, Any]) -> str:
    """One bullet's text: the level and what it decided, then the first thin note."""
    level = level_of(ctx)
    if level is None:
        return ""
    block, u = sub(ctx, "confidence"), unit(ctx)
    total = sum(_count(block, d) for d in (*LISTS, "undecided"))
    undecided = _count(block, "undecided")
    text = (
        f"**How sure the lists are**: at confidence {level:g} a {unit(ctx, plural=False)} is "
        f"listed only when Caliber is at least {level:.0%} sure; "
        f"{fmt_count(_count(block, 'whitelist'))} {u} are decided for the whitelist, "
        f"{fmt_count(_count(block, 'blacklist'))} for the blacklist and "
        f"{fmt_count(undecided)} ({fmt_share(share_of(undecided, total))}) are undecided."
    )
    notes = thin_notes(block, u)
    return text + (f" {notes[0]}" if notes else "")


def list_rule(ctx: Mapping[str, Any], which: str, classic_rule: str) -> str:
    """A list's rule: the classic one, or the confident one at the run's level."""
    level = level_of(ctx)
    if level is None:
        return classic_rule
    listed = sub(ctx, which)
    sign = ">=" if which == "whitelist" else "<="
    return (
        f"a score at least {level:.0%} sure to be {sign} "
        f"{fmt_score(listed.get('score_threshold'))} (shrunk scores)"
    )


def evidence_advice(ctx: Mapping[str, Any]) -> str:
    """An action when the lists are thin because the data is thin (else empty)."""
    if level_of(ctx) is None:
        return ""
    block, u = sub(ctx, "confidence"), unit(ctx)
    if not thin_notes(block, u):
        return ""
    return (
        f"**Let the undecided gather evidence**: {fmt_count(_count(block, 'undecided'))} {u} "
        "cannot be judged yet; keep buying the promising ones at a capped bid (each row's "
        "impressions_needed says how much more decides it) and re-score, rather than "
        "blocking or scaling them now."
    )


def list_note(ctx: Mapping[str, Any], which: str) -> str:
    """A bullet's text for one list of a confident run: what was left undecided and, when
    the list is thin because the data is, why. Empty for classic lists."""
    if level_of(ctx) is None:
        return ""
    block, u = sub(ctx, "confidence"), unit(ctx)
    notes = thin_notes(block, u)
    thin = [n for n in notes if n.startswith(f"The {which} ")]
    undecided = [n for n in notes if not n.startswith("The ")]
    picked = thin or undecided
    if picked:
        return f"**Thin because the data is thin**: {picked[0]}"
    return (
        f"**Confident list**: {fmt_count(_count(block, 'undecided'))} {u} are left undecided "
        "for lack of evidence; the listed ones are well supported."
    )
