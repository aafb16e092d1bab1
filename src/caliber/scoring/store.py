"""Where a run's result rows live: one Parquet file per run in the storage backend (local
disk or S3), under ``runs/<campaign id>/<run id>.parquet``; a run the migration to runs
kept in SQL (no ``storage_key``) is read from ``scoring_results``
(:mod:`caliber.scoring.legacy`).

Reads find the storage through the session's engine: whoever builds an engine and a
storage for the same process (the API's container, the worker's services) attaches
them once (:func:`attach`), so every read that has a session (pages, lists, exports,
analytics, the AI context) reaches the run's file without passing the storage along.
"""

from __future__ import annotations

import io
import threading
import uuid
import weakref

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from caliber.core.errors import NotFound
from caliber.db.models import ScoringRun
from caliber.scoring import legacy
from caliber.scoring.frames import Layout, StoredRun, from_parquet, to_parquet
from caliber.scoring.service import setup_from_snapshot
from caliber.storage.base import Storage

_storages: weakref.WeakKeyDictionary[Engine, Storage] = weakref.WeakKeyDictionary()
_lock = threading.Lock()

GONE = "the results of this run are no longer stored; score the campaign again"


def attach(engine: Engine, storage: Storage) -> None:
    """Reads through sessions of ``engine`` find run files in ``storage``."""
    with _lock:
        _storages[engine] = storage


def storage_for(session: Session) -> Storage:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _lock:
        found = _storages.get(engine)
    if found is None:
        msg = "no storage is attached to this database engine (caliber.scoring.store.attach)"
        raise RuntimeError(msg)
    return found


def run_key(campaign_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """The storage key of a run's file: known from its ids before it is written, so a
    file a crash left behind is always found again through its run."""
    return f"runs/{campaign_id.hex}/{run_id.hex}.parquet"


def save_frame(storage: Storage, key: str, data: bytes) -> int:
    return storage.save(key, io.BytesIO(data))


def layout_of(run: ScoringRun) -> Layout:
    """The run's layout from its snapshot (the weights and directions it was started
    with), or, for a snapshot that lacks them, from its setup."""
    snapshot = run.snapshot or {}
    if not snapshot.get("weights") and snapshot.get("setup"):
        return Layout.of(setup_from_snapshot(snapshot))
    return Layout.from_snapshot(snapshot)


def load(session: Session, run: ScoringRun) -> StoredRun:
    """The run's stored frame, from its file or (a run kept from before runs were files)
    from its SQL rows. A file that is gone is a 404 saying so."""
    layout = layout_of(run)
    if run.storage_key is None:
        return StoredRun(run.id, layout, legacy.load_frame(session, run.id, layout))
    try:
        data = storage_for(session).read(run.storage_key)
    except NotFound:
        raise NotFound(GONE, run_id=str(run.id)) from None
    return StoredRun(run.id, layout, from_parquet(data))


def write_legacy_run(session: Session, storage: Storage, run: ScoringRun) -> tuple[str, int]:
    """Write a run kept in SQL to its file (the rows stay until the caller commits the
    key and removes them): the key and the bytes written."""
    assert run.campaign_id is not None
    frame = legacy.load_frame(session, run.id, layout_of(run))
    key = run_key(run.campaign_id, run.id)
    return key, save_frame(storage, key, to_parquet(frame))
