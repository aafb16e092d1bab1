"""`scripts/start_workers.sh` as a user runs it: real Celery workers and beat on the real
Redis (CI starts one; locally set CALIBER_TEST_REDIS_URL), asked through Celery's remote
control which queues they consume. `scripts/start_workers.bat` cannot run here (Linux):
only its queue list is checked."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from caliber.core.settings import Settings
from caliber.jobs.celery_app import QUEUES, client_app

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SCRIPT = SCRIPTS / "start_workers.sh"
REDIS_URL = os.environ.get("CALIBER_TEST_REDIS_URL")
REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"
SERVICES = ("scoring", "general", "beat", "flower")
GENERAL_QUEUES = {"exports", "maintenance", "monitoring", "notifications"}
HOST = socket.gethostname()
NODES = {"scoring": f"scoring@{HOST}", "general": f"general@{HOST}"}
# settings the script or Caliber read: none may leak in from the developer's shell
LEAKS = re.compile(r"^(CALIBER_|CELERY_|REDIS_URL$|DATABASE_URL$|DATA_DIR$|STORAGE_DIR$|FLOWER_)")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs: a zombie (dead, waiting for the init process to reap it after
    its daemon parent left) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a worker's pool), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _status(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


@dataclass
class Workspace:
    """A directory to run the script from, and every PID it reported (for the clean-up)."""

    root: Path
    broker: str = ""
    seen: set[int] = field(default_factory=set)

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids"

    def env(self, **extra: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not LEAKS.match(name)}
        env.update(
            ENVIRONMENT="test",
            DATA_DIR=str(self.root / "data"),
            CALIBER_PYTHON=sys.executable,
            SCORING_CONCURRENCY="1",
            GENERAL_CONCURRENCY="2",
        )
        if self.broker:
            env["REDIS_URL"] = self.broker
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(SCRIPT), *args],
            env=self.env(**extra),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.seen.update(self.running().values())
        return result

    def running(self) -> dict[str, int]:
        """Service name to PID, for the PID files whose process is alive."""
        found = {}
        for path in self.pids.glob("*.pid") if self.pids.is_dir() else ():
            pid = int(path.read_text().split()[0])
            if _alive(pid):
                found[path.stem] = pid
        return found

    def kill_leftovers(self) -> None:
        """SIGKILL the process groups (a detached Celery process and its pool have their own)
        of what the script started and left running, checking each is ours, not a reused PID."""
        for pid in self.seen:
            try:
                if str(self.root).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
            except OSError:  # gone already
                continue


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    space = Workspace(root=tmp_path)
    try:
        yield space
    finally:
        space.kill_leftovers()


@pytest.fixture
def broker(workspace: Workspace) -> Iterator[str]:
    """The test Redis, emptied before and after (beat and the workers leave keys)."""
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("CALIBER_TEST_REDIS_URL is not set although services are required")
        pytest.skip("no Redis (set CALIBER_TEST_REDIS_URL; .ci/run does under CI=true)")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    workspace.broker = REDIS_URL
    try:
        yield REDIS_URL
    finally:
        workspace.kill_leftovers()
        client.flushdb()
        client.close()


def _ask(broker: str, command: str) -> dict[str, Any]:
    """Both workers' replies to an inspect command (Celery's remote control), asking again
    when one is too busy to answer in time on a loaded machine."""
    settings = Settings(_env_file=None, REDIS_URL=broker)
    inspect = client_app(settings).control.inspect(destination=list(NODES.values()), timeout=10)
    for _ in range(6):
        replies: dict[str, Any] = getattr(inspect, command)() or {}
        if set(replies) == set(NODES.values()):
            return replies
    pytest.fail(f"the workers did not all answer {command}: {replies}")


def _nobody_answers(broker: str) -> bool:
    settings = Settings(_env_file=None, REDIS_URL=broker)
    return not client_app(settings).control.inspect(timeout=1).ping()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------
# The scripts themselves
# ---------------------------------------------------------------------------


def test_script_is_executable_and_shellcheck_clean() -> None:
    assert os.access(SCRIPT, os.X_OK)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if REQUIRED:  # .ci/services.sh installs it
            pytest.fail("shellcheck is not installed although CI tools are required")
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(
        [shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_scripts_consume_every_queue() -> None:
    """The Windows script cannot run here; it must at least start the same two workers."""
    shell = SCRIPT.read_text()
    assert "-Q:scoring scoring -Q:general " + ",".join(sorted(GENERAL_QUEUES)) in shell
    batch = (SCRIPTS / "start_workers.bat").read_text()
    queues = [set(found.split(",")) for found in re.findall(r"--queues (\S+)", batch)]
    assert queues == [{"scoring"}, GENERAL_QUEUES]
    assert {"scoring"} | GENERAL_QUEUES == set(QUEUES)
    assert "caliber beat" in batch


def test_help(workspace: Workspace) -> None:
    result = workspace.run("--help")
    assert result.returncode == 0, result.stderr
    for word in ("start", "stop", "restart", "status", "logs", *SERVICES):
        assert word in result.stdout
    assert not (workspace.root / "run").exists()


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        pytest.param([], {}, "unknown action ''", id="no-action"),
        pytest.param(["launch"], {}, "unknown action 'launch'", id="unknown-action"),
        pytest.param(["start", "scoring"], {}, "start takes no argument", id="start-service"),
        pytest.param(["logs", "nosuch"], {}, "logs takes one of: scoring", id="unknown-service"),
        pytest.param(["logs", "beat", "scoring"], {}, "logs takes one of", id="logs-two"),
        pytest.param(
            ["start"],
            {"SCORING_CONCURRENCY": "many"},
            "SCORING_CONCURRENCY must be a whole number from 1, got 'many'",
            id="bad-concurrency",
        ),
    ],
)
def test_usage_errors_exit_2(
    workspace: Workspace, args: list[str], extra: dict[str, str], message: str
) -> None:
    result = workspace.run(*args, **extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (workspace.root / "run").exists()


# ---------------------------------------------------------------------------
# The broker
# ---------------------------------------------------------------------------


def test_start_without_a_broker_url_is_a_clear_error(workspace: Workspace) -> None:
    result = workspace.run("start")
    assert result.returncode == 1
    assert "neither CELERY_BROKER_URL nor REDIS_URL is set" in result.stderr
    assert not workspace.running()


def test_start_with_a_broker_that_does_not_answer(workspace: Workspace) -> None:
    port = _free_port()
    result = workspace.run("start", CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert f"cannot use the broker: Error 111 connecting to 127.0.0.1:{port}" in result.stderr
    assert not workspace.running()


def test_the_broker_url_is_read_from_dotenv_like_caliber_does(workspace: Workspace) -> None:
    port = _free_port()
    (workspace.root / ".env").write_text(f"REDIS_URL=redis://127.0.0.1:{port}/0\n")
    result = workspace.run("restart")  # checked before anything is stopped
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr


def test_status_tells_a_stale_pid_file_and_stop_removes_it(workspace: Workspace) -> None:
    with subprocess.Popen(["true"]) as finished:
        finished.wait(timeout=60)
    workspace.pids.mkdir(parents=True)
    (workspace.pids / "beat.pid").write_text(f"{finished.pid}\n")
    result = workspace.run("status")
    assert result.returncode == 0, result.stderr
    assert _status(result) == {
        "scoring": "stopped",
        "general": "stopped",
        "beat": f"stale (pid {finished.pid})",
        "flower": "stopped",
    }
    stopped = workspace.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not list(workspace.pids.glob("*.pid"))


# ---------------------------------------------------------------------------
# Real workers
# ---------------------------------------------------------------------------


def test_start_restart_stop(workspace: Workspace, broker: str) -> None:
    started = workspace.run("start")
    assert started.returncode == 0, started.stdout + started.stderr
    first = workspace.running()
    assert set(first) == {"scoring", "general", "beat"}  # Flower is not installed here
    status = _status(workspace.run("status"))
    for name, pid in first.items():
        assert status[name] == f"running (pid {pid})"

    # the workers answer on the broker and consume the right queues, with their concurrency
    queues = _ask(broker, "active_queues")
    assert {q["name"] for q in queues[NODES["scoring"]]} == {"scoring"}
    assert {q["name"] for q in queues[NODES["general"]]} == GENERAL_QUEUES
    stats = _ask(broker, "stats")
    assert stats[NODES["scoring"]]["pool"]["max-concurrency"] == 1
    assert stats[NODES["general"]]["pool"]["max-concurrency"] == 2
    assert stats[NODES["scoring"]]["pid"] == first["scoring"]
    # their logs (Caliber's log lines) go to the files under run/
    logs = workspace.root / "run" / "logs"
    for name in ("scoring", "general"):
        assert "Connected to redis://" in (logs / f"{name}.log").read_text()
    assert "beat: Starting..." in (logs / "beat.log").read_text()
    with subprocess.Popen(
        [str(SCRIPT), "logs", "scoring"],
        env=workspace.env(),
        cwd=workspace.root,
        stdout=subprocess.PIPE,
        text=True,
    ) as follow:  # tail -F: prints the last lines, then waits for more until stopped
        assert follow.stdout is not None
        line = follow.stdout.readline().rstrip("\n")
        assert line
        assert line in (logs / "scoring.log").read_text().splitlines()
        follow.terminate()

    again = workspace.run("start")
    assert again.returncode == 1
    assert "is already running" in again.stderr
    assert workspace.running() == first

    restarted = workspace.run("restart")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    second = workspace.running()
    assert set(second) == set(first)
    for name, pid in first.items():
        assert second[name] != pid
        assert not _alive(pid)
    assert _ask(broker, "stats")[NODES["general"]]["pid"] == second["general"]

    pools = [child for pid in second.values() for child in _children(pid)]
    assert len(pools) >= 3  # 1 + 2 pool processes
    stopped = workspace.run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not list(workspace.pids.glob("*.pid"))
    for pid in [*second.values(), *pools]:
        assert not _alive(pid)
    assert set(_status(workspace.run("status")).values()) == {"stopped"}
    assert _nobody_answers(broker)
