"""`scripts/start_workers.sh` as a user runs it, without Redis or Celery.

A fake `caliber` (a Python script in tmp_path that records its arguments and sleeps)
stands in for the workers, and a socket server thread on 127.0.0.1 that answers every
request with +PONG stands in for Redis. The script runs with a PATH of just the tools
it needs, so the Redis check is exercised both through redis-cli (when installed) and
through its Python socket fallback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "start_workers.sh"
SERVICES = ("scoring", "general", "beat", "flower")
LAUNCHED = ("scoring", "general", "beat")  # flower is off in these tests
# What the script calls besides bash builtins; redis-cli only when a test wants it.
TOOLS = (
    "bash",
    "cat",
    "date",
    "dirname",
    "head",
    "mkdir",
    "mv",
    "nohup",
    "pgrep",
    "ps",
    "rm",
    "sed",
    "sleep",
    "tail",
    "timeout",
    "tr",
)
# Settings the script reads: none may leak in from the developer's shell.
SCRIPT_SETTINGS = (
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "STOP_TIMEOUT",
    "START_GRACE",
    "REDIS_TIMEOUT",
    "SCORING_CONCURRENCY",
    "GENERAL_CONCURRENCY",
    "LOG_LINES",
    "LOG_FOLLOW",
    "FLOWER_PORT",
    "FLOWER_ADDRESS",
    "FLOWER_BASIC_AUTH",
)

FAKE_CALIBER = """#!{python}
import os
import signal
import sys
import time
from pathlib import Path

record = Path({record!r})
mode = {mode!r}
pid = os.getpid()
tmp = record / f"{{pid}}.tmp"
tmp.write_text("\\n".join(sys.argv[1:]))
tmp.rename(record / f"{{pid}}.args")
print("fake caliber", *sys.argv[1:], flush=True)
if mode == "crash":
    sys.exit(3)


def on_term(signum: int, frame: object) -> None:
    (record / f"{{pid}}.term").write_text("SIGTERM")
    sys.exit(0)


if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, on_term)
time.sleep(120)
"""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _process_state(pid: int) -> str | None:
    """The process's state letter (Z for a zombie), or None when it is gone."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            stat = (proc / str(pid) / "stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[0]
    result = subprocess.run(
        ["ps", "-o", "stat=", "-p", str(pid)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    state = result.stdout.strip()
    return state or None


def _running(pid: int) -> bool:
    state = _process_state(pid)
    return state is not None and not state.startswith("Z")


def _command_line(pid: int) -> str:
    cmdline = Path("/proc") / str(pid) / "cmdline"
    if cmdline.parent.parent.is_dir():
        try:
            return cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout


def _wait_for(predicate_path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate_path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{predicate_path} did not appear within {timeout}s")
        time.sleep(0.02)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Workspace:
    """A run of the script: its cwd, PATH and the fake caliber's records."""

    root: Path
    path: str
    record: Path
    bin_dir: Path

    @property
    def pid_dir(self) -> Path:
        return self.root / "run" / "pids"

    @property
    def log_dir(self) -> Path:
        return self.root / "run" / "logs"

    def fake_caliber(self, mode: str = "sleep") -> Path:
        fake = self.bin_dir / f"caliber-{mode}"
        fake.write_text(
            FAKE_CALIBER.format(python=sys.executable, record=str(self.record), mode=mode)
        )
        fake.chmod(0o755)
        return fake

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CALIBER_") and name not in SCRIPT_SETTINGS
        }
        env.update(
            PATH=self.path,
            NO_COLOR="1",
            CALIBER_RUN_DIR=str(self.root / "run"),
            CALIBER_PYTHON=sys.executable,
            CALIBER_BIN=str(self.fake_caliber()),
            START_GRACE="0.3",
            REDIS_TIMEOUT="5",
        )
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            env=self.env(**extra),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def pid_files(self) -> list[Path]:
        return sorted(self.pid_dir.glob("*.pid")) if self.pid_dir.is_dir() else []

    def started_pids(self) -> list[int]:
        return sorted(int(path.stem) for path in self.record.glob("*.args"))

    def args_of(self, pid: int) -> list[str]:
        return (self.record / f"{pid}.args").read_text().split("\n")


def _status(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    lines: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, rest = line.partition(" ")
        lines[name] = rest.strip()
    return lines


def _kill_leftovers(workspace: Workspace) -> None:
    """SIGKILL any fake caliber still alive (checking it is ours, not a reused PID)."""
    for pid in workspace.started_pids():
        if _running(pid) and str(workspace.bin_dir) in _command_line(pid):
            os.kill(pid, signal.SIGKILL)


class _PongHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        assert isinstance(sock, socket.socket)
        sock.settimeout(5)
        while True:
            try:
                data = sock.recv(4096)
                if not data:
                    return
                sock.sendall(b"+PONG\r\n")
            except OSError:
                return


class _PongServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(params=["redis-cli", "python"])
def ping_via(request: pytest.FixtureRequest) -> str:
    via: str = request.param
    if via == "redis-cli" and shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    return via


def _workspace(tmp_path: Path, with_redis_cli: bool) -> Iterator[Workspace]:
    tools = tmp_path / "tools"
    tools.mkdir()
    wanted = [*TOOLS, "redis-cli"] if with_redis_cli else list(TOOLS)
    for name in wanted:
        found = shutil.which(name)
        if found is not None:
            (tools / name).symlink_to(found)
    record = tmp_path / "record"
    record.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    root = tmp_path / "cwd"
    root.mkdir()
    workspace = Workspace(root=root, path=str(tools), record=record, bin_dir=bin_dir)
    try:
        yield workspace
    finally:
        _kill_leftovers(workspace)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """Without redis-cli on PATH: the Redis check goes through Python's socket."""
    yield from _workspace(tmp_path, with_redis_cli=False)


@pytest.fixture
def ping_workspace(tmp_path: Path, ping_via: str) -> Iterator[Workspace]:
    yield from _workspace(tmp_path, with_redis_cli=ping_via == "redis-cli")


@pytest.fixture
def fake_redis() -> Iterator[str]:
    """A redis:// URL whose server answers every request with +PONG."""
    server = _PongServer(("127.0.0.1", 0), _PongHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert isinstance(host, str)
        yield f"redis://{host}:{port}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ---------------------------------------------------------------------------
# The script itself
# ---------------------------------------------------------------------------


def test_script_is_executable_and_parses() -> None:
    assert os.access(SCRIPT, os.X_OK)
    result = subprocess.run(
        ["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(
        [shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_lists_actions_and_services(workspace: Workspace) -> None:
    result = workspace.run("--help")
    assert result.returncode == 0, result.stderr
    for word in ("start", "stop", "restart", "status", "logs", *SERVICES):
        assert word in result.stdout
    assert workspace.run("status", "--help").returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["launch"], id="unknown-action"),
        pytest.param([], id="no-action"),
        pytest.param(["start", "nosuch"], id="unknown-service"),
        pytest.param(["status", "scoring"], id="status-with-service"),
        pytest.param(["logs", "scoring", "beat"], id="logs-with-two"),
    ],
)
def test_usage_errors_exit_2(workspace: Workspace, args: list[str]) -> None:
    result = workspace.run(*args)
    assert result.returncode == 2
    assert result.stderr
    assert not workspace.pid_files()


def test_bad_setting_is_a_usage_error(workspace: Workspace) -> None:
    result = workspace.run("stop", STOP_TIMEOUT="soon")
    assert result.returncode == 2
    assert "STOP_TIMEOUT" in result.stderr


# ---------------------------------------------------------------------------
# Redis check
# ---------------------------------------------------------------------------


def test_start_fails_when_redis_is_unreachable(ping_workspace: Workspace) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    result = ping_workspace.run("start", REDIS_URL=url)
    assert result.returncode == 1
    assert url in result.stderr
    assert not ping_workspace.pid_files()
    assert not ping_workspace.started_pids()


def test_broker_url_takes_precedence_and_password_is_masked(workspace: Workspace) -> None:
    broker = f"redis://:hunter2@127.0.0.1:{_free_port()}/1"
    result = workspace.run("start", CELERY_BROKER_URL=broker, REDIS_URL="redis://unused/0")
    assert result.returncode == 1
    assert "hunter2" not in result.stdout + result.stderr
    assert broker.replace("hunter2", "***") in result.stderr
    assert "CELERY_BROKER_URL" in result.stderr


def test_start_fails_without_a_broker_url(workspace: Workspace) -> None:
    result = workspace.run("start")
    assert result.returncode == 1
    assert "REDIS_URL" in result.stderr
    assert not workspace.pid_files()


def test_broker_url_is_read_from_dotenv(workspace: Workspace) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/2"
    (workspace.root / ".env").write_text(f'# settings\nexport REDIS_URL="{url}"\n')
    result = workspace.run("start")
    assert result.returncode == 1
    assert url in result.stderr
    assert ".env" in result.stderr


# ---------------------------------------------------------------------------
# status and stale PID files
# ---------------------------------------------------------------------------


def test_status_on_a_fresh_run_dir(workspace: Workspace) -> None:
    result = workspace.run("status")
    assert result.returncode == 0, result.stderr
    status = _status(result)
    assert set(status) == set(SERVICES)
    for name in LAUNCHED:
        assert status[name] == "stopped"
    assert status["flower"] in {"stopped", "not installed (pip install flower)"}
    assert workspace.run("status", CALIBER_FLOWER="off").stdout.count("disabled") == 1


def test_stale_pid_file_is_reported_and_cleaned_by_stop(workspace: Workspace) -> None:
    with subprocess.Popen(["true"]) as finished:
        finished.wait(timeout=60)
    workspace.pid_dir.mkdir(parents=True)
    pid_file = workspace.pid_dir / "general.pid"
    pid_file.write_text(f"{finished.pid}\n")
    (workspace.pid_dir / "beat.pid").write_text("not a pid\n")

    status = _status(workspace.run("status"))
    assert status["general"].startswith(f"stale (pid {finished.pid} ")
    assert status["beat"].startswith("stale")
    assert status["scoring"] == "stopped"

    result = workspace.run("stop")
    assert result.returncode == 0, result.stderr
    assert "stale" in result.stderr
    assert not workspace.pid_files()
    assert _status(workspace.run("status"))["general"] == "stopped"


# ---------------------------------------------------------------------------
# start / status / stop with fake services
# ---------------------------------------------------------------------------


def test_start_status_stop(ping_workspace: Workspace, fake_redis: str) -> None:
    ws = ping_workspace
    result = ws.run("start", REDIS_URL=fake_redis, CALIBER_FLOWER="off", SCORING_CONCURRENCY="3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "flower: skipped" in result.stdout
    assert sorted(path.stem for path in ws.pid_files()) == sorted(LAUNCHED)

    pids = {name: int((ws.pid_dir / f"{name}.pid").read_text().split()[0]) for name in LAUNCHED}
    for pid in pids.values():
        _wait_for(ws.record / f"{pid}.args")
        assert _running(pid)
    assert sorted(pids.values()) == ws.started_pids()
    assert ws.args_of(pids["scoring"]) == [
        "worker",
        "--queues",
        "scoring",
        "--concurrency",
        "3",
        "--loglevel",
        "info",
        "--hostname",
        "scoring@%h",
    ]
    general = ws.args_of(pids["general"])
    assert general[:3] == ["worker", "--queues", "exports,maintenance,monitoring,notifications"]
    assert general[general.index("--concurrency") + 1] == "2"
    assert ws.args_of(pids["beat"]) == ["beat", "--loglevel", "info"]

    status = _status(ws.run("status", CALIBER_FLOWER="off"))
    for name, pid in pids.items():
        assert status[name] == f"running (pid {pid})"

    again = ws.run("start", "scoring", REDIS_URL=fake_redis)
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert ws.started_pids() == sorted(pids.values())

    logs = ws.run("logs")
    assert logs.returncode == 0
    assert sorted(Path(line).name for line in logs.stdout.split()) == sorted(
        f"{name}.log" for name in LAUNCHED
    )
    scoring_log = ws.run("logs", "scoring", LOG_FOLLOW="0")
    assert "fake caliber worker --queues scoring" in scoring_log.stdout

    stopped = ws.run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not ws.pid_files()
    for pid in pids.values():
        assert (ws.record / f"{pid}.term").read_text() == "SIGTERM"
        assert not _running(pid)
    status = _status(ws.run("status"))
    for name in LAUNCHED:
        assert status[name] == "stopped"


def test_stop_escalates_to_sigkill_after_stop_timeout(
    workspace: Workspace, fake_redis: str
) -> None:
    stubborn = str(workspace.fake_caliber("stubborn"))
    started = workspace.run("start", "scoring", REDIS_URL=fake_redis, CALIBER_BIN=stubborn)
    assert started.returncode == 0, started.stdout + started.stderr
    (pid,) = workspace.started_pids()

    began = time.monotonic()
    stopped = workspace.run("stop", "scoring", STOP_TIMEOUT="1")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert time.monotonic() - began >= 1
    assert "SIGKILL" in stopped.stderr
    assert not _running(pid)
    assert not workspace.pid_files()


def test_start_reports_a_service_that_dies_at_once(workspace: Workspace, fake_redis: str) -> None:
    crash = str(workspace.fake_caliber("crash"))
    result = workspace.run("start", "beat", REDIS_URL=fake_redis, CALIBER_BIN=crash)
    assert result.returncode == 1
    assert "beat exited right after starting" in result.stderr
    assert "fake caliber beat" in result.stderr  # the tail of its log
    assert not workspace.pid_files()


def test_restart_replaces_the_process(workspace: Workspace, fake_redis: str) -> None:
    assert workspace.run("start", "beat", REDIS_URL=fake_redis).returncode == 0
    (first,) = workspace.started_pids()
    result = workspace.run("restart", "beat", REDIS_URL=fake_redis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _running(first)
    second = int((workspace.pid_dir / "beat.pid").read_text().split()[0])
    assert second != first
    assert _running(second)
    assert workspace.run("stop").returncode == 0
    assert not _running(second)
