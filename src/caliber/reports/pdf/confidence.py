"""The "How sure are these lists" section of the PDF report (issue 17): only for a run
scored with ``list_confidence``, from its summary's ``confidence`` block (the engine's
``Confidence.to_dict()``): the level in one plain sentence, what was decided (rows,
impressions and spend per decision), how the lists differ from the classic ones, and
the campaign-wide rate each metric's values are pulled towards (its prior: mean, and
strength in trials).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from reportlab.platypus import PageBreak, Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf.appendix import metric_name
from caliber.reports.pdf.layout import bullets, col_widths, para, section, zebra_table
from caliber.reports.pdf.text import DASH, finite, money, noun, num, pct, share

DECISION_LABELS = (
    ("whitelist", "Whitelist (decided)"),
    ("blacklist", "Blacklist (decided)"),
    ("undecided", "Undecided: not enough evidence"),
)


def confidence_of(data: ReportData) -> Mapping[str, Any] | None:
    """The run's confidence block, None for a classic run."""
    block = data.summary.get("confidence")
    return block if isinstance(block, Mapping) and finite(block.get("level")) else None


def level_sentence(data: ReportData, level: float) -> str:
    """What the level means, in one plain sentence (markup)."""
    sure = f"{level:.0%}"
    return escape(
        f"These lists were made at a confidence of {level:g}: a {noun(data, 1)} goes on the "
        f"whitelist only when Caliber is at least {sure} sure its score clears the whitelist's "
        f"bar, and on the blacklist only when it is at least {sure} sure its score stays under "
        "the blacklist's bar. Everything else is left undecided: its data cannot tell yet."
    )


def _decisions_table(data: ReportData, decisions: Mapping[str, Any]) -> Any:
    total_rows = sum(finite((decisions.get(k) or {}).get("count")) or 0 for k, _ in DECISION_LABELS)
    total_impressions = data.summary.get("total_impressions")
    total_spend = data.summary.get("total_spend")
    rows = []
    for key, label in DECISION_LABELS:
        found = decisions.get(key) or {}
        rows.append(
            [
                label,
                num(found.get("count")),
                share(found.get("count"), total_rows),
                num(found.get("impressions")),
                share(found.get("impressions"), total_impressions),
                money(found.get("spend")),
                share(found.get("spend"), total_spend),
            ]
        )
    head = ("Decision", noun(data).capitalize(), "Share", "Impressions", "Share", "Spend", "Share")
    return zebra_table(head, rows, col_widths(None, 0.8, 0.6, 1.0, 0.6, 1.0, 0.6), range(1, 7))


def change_lines(data: ReportData, block: Mapping[str, Any]) -> list[str]:
    """How the confident lists differ from the classic ones, one bullet per list (markup)."""
    classic = block.get("classic_lists") or {}
    changes = block.get("changes") or {}
    what = noun(data)
    found = []
    for kind in ("whitelist", "blacklist"):
        change = changes.get(kind) or {}
        before = finite(classic.get(f"{kind}_count"))
        kept = int(finite(change.get("kept")) or 0)
        dropped = int(finite(change.get("dropped")) or 0)
        added = int(finite(change.get("added")) or 0)
        now = kept + added
        text = (
            f"{kind.capitalize()}: {num(now)} {what} against {num(before)} by the classic rule "
            f"({num(kept)} kept, {num(dropped)} left out for lack of evidence"
            f"{f', {num(added)} added' if added else ''})."
        )
        found.append(escape(text))
    return found


def thin_warning(data: ReportData, block: Mapping[str, Any]) -> str | None:
    """A plain warning when the data leaves most rows undecided (markup), else None."""
    decisions = block.get("decisions") or {}
    counts = {k: finite((decisions.get(k) or {}).get("count")) or 0 for k, _ in DECISION_LABELS}
    total = sum(counts.values())
    if not total or counts["undecided"] / total < 0.5:
        return None
    return escape(
        f"{pct(counts['undecided'] / total, 0)} of the {noun(data)} are undecided: the lists "
        f"are short because most {noun(data)} have too few impressions to be judged with "
        "this confidence, not because the rest is average. Buying them longer, or a lower "
        "level, decides more of them."
    )


def _priors_table(priors: Mapping[str, Any]) -> Any:
    rows = []
    for metric, prior in priors.items():
        mean, strength = (prior or {}).get("mean"), (prior or {}).get("strength")
        trials = str((prior or {}).get("trials") or "impressions").replace("_", " ")
        weight = DASH if finite(strength) is None else f"{num(strength)} {trials}"
        rows.append([metric_name(metric), pct(mean), weight])
    head = ("Metric", "Campaign rate (prior mean)", "Worth (prior strength)")
    return zebra_table(head, rows, col_widths(None, 1.9, 2.1), (1, 2))


def how_sure(data: ReportData) -> list[Any]:
    """The section on its own page, or nothing for a run scored without confidence."""
    block = confidence_of(data)
    if block is None:
        return []
    level = float(block["level"])
    decisions = block.get("decisions") or {}
    story: list[Any] = [
        PageBreak(),
        section(
            "How sure are these lists",
            para(level_sentence(data, level)),
            Spacer(1, 6),
            _decisions_table(data, decisions),
        ),
    ]
    warning = thin_warning(data, block)
    if warning:
        story += [Spacer(1, 6), para(warning)]
    story.append(
        section("Against the classic lists", *bullets(change_lines(data, block)), level="H2")
    )
    priors = block.get("priors") or {}
    if priors:
        intro = escape(
            f"Each {noun(data, 1)}'s rates are pulled towards the campaign's, hard when it has "
            "few impressions and hardly at all when it has many; the strength is how many "
            "impressions (or other trials) the campaign's rate counts for."
        )
        story.append(
            section(
                "What the campaign's rates are",
                para(intro, "muted"),
                Spacer(1, 4),
                _priors_table(priors),
                level="H2",
            )
        )
    return story
