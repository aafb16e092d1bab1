"""`caliber score --impact`: what applying the lists would do (``engine/impact.py``), as
the printed summary's second part: what the blacklist removes, the campaign's figures
before, after blocking and after moving, and the assumptions under them."""

from __future__ import annotations

from typing import Any

from caliber.cli.output import Summary

_STATES = ("before", "after_block", "after_move")
_VOLUMES = ("impressions", "spend", "clicks", "conversions")
_LABELS = {
    "cpm": "CPM",
    "ctr": "CTR",
    "conversion_rate": "conversion rate",
    "campaign_score": "campaign score",
}


def impact_summary(impact: dict[str, Any]) -> Summary:
    """Title, the removed shares and the move as facts, the figures as a table (before,
    after blocking, after moving), and the assumptions as closing lines."""
    level = impact.get("list_confidence")
    which = "classic lists" if level is None else f"confident lists at {level:g}"
    title = f"What applying the lists would do ({which})"
    removed = impact["removed"]
    facts = [("blacklisted rows removed", f"{removed['domains']:,}")]
    for volume in _VOLUMES:
        found = removed[volume]
        why = impact["unavailable"].get(volume)
        facts.append((f"{volume} removed", _removed(volume, found, why)))
    move = impact["move"]
    if move["possible"]:
        facts.append(
            (
                "spend moved",
                f"{move['spend']:,.2f} to {move['receiving_domains']:,} whitelisted rows "
                f"(each x{move['growth']:.4f})",
            )
        )
    else:
        facts.append(("spend moved", f"none: {move['reason']}"))
    header = ["figure", "before", "after blocking", "after moving"]
    rows = [header]
    for name in impact["before"]:
        rows.append([_LABELS.get(name, name), *(_value(name, impact[s][name]) for s in _STATES)])
    for volume in _VOLUMES:
        totals = [impact["totals"][s][volume] for s in _STATES]
        rows.append([volume, *(_number(volume, v) for v in totals)])
    closing = ["Assumptions:", *(f"  - {sentence}" for sentence in impact["assumptions"])]
    return title, facts, [("Campaign figures", rows)], closing


def _removed(volume: str, found: dict[str, Any], reason: str | None) -> str:
    if found["value"] is None:
        return f"n/a ({reason})" if reason else "n/a"
    share = "" if found["share"] is None else f" ({found['share']:.1%})"
    return f"{_number(volume, found['value'])}{share}"


def _value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name == "cpm":
        return f"{value:,.4f}"
    if name == "campaign_score":
        return f"{value:.2f}"
    # every other figure is a rate in [0, 1]: CTR and conversion rate need the digits
    return f"{value:.4%}" if name in ("ctr", "conversion_rate") else f"{value:.2%}"


def _number(volume: str, value: float | None) -> str:
    """Spend to the cent; counts whole, or to a tenth once moving made them fractional."""
    if value is None:
        return "n/a"
    if volume == "spend":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
