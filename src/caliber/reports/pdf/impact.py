"""The PDF report's "What applying the lists would do" section (issue 18 §3): what the
blacklist removes, the campaign's figures before, after blocking and after moving the
removed spend to the whitelist, and the assumptions they rest on, from the impact of
:mod:`caliber.scoring.impact` (the engine's ``Impact.to_dict()`` with the run's id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from reportlab.platypus import Spacer  # type: ignore[import-untyped]

from caliber.reports.data import ReportData
from caliber.reports.pdf.layout import bullets, col_widths, para, section, zebra_table
from caliber.reports.pdf.text import DASH, field_name, finite, money, noun, num, pct

TITLE = "What applying the lists would do"
_STATES = ("before", "after_block", "after_move")
_VOLUMES = ("impressions", "spend", "clicks", "conversions")
_FIGURES = {"cpm": "CPM", "ctr": "CTR", "conversion_rate": "Conversion rate"}


def impact_section(data: ReportData, impact: Mapping[str, Any]) -> list[Any]:
    """The section: an introduction, the removed shares, before / after blocking / after
    moving, and the assumptions."""
    what = noun(data)
    level = impact.get("list_confidence")
    which = (
        "the classic lists"
        if level is None
        else f"the confident lists (listed only when at least {level:.0%} sure)"
    )
    intro = (
        f"What blocking the blacklist and moving its spend to the whitelist would do, with "
        f"{which}. The figures are this run's, as observed: a projection under the "
        "assumptions below, not a forecast."
    )
    return [
        section(TITLE, para(escape(intro))),
        section("Removed by the blacklist", _removed_table(impact, what), level="H2"),
        section(
            "Before and after",
            _states_table(impact),
            Spacer(1, 4),
            para(escape(_move_sentence(impact, what)), "muted"),
            level="H2",
        ),
        section("Assumptions", *bullets([escape(s) for s in impact["assumptions"]]), level="H2"),
    ]


def _removed_table(impact: Mapping[str, Any], what: str) -> Any:
    removed = impact["removed"]
    rows = [[what.capitalize(), num(removed["domains"]), DASH]]
    for volume in _VOLUMES:
        found = removed[volume]
        rows.append([volume.capitalize(), _volume(volume, found["value"]), pct(found["share"], 1)])
    header = ("Blocked", "Removed", "Share of the campaign")
    return zebra_table(header, rows, col_widths(None, 1.6, 1.8), (1, 2))


def _states_table(impact: Mapping[str, Any]) -> Any:
    rows = []
    for name in impact["before"]:
        label = "Campaign score" if name == "campaign_score" else _FIGURES.get(name)
        rows.append([label or field_name(name), *(_figure(name, impact[s][name]) for s in _STATES)])
    for volume in _VOLUMES:
        values = [impact["totals"][s][volume] for s in _STATES]
        rows.append([volume.capitalize(), *(_volume(volume, v) for v in values)])
    header = ("Figure", "Before", "After blocking", "After moving")
    return zebra_table(header, rows, col_widths(None, 1.25, 1.25, 1.25), (1, 2, 3))


def _move_sentence(impact: Mapping[str, Any], what: str) -> str:
    move = impact["move"]
    if not move["possible"]:
        return f"Nothing is moved: {move['reason']}."
    return (
        f"After moving: {money(move['spend'])} goes to {num(move['receiving_domains'])} "
        f"whitelisted {what}, each growing by x{move['growth']:.2f}."
    )


def _figure(name: str, value: Any) -> str:
    if name == "cpm":
        return money(value)
    if name == "campaign_score":
        return num(value, 1)
    return pct(value)


def _volume(volume: str, value: Any) -> str:
    """Spend in money; counts whole, or to a tenth once moving made them fractional."""
    if volume == "spend":
        return money(value)
    number = finite(value)
    return num(value, 0 if number is None or number.is_integer() else 1)
