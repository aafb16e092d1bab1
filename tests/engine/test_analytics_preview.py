"""What other weights would do before scoring again (caliber.engine.analytics.preview):
the preview of a scored export equals the scoring of the same file with those weights."""

from __future__ import annotations

import polars as pl
import pytest

from caliber.engine import pipeline
from caliber.engine.analytics.base import ScoredFrame
from caliber.engine.analytics.preview import CONFIDENT_NOTE, ListRule, weight_preview
from caliber.engine.config import Setup
from caliber.engine.errors import InvalidParameterError
from tests.engine.exports import make_export

TEXT = make_export("trade_desk", "display", seed=5, names=120).encode()
SETUP = Setup.create("trade_desk", "action", "display")
RULE = ListRule(SETUP.min_impressions, SETUP.whitelist_quantile, SETUP.blacklist_quantile)


@pytest.fixture(scope="module")
def scored() -> pipeline.ScoringResult:
    return pipeline.score(TEXT, SETUP)


def _tilted(result: pipeline.ScoringResult) -> dict[str, float]:
    """All the weight on the setup's last metric but a little on the others."""
    metrics = result.metric_names
    rest = 0.1 / (len(metrics) - 1)
    return {m: (0.9 if m == metrics[-1] else rest) for m in metrics}


def _names(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("domain").to_list()


def test_the_preview_is_what_scoring_with_the_weights_gives(
    scored: pipeline.ScoringResult,
) -> None:
    weights = _tilted(scored)
    preview = weight_preview(ScoredFrame.from_result(scored), weights, RULE, limit=1000)
    again = pipeline.score(TEXT, Setup.create("trade_desk", "action", "display", weights=weights))

    assert preview["campaign_score"]["before"] == scored.campaign["campaign_level_score"]
    assert preview["campaign_score"]["after"] == again.campaign["campaign_level_score"]
    assert preview["campaign_score"]["after"] != preview["campaign_score"]["before"]

    old = dict(zip(_names(scored.results), scored.results["quality_status"], strict=True))
    new = dict(zip(_names(again.results), again.results["quality_status"], strict=True))
    moved = {name for name in old if old[name] != new[name]}
    changes = preview["status_changes"]
    assert changes["count"] == len(moved) > 0
    assert {item["domain"] for item in changes["items"]} == moved
    assert changes["up"] + changes["down"] == len(moved)
    new_scores = dict(zip(_names(again.results), again.results["score"], strict=True))
    for item in changes["items"]:
        assert item["status_before"] == old[item["domain"]]
        assert item["status_after"] == new[item["domain"]]
        assert item["score_after"] == new_scores[item["domain"]]
    sizes = [abs(item["change"]) for item in changes["items"]]
    assert sizes == sorted(sizes, reverse=True)

    for name, before, after in (
        ("whitelist", scored.lists.whitelist, again.lists.whitelist),
        ("blacklist", scored.lists.blacklist, again.lists.blacklist),
    ):
        block = preview["lists"][name]
        assert (block["before"], block["after"]) == (before.height, after.height)
        added = [n for n in _names(after) if n not in set(_names(before))]
        removed = [n for n in _names(before) if n not in set(_names(after))]
        assert [e["domain"] for e in block["added"]["items"]] == added
        assert [e["domain"] for e in block["removed"]["items"]] == removed
    assert preview["note"] is None


def test_the_same_weights_change_nothing(scored: pipeline.ScoringResult) -> None:
    data = ScoredFrame.from_result(scored)
    preview = weight_preview(data, dict(data.weights), RULE)
    assert preview["campaign_score"]["change"] == 0
    assert preview["status_changes"] == {"count": 0, "up": 0, "down": 0, "items": []}
    for block in preview["lists"].values():
        assert block["added"]["count"] == block["removed"]["count"] == 0


def test_items_are_limited_and_counts_are_not(scored: pipeline.ScoringResult) -> None:
    preview = weight_preview(ScoredFrame.from_result(scored), _tilted(scored), RULE, limit=2)
    assert len(preview["status_changes"]["items"]) == 2 < preview["status_changes"]["count"]


def test_a_confident_run_says_its_lists_are_compared_classically(
    scored: pipeline.ScoringResult,
) -> None:
    data = ScoredFrame.from_result(scored)
    assert weight_preview(data, _tilted(scored), RULE, confident=True)["note"] == CONFIDENT_NOTE


def test_weights_not_naming_the_setups_metrics_are_refused(
    scored: pipeline.ScoringResult,
) -> None:
    with pytest.raises(InvalidParameterError, match="missing metric"):
        weight_preview(ScoredFrame.from_result(scored), {"ctr": 1.0}, RULE)
