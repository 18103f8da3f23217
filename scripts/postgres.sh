#!/usr/bin/env bash
# Local PostgreSQL for Vigie: a project-local cluster (never the system one) listening on 127.0.0.1:15432,
# with its data in <repo>/.local/postgres, a role "vigie" (LOGIN, CREATEDB, no password: trust auth)
# and the databases "vigie" and "vigie_test" owned by it.
#
# Usage: scripts/postgres.sh up | down [--purge] | status
#   up      install Debian's postgresql if missing, create the cluster once, start it (pg_ctl -w),
#           then make sure the role and the databases exist (all of it idempotent)
#   down    stop the cluster (pg_ctl stop -m fast); --purge also deletes its data
#   status  say whether it runs and where (exit status 0 if it runs, 3 if not)
# If VIGIE_DATABASE_URL is set (to anything but this cluster's own URL), that database is used instead
# and nothing is installed, started or stopped.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

HOST=127.0.0.1
PORT=15432
ROLE=vigie
DATABASES=(vigie vigie_test)
LOCAL_URL="postgresql+asyncpg://$ROLE@$HOST:$PORT/vigie"

PROJECT_BASE="$REPO_ROOT/.local/postgres"
# Used only when the postgres OS user cannot reach the repository (e.g. a parent folder is mode 700).
FALLBACK_BASE="/var/tmp/vigie-postgres-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c 1-12)"
LOCK_FILE="$REPO_ROOT/.local/postgres.lock"
BASE="" DATA="" RUN="" LOGFILE="" PG_BIN=""

log() { printf '[postgres] %s\n' "$*"; }
die() {
  printf '[postgres] ERROR: %s\n' "$*" >&2
  exit 1
}
# shellcheck disable=SC2001 # a regex with a back-reference
redact() { sed 's#://\([^:/@]*\):[^@]*@#://\1:***@#' <<<"$1"; }

# Prints the external database URL if one is configured. This cluster's own URL does not count, so that
# a shell which sourced .local/services.env still manages the local cluster.
external_url() {
  local u=${VIGIE_DATABASE_URL:-}
  [[ -n $u && $u != "$LOCAL_URL" ]] || return 1
  printf '%s\n' "$u"
}

# Gives a folder to the postgres OS user (only when we are root: otherwise the server runs as ourselves).
chown_pg() {
  if [[ $EUID -eq 0 ]]; then
    chown postgres:postgres "$@"
  fi
}

# The server runs as the "postgres" OS user when we are root (initdb refuses root), else as ourselves.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Sets BASE (cluster folder), DATA, RUN (socket folder) and LOGFILE. $1=create: pick and create a
# location for a new cluster; otherwise use the existing one (project-local first).
choose_base() {
  if [[ -f $PROJECT_BASE/data/PG_VERSION ]]; then
    BASE=$PROJECT_BASE
  elif [[ -f $FALLBACK_BASE/data/PG_VERSION ]]; then
    BASE=$FALLBACK_BASE
  elif [[ ${1:-} == create ]]; then
    mkdir -p "$PROJECT_BASE"
    chown_pg "$PROJECT_BASE"
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    if as_pg sh -c 'cd "$1" && test -w .' can_reach "$PROJECT_BASE" 2>/dev/null; then
      BASE=$PROJECT_BASE
    else
      BASE=$FALLBACK_BASE
      log "the postgres OS user cannot reach $PROJECT_BASE (a parent folder is closed to it):"
      log "using $BASE for the cluster instead"
      mkdir -p "$BASE"
      chmod 0755 "$BASE"
      chown_pg "$BASE"
    fi
  else
    BASE=$PROJECT_BASE
  fi
  DATA="$BASE/data"
  RUN="$BASE/run"
  LOGFILE="$BASE/postgres.log"
  # A unix socket path is limited to 107 bytes: with a very deep repository, put the socket elsewhere.
  if ((${#RUN} + 18 > 100)); then
    RUN="/var/tmp/vigie-postgres-run-$(printf '%s' "$BASE" | sha256sum | cut -c 1-12)"
  fi
}

# Sets PG_BIN to the binaries matching the cluster's version (or the newest installed for a new cluster);
# installs Debian's postgresql when $1=install and none is there.
find_pg_bin() {
  local want="" d
  PG_BIN=""
  [[ -f $DATA/PG_VERSION ]] && want=$(<"$DATA/PG_VERSION")
  if [[ -n $want ]]; then
    if [[ ! -x /usr/lib/postgresql/$want/bin/initdb && ${1:-} == install ]]; then
      apt_install "postgresql-$want"
    fi
    if [[ -x /usr/lib/postgresql/$want/bin/initdb ]]; then
      PG_BIN="/usr/lib/postgresql/$want/bin"
      return 0
    fi
    [[ ${1:-} == install ]] || return 1
    die "the cluster in $DATA is PostgreSQL $want, which is not installed (remove it with: scripts/postgres.sh down --purge)"
  fi
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    [[ ${1:-} == install ]] || return 1
    apt_install postgresql
  fi
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  [[ -x $d ]] || die "no PostgreSQL initdb found under /usr/lib/postgresql"
  PG_BIN=${d%/initdb}
}

is_running() { as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash
tcp_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' tcp_open "$1" "$2" 2>/dev/null; }

psql_admin() {
  PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d postgres
}

show_log() {
  if [[ -f $LOGFILE ]]; then
    log "last 50 lines of $LOGFILE:"
    tail -n 50 "$LOGFILE" | sed 's/^/[postgres]   | /' >&2
  fi
}

init_cluster() {
  [[ -f $DATA/PG_VERSION ]] && return 0
  local locale=C
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    locale=C.UTF-8
  fi
  # A folder left by an interrupted initdb (no PG_VERSION) is ours to clear.
  rm -rf "$DATA"
  mkdir -p "$DATA"
  chmod 0700 "$DATA"
  chown_pg "$DATA"
  log "creating the cluster in $DATA (PostgreSQL $("$PG_BIN/initdb" --version | sed 's/^initdb (PostgreSQL) //'), locale $locale)"
  if ! as_pg "$PG_BIN/initdb" -D "$DATA" --auth-local=trust --auth-host=trust -U postgres -E UTF8 \
    --locale="$locale" >"$BASE/initdb.log" 2>&1; then
    sed 's/^/[postgres]   | /' "$BASE/initdb.log" >&2
    die "initdb failed"
  fi
  printf "\n# Added by scripts/postgres.sh: the settings of the Vigie local cluster.\ninclude_if_exists = 'vigie.conf'\n" \
    | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

write_config() {
  mkdir -p "$RUN"
  chown_pg "$RUN" "$BASE"
  as_pg tee "$DATA/vigie.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh at every start: change the script, not this file.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 200
EOF
}

ensure_role_and_databases() {
  local db_list
  db_list=$(printf "'%s'," "${DATABASES[@]}")
  psql_admin <<EOF || die "could not create the role $ROLE and the databases ${DATABASES[*]}"
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$ROLE')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
ALTER ROLE "$ROLE" LOGIN CREATEDB;
SELECT format('CREATE DATABASE %I OWNER %I', d, '$ROLE')
  FROM unnest(ARRAY[${db_list%,}]) AS d
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
EOF
}

lock() {
  mkdir -p "$REPO_ROOT/.local"
  exec 9>>"$LOCK_FILE"
  flock -w 600 9 || die "another scripts/postgres.sh is still running (lock $LOCK_FILE)"
}

cmd_up() {
  local ext started=$SECONDS
  if ext=$(external_url); then
    log "VIGIE_DATABASE_URL is set: using the external database $(redact "$ext") (nothing started)"
    return 0
  fi
  lock
  find_pg_bin install # before choose_base: installing postgresql creates the postgres OS user
  choose_base create
  find_pg_bin install # again, now that DATA is known (an existing cluster pins the version)
  if is_running; then
    "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PORT" -U postgres -d postgres -t 30 || {
      show_log
      die "the cluster runs but does not accept connections on $HOST:$PORT"
    }
    ensure_role_and_databases
    log "already running on $HOST:$PORT (data $DATA); role $ROLE and databases ${DATABASES[*]} ensured"
    return 0
  fi
  init_cluster
  write_config
  if tcp_open "$HOST" "$PORT"; then
    die "$HOST:$PORT is already used by another process (see: ss -ltnp 'sport = :$PORT')"
  fi
  log "starting PostgreSQL on $HOST:$PORT"
  # fd 9 (our lock) must not be inherited by the server.
  if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null 9>&-; then
    show_log
    die "pg_ctl start failed"
  fi
  ensure_role_and_databases
  log "ready on $HOST:$PORT in $((SECONDS - started)) s: role $ROLE, databases ${DATABASES[*]} (data $DATA, log $LOGFILE)"
}

cmd_down() {
  local purge=${1:-} ext
  if ext=$(external_url); then
    log "VIGIE_DATABASE_URL is set: the external database $(redact "$ext") is not ours to stop"
    return 0
  fi
  lock
  choose_base
  if [[ ! -f $DATA/PG_VERSION ]]; then
    log "not running (no cluster in $DATA)"
  elif ! find_pg_bin; then
    log "PostgreSQL $(<"$DATA/PG_VERSION") is not installed, so the cluster cannot be running"
  elif is_running; then
    log "stopping the cluster ($DATA)"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA" stop -m fast -w -t 60 >/dev/null || die "pg_ctl stop failed"
    log "stopped"
  else
    log "not running"
  fi
  if [[ $purge == --purge ]]; then
    rm -rf "$PROJECT_BASE" "$FALLBACK_BASE"
    [[ $RUN == /var/tmp/* ]] && rm -rf "$RUN"
    log "data removed ($DATA)"
  fi
}

cmd_status() {
  local ext
  if ext=$(external_url); then
    log "external database: $(redact "$ext") (VIGIE_DATABASE_URL)"
    return 0
  fi
  choose_base
  if [[ -f $DATA/PG_VERSION ]] && find_pg_bin && is_running; then
    log "running: $HOST:$PORT, PostgreSQL $(<"$DATA/PG_VERSION"), URL $LOCAL_URL"
    log "data $DATA, log $LOGFILE, socket folder $RUN"
    return 0
  fi
  log "not running (would listen on $HOST:$PORT; start with: scripts/postgres.sh up)"
  return 3
}

usage() {
  echo "usage: $0 up | down [--purge] | status" >&2
  exit 2
}

cd / # the server runs as another OS user, which may not be allowed into the caller's folder
case ${1:-} in
  up) cmd_up ;;
  down)
    [[ -z ${2:-} || ${2:-} == --purge ]] || usage
    cmd_down "${2:-}"
    ;;
  status) cmd_status ;;
  *) usage ;;
esac
