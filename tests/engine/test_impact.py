"""What applying the lists would do (issue 18 §3), against figures worked out by hand.

The hand-worked campaign (counts; quality ``q`` a rate per impression; scores given):

| domain | impressions | spend | clicks | conversions | q   | score | list      |
|--------|-------------|-------|--------|-------------|-----|-------|-----------|
| a      | 1000        | 2     | 10     | 1           | 0.8 | 90    | whitelist |
| b      | 2000        | 6     | 4      | 0           | 0.5 | 60    |           |
| c      | 1000        | 5     | 1      | 0           | 0.2 | 10    | blacklist |
| d      | 4000        | 8     | 20     | 2           | 0.6 | 80    | whitelist |
| e      | 2000        | 4     | 2      | 1           | 0.4 | 20    | blacklist |

Blocking c and e removes 3000 of 10000 impressions, 9 of 25 spend, 3 of 37 clicks and
1 of 4 conversions. Moving 9 to a and d (spend 2 and 8 of 10) gives a 1.8 (1.8 / 2 =
0.9 more of its own volume) and d 7.2 (0.9 more): both grow by 1.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pytest

from caliber.engine.config import Setup
from caliber.engine.impact import impact, quality_metrics
from caliber.engine.lists import OptimizationLists
from caliber.engine.pipeline import score

ROWS = {
    # domain: impressions, spend, clicks, conversions, q, score
    "a": (1000, 2.0, 10, 1, 0.8, 90.0),
    "b": (2000, 6.0, 4, 0, 0.5, 60.0),
    "c": (1000, 5.0, 1, 0, 0.2, 10.0),
    "d": (4000, 8.0, 20, 2, 0.6, 80.0),
    "e": (2000, 4.0, 2, 1, 0.4, 20.0),
}
METRICS = ["cpm", "q", "ctr", "conversion_rate"]


def _results(rows: Mapping[str, tuple[float, ...]] = ROWS) -> pl.DataFrame:
    names = list(rows)
    imps = [rows[n][0] for n in names]
    return pl.DataFrame(
        {
            "domain": names,
            "impressions": imps,
            "spend": [rows[n][1] for n in names],
            "cpm": [rows[n][1] / rows[n][0] * 1000 for n in names],
            "ctr": [rows[n][2] / rows[n][0] for n in names],
            "conversions": [rows[n][3] for n in names],
            "conversion_rate": [rows[n][3] / rows[n][0] for n in names],
            "q": [rows[n][4] for n in names],
            "score": [rows[n][5] for n in names],
        }
    )


def _lists(
    results: pl.DataFrame, white: list[str], black: list[str], level: float | None = None
) -> OptimizationLists:
    pick = results.filter
    return OptimizationLists(
        pick(pl.col("domain").is_in(white)),
        pick(pl.col("domain").is_in(black)),
        250,
        results.height,
        75.0,
        25.0,
        confidence=level,
    )


def test_removed_shares_and_the_figures_before_and_after_blocking() -> None:
    results = _results()
    found = impact(results, "domain", _lists(results, ["a", "d"], ["c", "e"]), METRICS).to_dict()
    assert found["lists"] == "classic"
    assert found["removed"] == {
        "domains": 2,
        "impressions": {"value": 3000, "share": 0.3},
        "spend": {"value": 9.0, "share": 0.36},
        "clicks": {"value": pytest.approx(3.0), "share": round(3 / 37, 6)},
        "conversions": {"value": pytest.approx(1.0), "share": 0.25},
    }
    assert found["before"] == {
        "cpm": 2.5,  # 25 / 10000 × 1000
        "ctr": pytest.approx(0.0037),  # 37 / 10000
        "conversion_rate": pytest.approx(0.0004),
        "q": pytest.approx(0.52),  # (800 + 1000 + 200 + 2400 + 800) / 10000
        "campaign_score": 58.0,  # (90000 + 120000 + 10000 + 320000 + 40000) / 10000
    }
    assert found["after_block"] == {
        "cpm": round(16 / 7000 * 1000, 4),
        "ctr": pytest.approx(round(34 / 7000, 8)),
        "conversion_rate": pytest.approx(round(3 / 7000, 8)),
        "q": pytest.approx(0.6),  # (800 + 1000 + 2400) / 7000
        "campaign_score": round(530000 / 7000, 2),  # 75.71
    }
    assert found["totals"]["after_block"] == {
        "impressions": 7000,
        "spend": 16.0,
        "clicks": pytest.approx(34.0),
        "conversions": pytest.approx(3.0),
    }


def test_moving_the_removed_spend_grows_each_whitelisted_row_by_the_same_factor() -> None:
    results = _results()
    found = impact(results, "domain", _lists(results, ["a", "d"], ["c", "e"]), METRICS).to_dict()
    # a: 1900 impressions, 3.8 spend, 19 clicks, 1.9 conversions; d: 7600, 15.2, 38, 3.8
    assert found["totals"]["after_move"] == {
        "impressions": 11500,  # 1900 + 2000 + 7600
        "spend": pytest.approx(25.0),  # everything removed is spent again
        "clicks": pytest.approx(61.0),  # 19 + 4 + 38
        "conversions": pytest.approx(5.7),  # 1.9 + 0 + 3.8
    }
    assert found["after_move"] == {
        "cpm": round(25 / 11500 * 1000, 4),
        "ctr": pytest.approx(round(61 / 11500, 8)),
        "conversion_rate": pytest.approx(round(5.7 / 11500, 8)),
        "q": pytest.approx(round((1520 + 1000 + 4560) / 11500, 8)),
        "campaign_score": round((171000 + 120000 + 608000) / 11500, 2),  # 78.17
    }
    move = found["move"]
    assert move["possible"] is True
    assert move["reason"] is None
    assert move["growth"] == pytest.approx(1.9)
    assert move["spend"] == 9.0
    assert (move["receiving_domains"], move["whitelist_domains"]) == (2, 2)
    assert move["added_impressions"] == pytest.approx(4500)  # 900 + 3600
    assert move["added_clicks"] == pytest.approx(27.0)
    sentences = " ".join(found["assumptions"])
    assert "in proportion to each one's current spend" in sentences
    assert "its own CPM" in sentences
    assert "x1.9000" in sentences
    assert "nothing is scored again" in sentences
    assert found["unavailable"] == {}


def test_before_is_the_summary_campaign_score_of_a_real_run(tmp_path: Path) -> None:
    """On an engine run, 'before' is the summary's campaign score and average CPM, and
    the removed impressions are the blacklist's own."""
    lines = [
        "Site,Impressions,Advertiser Cost (Adv Currency),Clicks,"
        "All Last Click + View Conversions,IAS Display Fully In View 1 Second Rate,"
        "Ad Load - XL (Excessive) - Impressions,Ad Refresh - Below 15s - Impressions"
    ]
    for i in range(40):
        imps = 1000 + 137 * i
        lines.append(
            f"s{i}.com,{imps},{imps * (1 + i % 7) / 1000:.2f},{(i * 7) % 13},{i % 3},"
            f"{0.3 + (i % 5) / 10},{(i * 11) % 50},{(i * 3) % 40}"
        )  # fmt: skip
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = score(path, Setup.create("trade_desk", "action", "display"))
    found = impact(run.results, run.dimension, run.lists, run.metric_names).to_dict()
    assert found["before"]["campaign_score"] == run.campaign["campaign_level_score"]
    assert found["before"]["cpm"] == pytest.approx(run.campaign["average_cpm"], abs=1e-4)
    blocked = run.lists.blacklist
    assert found["removed"]["domains"] == blocked.height > 0
    assert found["removed"]["impressions"]["value"] == blocked["impressions"].sum()
    assert list(found["before"]) == [
        "cpm",
        "ctr",
        "conversion_rate",
        "ias_display_fully_in_view_1s_rate",
        "ad_load_xl_rate",
        "ad_refresh_below_15s_rate",
        "campaign_score",
    ]


def test_a_file_without_spend_clicks_or_conversions_says_why_each_is_missing() -> None:
    results = _results().with_columns(
        pl.lit(None, pl.Float64).alias(c) for c in ("spend", "cpm", "ctr", "conversion_rate")
    )
    found = impact(results, "domain", _lists(results, ["a", "d"], ["c", "e"]), METRICS).to_dict()
    for volume in ("spend", "clicks", "conversions"):
        assert found["removed"][volume] == {"value": None, "share": None}
    assert found["removed"]["impressions"] == {"value": 3000, "share": 0.3}
    for state in ("before", "after_block", "after_move"):
        assert found[state]["cpm"] is found[state]["ctr"] is None
        assert found[state]["conversion_rate"] is None
    assert found["after_block"]["q"] == pytest.approx(0.6)
    assert found["unavailable"] == {
        "spend": "the file has no spend (no advertiser cost column)",
        "clicks": "the file has no clicks or CTR",
        "conversions": "the file has no conversions or conversion rate",
        "cpm": "the file has no spend or CPM",
        "ctr": "the file has no clicks or CTR",
        "conversion_rate": "the file has no conversions or conversion rate",
    }
    # nothing to move without spend: after moving is after blocking
    assert found["move"]["possible"] is False
    assert found["move"]["reason"] == "the file has no spend: there is no spend to move"
    assert found["after_move"] == found["after_block"]
    sentences = found["assumptions"]
    assert "No spend: the file has no spend (no advertiser cost column)." in sentences
    assert "No CTR: the file has no clicks or CTR." in sentences


def test_an_empty_blacklist_removes_nothing_and_moves_nothing() -> None:
    results = _results()
    found = impact(results, "domain", _lists(results, ["a", "d"], []), METRICS).to_dict()
    assert found["removed"]["domains"] == 0
    assert found["removed"]["impressions"] == {"value": 0, "share": 0}
    assert found["removed"]["spend"] == {"value": 0, "share": 0}
    assert found["before"] == found["after_block"] == found["after_move"]
    assert found["move"]["possible"] is False
    assert found["move"]["reason"].startswith("the blacklist is empty")
    assert any(s.startswith("No move: the blacklist is empty") for s in found["assumptions"])


def test_an_empty_whitelist_leaves_nowhere_to_move_and_says_so() -> None:
    results = _results()
    found = impact(results, "domain", _lists(results, [], ["c", "e"]), METRICS).to_dict()
    assert found["removed"]["spend"] == {"value": 9.0, "share": 0.36}
    assert found["after_move"] == found["after_block"]
    assert found["totals"]["after_move"]["spend"] == 16.0
    assert found["move"] == {
        "possible": False,
        "reason": "the whitelist is empty: there is nowhere to move the removed spend",
        "whitelist_domains": 0,
        "receiving_domains": 0,
        "growth": 1.0,
        "spend": 0.0,
        "added_impressions": 0,
        "added_clicks": 0,
        "added_conversions": 0,
    }
    assert (
        "No move: the whitelist is empty: there is nowhere to move the removed spend; after "
        "moving is the same as after blocking." in found["assumptions"]
    )


def test_a_row_on_both_lists_is_blocked_and_receives_nothing() -> None:
    """Tied scores can put a row on both lists (a here): it is blocked, its spend is
    removed with the rest, and only d receives."""
    results = _results()
    both = impact(
        results, "domain", _lists(results, ["a", "d"], ["a", "c", "e"]), METRICS
    ).to_dict()
    # d alone receives the 11 removed (a 2 + c 5 + e 4): grows by 1 + 11 / 8
    assert both["move"]["receiving_domains"] == 1
    assert both["move"]["growth"] == pytest.approx(1 + 11 / 8)
    assert both["totals"]["after_move"]["impressions"] == pytest.approx(2000 + 4000 * 19 / 8)
    assert any("on both lists" in s for s in both["assumptions"])


def test_a_whitelist_without_spend_cannot_buy_impressions() -> None:
    rows = dict(ROWS, a=(1000, 0.0, 10, 1, 0.8, 90.0), d=(4000, 0.0, 20, 2, 0.6, 80.0))
    results = _results(rows)
    found = impact(results, "domain", _lists(results, ["a", "d"], ["c", "e"]), METRICS).to_dict()
    assert found["move"]["reason"] == (
        "the whitelisted rows have no spend: no CPM to buy impressions at"
    )
    assert found["after_move"] == found["after_block"]


def test_the_confident_lists_are_named_with_their_level() -> None:
    results = _results()
    lists = _lists(results, ["a", "d"], ["c", "e"], level=0.8)
    found = impact(results, "domain", lists, METRICS).to_dict()
    assert (found["lists"], found["list_confidence"]) == ("confident", 0.8)
    assert "confident lists (listed only when at least 80% sure)" in found["assumptions"][0]


def test_everything_blocked_leaves_no_figures_and_says_why() -> None:
    results = _results()
    found = impact(results, "domain", _lists(results, [], list(ROWS)), METRICS).to_dict()
    assert found["removed"]["impressions"]["share"] == 1.0
    assert set(found["after_block"].values()) == {None}
    assert found["unavailable"]["after_block"].startswith("the blacklist removes every")


def test_quality_metrics_and_their_base() -> None:
    assert quality_metrics(["ecpm", "ctr", "completion_rate", "conversion_rate"]) == [
        "completion_rate"
    ]
    results = _results().rename({"q": "completion_rate"})
    found = impact(
        results,
        "domain",
        _lists(results, ["a", "d"], ["c", "e"]),
        ["ecpm", "ctr", "completion_rate", "conversion_rate"],
    ).to_dict()
    assert "ecpm" not in found["before"]
    assert found["before"]["completion_rate"] == pytest.approx(0.52)
    assert any("completion_rate (per player starts)" in s for s in found["assumptions"])


def test_a_rate_only_blacklisted_rows_have_is_null_after_blocking_with_the_reason() -> None:
    results = _results().with_columns(
        pl.when(pl.col("domain").is_in(["c", "e"])).then(pl.col("q")).alias("q")
    )
    found = impact(results, "domain", _lists(results, ["a", "d"], ["c", "e"]), METRICS).to_dict()
    assert found["before"]["q"] == pytest.approx(1000 / 3000)  # (200 + 800) / (1000 + 2000)
    assert found["after_block"]["q"] is found["after_move"]["q"] is None
    why = "only blacklisted rows have it: no row left after blocking does"
    assert found["unavailable"] == {"after_block.q": why}
    assert f"No q after blocking: {why}." in found["assumptions"]
