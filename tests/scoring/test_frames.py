"""A run's stored frame (caliber.scoring.frames): what is stored of the engine's frame,
its layout from a run's snapshot, and the rows rebuilt from it exactly as the SQL layout
stored them (pure: no database)."""

from __future__ import annotations

import json
import math
import uuid

import polars as pl
import pytest

from caliber.core.errors import InvalidInput
from caliber.db.models import FileUpload, ScoringRun
from caliber.engine.config import Setup
from caliber.engine.pipeline import score
from caliber.scoring import frames, legacy, store
from caliber.scoring.service import config_snapshot
from tests.engine.exports import make_export

SETUP = Setup.create("trade_desk", "action", "display")


def test_the_stored_frame_is_the_engines_with_non_finite_values_missing() -> None:
    frame = pl.DataFrame(
        {"domain": ["a.com", "b.com"], "ctr": [math.inf, 0.5], "score": [math.nan, 1.0]}
    )
    stored = frames.prepare(frame, "domain")
    assert stored["ctr"].to_list() == [None, 0.5]
    assert stored["score"].to_list() == [None, 1.0]
    assert frames.from_parquet(frames.to_parquet(stored)).equals(stored)


def test_a_name_too_long_to_store_is_the_files_problem() -> None:
    frame = pl.DataFrame({"domain": ["x" * 513, "ok.com"], "score": [1.0, 2.0]})
    with pytest.raises(InvalidInput) as refused:
        frames.prepare(frame, "domain")
    assert refused.value.details["field"] == "domain"
    assert "longer than 512 characters" in refused.value.message


def test_the_layout_is_the_snapshot_the_run_was_started_with() -> None:
    snapshot = {
        "analysis_level": "supply_vendor",
        "weights": {"ctr": 0.25, "cpm": 0.75},
        "directions": {"ctr": "higher_is_better", "cpm": "lower_is_better"},
    }
    layout = frames.Layout.from_snapshot(snapshot)
    assert layout.dimension == "supply_vendor"
    assert [(m.name, m.weight, m.higher_is_better) for m in layout.metrics] == [
        ("ctr", 0.25, True),
        ("cpm", 0.75, False),
    ]
    # a snapshot without weights (but its setup): the setup's own
    run = ScoringRun(id=uuid.uuid4(), snapshot={"setup": SETUP.to_dict()})
    assert store.layout_of(run) == frames.Layout.of(SETUP)


def test_rows_rebuilt_from_the_file_are_the_sql_layouts_rows() -> None:
    """Every row, every value and its Python type (what the exports' bytes depend on):
    as the SQL layout stored the engine's rows and read them back through JSON."""
    result = score(make_export("trade_desk", "display", seed=5).encode(), SETUP, filename="x.csv")
    rows = legacy.result_rows(result, uuid.uuid4(), uuid.uuid4())
    sql = json.loads(json.dumps(rows, default=str))
    upload = FileUpload(id=uuid.uuid4(), original_filename="x.csv")
    layout = frames.Layout.from_snapshot(config_snapshot(SETUP, upload))
    assert layout == frames.Layout.of(SETUP)
    stored = frames.StoredRun(
        uuid.uuid4(),
        layout,
        frames.from_parquet(frames.to_parquet(frames.prepare(result.results, result.dimension))),
    )
    records = stored.records(range(stored.height))
    assert len(records) == len(sql)
    for record, row in zip(records, sql, strict=True):
        for name in ("rank", "domain", "impressions", "spend", "cpm", "ctr", "conversions"):
            assert getattr(record, name) == row[name], name
            assert type(getattr(record, name)) is type(row[name]), name
        for name in ("conversion_rate", "score", "percentile_rank", "quality_status"):
            assert getattr(record, name) == row[name], name
        assert (record.is_outlier, record.outlier_flags) == (
            row["is_outlier"],
            row["outlier_flags"],
        )
        assert json.dumps(record.metrics) == json.dumps(row["metrics"])
        assert json.dumps(record.score_breakdown) == json.dumps(row["score_breakdown"])
