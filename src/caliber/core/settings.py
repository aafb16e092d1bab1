"""Settings from the environment (and a `.env` file), with the names of ``api.md``.

Nothing reads the environment at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import ipaddress
import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me-in-production"  # refused in production
DEFAULT_CERTS_URL = (
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting of the service. Defaults run Caliber on one machine."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    ENVIRONMENT: Environment = Environment.DEVELOPMENT
    PROJECT_NAME: str = "Caliber"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto: JSON lines in production, readable text elsewhere
    LOG_FORMAT: Literal["auto", "json", "text"] = "auto"
    # /metrics for Prometheus; with METRICS_TOKEN set it needs "Authorization: Bearer <token>"
    METRICS_ENABLED: bool = True
    METRICS_TOKEN: str | None = None
    API_V1_STR: str = "/api/v1"
    SECRET_KEY: str = DEFAULT_SECRET_KEY
    BACKEND_CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ALLOWED_HOSTS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])

    DATA_DIR: Path = Path("caliber-data")
    DATABASE_URL: str | None = None
    STORAGE_DIR: Path | None = None
    MAX_UPLOAD_MB: float = Field(default=50, gt=0)
    # a request body (an upload) must arrive within UPLOAD_BODY_TIMEOUT seconds and, after
    # UPLOAD_RATE_GRACE seconds, at UPLOAD_MIN_RATE bytes a second on average (0: no
    # minimum); otherwise 408 and the connection is closed
    UPLOAD_BODY_TIMEOUT: float = Field(default=300, gt=0)
    UPLOAD_MIN_RATE: int = Field(default=10_240, ge=0)
    UPLOAD_RATE_GRACE: float = Field(default=10, ge=0)
    # `caliber serve`: a request's line and headers must arrive within this many seconds
    # and hold at most this many bytes (400 past it); the connection is closed otherwise
    HTTP_HEADER_TIMEOUT: float = Field(default=30, gt=0)
    HTTP_MAX_HEADER_BYTES: int = Field(default=64 * 1024, ge=4096)
    # `caliber serve`: a keep-alive connection is closed after this many requests (0:
    # never), so a client's connections spread again over the API processes (--workers):
    # the process that wins a connection's accept keeps it as long as it stays open
    HTTP_MAX_KEEPALIVE_REQUESTS: int = Field(default=100, ge=0)

    REDIS_URL: str | None = None
    CELERY_BROKER_URL: str | None = None

    FIREBASE_PROJECT_ID: str | None = None
    FIREBASE_CERTS_URL: str = DEFAULT_CERTS_URL
    FIREBASE_CREDENTIALS_PATH: str | None = None
    FIREBASE_AUTH_EMULATOR_HOST: str | None = None
    # the web app's Firebase Authentication (web SDK): the project's public web API key
    FIREBASE_WEB_API_KEY: str | None = None
    FIREBASE_AUTH_DOMAIN: str | None = None  # default: <project>.firebaseapp.com
    AUTH_DEV_MODE: bool | None = None  # unset: on in development, off elsewhere

    OPENAI_API_KEY: str | None = None
    OPENAI_BASE_URL: str | None = None
    OPENAI_MODEL: str = "gpt-4o-mini"
    OPENAI_MAX_TOKENS: int = Field(default=1000, gt=0)
    OPENAI_TEMPERATURE: float = Field(default=0.3, ge=0, le=2)
    OPENAI_TIMEOUT: float = Field(default=30, gt=0)  # seconds per attempt
    OPENAI_MAX_RETRIES: int = Field(default=1, ge=0, le=5)
    # auto: OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, else the offline analyst
    AI_PROVIDER: Literal["auto", "openai", "offline"] = "auto"
    CACHE_TTL: int = Field(default=3600, ge=0)
    CACHE_ENABLED: bool = True
    MAX_REQUESTS_PER_MINUTE: int = Field(default=20, gt=0)
    MAX_REQUESTS_PER_HOUR: int = Field(default=200, gt=0)

    AWS_ACCESS_KEY_ID: str | None = None
    AWS_SECRET_ACCESS_KEY: str | None = None
    AWS_BUCKET_NAME: str | None = None
    AWS_REGION: str = "us-east-1"
    AWS_ENDPOINT_URL: str | None = None

    # celery: Celery workers (on REDIS_URL / CELERY_BROKER_URL, or with neither on the
    # embedded filesystem broker with a worker `caliber serve` runs itself); threads: an
    # in-process pool (tests and embedding; a run in flight is lost on restart)
    JOB_RUNNER: Literal["celery", "threads"] = "celery"
    # processes of `caliber serve` sharing its port (`--workers` overrides it)
    API_WORKERS: int = Field(default=1, ge=1, le=64)
    # worker processes of the embedded worker, threads of the in-process pool
    JOB_WORKERS: int = Field(default=2, ge=1, le=32)
    CELERY_TASK_TIME_LIMIT: int = Field(default=1800, ge=10)  # hard; the soft one is 5/6 of it
    # Redis re-delivers a task whose worker vanished after this long: keep it longer
    # than the longest task (default: the time limit + 10 minutes)
    CELERY_VISIBILITY_TIMEOUT: int | None = Field(default=None, ge=10)
    # how often beat runs the health check and the watchdog
    CELERY_MONITOR_INTERVAL: int = Field(default=300, ge=1)
    # background exports are downloadable this long, then the cleanup task removes them
    EXPORT_RETENTION_HOURS: int = Field(default=24, ge=1)
    # scoring runs kept per campaign (each readable by run_id); beat's cleanup removes
    # older ones and their files, never the latest completed run nor one in progress
    RUN_RETENTION: int = Field(default=12, ge=1, le=1000)
    # result pages and lists are served from each run's frame held in each API process
    # (about 280 bytes a row); a run larger than this many rows in all is read per request
    RESULT_CACHE_ROWS: int = Field(default=2_000_000, ge=0)
    # exports, PDF reports and analyses a user may have in flight at once (more: 429 with
    # Retry-After); shared by every API process through Redis when REDIS_URL is set
    HEAVY_REQUESTS_PER_USER: int = Field(default=2, ge=1, le=100)

    @field_validator(
        "DATABASE_URL",
        "STORAGE_DIR",
        "REDIS_URL",
        "CELERY_BROKER_URL",
        "FIREBASE_PROJECT_ID",
        "FIREBASE_CREDENTIALS_PATH",
        "FIREBASE_AUTH_EMULATOR_HOST",
        "FIREBASE_WEB_API_KEY",
        "FIREBASE_AUTH_DOMAIN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_BUCKET_NAME",
        "AWS_ENDPOINT_URL",
        "AUTH_DEV_MODE",
        "CELERY_VISIBILITY_TIMEOUT",
        "METRICS_TOKEN",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """``NAME=`` in a .env file means "not set", not an empty string or path."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("BACKEND_CORS_ORIGINS", "ALLOWED_HOSTS", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        """Accept a JSON list or a comma-separated string."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _production_guard(self) -> Settings:
        if self.ENVIRONMENT is not Environment.PRODUCTION:
            return self
        problems = []
        if self.AUTH_DEV_MODE:
            problems.append("AUTH_DEV_MODE must be off")
        if not self.FIREBASE_PROJECT_ID:
            problems.append("FIREBASE_PROJECT_ID is required")
        if self.SECRET_KEY == DEFAULT_SECRET_KEY or len(self.SECRET_KEY) < 32:
            problems.append("SECRET_KEY must be set to a random value of 32+ characters")
        if self.FIREBASE_AUTH_EMULATOR_HOST:
            problems.append("FIREBASE_AUTH_EMULATOR_HOST must not be set")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def database_url(self) -> str:
        """DATABASE_URL, or a SQLite file in DATA_DIR."""
        if self.DATABASE_URL:
            return self.DATABASE_URL
        return f"sqlite:///{(self.DATA_DIR / 'caliber.db').resolve()}"

    @property
    def json_logs(self) -> bool:
        if self.LOG_FORMAT == "auto":
            return self.ENVIRONMENT is Environment.PRODUCTION
        return self.LOG_FORMAT == "json"

    @property
    def storage_dir(self) -> Path:
        return self.STORAGE_DIR or self.DATA_DIR / "files"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.MAX_UPLOAD_MB * 1024 * 1024)

    @property
    def uses_s3(self) -> bool:
        return bool(self.AWS_BUCKET_NAME)

    @property
    def dev_sign_in(self) -> bool:
        """Dev sign-in: on by default in development, possible in test, never elsewhere."""
        if self.ENVIRONMENT not in (Environment.DEVELOPMENT, Environment.TEST):
            return False
        if self.AUTH_DEV_MODE is None:
            return self.ENVIRONMENT is Environment.DEVELOPMENT
        return self.AUTH_DEV_MODE

    def dev_sign_in_for(self, server: str | None, client: str | None = None) -> bool:
        """Whether dev sign-in applies to a connection that arrived on the local address
        ``server`` from ``client``. Unless AUTH_DEV_MODE=true says so explicitly, it only
        applies on loopback: the development default never opens a server reachable from
        another machine (however it was started: `caliber serve`, uvicorn, a container)."""
        if not self.dev_sign_in:
            return False
        if self.AUTH_DEV_MODE:
            return True
        return _arrived_locally(server) and _arrived_locally(client)


def is_loopback_host(host: str) -> bool:
    """Whether a listening address is on loopback only (``0.0.0.0``, ``::``, an interface's
    address or a host name other than localhost are not)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _arrived_locally(address: str | None) -> bool:
    """A connection's address as the ASGI server reports it: an IP of a TCP socket, or no
    address / a name for what is not a network connection (a Unix socket, an in-process
    test client), which is local by nature."""
    if address is None:
        return True
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return True
    return is_loopback_host(address)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
