"""scoring results by run: rows under a run key, the campaign's pointer to its results

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00.000000

A run writes its rows under a new ``scoring_results.run_id`` and they become the
campaign's results when ``campaigns.results_run_id`` points at them (one short
transaction), so a long save never holds SQLite's write lock and readers never see a
half-written run. ``campaigns.run_snapshot`` is what the latest run was started with;
``config_snapshot`` (and the summary, report and completion time) describe the results.

Existing data: a completed campaign's rows become its first run, keyed by the campaign's
own id; rows of campaigns that hold no results (a re-run was in progress or had failed,
which used to hide the rows anyway) are removed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAGE_INDEXES = {
    "ix_scoring_results_status_score": ["quality_status", "score", "rank"],
    "ix_scoring_results_score": ["score", "rank"],
    "ix_scoring_results_impressions": ["impressions", "rank"],
}


def upgrade() -> None:
    # add_column only: SQLite alters campaigns in place (recreating it would cascade the
    # DROP TABLE to every table that references it)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_snapshot", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("results_run_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE campaigns SET run_snapshot = config_snapshot")
    op.execute("UPDATE campaigns SET results_run_id = id WHERE status = 'completed'")

    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_id", sa.Uuid(), nullable=True))
        for name in _PAGE_INDEXES:
            batch_op.drop_index(name)
    op.execute(
        "DELETE FROM scoring_results WHERE campaign_id IN "
        "(SELECT id FROM campaigns WHERE results_run_id IS NULL)"
    )
    op.execute("UPDATE scoring_results SET run_id = campaign_id")
    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        batch_op.alter_column("run_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_constraint("uq_scoring_results_campaign_id_domain", type_="unique")
        batch_op.drop_constraint("uq_scoring_results_campaign_id_rank", type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_scoring_results_run_id_domain"), ["run_id", "domain"]
        )
        batch_op.create_unique_constraint(
            op.f("uq_scoring_results_run_id_rank"), ["run_id", "rank"]
        )
    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        for name, columns in _PAGE_INDEXES.items():
            batch_op.create_index(name, ["run_id", *columns], unique=False)
        batch_op.create_index(
            "ix_scoring_results_campaign_run", ["campaign_id", "run_id"], unique=False
        )


def downgrade() -> None:
    # the old schema holds one set of rows per campaign: keep each campaign's results
    op.execute(
        "DELETE FROM scoring_results WHERE NOT EXISTS (SELECT 1 FROM campaigns "
        "WHERE campaigns.id = scoring_results.campaign_id "
        "AND campaigns.results_run_id = scoring_results.run_id)"
    )
    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        batch_op.drop_index("ix_scoring_results_campaign_run")
        for name in _PAGE_INDEXES:
            batch_op.drop_index(name)
    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scoring_results_run_id_domain", type_="unique")
        batch_op.drop_constraint("uq_scoring_results_run_id_rank", type_="unique")
        batch_op.drop_column("run_id")
        batch_op.create_unique_constraint(
            op.f("uq_scoring_results_campaign_id_domain"), ["campaign_id", "domain"]
        )
        batch_op.create_unique_constraint(
            op.f("uq_scoring_results_campaign_id_rank"), ["campaign_id", "rank"]
        )
    with op.batch_alter_table("scoring_results", schema=None) as batch_op:
        for name, columns in _PAGE_INDEXES.items():
            batch_op.create_index(name, ["campaign_id", *columns], unique=False)
    # a campaign whose results came from an earlier run than its latest one: the old
    # schema reads only completed campaigns' results, so the run in flight keeps its setup
    op.execute("UPDATE campaigns SET config_snapshot = run_snapshot WHERE status != 'completed'")
    # not in batch mode: SQLite drops the columns in place (ALTER TABLE ... DROP COLUMN);
    # a copy of campaigns would cascade its DROP TABLE to the tables referencing it
    op.drop_column("campaigns", "results_run_id")
    op.drop_column("campaigns", "run_snapshot")
