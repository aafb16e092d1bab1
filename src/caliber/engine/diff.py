"""What changed between two scorings of a campaign (issue 18 §2): a base and a head result
frame with the lists each puts to use (``decisions.lists_in_use``), compared by the
dimension's names.

- ``lists``: per list, the entries the head adds (in the head list's order: best first on
  the whitelist, worst first on the blacklist), the entries it removes (in the base list's
  order, described as they were listed in the base) and how many it keeps.
- ``domains``: names new in the head (head rank order) and names that vanished (base rank
  order): the count of each and the first ``limit`` of them.
- ``movers``: among names in both, the ``limit`` largest score rises (change desc) and
  falls (change asc), and the ``limit`` names whose quality status changed (largest
  absolute change first); every tie broken by name, so the order is deterministic.
- ``campaign``: the campaign score (``lists.campaign_summary``) and key metrics of each
  side, and their change (head − base).

Pure: polars in, plain Python out. Names compare exactly (the results are already
aggregated by their cleaned name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from caliber.engine.lists import OptimizationLists, campaign_summary, rank_order
from caliber.engine.score import SCORE, STATUS

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
LIST_NAMES = ("whitelist", "blacklist")
# the key metrics compared, in this order (campaign_summary's figures, then the rates)
METRICS = (
    "total_impressions",
    "total_spend",
    "average_cpm",
    "ctr",
    "conversion_rate",
    "row_count",
    "median_score",
    "whitelist_count",
    "blacklist_count",
)
# rates averaged over the rows that have them, weighted by impressions (the campaign's
# clicks / impressions when each row's rate is its own clicks / impressions)
_RATES = ("ctr", "conversion_rate")
_RATE_DIGITS = 8


@dataclass(frozen=True)
class Side:
    """One scoring: its result frame (keyed by the dimension; with ``score``,
    ``impressions``, ``percentile_rank``, ``quality_status`` and, when the file had them,
    ``spend``, ``ctr``, ``conversion_rate``) and the lists it puts to use."""

    results: pl.DataFrame
    lists: OptimizationLists


@dataclass(frozen=True)
class RunDiff:
    """The diff of two sides, as plain data (:meth:`to_dict` is the API's shape)."""

    lists: dict[str, dict[str, Any]]
    domains: dict[str, dict[str, Any]]
    movers: dict[str, list[dict[str, Any]]]
    campaign: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lists": self.lists,
            "domains": self.domains,
            "movers": self.movers,
            "campaign": self.campaign,
        }

    def list_changes(self) -> dict[str, dict[str, list[str]]]:
        """Per list, the names to add and to remove (what a DSP's list must change), in
        the order of :func:`list_changes`."""
        return {
            name: {
                "add": [entry["domain"] for entry in change["added"]],
                "remove": [entry["domain"] for entry in change["removed"]],
            }
            for name, change in self.lists.items()
        }

    @property
    def changes_lists(self) -> bool:
        return any(change["added"] or change["removed"] for change in self.lists.values())


def compare(base: Side, head: Side, dimension: str, limit: int = DEFAULT_LIMIT) -> RunDiff:
    """The diff of ``head`` against ``base`` (see the module docstring)."""
    if not 1 <= limit <= MAX_LIMIT:
        msg = f"limit must be between 1 and {MAX_LIMIT}, got {limit}"
        raise ValueError(msg)
    return RunDiff(
        lists={
            name: _list_change(_list(base.lists, name), _list(head.lists, name), dimension)
            for name in LIST_NAMES
        },
        domains=_domains(base.results, head.results, dimension, limit),
        movers=_movers(base.results, head.results, dimension, limit),
        campaign=_campaign(base, head, dimension),
    )


def list_changes(
    base: OptimizationLists, head: OptimizationLists, dimension: str
) -> dict[str, dict[str, list[str]]]:
    """Only the names each list adds (head order) and removes (base order): what a
    notification counts, without the rest of the diff."""
    found = {}
    for name in LIST_NAMES:
        change = _list_change(_list(base, name), _list(head, name), dimension)
        found[name] = {
            "add": [entry["domain"] for entry in change["added"]],
            "remove": [entry["domain"] for entry in change["removed"]],
        }
    return found


def _list(lists: OptimizationLists, name: str) -> pl.DataFrame:
    return lists.whitelist if name == "whitelist" else lists.blacklist


def _list_change(base: pl.DataFrame, head: pl.DataFrame, dimension: str) -> dict[str, Any]:
    before = set(base.get_column(dimension).to_list())
    after = set(head.get_column(dimension).to_list())
    added = head.filter(~pl.col(dimension).is_in(list(before)))
    removed = base.filter(~pl.col(dimension).is_in(list(after)))
    return {
        "added": _entries(added, dimension),
        "removed": _entries(removed, dimension),
        "kept": len(before & after),
    }


def _domains(
    base: pl.DataFrame, head: pl.DataFrame, dimension: str, limit: int
) -> dict[str, dict[str, Any]]:
    new = rank_order(head.join(base.select(dimension), on=dimension, how="anti"), dimension)
    gone = rank_order(base.join(head.select(dimension), on=dimension, how="anti"), dimension)
    return {
        "new": {"count": new.height, "items": _entries(new.head(limit), dimension)},
        "vanished": {"count": gone.height, "items": _entries(gone.head(limit), dimension)},
    }


def _movers(
    base: pl.DataFrame, head: pl.DataFrame, dimension: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    both = head.select(
        dimension,
        pl.col(SCORE).alias("head_score"),
        pl.col(STATUS).alias("head_status"),
        pl.col("impressions"),
    ).join(
        base.select(
            dimension, pl.col(SCORE).alias("base_score"), pl.col(STATUS).alias("base_status")
        ),
        on=dimension,
        how="inner",
    )
    both = both.with_columns(
        (pl.col("head_score") - pl.col("base_score")).round(2).alias("change")
    ).filter(pl.col("change").is_not_null())
    up = both.filter(pl.col("change") > 0).sort(["change", dimension], descending=[True, False])
    down = both.filter(pl.col("change") < 0).sort(["change", dimension])
    status = (
        both.filter(pl.col("head_status") != pl.col("base_status"))
        .with_columns(pl.col("change").abs().alias("size"))
        .sort(["size", dimension], descending=[True, False])
    )
    return {
        "up": _movers_of(up.head(limit), dimension),
        "down": _movers_of(down.head(limit), dimension),
        "status": _movers_of(status.head(limit), dimension),
    }


def _movers_of(frame: pl.DataFrame, dimension: str) -> list[dict[str, Any]]:
    return [
        {
            "domain": row[dimension],
            "base_score": row["base_score"],
            "head_score": row["head_score"],
            "change": row["change"],
            "base_status": row["base_status"],
            "head_status": row["head_status"],
            "impressions": _whole(row["impressions"]),
        }
        for row in frame.iter_rows(named=True)
    ]


def _entries(frame: pl.DataFrame, dimension: str) -> list[dict[str, Any]]:
    return [
        {
            "domain": name,
            "score": score,
            "impressions": _whole(impressions),
            "quality_status": status,
        }
        for name, score, impressions, status in zip(
            frame.get_column(dimension).to_list(),
            frame.get_column(SCORE).to_list(),
            frame.get_column("impressions").to_list(),
            frame.get_column(STATUS).to_list(),
            strict=True,
        )
    ]


def _campaign(base: Side, head: Side, dimension: str) -> dict[str, Any]:
    before, after = figures(base, dimension), figures(head, dimension)
    return {
        "campaign_score": _pair(before["campaign_score"], after["campaign_score"]),
        "metrics": {name: _pair(before[name], after[name]) for name in METRICS},
    }


def figures(side: Side, dimension: str) -> dict[str, Any]:
    """The campaign score and the key metrics (:data:`METRICS`) of one side."""
    results = side.results
    if results.height == 0:
        return {"campaign_score": None, **dict.fromkeys(METRICS), "row_count": 0}
    summary = campaign_summary(_with_spend(results), dimension)
    found: dict[str, Any] = {
        "campaign_score": summary["campaign_level_score"],
        "total_impressions": summary["total_impressions"],
        "total_spend": summary["total_spend"],
        "average_cpm": summary["average_cpm"],
        "row_count": summary["row_count"],
        "median_score": summary["score_distribution"]["median"],
        "whitelist_count": side.lists.whitelist.height,
        "blacklist_count": side.lists.blacklist.height,
    }
    for rate in _RATES:
        found[rate] = _weighted_rate(results, rate)
    return found


def _with_spend(results: pl.DataFrame) -> pl.DataFrame:
    """campaign_summary reads ``spend``: a file without it has no spend (None)."""
    if "spend" in results.columns:
        return results
    return results.with_columns(pl.lit(None, pl.Float64).alias("spend"))


def _weighted_rate(results: pl.DataFrame, rate: str) -> float | None:
    if rate not in results.columns:
        return None
    rows = results.filter(pl.col(rate).is_not_null() & pl.col(rate).is_finite())
    impressions = float(rows.get_column("impressions").sum()) if rows.height else 0.0
    if impressions <= 0:
        return None
    weighted = float((rows.get_column(rate) * rows.get_column("impressions")).sum())
    return round(weighted / impressions, _RATE_DIGITS)


def _pair(base: Any, head: Any) -> dict[str, Any]:
    return {"base": base, "head": head, "change": _change(base, head)}


def _change(base: Any, head: Any) -> float | int | None:
    if base is None or head is None:
        return None
    if isinstance(base, int) and isinstance(head, int):
        return head - base
    change = float(head) - float(base)
    return round(change, _RATE_DIGITS) if math.isfinite(change) else None


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def counts_sentence(
    changes: Mapping[str, Mapping[str, Sequence[str]]], dimension: str = "domain"
) -> str:
    """ "12 domains join the blacklist, 3 leave the whitelist": every non-empty change,
    blacklist first (what a buyer acts on first), joins before leaves; "" when nothing
    changed. ``dimension`` names the entries (``supply_vendor``: "supply vendors")."""
    noun = dimension.replace("_", " ")
    parts = []
    for name in ("blacklist", "whitelist"):
        for key, verb in (("add", "join"), ("remove", "leave")):
            count = len(changes[name][key])
            if count:
                plural = noun if count == 1 else f"{noun}s"
                verb_form = f"{verb}s" if count == 1 else verb
                parts.append(f"{count} {plural} {verb_form} the {name}")
    return ", ".join(parts)
