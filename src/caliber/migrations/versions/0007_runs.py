"""scoring runs: every scoring of a campaign kept as a run (issue 18)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00.000000

``scoring_runs`` holds each run: its snapshot (file, setup, weights, reading choices),
status, start and end, summary, processing report, list sizes, error, and where its
rows are: one Parquet file in the storage backend (``storage_key``), written by the
scoring job. Rows stored before this revision stay in ``scoring_results``; their run has
no ``storage_key`` and is read from there until the retention task moves it to a file.

Existing data: a campaign's results (``results_run_id``) become its first run, completed,
with the campaign's copies of its snapshot, summary, report and completion time (its
start time when the campaign's latest run is that one, else its completion time); a
campaign whose latest run is processing or failed also gets that run, with its
``run_snapshot``, start time and error. A campaign reset to pending after a failure
keeps its results run only (nothing recorded the failed run).

Downgrade: the runs' table is dropped. Campaigns whose results are in a file (runs
made after this revision) cannot be read by the older code: their ``results_run_id`` is
cleared (their reads answer that there are no results yet; re-score them after
upgrading again). The files stay in storage.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAMPAIGNS = sa.table(
    "campaigns",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("results_run_id", sa.Uuid()),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("completed_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("error_message", sa.Text()),
    sa.column("config_snapshot", sa.JSON()),
    sa.column("run_snapshot", sa.JSON()),
    sa.column("summary", sa.JSON()),
    sa.column("data_quality_report", sa.JSON()),
    sa.column("column_mapping_used", sa.JSON()),
    sa.column("campaign_level_score", sa.Float()),
)
_UPLOADS = sa.table("file_uploads", sa.column("id", sa.Uuid()))
_RESULTS = sa.table("scoring_results", sa.column("run_id", sa.Uuid()))


def upgrade() -> None:
    runs = op.create_table(
        "scoring_runs",
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("file_upload_id", sa.Uuid(), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("column_mapping_used", sa.JSON(), nullable=True),
        sa.Column("campaign_level_score", sa.Float(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.Column("whitelist_count", sa.Integer(), nullable=True),
        sa.Column("blacklist_count", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_scoring_runs_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["file_upload_id"],
            ["file_uploads.id"],
            name=op.f("fk_scoring_runs_file_upload_id_file_uploads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_runs")),
    )
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scoring_runs_campaign_started", ["campaign_id", "started_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_scoring_runs_file_upload_id"), ["file_upload_id"], unique=False
        )
    bind = op.get_bind()
    uploads = set(bind.scalars(sa.select(_UPLOADS.c.id)))
    counted: dict[uuid.UUID, int] = {
        row[0]: int(row[1])
        for row in bind.execute(
            sa.select(_RESULTS.c.run_id, sa.func.count()).group_by(_RESULTS.c.run_id)
        )
    }
    made = []
    for campaign in bind.execute(sa.select(_CAMPAIGNS)).mappings():
        made.extend(_runs_of(dict(campaign), uploads, counted))
    if made:  # every row with every column: one executemany
        op.bulk_insert(runs, [{c.name: row.get(c.name) for c in runs.columns} for row in made])


def _runs_of(
    campaign: Mapping[str, Any], uploads: set[uuid.UUID], counted: Mapping[uuid.UUID, int]
) -> list[dict[str, Any]]:
    """The runs a campaign of the 0006 schema had: its results, and its latest run when
    that one is processing or failed."""
    found = []
    status = campaign["status"]
    stamp = campaign["updated_at"]
    results = campaign["results_run_id"]
    if results is not None:
        snapshot = dict(campaign["config_snapshot"] or {})
        summary = campaign["summary"] or {}
        lists = summary.get("lists") or {}
        completed = campaign["completed_at"] or stamp
        latest = status == "completed"
        found.append(
            {
                "id": results,
                "campaign_id": campaign["id"],
                "status": "completed",
                "started_at": (campaign["started_at"] if latest else None) or completed,
                "finished_at": completed,
                "file_upload_id": _upload(snapshot, uploads),
                "snapshot": snapshot,
                "summary": campaign["summary"],
                "report": campaign["data_quality_report"],
                "column_mapping_used": campaign["column_mapping_used"],
                "campaign_level_score": campaign["campaign_level_score"],
                "row_count": counted.get(results, summary.get("row_count")),
                "whitelist_count": lists.get("whitelist_count"),
                "blacklist_count": lists.get("blacklist_count"),
                "created_at": completed,
                "updated_at": stamp,
            }
        )
    if status in ("processing", "failed"):
        snapshot = dict(campaign["run_snapshot"] or campaign["config_snapshot"] or {})
        started = campaign["started_at"] or stamp
        found.append(
            {
                "id": uuid.uuid4(),
                "campaign_id": campaign["id"],
                "status": status,
                "started_at": started,
                "finished_at": stamp if status == "failed" else None,
                "file_upload_id": _upload(snapshot, uploads),
                "snapshot": snapshot,
                "error_message": campaign["error_message"] if status == "failed" else None,
                "created_at": started,
                "updated_at": stamp,
            }
        )
    return found


def _upload(snapshot: Mapping[str, Any], uploads: set[uuid.UUID]) -> uuid.UUID | None:
    try:
        found = uuid.UUID(str(snapshot.get("file_upload_id")))
    except ValueError:
        return None
    return found if found in uploads else None


def downgrade() -> None:
    # campaigns whose results are a file: the older schema has no way to read them
    op.execute(
        "UPDATE campaigns SET results_run_id = NULL WHERE results_run_id IN "
        "(SELECT id FROM scoring_runs WHERE storage_key IS NOT NULL)"
    )
    with op.batch_alter_table("scoring_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scoring_runs_file_upload_id"))
        batch_op.drop_index("ix_scoring_runs_campaign_started")
    op.drop_table("scoring_runs")
