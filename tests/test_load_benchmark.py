"""The load test's entry points, without a load: benchmarks/load.py's options and argument
errors, and benchmarks/locustfile.py as Locust loads it. A real run (a server, 200k rows,
a minute of load) is `make bench-load`, not part of the suite. The locustfile is never
imported here: Locust monkey-patches the process with gevent on import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "benchmarks" / "load.py"
LOCUSTFILE = ROOT / "benchmarks" / "locustfile.py"
LOCUST = Path(sys.executable).parent / "locust"
PG = "postgresql://caliber@127.0.0.1:9/caliber_test"  # never reached: the arguments fail first


def _load(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CALIBER_TEST_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, str(LOAD), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_load_help_lists_the_modes_the_check_and_locusts_reports() -> None:
    run = _load("--help")
    assert run.returncode == 0, run.stderr
    for option in ("--think-ms", "--concurrency", "--warmup", "--check", "--csv", "--html"):
        assert option in run.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((), "--database-url (or CALIBER_TEST_DATABASE_URL) is required"),
        (("--database-url", "sqlite:///x.db"), "must be a PostgreSQL URL"),
        (("--database-url", PG, "--duration", "0"), "must be > 0"),
        (("--database-url", PG, "--think-ms", "-1"), "must not be negative"),
        (("--database-url", PG, "--sorts", "score,domain"), "choose from"),
        (("--database-url", PG, "--db-name", "caliber_test"), "is the database of"),
    ],
)
def test_load_bad_arguments_exit_2_naming_the_problem(args: tuple[str, ...], named: str) -> None:
    run = _load(*args)
    assert run.returncode == 2
    assert named in run.stderr


def test_locustfile_registers_its_options_and_needs_load_pys_plan() -> None:
    """Locust accepts the locustfile's own options (an unknown one is its exit 2) and the
    users refuse to start without the plan load.py writes."""
    locust = [
        str(LOCUST),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-t",
        "1s",
        "-H",
        "http://127.0.0.1:9",
    ]
    run = subprocess.run(
        [*locust, "--think-ms", "0", "--warmup", "0", "--upload-every", "5", "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "--caliber-plan PLAN.json is required" in run.stderr
