#!/usr/bin/env bash
# Tools the test suite drives besides Kafka and PostgreSQL, installed idempotently:
#   - Prometheus and promtool, from Debian's packages (alert rules, dashboard queries);
#   - Chromium and ChromeDriver, from Debian's packages (console end-to-end tests);
#   - the validators of the deployment files, under .local/tools (see go_tools): kubeconform,
#     kustomize, the compose checker (compose-go, what `docker compose config` runs), the
#     Kubernetes JSON schemas and the Compose Specification schema. Everything comes through
#     the Go module proxy (GitHub itself is never contacted), at pinned versions.
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

# Pinned versions. kustomize v5.8.3 needs Go 1.27; v5.8.2 builds with the Go 1.26 toolchain.
KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.2
COMPOSE_GO_VERSION=v2.16.2 # also pinned in deploy/tools/composecheck/go.mod
KUBERNETES_VERSION=v1.35.4 # the API the manifests are validated against
K8S_SCHEMAS="$TOOLS_DIR/k8s-schemas"
COMPOSE_SCHEMA="$TOOLS_DIR/schemas/compose-spec.json"

# Everything Go writes stays under .local/tools, so that a fresh clone installs the same
# tools and `make clean` removes them (-modcacherw: the module cache is read-only otherwise).
go_env() {
  export GOPATH="$TOOLS_DIR/go" GOMODCACHE="$TOOLS_DIR/go/pkg/mod" GOCACHE="$TOOLS_DIR/go/cache"
  export GOBIN="$TOOLS_DIR/bin" GOTOOLCHAIN=local GOFLAGS=-modcacherw
}

# stamp NAME VALUE: true when NAME was installed at VALUE (the check that makes `up` idempotent).
stamped() { [[ -f "$TOOLS_DIR/stamps/$1" && "$(cat "$TOOLS_DIR/stamps/$1")" == "$2" ]]; }
stamp() { mkdir -p "$TOOLS_DIR/stamps"; printf '%s\n' "$2" >"$TOOLS_DIR/stamps/$1"; }

# The directory of a module version in the module cache, downloading it if needed.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

go_install() { # NAME PACKAGE VERSION
  local name=$1 package=$2 version=$3
  if stamped "$name" "$version" && [[ -x "$TOOLS_DIR/bin/$name" ]]; then return; fi
  log "installing $name $version"
  go install "$package@$version" || die "go install $package@$version failed"
  stamp "$name" "$version"
}

compose_tools() {
  local source="$REPO_ROOT/deploy/tools/composecheck" hash
  hash=$(cat "$source/go.mod" "$source/go.sum" "$source/main.go" | sha256sum | cut -d' ' -f1)
  if ! stamped composecheck "$hash" || [[ ! -x "$TOOLS_DIR/bin/composecheck" ]]; then
    log "building composecheck (compose-go $COMPOSE_GO_VERSION)"
    (cd "$source" && go build -trimpath -o "$TOOLS_DIR/bin/composecheck" .) \
      || die "building deploy/tools/composecheck failed"
    stamp composecheck "$hash"
  fi
  if ! stamped compose-schema "$COMPOSE_GO_VERSION" || [[ ! -f "$COMPOSE_SCHEMA" ]]; then
    local dir
    dir=$(module_dir "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION")
    [[ -f "$dir/schema/compose-spec.json" ]] || die "no schema/compose-spec.json in compose-go"
    mkdir -p "$(dirname "$COMPOSE_SCHEMA")"
    cp "$dir/schema/compose-spec.json" "$COMPOSE_SCHEMA"
    stamp compose-schema "$COMPOSE_GO_VERSION"
  fi
}

# kubeconform downloads its schemas from GitHub by default. Instead: the OpenAPI document
# shipped in the k8s.io/kubernetes module (api/openapi-spec/swagger.json), converted to
# kubeconform's layout by deploy/tools/openapi2jsonschema.py (standard library only).
k8s_schemas() {
  local converter="$REPO_ROOT/deploy/tools/openapi2jsonschema.py" want dir tmp
  want="$KUBERNETES_VERSION $(sha256sum "$converter" | cut -d' ' -f1)"
  if stamped k8s-schemas "$want" && [[ -d "$K8S_SCHEMAS/$KUBERNETES_VERSION-standalone-strict" ]]; then
    return
  fi
  log "converting the Kubernetes $KUBERNETES_VERSION OpenAPI document to JSON schemas"
  dir=$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
  [[ -f "$dir/api/openapi-spec/swagger.json" ]] || die "no api/openapi-spec/swagger.json in $dir"
  tmp=$(mktemp -d "$TOOLS_DIR/k8s-schemas.XXXXXX")
  python3 "$converter" "$dir/api/openapi-spec/swagger.json" "$tmp" \
    --kubernetes-version "$KUBERNETES_VERSION" || { rm -rf "$tmp"; die "schema conversion failed"; }
  rm -rf "$K8S_SCHEMAS"
  mv "$tmp" "$K8S_SCHEMAS"
  stamp k8s-schemas "$want"
}

go_tools() {
  mkdir -p "$TOOLS_DIR/bin"
  command -v go >/dev/null 2>&1 || die "the Go toolchain is needed to install the validators"
  command -v python3 >/dev/null 2>&1 || die "python3 is needed to convert the Kubernetes schemas"
  go_env
  go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  go_install kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
  compose_tools
  k8s_schemas
}

env_lines() {
  printf 'export VIGIE_TOOLS_BIN=%q\n' "$TOOLS_DIR/bin"
  printf 'export VIGIE_CHROMIUM=%q\n' "$(command -v chromium || echo /usr/bin/chromium)"
  printf 'export VIGIE_K8S_SCHEMAS=%q\n' "$K8S_SCHEMAS"
  printf 'export VIGIE_KUBERNETES_VERSION=%q\n' "${KUBERNETES_VERSION#v}"
  printf 'export VIGIE_COMPOSE_SCHEMA=%q\n' "$COMPOSE_SCHEMA"
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
