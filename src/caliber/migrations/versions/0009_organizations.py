"""organizations own the data: memberships, invitations, the audit log (issue 21)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00.000000

New tables: ``memberships`` (a user's role in an organization), ``invitations``,
``audit_log`` and ``organization_statistics`` (the dashboard's cache, which replaces
``user_statistics``: statistics follow the organization). ``organizations`` gains
``personal_user_id``: the personal organization of that user.

Existing data: every user gets a personal organization, of which they are the owner, and
every campaign, template, upload, export and notification moves into its owner's
personal organization (``organization_id``; runs follow their campaign). Nothing else
changes: one user's view of their data is the same as before.

``organization_id`` is nullable in the schema (the application always writes it): SQLite
adds a column to a table that other tables reference only in place, and in place it
cannot add a NOT NULL column without a default.

Downgrade: the organization columns, the new tables and the personal organizations go;
campaigns and the rest stay with their owners (``owner_id``, unchanged throughout). The
cached statistics are recomputed on the next read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from caliber.db.base import utcnow

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the tables whose rows belong to an organization, by their owner's personal one
_OWNED = ("campaign_templates", "file_uploads", "campaigns", "notifications", "exports")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _add_reference(table: str, name: str, target: str) -> None:
    """A nullable column referencing ``target``'s id, added in place.

    SQLite: its ALTER TABLE ADD COLUMN takes the reference inline (Alembic would copy
    the table instead, and dropping the original would cascade to the tables that
    reference it). No ON DELETE action: SQLAlchemy reads an inline reference's name and
    actions back as none, so the models declare none either (an organization with data
    cannot be deleted; nothing deletes one)."""
    constraint = f"fk_{table}_{name}_{target}"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {name} CHAR(32) CONSTRAINT {constraint} "
            f"REFERENCES {target} (id)"
        )
        return
    op.add_column(
        table,
        sa.Column(
            name,
            sa.Uuid(),
            sa.ForeignKey(f"{target}.id", name=constraint),
            nullable=True,
        ),
    )


def upgrade() -> None:
    # in place (no batch copy): organizations is referenced by users
    _add_reference("organizations", "personal_user_id", "users")
    op.create_index(
        "uq_organizations_personal_user_id", "organizations", ["personal_user_id"], unique=True
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "organization_id", "user_id", name=op.f("uq_memberships_organization_id_user_id")
        ),
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_invitations_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
    )
    op.create_index(op.f("ix_invitations_email"), "invitations", ["email"])
    op.create_index(
        "ix_invitations_organization_created", "invitations", ["organization_id", "created_at"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_log_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_organization_created", "audit_log", ["organization_id", "created_at"]
    )
    op.create_table(
        "organization_statistics",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_statistics_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_organization_statistics")),
    )
    op.drop_table("user_statistics")  # a cache; the new one fills on the next read

    for name in _OWNED:
        _add_reference(name, "organization_id", "organizations")
        op.create_index(f"ix_{name}_organization_id", name, ["organization_id"])

    _personal_organizations()


def _personal_organizations() -> None:
    """A personal organization per user, the user its owner, their data moved into it."""
    connection = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("email"))
    organizations = sa.table(
        "organizations",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("personal_user_id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    memberships = sa.table(
        "memberships",
        sa.column("id", sa.Uuid()),
        sa.column("organization_id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("role", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    found = connection.execute(sa.select(users.c.id, users.c.name, users.c.email)).all()
    for user_id, name, email in found:
        organization_id = uuid.uuid4()
        connection.execute(
            organizations.insert().values(
                id=organization_id,
                name=personal_name(name, email),
                personal_user_id=user_id,
                **stamps,
            )
        )
        connection.execute(
            memberships.insert().values(
                id=uuid.uuid4(),
                organization_id=organization_id,
                user_id=user_id,
                role="owner",
                **stamps,
            )
        )
    for name in _OWNED:
        owned = sa.table(name, sa.column("owner_id", sa.Uuid()), sa.column("organization_id"))
        personal = (
            sa.select(organizations.c.id)
            .where(organizations.c.personal_user_id == owned.c.owner_id)
            .scalar_subquery()
        )
        connection.execute(owned.update().values(organization_id=personal))


def personal_name(name: str | None, email: str | None) -> str:
    """The name of a user's personal organization (``orgs.service`` names new ones so)."""
    who = (name or email or "").strip()
    return f"{who[:180]} (personal)" if who else "Personal"


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # SQLite drops a column that a foreign key holds only by copying the table, and
        # dropping the original with foreign keys on would cascade to every table that
        # references it (runs, results, insights...). Nothing has been written in this
        # migration's transaction yet, so the pragma still takes effect.
        op.execute("PRAGMA foreign_keys=OFF")
    for name in reversed(_OWNED):  # a column's reference goes with it
        op.drop_index(f"ix_{name}_organization_id", table_name=name)
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column("organization_id")
    op.create_table(
        "user_statistics",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_user_statistics_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_user_statistics")),
    )
    op.drop_table("organization_statistics")
    op.drop_index("ix_audit_log_organization_created", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_invitations_organization_created", table_name="invitations")
    op.drop_index(op.f("ix_invitations_email"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("uq_organizations_personal_user_id", table_name="organizations")
    op.execute(sa.text("DELETE FROM organizations WHERE personal_user_id IS NOT NULL"))
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("personal_user_id")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
