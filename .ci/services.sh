#!/usr/bin/env bash
# Start PostgreSQL 15 and Redis on loopback for the test suite (sourced by .ci/run).
# initdb refuses to run as root, so the cluster belongs to its own system user.

CI_SERVICES_DIR="${CI_SERVICES_DIR:-/tmp/caliber-ci-services}"
CI_PG_PORT="${CI_PG_PORT:-55432}"
CI_REDIS_PORT="${CI_REDIS_PORT:-56379}"
CI_PG_USER="${CI_PG_USER:-caliberpg}"

_pg_bin() {
  if [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
    echo /usr/lib/postgresql/15/bin
  else
    dirname "$(command -v pg_ctl)"
  fi
}

start_services() {
  mkdir -p "$CI_SERVICES_DIR"
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)  # PDF page rendering
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the web app's browser tests
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)  # scripts/start_workers.sh
  command -v npm >/dev/null 2>&1 || missing+=(npm)  # axe-core for tests/web/test_a11y.py
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "ci: installing ${missing[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null
  fi
  local pgbin
  pgbin="$(_pg_bin)"
  if ! id "$CI_PG_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$CI_PG_USER"
  fi
  local data="$CI_SERVICES_DIR/pgdata"
  rm -rf "$data"
  install -d -o "$CI_PG_USER" "$data"
  chown "$CI_PG_USER" "$CI_SERVICES_DIR"
  runuser -u "$CI_PG_USER" -- "$pgbin/initdb" -D "$data" -U caliber --auth=trust -E UTF8 >/dev/null
  runuser -u "$CI_PG_USER" -- "$pgbin/pg_ctl" -D "$data" -l "$CI_SERVICES_DIR/pg.log" -w \
    -o "-p $CI_PG_PORT -k $CI_SERVICES_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  runuser -u "$CI_PG_USER" -- "$pgbin/createdb" -h 127.0.0.1 -p "$CI_PG_PORT" -U caliber caliber_test
  redis-server --port "$CI_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$CI_SERVICES_DIR/redis.pid" --logfile "$CI_SERVICES_DIR/redis.log"
  for _ in $(seq 1 50); do
    redis-cli -p "$CI_REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  # the fault suite stops and starts this PostgreSQL through a small script
  cat >"$CI_SERVICES_DIR/pgctl" <<PGCTL
#!/usr/bin/env bash
# usage: pgctl stop|start
case "\$1" in
  stop) exec runuser -u "$CI_PG_USER" -- "$pgbin/pg_ctl" -D "$data" -m fast -w stop ;;
  start) exec runuser -u "$CI_PG_USER" -- "$pgbin/pg_ctl" -D "$data" -l "$CI_SERVICES_DIR/pg.log" -w \\
    -o "-p $CI_PG_PORT -k $CI_SERVICES_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start ;;
  *) echo "usage: pgctl stop|start" >&2; exit 2 ;;
esac
PGCTL
  chmod +x "$CI_SERVICES_DIR/pgctl"
  export CALIBER_TEST_PG_CTL="$CI_SERVICES_DIR/pgctl"
  export CALIBER_TEST_DATABASE_URL="postgresql://caliber@127.0.0.1:$CI_PG_PORT/caliber_test"
  export CALIBER_TEST_REDIS_URL="redis://127.0.0.1:$CI_REDIS_PORT/0"
  export CALIBER_REQUIRE_SERVICES=1
  echo "ci: PostgreSQL on 127.0.0.1:$CI_PG_PORT, Redis on 127.0.0.1:$CI_REDIS_PORT" >&2
}

stop_services() {
  local pgbin
  pgbin="$(_pg_bin)"
  runuser -u "$CI_PG_USER" -- "$pgbin/pg_ctl" -D "$CI_SERVICES_DIR/pgdata" -m fast stop >/dev/null 2>&1 || true
  if [ -f "$CI_SERVICES_DIR/redis.pid" ]; then
    kill "$(cat "$CI_SERVICES_DIR/redis.pid")" 2>/dev/null || true
  fi
}
