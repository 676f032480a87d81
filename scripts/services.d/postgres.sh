#!/usr/bin/env bash
# services.sh plug-in: a real PostgreSQL (Debian's package) on 127.0.0.1 for the ticket store tests.
#
#   scripts/services.d/postgres.sh up      install postgresql if missing (apt-get, as root), initdb a
#                                          private cluster under .services/postgres/, start it, wait for
#                                          a real query, create role + database, and write
#                                          CITYWATCH_TICKET_DB_URL to .services/env.d/postgres.env
#   scripts/services.d/postgres.sh down    stop that cluster (its own pid only) and wipe its data
#   scripts/services.d/postgres.sh status  "postgres: up|down ..."; exit 0 when up, 3 otherwise
#   scripts/services.d/postgres.sh restart DOWN_S   stop fast, stay down DOWN_S seconds, start (fault tests)
#
# Port CW_PG_PORT (15432). The role `citywatch` logs in with a password generated at `up`
# (scram-sha-256 over TCP) and may create databases (tests make one per test module).
# As root, the server runs as the `postgres` system user (initdb refuses to run as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${CW_STATE_DIR:-$ROOT/.services}"
DIR="$STATE/postgres"
DATA="$DIR/data"
RUN="$DIR/run"
LOG="$DIR/postgres.log"
PWFILE="$DIR/password"
ENV_OUT="$STATE/env.d/postgres.env"
PORT="${CW_PG_PORT:-15432}"
READY_TIMEOUT="${CW_READY_TIMEOUT:-90}"
DB=citywatch
USER_NAME=citywatch

log() { echo "postgres: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pg_bindir() { # the newest installed server's bin directory
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  pg_bindir >/dev/null && return 0
  [[ $(id -u) == 0 ]] || die "postgresql is not installed; as root: apt-get install postgresql"
  log "installing Debian's postgresql package (once) ..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common >/dev/null
  # Our cluster is private: do not let the package create (and start) its default one.
  sed -i 's/^#\?\s*create_main_cluster.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bindir >/dev/null || die "postgresql installed but no initdb found under /usr/lib/postgresql"
}

as_owner() { # run a server command as the cluster owner
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

server_pid() { # the postmaster pid if our cluster is running
  local pid
  [[ -f "$DATA/postmaster.pid" ]] || return 1
  pid=$(head -n 1 "$DATA/postmaster.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ -n "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DATA" || return 1
  echo "$pid"
}

sql() { # sql DB STATEMENT : run one statement as the citywatch role over TCP
  PGPASSWORD="$(<"$PWFILE")" psql -X -q -t -A -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d "$1" -c "$2"
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) out=""
  while ((SECONDS < deadline)); do
    server_pid >/dev/null || { tail -n 30 "$LOG" >&2; die "the server exited"; }
    out=$(sql postgres "SELECT 1" 2>&1) && [[ "$out" == 1 ]] && return 0
    sleep 0.2
  done
  tail -n 30 "$LOG" >&2
  die "no answer to SELECT 1 within ${READY_TIMEOUT}s: $out"
}

init_cluster() {
  local bin=$1
  rm -rf "$DIR"
  mkdir -p "$DATA" "$RUN"
  "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_hex(16))' >"$PWFILE" 2>/dev/null \
    || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PWFILE"
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    chown -R postgres: "$DIR"
  fi
  chmod 700 "$DATA"
  as_owner "$bin/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$PWFILE" --auth-host=scram-sha-256 \
    --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { tail -n 30 "$DIR/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DATA/postgresql.conf" <<CONF
# citywatch test profile (scripts/services.d/postgres.sh): loopback only, private socket dir.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$DATA/pg_hba.conf"
}

cmd_up() {
  local bin pid
  ensure_installed
  bin=$(pg_bindir)
  if pid=$(server_pid); then
    log "already up (pid $pid, 127.0.0.1:$PORT)"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "127.0.0.1:$PORT is taken (set CW_PG_PORT)"
    init_cluster "$bin"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -s start >/dev/null || { tail -n 30 "$LOG" >&2; die "pg_ctl start failed"; }
    wait_ready
    sql postgres "CREATE DATABASE $DB" >/dev/null
    log "up (pid $(server_pid), 127.0.0.1:$PORT)"
  fi
  mkdir -p "$(dirname "$ENV_OUT")"
  echo "CITYWATCH_TICKET_DB_URL=postgresql+psycopg://$USER_NAME:$(<"$PWFILE")@127.0.0.1:$PORT/$DB" >"$ENV_OUT"
}

cmd_down() {
  local bin pid
  rm -f "$ENV_OUT"
  if pid=$(server_pid); then
    bin=$(pg_bindir)
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -s -w -t 30 stop || kill -TERM "$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  fi
  rm -rf "$DIR"
}

cmd_status() {
  local pid
  if pid=$(server_pid) && sql postgres "SELECT 1" >/dev/null 2>&1; then
    echo "postgres: up (pid $pid, 127.0.0.1:$PORT)"
  else
    echo "postgres: down"
    return 3
  fi
}

cmd_restart() { # cmd_restart DOWN_S : stop fast (clients lose their connections), stay down, start, keep the data
  local bin down_s=${1:-0}
  server_pid >/dev/null || die "not running"
  bin=$(pg_bindir)
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -s -w -t 30 stop
  sleep "$down_s"
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -s start >/dev/null || { tail -n 30 "$LOG" >&2; die "pg_ctl start failed"; }
  wait_ready
  log "restarted after ${down_s}s down (pid $(server_pid))"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  restart) cmd_restart "${2:-0}" ;;  # for the fault tests: restart DOWN_S
  *) echo "usage: $0 up|down|status|restart [DOWN_S]" >&2; exit 2 ;;
esac
