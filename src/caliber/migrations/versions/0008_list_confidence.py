"""list_confidence on templates and campaigns

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09 10:00:00.000000

Issue 17: a template or campaign may ask for lists of what the data can decide at a
level (the engine's ``Setup.list_confidence``, 0.5 to 0.99); NULL, every existing row,
keeps the classic lists. A run records the level in its snapshot's setup, so runs need
no column. Downgrade drops the columns: campaigns then score classic lists again (the
runs already made keep their level in their snapshots).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("campaign_templates", "campaigns")


def upgrade() -> None:
    # add_column in batch mode alters SQLite's tables in place (no copy: recreating
    # campaigns would cascade the DROP TABLE to the tables that reference it)
    for name in _TABLES:
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column("list_confidence", sa.Float(), nullable=True))


def downgrade() -> None:
    # not in batch mode: SQLite drops the column in place (ALTER TABLE ... DROP COLUMN)
    for name in reversed(_TABLES):
        op.drop_column(name, "list_confidence")
