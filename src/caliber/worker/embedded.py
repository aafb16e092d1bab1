"""The embedded worker: with no broker configured, ``caliber serve`` runs one Celery
worker process (with beat inside it) on the filesystem broker, restarts it if it dies,
and stops it on shutdown.

The worker runs in its own session, so a Ctrl-C in the terminal reaches the server
only; the server then stops the worker (warm shutdown: a running task may finish within
the grace period, else it is killed and re-sent when the worker next starts).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


# scoring is batch work: on the machine that serves the API it yields the CPU to requests
NICENESS = 10


def worker_command(concurrency: int, schedule_file: Path) -> list[str]:
    """``caliber worker`` on every queue, with beat, exiting if its parent dies, at a
    lower CPU priority than the API."""
    return [
        sys.executable,
        "-m",
        "caliber.cli",
        "worker",
        f"--concurrency={concurrency}",
        "--beat",
        f"--schedule-file={schedule_file}",
        f"--exit-with-parent={os.getpid()}",
        f"--nice={NICENESS}",
        "--loglevel=warning",
    ]


def lower_priority(pid: int, niceness: int) -> None:
    """Run ``pid`` at ``niceness`` or more (never raises its priority; no-op off POSIX)."""
    if not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, pid)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError as exc:  # the process is gone, or not allowed: it just runs as is
        logger.warning("cannot lower the priority of process %s: %s", pid, exc)


class EmbeddedWorker:
    """Starts, watches and stops one worker process."""

    def __init__(self, command: Sequence[str], *, grace_seconds: float = 10.0) -> None:
        self._command = list(command)
        self._grace = grace_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name="caliber-worker-watch", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> None:
        kwargs: dict[str, object] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # terminal signals go to the server only
        self._process = subprocess.Popen(self._command, **kwargs)  # type: ignore[call-overload]
        # at once, before it forks its pool (its own --nice would apply only once imported)
        lower_priority(self._process.pid, NICENESS)
        logger.info("embedded worker started (pid %s)", self._process.pid)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            started = time.monotonic()
            while process.poll() is None:
                if self._stopping.wait(0.5):
                    return
            if time.monotonic() - started > 60:
                failures = 0  # it ran for a while: start over with a short delay
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
            failures += 1
            logger.warning(
                "embedded worker exited with status %s; restarting in %.0f s",
                process.returncode,
                delay,
            )
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        """Warm shutdown within the grace period, then kill the worker and its children."""
        self._stopping.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # the worker's main process stops its pool and beat itself
        try:
            process.wait(timeout=self._grace)
        except subprocess.TimeoutExpired:
            logger.warning("embedded worker did not stop within %.0f s; killing it", self._grace)
            self._kill(process)
            process.wait(timeout=10)
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)  # the worker and its pool processes
            else:
                process.kill()
        except ProcessLookupError:
            pass


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """In the worker: stop (warm shutdown) when the server that started it is gone."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                logger.warning("caliber serve (pid %s) is gone; stopping the worker", parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="caliber-parent-watch", daemon=True).start()
