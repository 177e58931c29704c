#!/usr/bin/env bash
# A private PostgreSQL cluster for the audit store, bound to 127.0.0.1, installed from Debian packages if absent.
#
#   ops/postgres/postgres.sh start    install if needed, initdb once, start, create role + database, print the DSN
#   ops/postgres/postgres.sh stop     stop the cluster (fast shutdown)
#   ops/postgres/postgres.sh status   exit 0 when running
#   ops/postgres/postgres.sh dsn      print the DSN
#
# Settings (env): EXMAIL_STATE_DIR (default <repo>/.state), EXMAIL_PG_PORT (default 15432),
# EXMAIL_PG_DB / EXMAIL_PG_USER / EXMAIL_PG_PASSWORD (default exmail / exmail / exmail).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${EXMAIL_STATE_DIR:-$root/.state}/postgres
port=${EXMAIL_PG_PORT:-15432}
db=${EXMAIL_PG_DB:-exmail}
user=${EXMAIL_PG_USER:-exmail}
password=${EXMAIL_PG_PASSWORD:-exmail}
data=$state/data
sock=$state/sock
log=$state/postgres.log

die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

install_pg() {
  [ -n "$(bindir)" ] && [ -x "$(bindir)/initdb" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and this is not root: run 'sudo apt-get install -y postgresql'"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and apt-get is missing: install PostgreSQL 13+"
  echo "postgres.sh: installing PostgreSQL from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2 || die "apt-get install postgresql failed"
  # Debian starts its own main cluster on 5432; ours is separate, leave theirs alone.
}

# initdb refuses to run as root: run the server as the 'postgres' system user in that case.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dsn() { echo "postgresql://$user:$password@127.0.0.1:$port/$db"; }

is_running() { [ -f "$data/postmaster.pid" ] && as_owner "$(bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1; }

# another checkout's cluster on our port (same role and database): reuse it rather than fail
external() { ! is_running && "$(bindir)/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; }

start() {
  install_pg
  local bin; bin=$(bindir)
  if external; then echo "postgres.sh: reusing the server already on 127.0.0.1:$port" >&2; dsn; return 0; fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$state" "$sock"
  [ "$(id -u)" = 0 ] && chown postgres: "$state" "$sock"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$state"; then
    # a checkout under a private directory (mktemp -d is mode 700): the server's user cannot reach its own data
    die "the 'postgres' user cannot reach $state (a parent directory is not traversable, e.g. mode 700);" \
        "make the parents traversable (chmod o+x) or set EXMAIL_STATE_DIR to a directory it can reach"
  fi
  if is_running; then echo "postgres.sh: already running on 127.0.0.1:$port" >&2; dsn; return 0; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    local pwfile; pwfile=$(mktemp); printf '%s\n' "$password" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 \
      || { rm -f "$pwfile"; cat "$state/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
  fi
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock -c max_connections=100 -c fsync=on" \
    start >/dev/null || { tail -n 20 "$log" >&2; die "PostgreSQL did not start (log: $log)"; }
  local psql=("$bin/psql" -h "$sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$(as_owner "${psql[@]}" -c "select 1 from pg_roles where rolname='$user'")" != 1 ]; then
    as_owner "${psql[@]}" -c "create role \"$user\" login password '$password'"
  fi
  if [ "$(as_owner "${psql[@]}" -c "select 1 from pg_database where datname='$db'")" != 1 ]; then
    as_owner "${psql[@]}" -c "create database \"$db\" owner \"$user\""
  fi
  echo "postgres.sh: PostgreSQL ready at 127.0.0.1:$port" >&2
  dsn
}

stop() {
  if ! is_running; then echo "postgres.sh: not running" >&2; return 0; fi
  as_owner "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  echo "postgres.sh: stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if [ -n "$(bindir)" ] && { is_running || external; }; then echo "running $(dsn | sed 's/:[^:@]*@/:***@/')"; else echo stopped; exit 3; fi ;;
  dsn) dsn ;;
  *) echo "usage: $0 {start|stop|status|dsn}" >&2; exit 2 ;;
esac
