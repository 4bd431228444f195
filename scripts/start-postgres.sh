#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback for the cluster tests and for trying a cluster
# setup by hand. Idempotent: running it again leaves a running server running.
#
#   scripts/start-postgres.sh [start|stop|restart|status|url]
#
# `start` (the default) creates the cluster on first use (initdb, trust auth on loopback
# only), starts it on 127.0.0.1:$OTEL_CT_PG_PORT, creates the database and prints the URL:
#
#   export OTEL_CT_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
#
# Run as root, the server runs as the `postgres` user (PostgreSQL refuses to run as root);
# run as anyone else, it runs as that user. Settings (environment):
#   OTEL_CT_PG_DIR   where the cluster lives (default /tmp/otel-ct-pg)
#   OTEL_CT_PG_PORT  the TCP port on 127.0.0.1 (default 55432)
#   OTEL_CT_PG_DB    the database to create (default telemetry)
#   PG_BIN           directory of initdb/pg_ctl (default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail

action=${1:-start}
dir=${OTEL_CT_PG_DIR:-/tmp/otel-ct-pg}
port=${OTEL_CT_PG_PORT:-55432}
db=${OTEL_CT_PG_DB:-telemetry}
data=$dir/data
url="postgresql://postgres@127.0.0.1:$port/$db"

if [ -z "${PG_BIN:-}" ]; then
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
    PG_BIN=$(pg_config --bindir)
  else
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
  echo "start-postgres: no PostgreSQL server found (install Debian's 'postgresql' package or set PG_BIN)" >&2
  exit 2
fi

# Everything that touches the cluster runs as its owner.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as_owner() { runuser -u "$owner" -- "$@"; }
else
  owner=$(id -un)
  as_owner() { "$@"; }
fi

pg_ctl() { as_owner "$PG_BIN/pg_ctl" -D "$data" "$@"; }

is_running() { pg_ctl status >/dev/null 2>&1; }

create_cluster() {
  mkdir -p "$dir"
  chown "$owner" "$dir"
  chmod 700 "$dir"
  # --auth trust: any local user may connect as any role. Acceptable only because the
  # server listens on 127.0.0.1 and a socket directory nobody else can enter.
  as_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
  cat >>"$data/postgresql.conf" <<EOF
# start-postgres.sh: a loopback test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
# Test speed on a shared machine; commits are still durable across a server restart
# (only an OS crash could lose them).
fsync = off
full_page_writes = off
EOF
}

start() {
  [ -f "$data/PG_VERSION" ] || create_cluster
  if ! is_running; then
    pg_ctl -l "$dir/server.log" -w -t 60 start >/dev/null || {
      tail -n 20 "$dir/server.log" >&2
      exit 1
    }
  fi
  # The server may still be finishing recovery after an abrupt stop: wait until it answers.
  for _ in $(seq 1 120); do
    if as_owner "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      break
    fi
    sleep 0.5
  done
  if ! as_owner "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  fi
}

stop() {
  # fast: connected clients are disconnected at once, as when a database host goes away.
  if is_running; then
    pg_ctl -m fast -w -t 60 stop >/dev/null
  fi
}

case "$action" in
  start) start; echo "$url" ;;
  stop) stop ;;
  restart) stop; start; echo "$url" ;;
  status) if is_running; then echo "running: $url"; else echo "stopped"; exit 3; fi ;;
  url) echo "$url" ;;
  *)
    echo "usage: $0 [start|stop|restart|status|url]" >&2
    exit 2
    ;;
esac
