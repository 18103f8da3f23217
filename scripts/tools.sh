#!/usr/bin/env bash
# Tools the test suite drives besides Kafka and PostgreSQL, installed idempotently:
#   - Prometheus and promtool, from Debian's packages (alert rules, dashboard queries);
#   - Chromium and ChromeDriver, from Debian's packages (console end-to-end tests);
#   - the Go-built validators of the deployment files (kubeconform and the compose checker),
#     under .local/tools/bin.
#
# Usage: scripts/tools.sh up | env
#   up    install what is missing, then write the export lines to .local/tools.env
#   env   print the export lines
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
TOOLS_DIR="$REPO_ROOT/.local/tools"
ENV_FILE="$REPO_ROOT/.local/tools.env"

log() { printf '[tools] %s\n' "$*"; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

debian_tools() {
  local missing=()
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  if ((${#missing[@]})); then
    # --no-install-recommends: the recommended packages (node exporter and friends) would
    # start daemons the tests do not want.
    apt_install --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
}

go_tools() {
  mkdir -p "$TOOLS_DIR/bin"
}

env_lines() {
  printf 'export VIGIE_TOOLS_BIN=%q\n' "$TOOLS_DIR/bin"
  printf 'export VIGIE_CHROMIUM=%q\n' "$(command -v chromium || echo /usr/bin/chromium)"
}

case "${1:-}" in
  up)
    debian_tools
    go_tools
    mkdir -p "$(dirname "$ENV_FILE")"
    env_lines >"$ENV_FILE"
    log "ready ($ENV_FILE)"
    ;;
  env) env_lines ;;
  *) die "usage: scripts/tools.sh up | env" ;;
esac
