#!/usr/bin/env bash
# Idempotent set-up for aegisbpf on a fresh Debian 12 machine: apt packages, npm ci, build.
#   scripts/setup.sh run    what `aegisbpf run` needs
#   scripts/setup.sh test   what the whole test suite needs (a superset)
# Re-running is cheap: installed packages are skipped, npm ci runs only when package-lock.json changed, tsc is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"

# Debian packages, by profile. Keep each list minimal; say why a package is here.
RUN_PACKAGES=(
  ca-certificates   # TLS to receivers
)
TEST_PACKAGES=(
  "${RUN_PACKAGES[@]}"
  util-linux        # taskset (benchmarks), mount (ENOSPC test)
  prometheus        # promtool: check and unit-test the alert rules, parse the exported metrics (the server is not used)
)
# Packages whose postinst would start a service the tests do not want: prometheus would listen on :9090, aegisbpf's
# default metrics port. When setup installs one, it keeps the service from starting (policy-rc.d, for the install
# only) and disables it; a package that was already installed, and its service, are left alone.
NO_SERVICE_PACKAGES=(prometheus)

case "$profile" in
  run) wanted=("${RUN_PACKAGES[@]}") ;;
  test) wanted=("${TEST_PACKAGES[@]}") ;;
  *) echo "setup.sh: unknown profile '$profile' (run|test)" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  no_service=()
  for p in "${missing[@]}"; do
    for q in "${NO_SERVICE_PACKAGES[@]}"; do [ "$p" = "$q" ] && no_service+=("$p"); done
  done
  policy_added=""
  if [ "${#no_service[@]}" -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, scripts/setup.sh: no service starts during this install\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || status=$?
  [ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || exit "$status"
  for p in "${no_service[@]}"; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
      echo "setup: disabling the $p service that the package enabled (only its tools are used)" >&2
      $sudo systemctl disable --now "$p.service" >&2 || true
    fi
  done
fi

# npm ci only when the lockfile changed since the last install (node_modules/.aegis-lock-sha256 records it).
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.aegis-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci" >&2
  # node-gyp builds native code against the Node headers on this machine, never downloaded ones.
  npm_config_nodedir=/usr npm ci --no-audit --no-fund >&2
  echo "$lock_sum" > node_modules/.aegis-lock-sha256
fi

echo "setup: building (tsc)" >&2
npm run --silent build >&2
