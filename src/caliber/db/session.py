"""Engines and sessions, built from settings (never at import time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def json_loads(text: str | bytes) -> Any:
    """JSON columns as Python values: orjson (six times faster than the standard library
    on the metrics of a result page), re-read by the standard library when orjson gave a
    float of 2**63 or more, which may have been an integer literal beyond 64 bits (orjson
    turns those into floats; the standard library keeps them exact), or refused the text."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _has_huge_float(value) else value


def _has_huge_float(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is float:
            if not -_HUGE < item < _HUGE:
                return True
        elif kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


_HUGE = float(2**63)


# How long a SQLite writer waits for the write lock before giving up (a 503). Writes
# hold it briefly (the scoring job saves in batches of about 0.25 s), so this only
# matters when something else holds it far too long.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def build_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite: foreign keys; WAL, so readers never wait for the
    writer nor it for them; ``synchronous=NORMAL``, which WAL makes safe (a crash of the
    process loses nothing; a power cut may lose the last commits, never consistency) and
    which spares a sync per commit of the scoring job's batches; and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            json_deserializer=json_loads,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    # a pool larger than the threads that serve requests (40 in Starlette's default
    # thread limiter would be too many for a small PostgreSQL: 20 + 10 overflow)
    return create_engine(
        url, pool_pre_ping=True, pool_size=20, max_overflow=10, json_deserializer=json_loads
    )


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return build_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for jobs and CLIs)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
