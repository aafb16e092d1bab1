"""Settings: the production guard, list parsing, and the defaults derived from DATA_DIR."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from caliber.core.settings import DEFAULT_SECRET_KEY, Environment, Settings, is_loopback_host

GOOD_SECRET = "k" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting comes from the machine running the tests (nor from a stray .env)."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "ENVIRONMENT": Environment.PRODUCTION,
        "FIREBASE_PROJECT_ID": "caliber-prod",
        "SECRET_KEY": GOOD_SECRET,
        **overrides,
    }
    return Settings(_env_file=None, **values)


# --- the production guard -------------------------------------------------------------------


def test_a_complete_production_configuration_starts() -> None:
    settings = production()
    assert settings.ENVIRONMENT is Environment.PRODUCTION
    assert settings.dev_sign_in is False


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        pytest.param({"AUTH_DEV_MODE": True}, "AUTH_DEV_MODE", id="dev-mode"),
        pytest.param({"FIREBASE_PROJECT_ID": None}, "FIREBASE_PROJECT_ID", id="no-project"),
        pytest.param({"FIREBASE_PROJECT_ID": ""}, "FIREBASE_PROJECT_ID", id="empty-project"),
        pytest.param({"SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY", id="default-secret"),
        pytest.param({"SECRET_KEY": "k" * 31}, "SECRET_KEY", id="short-secret"),
        pytest.param(
            {"FIREBASE_AUTH_EMULATOR_HOST": "localhost:9099"},
            "FIREBASE_AUTH_EMULATOR_HOST",
            id="emulator",
        ),
    ],
)
def test_production_refuses_an_unsafe_setting(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named) as raised:
        production(**overrides)
    assert "production" in str(raised.value)


def test_production_names_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(
            _env_file=None,
            ENVIRONMENT=Environment.PRODUCTION,
            AUTH_DEV_MODE=True,
            FIREBASE_AUTH_EMULATOR_HOST="localhost:9099",
        )
    message = str(raised.value)
    for name in (
        "AUTH_DEV_MODE",
        "FIREBASE_PROJECT_ID",
        "SECRET_KEY",
        "FIREBASE_AUTH_EMULATOR_HOST",
    ):
        assert name in message


def test_production_is_refused_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_DEV_MODE", "true")
    monkeypatch.setenv("FIREBASE_PROJECT_ID", "caliber-prod")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    with pytest.raises(ValidationError, match="AUTH_DEV_MODE"):
        Settings(_env_file=None)


def test_the_guard_reads_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text(
        f"ENVIRONMENT=production\nFIREBASE_PROJECT_ID=caliber-prod\nSECRET_KEY={DEFAULT_SECRET_KEY}\n"
    )
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(_env_file=env_file)


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_outside_production_dev_mode_and_defaults_are_allowed(environment: Environment) -> None:
    settings = Settings(_env_file=None, ENVIRONMENT=environment, AUTH_DEV_MODE=True)
    assert settings.dev_sign_in is True
    assert settings.SECRET_KEY == DEFAULT_SECRET_KEY
    assert settings.FIREBASE_PROJECT_ID is None


@pytest.mark.parametrize(
    ("environment", "dev_mode", "expected"),
    [
        (Environment.DEVELOPMENT, None, True),  # unset: on for a local run
        (Environment.DEVELOPMENT, False, False),
        (Environment.TEST, None, False),
        (Environment.TEST, True, True),
        (Environment.STAGING, None, False),
        (Environment.STAGING, True, False),  # "development only": never outside dev and test
    ],
)
def test_dev_sign_in_follows_the_environment_unless_set(
    environment: Environment, dev_mode: bool | None, expected: bool
) -> None:
    settings = Settings(_env_file=None, ENVIRONMENT=environment, AUTH_DEV_MODE=dev_mode)
    assert settings.dev_sign_in is expected


def test_a_blank_dev_mode_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("AUTH_DEV_MODE", "")
    settings = Settings(_env_file=None)
    assert settings.AUTH_DEV_MODE is None
    assert settings.dev_sign_in is False


def test_production_without_dev_mode_has_no_dev_sign_in() -> None:
    assert production(AUTH_DEV_MODE=None).dev_sign_in is False
    assert production(AUTH_DEV_MODE=False).dev_sign_in is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("caliber.example.com", False),  # a name: whatever it resolves to, not loopback
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("server", "client", "implicit", "explicit"),
    [
        ("127.0.0.1", "127.0.0.1", True, True),
        ("::1", "::1", True, True),
        (None, None, True, True),  # a Unix socket: no network peer
        ("testserver", "testclient", True, True),  # in process
        ("10.0.0.5", "10.0.0.9", False, True),  # arrived on another interface
        ("127.0.0.1", "203.0.113.7", False, True),  # a client behind a trusted local proxy
    ],
)
def test_dev_sign_in_by_default_applies_to_loopback_connections_only(
    server: str | None, client: str | None, implicit: bool, explicit: bool
) -> None:
    """Unless AUTH_DEV_MODE=true is set, development's dev sign-in never reaches a client
    on another machine, however the server was started."""
    default = Settings(_env_file=None, ENVIRONMENT=Environment.DEVELOPMENT)
    assert default.dev_sign_in_for(server, client) is implicit
    forced = Settings(_env_file=None, ENVIRONMENT=Environment.DEVELOPMENT, AUTH_DEV_MODE=True)
    assert forced.dev_sign_in_for(server, client) is explicit
    off = Settings(_env_file=None, ENVIRONMENT=Environment.DEVELOPMENT, AUTH_DEV_MODE=False)
    assert off.dev_sign_in_for(server, client) is False
    assert production(AUTH_DEV_MODE=None).dev_sign_in_for(server, client) is False


# --- lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["BACKEND_CORS_ORIGINS", "ALLOWED_HOSTS"])
@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
        ("https://a.example", ["https://a.example"]),
        (" https://a.example ,,https://b.example, ", ["https://a.example", "https://b.example"]),
        ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
        (' ["https://a.example"] ', ["https://a.example"]),
        ("[]", []),
        ("", []),
    ],
)
def test_lists_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, parsed: list[str]
) -> None:
    monkeypatch.setenv(name, raw)
    assert getattr(Settings(_env_file=None), name) == parsed


@pytest.mark.parametrize("name", ["BACKEND_CORS_ORIGINS", "ALLOWED_HOSTS"])
def test_lists_parse_from_arguments(name: str) -> None:
    values: list[Any] = [
        "a.example,b.example",
        '["a.example", "b.example"]',
        ["a.example", "b.example"],
    ]
    for value in values:
        kwargs: dict[str, Any] = {name: value}
        assert getattr(Settings(_env_file=None, **kwargs), name) == ["a.example", "b.example"]


@pytest.mark.parametrize("raw", ['["https://a.example"', "[1, 2]"])
def test_a_broken_json_list_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("BACKEND_CORS_ORIGINS", raw)
    with pytest.raises(ValidationError, match="BACKEND_CORS_ORIGINS"):
        Settings(_env_file=None)


def test_list_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.BACKEND_CORS_ORIGINS == []
    assert settings.ALLOWED_HOSTS == ["*"]


# --- paths ----------------------------------------------------------------------------------


def test_database_url_defaults_to_a_sqlite_file_in_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, DATA_DIR=tmp_path / "data")
    assert settings.database_url == f"sqlite:///{(tmp_path / 'data' / 'caliber.db').resolve()}"


def test_the_default_data_dir_is_resolved_to_an_absolute_path(tmp_path: Path) -> None:
    url = Settings(_env_file=None).database_url
    path = Path(url.removeprefix("sqlite:///"))
    assert path.is_absolute()
    assert path == (tmp_path / "caliber-data" / "caliber.db").resolve()
    assert os.fspath(path).endswith(os.path.join("caliber-data", "caliber.db"))


def test_an_explicit_database_url_wins(tmp_path: Path) -> None:
    url = "postgresql://caliber@db.example/caliber"
    assert Settings(_env_file=None, DATA_DIR=tmp_path, DATABASE_URL=url).database_url == url


def test_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://caliber@db.example/caliber")
    assert Settings(_env_file=None).database_url == "postgresql://caliber@db.example/caliber"


def test_storage_dir_defaults_to_files_in_data_dir(tmp_path: Path) -> None:
    assert Settings(_env_file=None, DATA_DIR=tmp_path).storage_dir == tmp_path / "files"
    assert Settings(_env_file=None).storage_dir == Path("caliber-data") / "files"


def test_an_explicit_storage_dir_wins(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, DATA_DIR=tmp_path / "data", STORAGE_DIR=tmp_path / "blobs")
    assert settings.storage_dir == tmp_path / "blobs"


def test_max_upload_bytes() -> None:
    assert Settings(_env_file=None).max_upload_bytes == 50 * 1024 * 1024
    assert Settings(_env_file=None, MAX_UPLOAD_MB=1.5).max_upload_bytes == 1_572_864
    with pytest.raises(ValidationError, match="MAX_UPLOAD_MB"):
        Settings(_env_file=None, MAX_UPLOAD_MB=0)
