"""reading choices on templates, campaigns and uploads; the detected mapping renamed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00.000000

Issue 16: how a file is read (number format, sheet, header row, the user's column
mapping) is stored as the engine's ``ReadOptions.to_dict()`` in ``read_options`` on
``campaign_templates``, ``campaigns`` and ``file_uploads`` (NULL: detect everything).
The API's ``column_mapping`` is now that user choice (standard input -> headers), so
the mapping a run detected (header -> standard input), stored until now as
``campaigns.column_mapping``, becomes ``campaigns.column_mapping_used`` (the seed's own
name for it), its values kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("campaign_templates", "campaigns", "file_uploads")


def upgrade() -> None:
    # add_column and a plain RENAME COLUMN only: SQLite alters the tables in place
    # (recreating campaigns or file_uploads would cascade the DROP TABLE to every table
    # that references them)
    for name in _TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("read_options", sa.JSON(), nullable=True))
    op.alter_column("campaigns", "column_mapping", new_column_name="column_mapping_used")


def downgrade() -> None:
    op.alter_column("campaigns", "column_mapping_used", new_column_name="column_mapping")
    # not in batch mode: SQLite drops the columns in place (ALTER TABLE ... DROP COLUMN)
    for name in reversed(_TABLES):
        op.drop_column(name, "read_options")
