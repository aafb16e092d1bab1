"""Everything a request or a job needs, built once from settings by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from caliber.ai.service import Analyst
from caliber.auth.verifier import CertificateCache, FirebaseTokenVerifier
from caliber.core.settings import Settings
from caliber.db.session import build_engine, session_factory
from caliber.jobs.queue import CeleryJobQueue, JobQueue, ThreadJobQueue
from caliber.scoring import store as run_store
from caliber.storage.base import Storage
from caliber.storage.factory import build_storage


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    verifier: FirebaseTokenVerifier | None
    jobs: JobQueue
    ai: Analyst

    @classmethod
    def build(cls, settings: Settings) -> Container:
        engine = build_engine(settings.database_url)
        verifier = None
        if settings.FIREBASE_PROJECT_ID:
            verifier = FirebaseTokenVerifier(
                settings.FIREBASE_PROJECT_ID, CertificateCache(settings.FIREBASE_CERTS_URL)
            )
        storage = build_storage(settings)
        run_store.attach(engine, storage)  # reads of run files through these sessions
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            storage=storage,
            verifier=verifier,
            jobs=build_queue(settings),
            ai=Analyst(settings),
        )

    def close(self) -> None:
        self.jobs.shutdown()
        self.engine.dispose()


def build_queue(settings: Settings) -> JobQueue:
    """Celery (on the configured broker, or the embedded one), or the in-process pool
    when JOB_RUNNER=threads."""
    if settings.JOB_RUNNER == "threads":
        return ThreadJobQueue(settings.JOB_WORKERS)
    from caliber.jobs.celery_app import client_app  # noqa: PLC0415 - Celery only when used

    return CeleryJobQueue(client_app(settings))
