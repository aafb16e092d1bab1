"""The diff of two scorings (issue 18 §2), against figures computed here in plain Python
from the rows, never by the engine's own diff: list entries added, removed and kept, new
and vanished names, score and status movers with ties broken by name, and the change of
the campaign score and key metrics."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from caliber.engine.config import Setup
from caliber.engine.decisions import lists_in_use
from caliber.engine.diff import METRICS, Side, compare, counts_sentence, list_changes
from caliber.engine.lists import build_lists
from caliber.engine.pipeline import score
from tests.engine.exports import make_export

Row = tuple[str, float, int, str, float, float]  # name, score, impressions, status, spend, ctr

BASE: list[Row] = [
    ("a.com", 90.0, 1000, "good", 5.0, 0.010),
    ("b.com", 80.0, 2000, "good", 8.0, 0.008),
    ("c.com", 60.0, 500, "moderate", 2.0, 0.004),
    ("d.com", 50.0, 3000, "moderate", 9.0, 0.002),
    ("e.com", 40.0, 100, "moderate", 1.0, 0.001),
    ("f.com", 30.0, 800, "poor", 4.0, 0.003),
    ("g.com", 20.0, 1200, "poor", 6.0, 0.005),
    ("h.com", 10.0, 400, "poor", 3.0, 0.000),
]
HEAD: list[Row] = [
    ("c.com", 95.0, 700, "good", 3.0, 0.012),  # +35: the largest rise, now good
    ("a.com", 85.0, 900, "good", 4.0, 0.009),  # -5
    ("i.com", 75.0, 600, "good", 2.5, 0.007),  # new
    ("b.com", 70.0, 2100, "moderate", 8.5, 0.006),  # -10, good -> moderate
    ("f.com", 40.0, 900, "moderate", 4.5, 0.004),  # +10, poor -> moderate
    ("e.com", 50.0, 150, "moderate", 1.2, 0.002),  # +10: ties f.com, e before f by name
    ("d.com", 25.0, 2500, "poor", 7.0, 0.001),  # -25, moderate -> poor
    ("j.com", 15.0, 300, "poor", 1.5, 0.000),  # new
    ("g.com", 20.0, 1100, "poor", 5.5, 0.005),  # unchanged
]  # h.com vanished


def _frame(rows: list[Row]) -> pl.DataFrame:
    names, scores, imps, statuses, spend, ctr = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "domain": list(names),
            "impressions": list(imps),
            "spend": list(spend),
            "ctr": list(ctr),
            "score": list(scores),
            "quality_status": list(statuses),
            "percentile_rank": [50] * len(names),  # campaign_summary's top rows carry it
        }
    ).sort(["score", "impressions", "domain"], descending=[True, True, False])


def _side(rows: list[Row], min_impressions: float = 200) -> Side:
    frame = _frame(rows)
    return Side(frame, build_lists(frame, "domain", min_impressions))


def _listed(rows: list[Row], min_impressions: float, top: bool) -> list[str]:
    """The classic list by hand: eligible rows at or beyond the linear quantile."""
    eligible = sorted(r[1] for r in rows if r[2] >= min_impressions)
    q = 0.75 if top else 0.25
    position = q * (len(eligible) - 1)
    low, frac = int(position), position - int(position)
    upper = eligible[min(low + 1, len(eligible) - 1)]
    threshold = eligible[low] + frac * (upper - eligible[low])
    return [
        r[0]
        for r in rows
        if r[2] >= min_impressions and (r[1] >= threshold if top else r[1] <= threshold)
    ]


def test_the_diff_of_two_hand_made_scorings() -> None:
    base, head = _side(BASE), _side(HEAD)
    got = compare(base, head, "domain", limit=3).to_dict()

    by_name = {r[0]: r for r in HEAD}
    old = {r[0]: r for r in BASE}
    for name, top in (("whitelist", True), ("blacklist", False)):
        before, after = set(_listed(BASE, 200, top)), set(_listed(HEAD, 200, top))
        change = got["lists"][name]
        assert {e["domain"] for e in change["added"]} == after - before
        assert {e["domain"] for e in change["removed"]} == before - after
        assert change["kept"] == len(before & after)
        for entry in change["added"]:  # as the head lists it
            row = by_name[entry["domain"]]
            assert (entry["score"], entry["impressions"], entry["quality_status"]) == row[1:4]
        for entry in change["removed"]:  # as the base listed it
            row = old[entry["domain"]]
            assert (entry["score"], entry["impressions"], entry["quality_status"]) == row[1:4]
    # by hand (e.com is under 200 impressions both times): base whitelist >= q75 of
    # 10,20,30,50,60,80,90 = 70: a, b; head >= q75 of 15,20,25,40,70,75,85,95 = 77.5: c, a;
    # base blacklist <= 25: g, h; head <= 23.75: j, g
    assert [e["domain"] for e in got["lists"]["whitelist"]["added"]] == ["c.com"]
    assert [e["domain"] for e in got["lists"]["whitelist"]["removed"]] == ["b.com"]
    assert [e["domain"] for e in got["lists"]["blacklist"]["added"]] == ["j.com"]
    assert [e["domain"] for e in got["lists"]["blacklist"]["removed"]] == ["h.com"]
    assert got["lists"]["whitelist"]["kept"] == got["lists"]["blacklist"]["kept"] == 1
    assert list_changes(base.lists, head.lists, "domain") == {
        "whitelist": {"add": ["c.com"], "remove": ["b.com"]},
        "blacklist": {"add": ["j.com"], "remove": ["h.com"]},
    }

    assert got["domains"]["new"]["count"] == 2
    assert [e["domain"] for e in got["domains"]["new"]["items"]] == ["i.com", "j.com"]
    assert got["domains"]["vanished"] == {
        "count": 1,
        "items": [{"domain": "h.com", "score": 10.0, "impressions": 400, "quality_status": "poor"}],
    }

    changes = {n: round(by_name[n][1] - old[n][1], 2) for n in by_name if n in old}
    up = sorted((n for n in changes if changes[n] > 0), key=lambda n: (-changes[n], n))
    down = sorted((n for n in changes if changes[n] < 0), key=lambda n: (changes[n], n))
    moved = [n for n in changes if by_name[n][3] != old[n][3]]
    status = sorted(moved, key=lambda n: (-abs(changes[n]), n))
    assert [m["domain"] for m in got["movers"]["up"]] == up[:3] == ["c.com", "e.com", "f.com"]
    assert [m["domain"] for m in got["movers"]["down"]] == down[:3] == ["d.com", "b.com", "a.com"]
    assert [m["domain"] for m in got["movers"]["status"]] == status[:3]
    assert status[:3] == ["c.com", "d.com", "b.com"]
    assert got["movers"]["up"][0] == {
        "domain": "c.com",
        "base_score": 60.0,
        "head_score": 95.0,
        "change": 35.0,
        "base_status": "moderate",
        "head_status": "good",
        "impressions": 700,
    }

    def campaign_score(rows: list[Row]) -> float:
        return round(sum(r[1] * r[2] for r in rows) / sum(r[2] for r in rows), 2)

    def ctr(rows: list[Row]) -> float:
        return round(sum(r[5] * r[2] for r in rows) / sum(r[2] for r in rows), 8)

    campaign = got["campaign"]
    assert campaign["campaign_score"]["base"] == campaign_score(BASE)
    assert campaign["campaign_score"]["head"] == campaign_score(HEAD)
    assert campaign["campaign_score"]["change"] == pytest.approx(
        campaign_score(HEAD) - campaign_score(BASE), abs=1e-8
    )
    metrics = campaign["metrics"]
    assert list(metrics) == list(METRICS)
    assert metrics["total_impressions"] == {"base": 9000, "head": 9250, "change": 250}
    assert metrics["row_count"] == {"base": 8, "head": 9, "change": 1}
    assert metrics["total_spend"]["base"] == pytest.approx(38.0)
    assert metrics["total_spend"]["head"] == pytest.approx(37.7)
    spend_base, spend_head = sum(r[4] for r in BASE), sum(r[4] for r in HEAD)
    assert metrics["average_cpm"]["head"] == pytest.approx(spend_head / 9250 * 1000, abs=1e-4)
    assert metrics["average_cpm"]["base"] == pytest.approx(spend_base / 9000 * 1000, abs=1e-4)
    assert metrics["ctr"]["base"] == ctr(BASE)
    assert metrics["ctr"]["head"] == ctr(HEAD)
    assert metrics["conversion_rate"] == {"base": None, "head": None, "change": None}
    assert metrics["whitelist_count"] == {"base": 2, "head": 2, "change": 0}
    assert metrics["blacklist_count"] == {"base": 2, "head": 2, "change": 0}
    assert metrics["median_score"] == {"base": 45.0, "head": 50.0, "change": 5.0}


def test_a_scoring_against_itself_changes_nothing() -> None:
    side = _side(BASE)
    got = compare(side, side, "domain")
    assert not got.changes_lists
    assert got.list_changes() == {
        "whitelist": {"add": [], "remove": []},
        "blacklist": {"add": [], "remove": []},
    }
    assert got.domains == {
        "new": {"count": 0, "items": []},
        "vanished": {"count": 0, "items": []},
    }
    assert got.movers == {"up": [], "down": [], "status": []}
    metrics = got.campaign["metrics"]
    assert all(pair["change"] == 0 for n, pair in metrics.items() if n != "conversion_rate")
    assert metrics["conversion_rate"]["change"] is None  # the rows have no conversion rate


def test_limit_caps_the_items_not_the_counts_and_is_checked() -> None:
    base = _side([(f"s{i}.com", 50.0, 1000, "moderate", 1.0, 0.0) for i in range(5)])
    head = _side([(f"n{i}.com", 50.0, 1000, "moderate", 1.0, 0.0) for i in range(5)])
    got = compare(base, head, "domain", limit=2)
    assert got.domains["new"]["count"] == 5
    # equal scores and impressions: by name
    assert [e["domain"] for e in got.domains["new"]["items"]] == ["n0.com", "n1.com"]
    assert [e["domain"] for e in got.domains["vanished"]["items"]] == ["s0.com", "s1.com"]
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="limit"):
            compare(base, head, "domain", limit=bad)


def test_the_diff_of_two_scored_exports_by_the_engine() -> None:
    setup = Setup.create("trade_desk", "action", "display")
    one = score(make_export("trade_desk", "display", seed=5, names=50).encode(), setup)
    two = score(make_export("trade_desk", "display", seed=6, names=60).encode(), setup)
    sides = [Side(r.results, lists_in_use(r.results, "domain", setup)) for r in (one, two)]
    got = compare(sides[0], sides[1], "domain", limit=1000)
    for name in ("whitelist", "blacklist"):
        before = set(getattr(one.lists, name)["domain"].to_list())
        after = set(getattr(two.lists, name)["domain"].to_list())
        assert [e["domain"] for e in got.lists[name]["added"]] == [
            n for n in getattr(two.lists, name)["domain"].to_list() if n not in before
        ]
        assert {e["domain"] for e in got.lists[name]["removed"]} == before - after
    old = dict(zip(one.results["domain"], one.results["score"], strict=True))
    new = dict(zip(two.results["domain"], two.results["score"], strict=True))
    assert got.domains["new"]["count"] == len(new.keys() - old.keys())
    assert got.domains["vanished"]["count"] == len(old.keys() - new.keys())
    rises = {n: round(new[n] - old[n], 2) for n in new.keys() & old.keys()}
    want = sorted((n for n, c in rises.items() if c > 0), key=lambda n: (-rises[n], n))
    assert [m["domain"] for m in got.movers["up"]] == want
    assert got.campaign["campaign_score"]["head"] == two.campaign["campaign_level_score"]


def test_the_notification_sentence() -> None:
    changes: dict[str, dict[str, Any]] = {
        "whitelist": {"add": [], "remove": ["a", "b", "c"]},
        "blacklist": {"add": [f"x{i}" for i in range(12)], "remove": ["y"]},
    }
    assert counts_sentence(changes) == (
        "12 domains join the blacklist, 1 domain leaves the blacklist, "
        "3 domains leave the whitelist"
    )
    empty: dict[str, dict[str, list[str]]] = {
        "whitelist": {"add": [], "remove": []},
        "blacklist": {"add": [], "remove": []},
    }
    assert counts_sentence(empty) == ""
    one: dict[str, dict[str, list[str]]] = {
        "whitelist": {"add": ["a"], "remove": []},
        "blacklist": {"add": [], "remove": []},
    }
    assert counts_sentence(one, "supply_vendor") == "1 supply vendor joins the whitelist"
