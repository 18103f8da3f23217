#!/usr/bin/env bash
# Local services of Vigie: the Kafka broker (scripts/kafka.sh) and PostgreSQL (scripts/postgres.sh),
# both on 127.0.0.1 with their data under <repo>/.local.
#
# Usage: scripts/services.sh up | down [--purge] | status | env
#   up      start both (in parallel; each is idempotent), then write the export lines to .local/services.env
#   down    stop both; --purge also deletes their data
#   status  status of both (exit status 0 only if both run)
#   env     print the export lines, e.g.:  eval "$(scripts/services.sh env)"
# VIGIE_KAFKA_BOOTSTRAP / VIGIE_DATABASE_URL, when set, point at external services: they are used as is.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
ENV_FILE="$REPO_ROOT/.local/services.env"

# The local addresses, as set in scripts/kafka.sh and scripts/postgres.sh.
LOCAL_KAFKA_BOOTSTRAP=127.0.0.1:19092
LOCAL_DATABASE_URL=postgresql+asyncpg://vigie@127.0.0.1:15432/vigie

log() { printf '[services] %s\n' "$*"; }

env_lines() {
  printf 'export VIGIE_KAFKA_BOOTSTRAP=%q\n' "${VIGIE_KAFKA_BOOTSTRAP:-$LOCAL_KAFKA_BOOTSTRAP}"
  printf 'export VIGIE_DATABASE_URL=%q\n' "${VIGIE_DATABASE_URL:-$LOCAL_DATABASE_URL}"
}

cmd_up() {
  local started=$SECONDS pg kafka failed=()
  "$SCRIPT_DIR/postgres.sh" up &
  pg=$!
  "$SCRIPT_DIR/kafka.sh" up &
  kafka=$!
  wait "$pg" || failed+=(postgres)
  wait "$kafka" || failed+=(kafka)
  if ((${#failed[@]})); then
    log "FAILED: ${failed[*]} (see the messages above)"
    exit 1
  fi
  mkdir -p "$(dirname "$ENV_FILE")"
  env_lines >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  log "all up in $((SECONDS - started)) s; environment written to $ENV_FILE:"
  sed 's/^/[services]   /' "$ENV_FILE"
}

cmd_down() {
  local rc=0
  "$SCRIPT_DIR/kafka.sh" down "$@" || rc=1
  "$SCRIPT_DIR/postgres.sh" down "$@" || rc=1
  return "$rc"
}

cmd_status() {
  local rc=0
  "$SCRIPT_DIR/kafka.sh" status || rc=$?
  "$SCRIPT_DIR/postgres.sh" status || rc=$?
  return "$rc"
}

usage() {
  echo "usage: $0 up | down [--purge] | status | env" >&2
  exit 2
}

case ${1:-} in
  up) cmd_up ;;
  down)
    [[ -z ${2:-} || ${2:-} == --purge ]] || usage
    cmd_down ${2:+"$2"}
    ;;
  status) cmd_status ;;
  env) env_lines ;;
  *) usage ;;
esac
