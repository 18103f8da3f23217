# Helpers shared by scripts/kafka.sh and scripts/postgres.sh; sourced, never run.
# The caller defines log and die (each with its own prefix).

# The one lock that serialises apt between the two scripts, which `services.sh up` runs at once.
APT_LOCK=/var/lock/vigie-apt.lock

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "root is needed to run: $*"
  fi
}

# apt-get update once, then install, holding APT_LOCK.
apt_install() {
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive flock -w 900 "$APT_LOCK" sh -c \
    'apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y "$@"' \
    apt_install "$@" || die "apt-get install $* failed"
}
