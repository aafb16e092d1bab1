"""The Optimization Recommendations of the PDF report: the recommended actions and the
whitelist and blacklist snapshots with their criteria.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from reportlab.platypus import Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ListSnapshot, ReportData
from caliber.reports.pdf.layout import WIDTH, bullets, para, rows_table, section, zebra_table
from caliber.reports.pdf.text import PLATFORMS, finite, noun, num, share

LIST_ROWS = 15


def recommended_actions(data: ReportData) -> list[str]:
    """The action guidance of the Optimization Recommendations, as markup."""
    what, white, black = noun(data), len(data.whitelist.entries), len(data.blacklist.entries)
    platform = PLATFORMS.get(data.campaign.platform, "the buying platform")
    moderate = int(finite((data.summary.get("status_counts") or {}).get("moderate")) or 0)
    eligible = finite(data.whitelist.criteria.get("eligible_rows"))
    unjudged = data.total_rows - int(eligible) if eligible is not None else 0
    actions = [
        (white, f"Upload the whitelist ({white:,} {what}) to {platform} as a target (inclusion) "
                "list so budget concentrates on proven inventory."),
        (black, f"Apply the blacklist ({black:,} {what}) as a block list to stop spend on the "
                "weakest inventory; check it for strategic partners first."),
        (moderate, f"Review the {moderate:,} moderate {what}: keep the strategically important "
                   "ones and watch those close to the blacklist threshold."),
        (unjudged > 0, f"{unjudged:,} {what} had too few impressions to be judged; let them "
                       "gather volume before deciding on them."),
        (True, "Re-score the campaign after two to four weeks of delivery with the lists in "
               "place to confirm the improvement."),
    ]  # fmt: skip
    return [escape(text) for keep, text in actions if keep]


def _list_block(data: ReportData, snap: ListSnapshot) -> list[Any]:
    kind, crit, what = snap.list_type, snap.criteria, noun(data)
    white = kind == "whitelist"
    limit = finite(crit.get("whitelist_min_score" if white else "blacklist_max_score"))
    rule = "" if limit is None else f"score {'≥' if white else '≤'} {num(limit, 1)}"
    level = finite(crit.get("list_confidence"))
    if rule and level is not None:  # confident lists: the bar is on the shrunk scores
        rule = f"at least {level:.0%} sure of a shrunk {rule}"
    criteria = (
        f"Criteria: at least {num(crit.get('min_impressions'))} impressions "
        f"({num(crit.get('eligible_rows'))} {what} eligible){' and ' + rule if rule else ''}."
    )
    stats = [
        num(len(snap.entries)),
        num(snap.average_score, 1),
        num(snap.total_impressions),
        share(snap.total_impressions, data.summary.get("total_impressions")),
    ]
    head = ("Entries", "Average score", "Impressions", "Share of impressions")
    summary = zebra_table(head, [stats], [WIDTH / 4] * 4, (0, 1, 2, 3))
    title = "Whitelist: target list" if white else "Blacklist: block list"
    parts = [para(escape(criteria), "muted"), Spacer(1, 4), summary, Spacer(1, 8)]
    if not snap.entries:
        why = f" (no eligible {what} scored {rule})" if rule else ""
        use = "target" if white else "block"
        text = f"No {noun(data, 1)} met the {kind} criteria{why}: there is no {use} list yet."
        return [section(title, *parts, para(escape(text)), level="H2")]
    shown = snap.entries[:LIST_ROWS]
    story = [section(title, *parts, rows_table(data, shown, status=False, number=True), level="H2")]
    if len(snap.entries) > len(shown):
        more = (
            f"Showing {len(shown)} of {len(snap.entries):,}; the full list is in the {kind} export."
        )
        story.append(para(escape(more), "muted"))
    return story


def optimization_recommendations(data: ReportData) -> list[Any]:
    intro = (
        f"The lists are built from the {noun(data)} with enough impressions to judge: the best "
        "quarter by score forms the whitelist, the weakest quarter the blacklist."
    )
    if finite(data.whitelist.criteria.get("list_confidence")) is not None:
        intro += (
            f" Only the {noun(data)} whose data is sure enough are listed; the rest is "
            "undecided (see How sure are these lists)."
        )
    actions = bullets(recommended_actions(data))
    return [
        section("Optimization Recommendations", para(escape(intro))),
        section("Recommended actions", *actions, level="H2"),
        *_list_block(data, data.whitelist),
        *_list_block(data, data.blacklist),
    ]
