"""The results service answers in the one response envelope (caliber.core.envelope):
its pages and lists, encoded once per run, are byte for byte the shared envelope of
their data, from a run held in memory and from one read per request, on SQLite and
PostgreSQL; and no scoring module spells the envelope out itself (issue 15: it was
written twice)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import caliber.scoring
from caliber.core import envelope
from caliber.db.models import User
from caliber.db.session import session_factory, session_scope
from caliber.scoring import answers, lists, pages, results
from caliber.scoring.repository import ResultFilters
from caliber.scoring.schemas import ListType
from caliber.storage.local import LocalStorage
from tests.scoring.test_repository import (
    database,
    make_rows,
    new_campaign,
    postgres_url,
    seed_rows,
)

ROWS = 120


@pytest.mark.parametrize(
    ("total", "page", "per_page", "has_next", "has_prev"),
    [(0, 1, 50, False, False), (50, 1, 50, False, False), (51, 1, 50, True, False),
     (120, 2, 50, True, True), (120, 3, 50, False, True), (10, 4, 5, False, True)],
)  # fmt: skip
def test_a_page_is_the_page_model(
    total: int, page: int, per_page: int, has_next: bool, has_prev: bool
) -> None:
    body = envelope.page([{"rank": 1}], total=total, page=page, per_page=per_page)
    assert (body["has_next"], body["has_prev"]) == (has_next, has_prev)
    _same_as_model(body, envelope.Page[dict[str, int]])


def test_ok_is_the_envelope_model() -> None:
    _same_as_model(envelope.ok({"a": 1}), envelope.Envelope[dict[str, int]])
    _same_as_model(envelope.ok([1], "done"), envelope.Envelope[list[int]])


def _same_as_model(body: dict[str, Any], model: type[BaseModel]) -> None:
    """The dict is what the model documents: its fields, in its order, with its values."""
    assert list(body) == list(model.model_fields)
    assert model.model_validate(body).model_dump() == body


def test_no_scoring_module_spells_the_envelope_out() -> None:
    """The encoded pages and lists take the envelope from caliber.core.envelope."""
    spelled = re.compile(r"""["'](success|has_next|has_prev|per_page)["']""")
    for path in sorted(Path(caliber.scoring.__file__).parent.glob("*.py")):
        found = spelled.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.name} writes the envelope's {found.group(0) if found else ''}"


# --- encoded answers on a stored run ---------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, LocalStorage]]:
    folder = tmp_path_factory.mktemp("results")
    url = f"sqlite:///{folder / 'caliber.db'}" if request.param == "sqlite" else postgres_url()
    built, storage = database(url, folder / "files")
    yield built, storage
    built.dispose()


@pytest.fixture(scope="module")
def stored(
    backend: tuple[Engine, LocalStorage],
) -> Iterator[tuple[sessionmaker[Session], uuid.UUID, uuid.UUID]]:
    """(sessions, owner id, campaign id): a completed campaign holding ROWS results."""
    engine, storage = backend
    sessions = session_factory(engine)
    owner_id, campaign_id = new_campaign(sessions, "envelope")
    seed_rows(sessions, storage, campaign_id, make_rows(campaign_id, ROWS, seed=8))
    yield sessions, owner_id, campaign_id
    with session_scope(sessions) as session:
        session.delete(session.get(User, owner_id))
    answers.clear_read_caches()


@pytest.fixture(params=["index", "per-request"])
def paged_by(request: pytest.FixtureRequest) -> Iterator[str]:
    """Pages from the run held in memory, or read per request (a run over the budget)."""
    answers.clear_read_caches()
    pages.configure(pages.DEFAULT_MAX_ROWS if request.param == "index" else 0)
    yield request.param
    pages.configure(pages.DEFAULT_MAX_ROWS)
    answers.clear_read_caches()


@pytest.mark.parametrize(
    ("filters", "page", "per_page"),
    [(ResultFilters(), 1, 50), (ResultFilters(), 3, 50), (ResultFilters(), 9, 50),
     (ResultFilters(min_score=40.0), 2, 20), (ResultFilters(quality_status="good"), 1, 7)],
)  # fmt: skip
def test_a_result_page_is_the_shared_page_envelope(
    stored: tuple[sessionmaker[Session], uuid.UUID, uuid.UUID],
    paged_by: str,
    filters: ResultFilters,
    page: int,
    per_page: int,
) -> None:
    sessions, owner_id, campaign_id = stored
    with sessions() as session:
        answer = results.results_page_json(
            session, owner_id, campaign_id, filters=filters, page=page, per_page=per_page
        )
    body = orjson.loads(answer.body)
    expected = envelope.page(body["data"], total=body["total"], page=page, per_page=per_page)
    assert answer.body == orjson.dumps({**expected, "run": answer.run.to_dict()})
    matching = [r for r in make_rows(campaign_id, ROWS, seed=8) if _matches(r, filters)]
    assert body["total"] == len(matching)
    start = (page - 1) * per_page
    assert [r["domain"] for r in body["data"]] == [
        r["domain"] for r in matching[start : start + per_page]
    ]


def _matches(row: dict[str, Any], filters: ResultFilters) -> bool:
    return (filters.min_score is None or row["score"] >= filters.min_score) and (
        filters.quality_status is None or row["quality_status"] == filters.quality_status
    )


@pytest.mark.parametrize("kind", ["whitelist", "blacklist"])
def test_a_list_is_the_shared_envelope(
    stored: tuple[sessionmaker[Session], uuid.UUID, uuid.UUID], paged_by: str, kind: ListType
) -> None:
    sessions, owner_id, campaign_id = stored
    with sessions() as session:
        answer = lists.optimization_list_json(session, owner_id, campaign_id, kind)
        model = lists.optimization_list(session, owner_id, campaign_id, kind)
    body = orjson.loads(answer.body)
    assert answer.body == orjson.dumps({**envelope.ok(body["data"]), "run": answer.run.to_dict()})
    assert body["data"] == model.model_dump(mode="json")
    assert body["data"]["entries"]
