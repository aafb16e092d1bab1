"""`caliber db ...` and `caliber serve` as a user runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from caliber.cli.main import main
from caliber.core.settings import get_settings
from caliber.db.session import build_engine


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("DATABASE_URL", "ENVIRONMENT", "FIREBASE_PROJECT_ID", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_db_upgrade_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "data" / "caliber.db").is_file()
    assert main(["db", "check"]) == 0
    assert "matches the models" in capsys.readouterr().err


def test_db_check_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    engine = build_engine(f"sqlite:///{tmp_path / 'data' / 'caliber.db'}")
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_scoring_results_score"))
    engine.dispose()
    assert main(["db", "check"]) == 2
    assert "differs from the models" in capsys.readouterr().err


def test_serve_refuses_unsafe_production_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "FIREBASE_PROJECT_ID is required" in err
    assert "SECRET_KEY" in err
