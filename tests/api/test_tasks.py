"""Worker task bodies, called directly with a real database and storage."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from caliber.api.container import Container
from caliber.db.base import utcnow
from caliber.db.models import FileUpload
from caliber.db.session import session_scope
from caliber.worker.tasks import (
    WorkerServices,
    cleanup_old_files,
    optimization_lists,
    validate_file,
)
from tests.api.test_scoring import API, create_campaign, scored_campaign
from tests.engine.exports import make_export

CSV = make_export("trade_desk", "display", seed=21).encode()


def _svc(container: Container) -> WorkerServices:
    return WorkerServices(sessions=container.sessions, storage=container.storage)


def _user_id(client: TestClient, headers: dict[str, str]) -> str:
    user_id: str = client.get(f"{API}/auth/profile", headers=headers).json()["data"]["id"]
    return user_id


def _upload(client: TestClient, headers: dict[str, str], name: str = "e.csv") -> str:
    response = client.post(
        f"{API}/reports/upload",
        files={"file": (name, io.BytesIO(CSV), "text/csv")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    file_id: str = response.json()["data"]["id"]
    return file_id


def test_validate_file_checks_the_owner(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice, bob = auth("task-alice"), auth("task-bob")
    file_id = _upload(client, alice)
    verdict = validate_file(_svc(container), file_id=file_id, user_id=_user_id(client, alice))
    api = client.get(f"{API}/reports/files/{file_id}/validate", headers=alice).json()["data"]
    assert verdict["valid"] is True
    assert verdict == api
    other = validate_file(_svc(container), file_id=file_id, user_id=_user_id(client, bob))
    assert other["error"] == "not_found"


def test_optimization_lists_equal_the_routes(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice, bob = auth("lists-alice"), auth("lists-bob")
    campaign_id = scored_campaign(client, container, alice, CSV)
    lists = optimization_lists(
        _svc(container), campaign_id=campaign_id, user_id=_user_id(client, alice)
    )
    for kind in ("whitelist", "blacklist"):
        api = client.get(f"{API}/scoring/{kind}/{campaign_id}", headers=alice).json()["data"]
        assert lists[kind]["domains"] == api["domains"]
        assert lists[kind]["domains"]
    other = optimization_lists(
        _svc(container), campaign_id=campaign_id, user_id=_user_id(client, bob)
    )
    assert other["error"] == "not_found"
    pending = create_campaign(client, alice)
    not_done = optimization_lists(
        _svc(container), campaign_id=pending, user_id=_user_id(client, alice)
    )
    assert not_done["error"] == "conflict"


def test_cleanup_removes_only_old_unused_files(
    client: TestClient, container: Container, auth: Callable[[str], dict[str, str]]
) -> None:
    alice = auth("cleanup-alice")
    unused, used, fresh = _upload(client, alice), _upload(client, alice), _upload(client, alice)
    campaign_id = create_campaign(client, alice)
    assigned = client.post(
        f"{API}/reports/files/{used}/assign-campaign",
        json={"campaign_id": campaign_id},
        headers=alice,
    )
    assert assigned.status_code == 200, assigned.text
    old = utcnow() - timedelta(days=40)
    with session_scope(container.sessions) as session:
        session.execute(
            update(FileUpload)
            .where(FileUpload.id.in_([uuid.UUID(unused), uuid.UUID(used)]))
            .values(created_at=old)
        )
        keys = {str(f.id): f.storage_key for f in session.scalars(select(FileUpload))}
    assert cleanup_old_files(_svc(container), older_than_days=30) == 1
    remaining = {f["id"] for f in client.get(f"{API}/reports/files", headers=alice).json()["data"]}
    assert remaining == {used, fresh}
    assert not container.storage.exists(keys[unused])
    assert container.storage.exists(keys[used])
    assert cleanup_old_files(_svc(container), older_than_days=30) == 0
