"""Properties the score must keep whatever the data (hypothesis)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.pipeline import ScoringResult, score

# No share-of-total filter, so every generated row is scored.
SETUP = Setup(Platform.PULSEPOINT, Goal.AWARENESS, Channel.DISPLAY, pulsepoint_min_share=0.0)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

rate = st.one_of(st.none(), st.floats(0.0, 1.0, allow_nan=False))
row = st.tuples(
    st.integers(250, 5_000_000),
    st.one_of(st.none(), st.floats(0.01, 80.0, allow_nan=False)),
    rate,
    rate,
)
rows = st.lists(row, min_size=1, max_size=25)


def _frame(data: list[tuple[int, float | None, float | None, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Domain": [f"site{i}.com" for i in range(len(data))],
            "Impressions": [r[0] for r in data],
            "eCPM": [r[1] for r in data],
            "CTR": [r[2] for r in data],
            "Conversion Rate": [r[3] for r in data],
        },
        schema={
            "Domain": pl.String,
            "Impressions": pl.Int64,
            "eCPM": pl.Float64,
            "CTR": pl.Float64,
            "Conversion Rate": pl.Float64,
        },
    )


def _has_values(frame: pl.DataFrame) -> bool:
    return all(frame[c].drop_nulls().len() > 0 for c in ("eCPM", "CTR", "Conversion Rate"))


def _score(frame: pl.DataFrame) -> ScoringResult:
    return score(frame, SETUP)


@SETTINGS
@given(rows)
def test_scores_stay_within_0_and_100(
    data: list[tuple[int, float | None, float | None, float | None]],
) -> None:
    frame = _frame(data)
    assume(_has_values(frame))
    result = _score(frame)
    scores = result.results["score"]
    assert scores.min() is not None
    assert 0.0 <= float(scores.min()) <= float(scores.max()) <= 100.0  # type: ignore[arg-type]
    assert result.results["percentile_rank"].is_between(0, 100).all()


@SETTINGS
@given(rows, st.data())
def test_contributions_sum_to_the_score(
    data: list[tuple[int, float | None, float | None, float | None]], draw: st.DataObject
) -> None:
    frame = _frame(data)
    assume(_has_values(frame))
    result = _score(frame)
    names = [f"{m}_contribution" for m in result.metric_names]
    total = result.results.select(pl.sum_horizontal(names)).to_series()
    diff = (total - result.results["score"]).abs().max()
    assert diff is not None
    assert float(diff) <= 0.005 + 1e-9  # type: ignore[arg-type]
    index = draw.draw(st.integers(0, result.results.height - 1))
    one = result.results.row(index, named=True)
    breakdown = result.breakdown(one)
    assert sum(b["contribution"] for b in breakdown.values()) == pytest.approx(
        one["score"], abs=0.005 + 1e-9
    )


@SETTINGS
@given(rows, st.randoms(use_true_random=False))
def test_row_order_does_not_change_results(
    data: list[tuple[int, float | None, float | None, float | None]], rnd: object
) -> None:
    frame = _frame(data)
    assume(_has_values(frame))
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=len(data))
    first = _score(frame)
    second = _score(shuffled)
    assert first.results.equals(second.results)
    assert first.lists.whitelist.equals(second.lists.whitelist)
    assert first.lists.blacklist.equals(second.lists.blacklist)
    assert first.campaign == second.campaign


@SETTINGS
@given(rows, st.data())
def test_raising_a_higher_is_better_metric_never_lowers_the_score(
    data: list[tuple[int, float | None, float | None, float | None]], draw: st.DataObject
) -> None:
    frame = _frame(data)
    assume(_has_values(frame))
    index = draw.draw(st.integers(0, frame.height - 1))
    column = draw.draw(st.sampled_from(["CTR", "Conversion Rate"]))
    before = frame[column][index]
    start = 0.0 if before is None else float(before)
    raised = draw.draw(st.floats(start, 1.0, allow_nan=False))
    if before is None:
        raised = max(raised, 0.0)
    bumped = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == index)
        .then(pl.lit(raised))
        .otherwise(pl.col(column))
        .alias(column)
    )
    name = f"site{index}.com"
    old = _score(frame).results.filter(pl.col("domain") == name)["score"].item()
    new = _score(bumped).results.filter(pl.col("domain") == name)["score"].item()
    assert new >= old
