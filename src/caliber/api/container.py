"""Everything a request or a job needs, built once from settings by the app factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from caliber.auth.verifier import CertificateCache, FirebaseTokenVerifier
from caliber.core.settings import Settings
from caliber.db.session import build_engine, session_factory
from caliber.jobs.queue import ThreadJobQueue
from caliber.storage.base import Storage
from caliber.storage.local import LocalStorage


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    verifier: FirebaseTokenVerifier | None
    jobs: ThreadJobQueue

    @classmethod
    def build(cls, settings: Settings) -> Container:
        engine = build_engine(settings.database_url)
        verifier = None
        if settings.FIREBASE_PROJECT_ID:
            verifier = FirebaseTokenVerifier(
                settings.FIREBASE_PROJECT_ID, CertificateCache(settings.FIREBASE_CERTS_URL)
            )
        return cls(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            storage=build_storage(settings),
            verifier=verifier,
            jobs=ThreadJobQueue(settings.JOB_WORKERS),
        )

    def close(self) -> None:
        self.jobs.shutdown()
        self.engine.dispose()


def build_storage(settings: Settings) -> Storage:
    """S3 when a bucket is configured, else local disk under STORAGE_DIR."""
    if settings.uses_s3:
        from caliber.storage.s3 import S3Storage  # noqa: PLC0415 - boto3 only when used

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.storage_dir)
