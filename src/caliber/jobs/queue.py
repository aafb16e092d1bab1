"""The job interface the service enqueues through: Celery (the default, on Redis or the
embedded file broker) or a thread pool inside the server (``JOB_RUNNER=threads``).

Jobs are sent after the transaction that made them possible has committed, with ids
as arguments, never objects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from caliber.core import metrics

logger = logging.getLogger(__name__)


class JobQueue(Protocol):
    def register(self, name: str, handler: Callable[..., object]) -> None:
        """Tell an in-process queue how to run ``name`` (workers have their own tasks)."""
        ...

    def enqueue(self, name: str, **kwargs: Any) -> str:
        """Schedule job ``name`` with JSON-able keyword arguments; return a job id."""
        ...

    def join(self, timeout: float = 60.0) -> None: ...

    def shutdown(self) -> None: ...


class CeleryJobQueue:
    """Sends jobs to Celery workers by name; the workers run ``caliber.worker.tasks``."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def register(self, name: str, handler: Callable[..., object]) -> None:
        del name, handler  # the worker processes import their own task functions

    def enqueue(self, name: str, **kwargs: Any) -> str:
        try:
            result = self._app.send_task(name, kwargs=kwargs)
        except Exception:
            metrics.JOBS_FAILED_TO_ENQUEUE.labels(name).inc()
            raise
        metrics.JOBS_ENQUEUED.labels(name).inc()
        return str(result.id)

    def join(self, timeout: float = 60.0) -> None:
        del timeout  # other processes run the jobs; nothing to wait for here

    def shutdown(self) -> None:
        return None


class ThreadJobQueue:
    """Runs registered jobs in a bounded thread pool inside the server (tests, embedding;
    a job in flight is lost when the process stops)."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caliber-job")
        self._handlers: dict[str, Callable[..., object]] = {}
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._counter = 0

    def register(self, name: str, handler: Callable[..., object]) -> None:
        self._handlers[name] = handler

    def enqueue(self, name: str, **kwargs: Any) -> str:
        handler = self._handlers.get(name)
        if handler is None:
            msg = f"no job named {name!r}"
            raise KeyError(msg)
        with self._lock:
            self._counter += 1
            job_id = f"{name}-{self._counter}"
        future = self._pool.submit(self._run, job_id, handler, kwargs)
        metrics.JOBS_ENQUEUED.labels(name).inc()
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return job_id

    def _run(self, job_id: str, handler: Callable[..., object], kwargs: dict[str, Any]) -> None:
        name = job_id.rsplit("-", 1)[0]
        try:
            handler(**kwargs)
        except Exception:  # a job records its own failure; this is the last resort
            metrics.JOB_RUNS.labels(name, "error").inc()
            logger.exception("job %s failed", job_id)
        else:
            metrics.JOB_RUNS.labels(name, "ok").inc()

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def join(self, timeout: float = 60.0) -> None:
        """Wait until every job enqueued so far has finished (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
