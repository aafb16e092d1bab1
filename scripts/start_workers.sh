#!/usr/bin/env bash
# Usage: start_workers.sh start|stop|restart|status|logs [SERVICE]
#   start    workers `scoring` (queue scoring, SCORING_CONCURRENCY processes, default 2) and
#            `general` (exports,maintenance,monitoring,notifications; GENERAL_CONCURRENCY, 2),
#            `beat`, and `flower` if installed (on FLOWER_ADDRESS:FLOWER_PORT, 127.0.0.1:5555);
#            returns once beat runs and both workers answer a ping
#   stop     a warm shutdown: waits for the tasks in hand. restart: stop, then start
#   status   running (pid N), stale or stopped per service. logs: follow all logs, or SERVICE's
# PID files, logs and beat's schedule go to CALIBER_RUN_DIR (default ./run). The broker is
# Caliber's CELERY_BROKER_URL or REDIS_URL (environment or ./.env). CALIBER_PYTHON: Python with
# Caliber (default python3, else .venv/bin/python). CALIBER_WORKER_POOL, CALIBER_LOGLEVEL: the
# workers' --pool and --loglevel. Exit status 1: a failure, 2: a usage error.
#
# A thin layer over Celery's tools: `celery multi` runs the workers (PID files, logs, warm stop,
# restart), `celery beat --detach` beat; Flower (no --detach) runs under nohup. Tested on Linux
# with a real Redis by tests/test_worker_scripts.py; Flower and macOS (bash 3.2) are not tested.
set -euo pipefail
usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
fail() { echo "start_workers.sh: $1" >&2 && exit "${2:-1}"; }
SERVICES="scoring general beat flower" ACTION="${1:-}" SERVICE="${2:-}"
case "$ACTION" in
    -h | --help | help) usage && exit 0 ;;
    start | stop | restart | status) [[ $# -eq 1 ]] || fail "$ACTION takes no argument" 2 ;;
    logs) [[ $# -le 2 && " $SERVICES " == *" ${SERVICE:-beat} "* ]] || fail "logs takes one of: $SERVICES" 2 ;;
    *) usage >&2 && fail "unknown action '$ACTION': use start, stop, restart, status or logs" 2 ;;
esac
for name in SCORING_CONCURRENCY GENERAL_CONCURRENCY; do
    [[ ${!name:-2} =~ ^[1-9][0-9]*$ ]] || fail "$name must be a whole number from 1, got '${!name}'" 2
done
PY="${CALIBER_PYTHON:-python3}"
"$PY" -c 'import caliber' 2>/dev/null || [[ -n ${CALIBER_PYTHON:-} ]] || PY="$(dirname "$0")/../.venv/bin/python"
"$PY" -c 'import caliber' 2>/dev/null || fail "$PY cannot import caliber: activate its virtualenv or set CALIBER_PYTHON"
mkdir -p "${CALIBER_RUN_DIR:-run}/pids" "${CALIBER_RUN_DIR:-run}/logs"
RUN="$(cd "${CALIBER_RUN_DIR:-run}" && pwd)"
[[ $RUN$PWD != *[[:space:]]* ]] || fail "celery multi splits paths at spaces: $PWD, $RUN"
# --workdir: a detached Celery process would run in /, away from ./.env and a relative DATA_DIR
CELERY=("$PY" -m celery --app=caliber.jobs.celery_app:app --workdir="$PWD")
MULTI=("$PY" -c 'from celery.bin.multi import main; main()')  # `celery multi` always exits 0
# shellcheck disable=SC2054  # the comma-separated queues are one argument
WORKERS=(scoring general "${CELERY[@]:3}" -Q:scoring scoring -Q:general exports,maintenance,monitoring,notifications
    -c:scoring "${SCORING_CONCURRENCY:-2}" -c:general "${GENERAL_CONCURRENCY:-2}"
    --loglevel="${CALIBER_LOGLEVEL:-info}" --pidfile="$RUN/pids/%n.pid" --logfile="$RUN/logs/%n.log")
[[ -z ${CALIBER_WORKER_POOL:-} ]] || WORKERS+=(--pool="$CALIBER_WORKER_POOL")
alive() { local state; state="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ ${state// /} != Z* ]]; }  # zombies: dead
running() { pid="$(cat "$RUN/pids/$1.pid" 2>/dev/null)" && alive "$pid"; }  # sets pid
check_broker() {  # with Caliber's settings, read as the workers will read them
    "$PY" -c 'import sys
from caliber.jobs.celery_app import app
try:
    conn = app.connection_for_write()
    if conn.transport_cls == "filesystem":
        sys.exit("start_workers.sh: neither CELERY_BROKER_URL nor REDIS_URL is set (environment or ./.env)")
    conn.ensure_connection(max_retries=1, timeout=5)
except Exception as exc:
    sys.exit(f"start_workers.sh: cannot use the broker: {exc}")'
}
start_all() {
    "${MULTI[@]}" "$1" "${WORKERS[@]}"
    "${CELERY[@]}" beat --detach --loglevel="${CALIBER_LOGLEVEL:-info}" --pidfile="$RUN/pids/beat.pid" \
        --logfile="$RUN/logs/beat.log" --schedule="$RUN/celerybeat-schedule"
    if "$PY" -c 'import flower' 2>/dev/null; then
        nohup "${CELERY[@]}" flower --port="${FLOWER_PORT:-5555}" --address="${FLOWER_ADDRESS:-127.0.0.1}" \
            >>"$RUN/logs/flower.log" 2>&1 </dev/null &
        echo $! >"$RUN/pids/flower.pid"
    fi
    local until=$((SECONDS + 60))  # beat writes its PID file once detached; an early ping is lost
    while ((SECONDS < until)); do
        running beat && "${CELERY[@]}" inspect ping --timeout=1 \
            -d "scoring@$(hostname),general@$(hostname)" >/dev/null 2>&1 && return
        sleep 0.5
    done
    fail "beat and the workers did not all answer within a minute: see status and $RUN/logs"
}
stop_others() {  # beat and Flower: SIGTERM, then wait for the process to go; stale PID files too
    for name in $SERVICES; do
        if [[ $name == beat || $name == flower ]] && running "$name"; then
            kill -TERM "$pid" && while alive "$pid"; do sleep 0.2; done
            echo "$name: stopped (pid $pid)"
        fi
        running "$name" || rm -f "$RUN/pids/$name.pid"
    done
}
case "$ACTION" in
    status) for name in $SERVICES; do
        if running "$name"; then echo "$name running (pid $pid)"
        elif [[ -n $pid ]]; then echo "$name stale (pid $pid)"
        else echo "$name stopped"; fi
    done ;;
    logs) [[ -z $SERVICE ]] || exec tail -n 50 -F "$RUN/logs/$SERVICE.log"
        exec tail -n 50 -F "$RUN"/logs/{scoring,general,beat}.log ;;
    start) for name in $SERVICES; do
        if running "$name"; then fail "$name is already running (pid $pid): use stop or restart"; fi
    done
        check_broker; start_all start ;;
    stop) "${MULTI[@]}" stopwait "${WORKERS[@]}"; stop_others ;;
    restart) check_broker; stop_others; start_all restart ;; # the broker first: never stop for nothing
esac
