"""Migration 0009 (issue 21): every user gets a personal organization, which they own,
and their data moves into it without loss; and back. On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    String,
    Uuid,
    column,
    insert,
    inspect,
    table,
    text,
)

from caliber.db.migrate import downgrade, pending_differences, upgrade
from caliber.db.session import build_engine
from tests.db.test_migrations import _USERS, _seed_0004, _uuid, fresh_url  # noqa: F401

_OWNED = ("campaign_templates", "file_uploads", "campaigns", "notifications", "exports")
_KEPT = (*_OWNED, "scoring_runs", "scoring_results", "users")


def _seed_0008(connection: Connection, owner: uuid.UUID, campaign: uuid.UUID) -> None:
    """A template, an upload, an export and a notification of ``owner``, and a second
    user with nothing: the 0008 schema."""
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    connection.execute(
        insert(_USERS).values(id=uuid.uuid4(), firebase_uid="empty", is_active=True, **stamps)
    )
    templates = table(
        "campaign_templates",
        *(column(name, Uuid) for name in ("id", "owner_id")),
        *(column(name, String) for name in ("name", "platform", "goal", "channel")),
        column("ctr_sensitivity", Boolean),
        column("min_impressions", Float),
        *(column(name, DateTime) for name in ("created_at", "updated_at")),
    )
    connection.execute(
        insert(templates).values(
            id=uuid.uuid4(),
            owner_id=owner,
            name="T",
            platform="trade_desk",
            goal="awareness",
            channel="display",
            ctr_sensitivity=False,
            min_impressions=250.0,
            **stamps,
        )
    )
    uploads = table(
        "file_uploads",
        *(column(name, Uuid) for name in ("id", "owner_id")),
        *(column(n, String) for n in ("original_filename", "storage_key", "file_format", "sha256")),
        column("size_bytes", Integer),
        *(column(name, DateTime) for name in ("created_at", "updated_at")),
    )
    connection.execute(
        insert(uploads).values(
            id=uuid.uuid4(),
            owner_id=owner,
            original_filename="x.csv",
            storage_key="k",
            file_format="csv",
            sha256="0" * 64,
            size_bytes=3,
            **stamps,
        )
    )
    exports = table(
        "exports",
        *(column(name, Uuid) for name in ("id", "owner_id", "campaign_id")),
        *(column(name, String) for name in ("format", "status")),
        column("options", JSON),
        *(column(name, DateTime) for name in ("created_at", "updated_at")),
    )
    connection.execute(
        insert(exports).values(
            id=uuid.uuid4(),
            owner_id=owner,
            campaign_id=campaign,
            format="summary_csv",
            status="completed",
            options={},
            **stamps,
        )
    )
    notifications = table(
        "notifications",
        *(column(name, Uuid) for name in ("id", "owner_id", "campaign_id")),
        *(column(name, String) for name in ("kind", "run_key", "title", "message")),
        column("created_at", DateTime),
    )
    connection.execute(
        insert(notifications).values(
            id=uuid.uuid4(),
            owner_id=owner,
            campaign_id=campaign,
            kind="scoring_completed",
            run_key="r",
            title="t",
            message="m",
            created_at=now,
        )
    )


def _counts(connection: Connection) -> dict[str, int]:
    return {
        name: int(connection.execute(text(f"SELECT count(*) FROM {name}")).scalar() or 0)
        for name in _KEPT
    }


def test_0009_moves_every_users_data_into_their_personal_organization_and_back(
    fresh_url: str,  # noqa: F811 - the fixture
) -> None:
    upgrade(fresh_url, "0004")
    engine = build_engine(fresh_url)
    try:
        with engine.begin() as connection:
            ids = _seed_0004(connection)
        upgrade(fresh_url, "0008")
        with engine.begin() as connection:
            _seed_0008(connection, ids["user"], ids["completed"])
        with engine.connect() as connection:
            before = _counts(connection)
        assert before["scoring_results"] > 0
        assert before["scoring_runs"] > 0

        upgrade(fresh_url, "0009")
        with engine.connect() as connection:
            assert _counts(connection) == before
            personal = {
                _uuid(row.personal_user_id): (_uuid(row.id), row.name)
                for row in connection.execute(
                    text("SELECT id, name, personal_user_id FROM organizations")
                )
            }
            members = connection.execute(
                text("SELECT organization_id, user_id, role FROM memberships")
            ).all()
            owned = {
                name: [
                    (_uuid(row.owner_id), _uuid(row.organization_id))
                    for row in connection.execute(
                        text(f"SELECT owner_id, organization_id FROM {name}")
                    )
                ]
                for name in _OWNED
            }
        users = {_uuid(u) for u in personal}
        assert len(users) == 2
        assert ids["user"] in users
        assert {n for _, n in personal.values()} == {"Personal"}  # (no name nor email)
        assert sorted((_uuid(m.user_id), _uuid(m.organization_id), m.role) for m in members) == (
            sorted((user, org, "owner") for user, (org, _) in personal.items())
        )
        for name, rows in owned.items():
            assert rows, name
            for owner, organization in rows:
                assert organization == personal[owner][0], name
        assert pending_differences(engine) == []

        downgrade(fresh_url, "0008")
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            for name in _OWNED:
                assert "organization_id" not in {c["name"] for c in inspector.get_columns(name)}
            assert _counts(connection) == before  # nothing cascaded away
            left = connection.execute(text("SELECT count(*) FROM organizations")).scalar()
        assert {"memberships", "invitations", "audit_log"}.isdisjoint(tables)
        assert "user_statistics" in tables
        assert left == 0
        upgrade(fresh_url)
        with engine.connect() as connection:
            assert _counts(connection) == before
        assert pending_differences(engine) == []
    finally:
        engine.dispose()
