#!/usr/bin/env bash
# Start, stop and inspect Caliber's background services on Linux and macOS:
# two Celery workers (scoring; exports/maintenance/monitoring/notifications), Celery
# beat and, when it is installed, Flower. Run `scripts/start_workers.sh --help`.
#
# Written for bash 3.2 (macOS) as well as bash 4/5: no associative arrays, no
# ${var,,}, and empty arrays are expanded with ${a[@]+"${a[@]}"} under `set -u`.
set -euo pipefail

SCRIPT_NAME="${0##*/}"
SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname -- "$SCRIPT_DIR")"

RUN_DIR="${CALIBER_RUN_DIR:-./run}"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
STOP_TIMEOUT="${STOP_TIMEOUT:-30}"
START_GRACE="${START_GRACE:-2}"
REDIS_TIMEOUT="${REDIS_TIMEOUT:-5}"
SCORING_CONCURRENCY="${SCORING_CONCURRENCY:-2}"
GENERAL_CONCURRENCY="${GENERAL_CONCURRENCY:-2}"
LOGLEVEL="${CALIBER_LOGLEVEL:-info}"
FLOWER_PORT="${FLOWER_PORT:-5555}"
FLOWER_MODE="${CALIBER_FLOWER:-auto}"
LOG_LINES="${LOG_LINES:-50}"
LOG_FOLLOW="${LOG_FOLLOW:-1}"
CELERY_APP="caliber.jobs.celery_app:app"

SERVICES=(scoring general beat flower)

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    C_RED=$'\033[31m'
    C_GREEN=$'\033[32m'
    C_YELLOW=$'\033[33m'
    C_RESET=$'\033[0m'
else
    C_RED=""
    C_GREEN=""
    C_YELLOW=""
    C_RESET=""
fi

usage() {
    cat <<EOF
Usage: $SCRIPT_NAME ACTION [SERVICE...]

Start, stop and inspect Caliber's background services.

Actions:
  start [SERVICE...]    start the services (all by default) in the background
  stop [SERVICE...]     stop them: SIGTERM (Celery's warm shutdown), then SIGKILL
                        after STOP_TIMEOUT seconds
  restart [SERVICE...]  stop, then start
  status                one line per service: running (pid N), stopped or stale
  logs [SERVICE]        follow a service's log; without SERVICE, list the log files
  -h, --help            show this help

Services:
  scoring   caliber worker --queues scoring (concurrency SCORING_CONCURRENCY)
  general   caliber worker --queues exports,maintenance,monitoring,notifications
            (concurrency GENERAL_CONCURRENCY)
  beat      caliber beat (periodic jobs)
  flower    celery --app $CELERY_APP flower --port FLOWER_PORT
            (only when Flower is installed: pip install flower)

Environment (also read from ./.env for the broker URL):
  CELERY_BROKER_URL     broker checked with a PING before starting; defaults to REDIS_URL
  REDIS_URL             e.g. REDIS_URL=redis://localhost:6379/0
  CALIBER_BIN           the caliber executable (default: caliber next to \`python\` on
                        PATH, else .venv/bin/caliber in the repository)
  CALIBER_PYTHON        Python used for Flower and the socket PING (default: python next
                        to caliber, else python3/python on PATH)
  CALIBER_RUN_DIR       PID files and logs go to DIR/pids and DIR/logs (default ./run)
  CALIBER_LOGLEVEL      Celery log level (default info)
  SCORING_CONCURRENCY   processes of the scoring worker (default 2)
  GENERAL_CONCURRENCY   processes of the general worker (default 2)
  CALIBER_FLOWER        auto (start Flower if installed, the default) or off
  FLOWER_PORT           Flower's port (default 5555). Flower has no login by default
                        and listens on every interface: set FLOWER_ADDRESS=127.0.0.1
                        and/or FLOWER_BASIC_AUTH=user:password (Flower reads both)
  STOP_TIMEOUT          seconds to wait after SIGTERM before SIGKILL (default 30)
  START_GRACE           seconds to wait before checking that started services live
                        (default 2)
  REDIS_TIMEOUT         seconds for the Redis PING (default 5)
  LOG_LINES, LOG_FOLLOW lines shown by \`logs SERVICE\` (default 50); LOG_FOLLOW=0
                        prints them and exits instead of following

Commands run from the current directory (Caliber reads ./.env from there).

Exit status: 0 ok, 1 failure, 2 usage error.

Examples:
  REDIS_URL=redis://localhost:6379/0 $SCRIPT_NAME start
  $SCRIPT_NAME status
  $SCRIPT_NAME logs scoring
  STOP_TIMEOUT=60 $SCRIPT_NAME restart scoring
EOF
}

info() { printf '%s\n' "$*"; }
ok() { printf '%s%s%s\n' "$C_GREEN" "$*" "$C_RESET"; }
warn() { printf '%s%s%s\n' "$C_YELLOW" "$*" "$C_RESET" >&2; }
error() { printf '%serror: %s%s\n' "$C_RED" "$*" "$C_RESET" >&2; }
die() {
    error "$*"
    exit 1
}
usage_error() {
    printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2
    printf "Run '%s --help' for usage.\n" "$SCRIPT_NAME" >&2
    exit 2
}

require_uint() {  # NAME VALUE
    [[ "$2" =~ ^[0-9]+$ ]] || usage_error "$1 must be a whole number, got '$2'"
}
require_number() {  # NAME VALUE
    [[ "$2" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage_error "$1 must be a number, got '$2'"
}

validate_settings() {
    require_uint STOP_TIMEOUT "$STOP_TIMEOUT"
    require_number START_GRACE "$START_GRACE"
    require_number REDIS_TIMEOUT "$REDIS_TIMEOUT"
    require_uint SCORING_CONCURRENCY "$SCORING_CONCURRENCY"
    require_uint GENERAL_CONCURRENCY "$GENERAL_CONCURRENCY"
    require_uint FLOWER_PORT "$FLOWER_PORT"
    require_uint LOG_LINES "$LOG_LINES"
    case "$FLOWER_MODE" in
        auto | off) ;;
        *) usage_error "CALIBER_FLOWER must be auto or off, got '$FLOWER_MODE'" ;;
    esac
}

is_service() {
    local candidate
    for candidate in "${SERVICES[@]}"; do
        [[ "$candidate" == "$1" ]] && return 0
    done
    return 1
}

# ---------------------------------------------------------------------------
# Executables
# ---------------------------------------------------------------------------

CALIBER=""
PYTHON=""

resolve_caliber() {
    [[ -n "$CALIBER" ]] && return 0
    if [[ -n "${CALIBER_BIN:-}" ]]; then
        [[ -x "$CALIBER_BIN" ]] || die "CALIBER_BIN=$CALIBER_BIN is not an executable file"
        CALIBER="$CALIBER_BIN"
        return 0
    fi
    local python_path
    python_path="$(command -v python 2>/dev/null || command -v python3 2>/dev/null || true)"
    if [[ -n "$python_path" && -x "$(dirname -- "$python_path")/caliber" ]]; then
        CALIBER="$(dirname -- "$python_path")/caliber"
    elif [[ -x "$REPO_ROOT/.venv/bin/caliber" ]]; then
        CALIBER="$REPO_ROOT/.venv/bin/caliber"
    else
        die "cannot find the caliber command: activate Caliber's virtualenv, run 'make install', or set CALIBER_BIN"
    fi
}

# The Python that has Caliber installed, for Flower and the socket PING. Empty when none.
resolve_python() {
    [[ -n "$PYTHON" ]] && return 0
    if [[ -n "${CALIBER_PYTHON:-}" ]]; then
        PYTHON="$CALIBER_PYTHON"
        return 0
    fi
    local dir=""
    if [[ -n "${CALIBER_BIN:-}" ]]; then
        dir="$(dirname -- "$CALIBER_BIN")"
    else
        local python_path
        python_path="$(command -v python 2>/dev/null || command -v python3 2>/dev/null || true)"
        if [[ -n "$python_path" && -x "$(dirname -- "$python_path")/caliber" ]]; then
            dir="$(dirname -- "$python_path")"
        elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
            dir="$REPO_ROOT/.venv/bin"
        fi
    fi
    if [[ -n "$dir" && -x "$dir/python" ]]; then
        PYTHON="$dir/python"
    else
        PYTHON="$(command -v python3 2>/dev/null || command -v python 2>/dev/null || true)"
    fi
}

# Prints "available", "disabled" or "not installed".
flower_state() {
    if [[ "$FLOWER_MODE" == off ]]; then
        printf 'disabled'
        return 0
    fi
    resolve_python
    if [[ -n "$PYTHON" ]] && "$PYTHON" -c 'import flower' >/dev/null 2>&1; then
        printf 'available'
    else
        printf 'not installed'
    fi
}

# Sets CMD to the command line of service $1.
CMD=()
service_command() {
    case "$1" in
        scoring)
            CMD=("$CALIBER" worker --queues scoring --concurrency "$SCORING_CONCURRENCY"
                --loglevel "$LOGLEVEL" --hostname "scoring@%h")
            ;;
        general)
            CMD=("$CALIBER" worker --queues "exports,maintenance,monitoring,notifications"
                --concurrency "$GENERAL_CONCURRENCY" --loglevel "$LOGLEVEL"
                --hostname "general@%h")
            ;;
        beat)
            CMD=("$CALIBER" beat --loglevel "$LOGLEVEL")
            ;;
        flower)
            CMD=("$PYTHON" -m celery --app "$CELERY_APP" flower --port "$FLOWER_PORT")
            ;;
    esac
}

# ---------------------------------------------------------------------------
# Broker check
# ---------------------------------------------------------------------------

# Value of NAME in ./.env (the file Caliber's settings read), or nothing.
dotenv_get() {
    local name="$1" line value="" found=""
    [[ -f .env ]] || return 0
    while IFS= read -r line || [[ -n "$line" ]]; do
        line="${line%$'\r'}"
        line="${line#"${line%%[![:space:]]*}"}"
        if [[ "$line" == "export "* ]]; then
            line="${line#export }"
            line="${line#"${line%%[![:space:]]*}"}"
        fi
        case "$line" in
            "$name="* | "$name "*=*)
                value="${line#*=}"
                value="${value#"${value%%[![:space:]]*}"}"
                found=1
                ;;
        esac
    done <.env
    [[ -n "$found" ]] || return 0
    value="${value%"${value##*[![:space:]]}"}"
    if [[ "$value" == \"*\" || "$value" == \'*\' ]]; then
        value="${value:1:${#value}-2}"
    else
        value="${value%%[[:space:]]#*}"
        value="${value%"${value##*[![:space:]]}"}"
    fi
    printf '%s' "$value"
}

BROKER_URL=""
BROKER_SOURCE=""
find_broker_url() {
    local name value
    for name in CELERY_BROKER_URL REDIS_URL; do
        value="${!name:-}"
        if [[ -n "$value" ]]; then
            BROKER_URL="$value"
            BROKER_SOURCE="$name"
            return 0
        fi
        value="$(dotenv_get "$name")"
        if [[ -n "$value" ]]; then
            BROKER_URL="$value"
            BROKER_SOURCE="$name in .env"
            return 0
        fi
    done
    return 1
}

# The URL with its password replaced by ***, for messages.
masked_url() {
    local url="$1" scheme rest authority userinfo
    scheme="${url%%://*}"
    rest="${url#*://}"
    authority="${rest%%/*}"
    if [[ "$authority" == *@* ]]; then
        userinfo="${authority%@*}"
        if [[ "$userinfo" == *:* ]]; then
            printf '%s://%s:***@%s' "$scheme" "${userinfo%%:*}" "${rest#*@}"
            return 0
        fi
    fi
    printf '%s' "$url"
}

percent_decode() {
    local encoded="${1//\\/\\\\}"
    printf '%b' "${encoded//%/\\x}"
}

R_SCHEME=""
R_HOST=""
R_PORT=""
R_USER=""
R_PASS=""
R_INSECURE=""
# Splits a redis:// or rediss:// URL; returns 1 with a message on anything else.
parse_redis_url() {
    local url="$1" rest query="" authority userinfo="" hostport
    R_SCHEME="${url%%://*}"
    if [[ "$R_SCHEME" == "$url" ]]; then
        error "the broker URL from $BROKER_SOURCE ($(masked_url "$url")) is not a URL"
        return 1
    fi
    case "$R_SCHEME" in
        redis | rediss) ;;
        *)
            error "the broker URL from $BROKER_SOURCE ($(masked_url "$url")) is not redis:// or rediss://; this script can only check Redis"
            return 1
            ;;
    esac
    rest="${url#*://}"
    rest="${rest%%#*}"
    if [[ "$rest" == *\?* ]]; then
        query="${rest#*\?}"
        rest="${rest%%\?*}"
    fi
    authority="${rest%%/*}"
    hostport="$authority"
    if [[ "$authority" == *@* ]]; then
        userinfo="${authority%@*}"
        hostport="${authority##*@}"
    fi
    R_PORT=""
    if [[ "$hostport" == \[* ]]; then
        R_HOST="${hostport#\[}"
        R_HOST="${R_HOST%%\]*}"
        rest="${hostport#*\]}"
        R_PORT="${rest#:}"
    else
        R_HOST="${hostport%%:*}"
        [[ "$hostport" == *:* ]] && R_PORT="${hostport#*:}"
    fi
    [[ -n "$R_PORT" ]] || R_PORT=6379
    if [[ -z "$R_HOST" ]]; then
        error "the broker URL from $BROKER_SOURCE ($(masked_url "$url")) names no host"
        return 1
    fi
    if ! [[ "$R_PORT" =~ ^[0-9]+$ ]]; then
        error "the broker URL from $BROKER_SOURCE ($(masked_url "$url")) has a bad port '$R_PORT'"
        return 1
    fi
    R_USER=""
    R_PASS=""
    if [[ "$userinfo" == *:* ]]; then
        R_USER="$(percent_decode "${userinfo%%:*}")"
        R_PASS="$(percent_decode "${userinfo#*:}")"
    fi
    R_INSECURE=""
    case "&$query&" in
        *"&ssl_cert_reqs=none&"* | *"&ssl_cert_reqs=CERT_NONE&"*) R_INSECURE=1 ;;
    esac
    return 0
}

# Python fallback for the PING: everything comes in through the environment.
# shellcheck disable=SC2016  # Python source, not shell
PING_PY='
import os, socket, ssl, sys

host = os.environ["CALIBER_PING_HOST"]
port = int(os.environ["CALIBER_PING_PORT"])
timeout = float(os.environ["CALIBER_PING_TIMEOUT"])


def command(*parts: str) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed by the server")
        data += chunk
    return data.strip()


try:
    sock = socket.create_connection((host, port), timeout=timeout)
    if os.environ.get("CALIBER_PING_TLS"):
        context = ssl.create_default_context()
        if os.environ.get("CALIBER_PING_INSECURE"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=host)
    with sock:
        password = os.environ.get("CALIBER_PING_PASSWORD", "")
        if password:
            user = os.environ.get("CALIBER_PING_USER", "")
            sock.sendall(command("AUTH", user, password) if user else command("AUTH", password))
            answer = reply(sock)
            if not answer.startswith(b"+"):
                print(answer.decode(errors="replace"))
                sys.exit(1)
        sock.sendall(command("PING"))
        answer = reply(sock)
except OSError as exc:
    print(exc)
    sys.exit(1)
print(answer.decode(errors="replace").lstrip("+"))
sys.exit(0 if answer == b"+PONG" else 1)
'

# Sets PING_REPLY; returns 0 when the server answered PONG.
PING_REPLY=""
ping_redis() {
    local -a prefix=()
    if command -v timeout >/dev/null 2>&1; then
        prefix=(timeout "$REDIS_TIMEOUT")
    fi
    if command -v redis-cli >/dev/null 2>&1; then
        local -a args=(-h "$R_HOST" -p "$R_PORT")
        if [[ "$R_SCHEME" == rediss ]]; then
            args+=(--tls)
            [[ -n "$R_INSECURE" ]] && args+=(--insecure)
        fi
        [[ -n "$R_USER" && -n "$R_PASS" ]] && args+=(--user "$R_USER")
        PING_REPLY="$(
            if [[ -n "$R_PASS" ]]; then
                export REDISCLI_AUTH="$R_PASS"
            fi
            ${prefix[@]+"${prefix[@]}"} redis-cli "${args[@]}" ping 2>&1
        )" || true
        [[ "$PING_REPLY" == PONG ]]
        return
    fi
    resolve_python
    if [[ -z "$PYTHON" ]]; then
        PING_REPLY="neither redis-cli nor python was found to send the PING"
        return 1
    fi
    local status=0
    PING_REPLY="$(
        export CALIBER_PING_HOST="$R_HOST" CALIBER_PING_PORT="$R_PORT"
        export CALIBER_PING_TIMEOUT="$REDIS_TIMEOUT" CALIBER_PING_USER="$R_USER"
        export CALIBER_PING_PASSWORD="$R_PASS" CALIBER_PING_INSECURE="$R_INSECURE"
        if [[ "$R_SCHEME" == rediss ]]; then
            export CALIBER_PING_TLS=1
        fi
        ${prefix[@]+"${prefix[@]}"} "$PYTHON" -c "$PING_PY" 2>&1
    )" || status=$?
    [[ "$status" -eq 0 ]]
}

check_redis() {
    if ! find_broker_url; then
        die "neither CELERY_BROKER_URL nor REDIS_URL is set (in the environment or ./.env); see '$SCRIPT_NAME --help'"
    fi
    parse_redis_url "$BROKER_URL" || exit 1
    if ! ping_redis; then
        error "Redis is not reachable at $(masked_url "$BROKER_URL") (from $BROKER_SOURCE): ${PING_REPLY:-no answer}"
        error "start Redis, or point CELERY_BROKER_URL / REDIS_URL at a running one"
        exit 1
    fi
    info "Redis answered PING at $(masked_url "$BROKER_URL")"
}

# ---------------------------------------------------------------------------
# PID files
# ---------------------------------------------------------------------------

pid_file() { printf '%s/%s.pid' "$PID_DIR" "$1"; }
log_file() { printf '%s/%s.log' "$LOG_DIR" "$1"; }

# Prints the PID recorded for service $1; returns 1 without a usable PID file.
read_pid() {
    local file pid
    file="$(pid_file "$1")"
    [[ -f "$file" ]] || return 1
    pid="$(head -n 1 -- "$file" 2>/dev/null || true)"
    pid="${pid//[[:space:]]/}"
    [[ "$pid" =~ ^[0-9]+$ && "$pid" -gt 1 ]] || return 1
    printf '%s' "$pid"
}

# True when $1 is a live process (zombies count as dead).
pid_alive() {
    local pid="$1" stat state
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
        state="${stat##*) }"
        state="${state%% *}"
    elif command -v ps >/dev/null 2>&1; then
        state="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
        state="${state//[[:space:]]/}"
    else
        return 0
    fi
    [[ -n "$state" && "$state" != Z* ]]
}

# Prints when process $1 started, as a token to compare (empty when it cannot be told).
proc_start() {
    local pid="$1" stat started=""
    local -a fields=()
    if [[ -r "/proc/$pid/stat" ]]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 0
        read -r -a fields <<<"${stat##*) }"
        if [[ ${#fields[@]} -gt 19 ]]; then
            started="proc:${fields[19]}"
        fi
    elif command -v ps >/dev/null 2>&1; then
        started="$(ps -o lstart= -p "$pid" 2>/dev/null || true)"
        started="${started//[[:space:]]/}"
        if [[ -n "$started" ]]; then
            started="ps:$started"
        fi
    fi
    printf '%s' "$started"
}

# True when live process $2 is the one recorded for service $1: the PID file's second
# line is its start time, so a PID reused by another program is not taken for ours.
pid_is_service() {
    local recorded current
    recorded="$(sed -n 2p -- "$(pid_file "$1")" 2>/dev/null || true)"
    [[ -n "$recorded" ]] || return 0
    current="$(proc_start "$2")"
    [[ -z "$current" || "$current" == "$recorded" ]]
}

# Prints "running PID", "stale PID", "stale" or "stopped" for service $1.
service_state() {
    local file pid
    file="$(pid_file "$1")"
    if [[ ! -e "$file" ]]; then
        printf 'stopped'
    elif ! pid="$(read_pid "$1")"; then
        printf 'stale'
    elif pid_alive "$pid" && pid_is_service "$1" "$pid"; then
        printf 'running %s' "$pid"
    else
        printf 'stale %s' "$pid"
    fi
}

remove_stale() {  # SERVICE STATE (as printed by service_state)
    local pid="${2#stale}"
    pid="${pid# }"
    rm -f -- "$(pid_file "$1")"
    if [[ -n "$pid" ]]; then
        warn "$1: removed stale PID file (pid $pid is not running, or is another program now)"
    else
        warn "$1: removed unreadable PID file"
    fi
}

# ---------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------

do_status() {
    local name state
    for name in "${SERVICES[@]}"; do
        state="$(service_state "$name")"
        case "$state" in
            running*)
                printf '%-8s %srunning%s (pid %s)\n' "$name" "$C_GREEN" "$C_RESET" "${state#running }"
                ;;
            stale*)
                local pid="${state#stale}"
                pid="${pid# }"
                if [[ -n "$pid" ]]; then
                    printf '%-8s %sstale%s (pid %s not running; PID file %s)\n' "$name" \
                        "$C_YELLOW" "$C_RESET" "$pid" "$(pid_file "$name")"
                else
                    printf '%-8s %sstale%s (unreadable PID file %s)\n' "$name" \
                        "$C_YELLOW" "$C_RESET" "$(pid_file "$name")"
                fi
                ;;
            *)
                if [[ "$name" == flower ]]; then
                    local flower
                    flower="$(flower_state)"
                    if [[ "$flower" == "not installed" ]]; then
                        printf '%-8s not installed (pip install flower)\n' "$name"
                        continue
                    elif [[ "$flower" == disabled ]]; then
                        printf '%-8s disabled (CALIBER_FLOWER=off)\n' "$name"
                        continue
                    fi
                fi
                printf '%-8s %sstopped%s\n' "$name" "$C_RED" "$C_RESET"
                ;;
        esac
    done
}

do_start() {
    local -a wanted=("$@")
    local name state failed=0
    local -a launched=()

    resolve_caliber
    [[ -n "$BROKER_URL" ]] || check_redis
    # Called as `do_start ... || exit 1`, where bash ignores `set -e`: check by hand.
    mkdir -p -- "$PID_DIR" "$LOG_DIR" || die "cannot create $PID_DIR and $LOG_DIR"

    for name in "${wanted[@]}"; do
        state="$(service_state "$name")"
        case "$state" in
            running*)
                error "$name is already running (pid ${state#running }); use 'stop' or 'restart'"
                failed=1
                continue
                ;;
            stale*)
                remove_stale "$name" "$state"
                ;;
        esac
        if [[ "$name" == flower ]]; then
            case "$(flower_state)" in
                "not installed")
                    warn "flower: skipped, Flower is not installed (pip install flower)"
                    continue
                    ;;
                disabled)
                    info "flower: skipped (CALIBER_FLOWER=off)"
                    continue
                    ;;
            esac
        fi
        service_command "$name"
        local log pid file
        log="$(log_file "$name")"
        file="$(pid_file "$name")"
        printf '=== %s starting %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$name" "${CMD[*]}" >>"$log"
        nohup "${CMD[@]}" >>"$log" 2>&1 </dev/null &
        pid=$!
        if ! { printf '%s\n%s\n' "$pid" "$(proc_start "$pid")" >"$file.tmp" &&
            mv -f -- "$file.tmp" "$file"; }; then
            kill -TERM "$pid" 2>/dev/null || true
            die "cannot write $file; stopped $name (pid $pid) again"
        fi
        launched+=("$name")
        info "$name: started (pid $pid), log $log"
    done

    if [[ ${#launched[@]} -gt 0 ]]; then
        sleep "$START_GRACE"
        for name in "${launched[@]}"; do
            state="$(service_state "$name")"
            if [[ "$state" != running* ]]; then
                error "$name exited right after starting; last lines of $(log_file "$name"):"
                tail -n 20 -- "$(log_file "$name")" >&2 || true
                rm -f -- "$(pid_file "$name")"
                failed=1
            fi
        done
    fi
    if [[ "$failed" -ne 0 ]]; then
        return 1
    fi
    ok "started: ${launched[*]:-nothing}"
}

# Kills the direct children of $1 (a SIGKILLed Celery main process leaves its pool).
kill_children() {
    local child
    command -v pgrep >/dev/null 2>&1 || return 0
    for child in $(pgrep -P "$1" 2>/dev/null || true); do
        kill -KILL "$child" 2>/dev/null || true
    done
}

do_stop() {
    local -a wanted=("$@")
    local -a names=() pids=()
    local name state pid i failed=0

    for name in "${wanted[@]}"; do
        state="$(service_state "$name")"
        case "$state" in
            running*)
                pid="${state#running }"
                if kill -TERM "$pid" 2>/dev/null; then
                    info "$name: sent SIGTERM to pid $pid"
                    names+=("$name")
                    pids+=("$pid")
                else
                    error "$name: could not signal pid $pid"
                    failed=1
                fi
                ;;
            stale*)
                remove_stale "$name" "$state"
                ;;
            *)
                info "$name: not running"
                ;;
        esac
    done
    [[ ${#names[@]} -gt 0 ]] || return "$failed"

    # Warm shutdown: Celery finishes the tasks in hand; wait in tenths of a second.
    local ticks=0 limit=$((STOP_TIMEOUT * 10)) alive
    while :; do
        alive=0
        for pid in "${pids[@]}"; do
            if pid_alive "$pid"; then
                alive=1
                break
            fi
        done
        [[ "$alive" -eq 1 && "$ticks" -lt "$limit" ]] || break
        sleep 0.1
        ticks=$((ticks + 1))
    done

    for i in "${!names[@]}"; do
        name="${names[$i]}"
        pid="${pids[$i]}"
        if pid_alive "$pid"; then
            warn "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL to pid $pid"
            kill_children "$pid"
            kill -KILL "$pid" 2>/dev/null || true
            local waited=0
            while pid_alive "$pid" && [[ "$waited" -lt 50 ]]; do
                sleep 0.1
                waited=$((waited + 1))
            done
            if pid_alive "$pid"; then
                error "$name: pid $pid survived SIGKILL; PID file kept"
                failed=1
                continue
            fi
        fi
        rm -f -- "$(pid_file "$name")"
        ok "$name: stopped"
    done
    return "$failed"
}

do_logs() {
    if [[ $# -eq 0 ]]; then
        local found=0 file
        if [[ -d "$LOG_DIR" ]]; then
            for file in "$LOG_DIR"/*.log; do
                [[ -e "$file" ]] || continue
                printf '%s\n' "$file"
                found=1
            done
        fi
        if [[ "$found" -eq 0 ]]; then
            info "no log files in $LOG_DIR"
        fi
        return 0
    fi
    local log
    log="$(log_file "$1")"
    [[ -f "$log" ]] || die "no log for $1 yet ($log)"
    if [[ "$LOG_FOLLOW" == 0 ]]; then
        tail -n "$LOG_LINES" -- "$log"
    else
        exec tail -n "$LOG_LINES" -f -- "$log"
    fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

main() {
    if [[ $# -eq 0 ]]; then
        usage >&2
        exit 2
    fi
    local action="$1"
    shift
    case "$action" in
        -h | --help | help)
            usage
            exit 0
            ;;
        start | stop | restart | status | logs) ;;
        *) usage_error "unknown action '$action'" ;;
    esac

    local arg
    for arg in "$@"; do
        case "$arg" in
            -h | --help)
                usage
                exit 0
                ;;
        esac
        is_service "$arg" || usage_error "unknown service '$arg' (services: ${SERVICES[*]})"
    done
    validate_settings

    local -a targets=("${SERVICES[@]}")
    if [[ $# -gt 0 ]]; then
        targets=("$@")
    fi

    case "$action" in
        status)
            [[ $# -eq 0 ]] || usage_error "status takes no service"
            do_status
            ;;
        logs)
            [[ $# -le 1 ]] || usage_error "logs takes at most one service"
            do_logs "$@"
            ;;
        start)
            do_start "${targets[@]}" || exit 1
            ;;
        stop)
            do_stop "${targets[@]}" || exit 1
            ;;
        restart)
            # Check the broker first: a restart that cannot start again should not stop.
            resolve_caliber
            check_redis
            do_stop "${targets[@]}" || exit 1
            do_start "${targets[@]}" || exit 1
            ;;
    esac
}

main "$@"
