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
  # the eBPF sensor, built from source on the machine it runs on (docs/sensor.md#build)
  clang llvm        # compiles bpf/*.bpf.c (CO-RE)
  bpftool           # vmlinux.h from the running kernel's BTF; links the BPF objects
  libbpf-dev libelf-dev zlib1g-dev   # the native addon links the system libbpf
  make g++          # bpf/Makefile; node-gyp builds the addon
)
TEST_PACKAGES=(
  "${RUN_PACKAGES[@]}"
  util-linux        # taskset (benchmarks), mount (ENOSPC test)
  rsyslog           # real receiver for the syslog sink and rules/rsyslog tests (started by the tests, never the system one)
  rsyslog-openssl   # rsyslog TLS driver ossl (imtcp/omfwd TLS)
  rsyslog-gnutls    # rsyslog TLS driver gtls (rules/rsyslog/aegisbpf-receiver-gtls.conf)
  rsyslog-relp      # imrelp/omrelp: the RELP transport's receiver
  openssl           # TLS test certificates are generated at test time
  liblognorm-utils  # lognormalizer: CEF output parsed by liblognorm's cef parser (test/formatters/cef-lognormalizer.test.ts)
  prometheus        # promtool: check and unit-test the alert rules, parse the exported metrics (the server is not used)
)
# python3 + pip: fetch and run the OCSF schema package (below); only when no python3 with pip is on PATH already.
if [ "$profile" = test ] && ! python3 -m pip --version >/dev/null 2>&1; then
  TEST_PACKAGES+=(python3 python3-pip)
fi
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

# syslog-ng (tests only) is unpacked into a cache directory, never installed: it conflicts with rsyslog.
if [ "$profile" = test ]; then bash scripts/setup-syslog-ng.sh; fi

# npm ci only when the lockfile changed since the last install (node_modules/.aegis-lock-sha256 records it).
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.aegis-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci" >&2
  # node-gyp builds native code against the Node headers on this machine, never downloaded ones.
  npm_config_nodedir=/usr npm ci --no-audit --no-fund >&2
  echo "$lock_sum" > node_modules/.aegis-lock-sha256
fi

# The official OCSF schema exports (1.0-1.8) and a JSON Schema generator for them, from the PyPI package
# ocsf-json-schema (pinned by version and hash), for test/formatters/ocsf.test.ts. Downloaded with pip, unpacked
# (a wheel is a zip; nothing is installed) into .cache/. Without network the OCSF validation test skips and says why.
OCSF_PKG_VERSION=1.2.0
OCSF_PKG_SHA256=64d819042d20c3c04bc0d024c7c47c41006ebbe0209ce768ba6efa1240106708
ocsf_dir=".cache/ocsf-json-schema-$OCSF_PKG_VERSION"
if [ "$profile" = test ] && [ ! -f "$ocsf_dir/.complete" ]; then
  echo "setup: fetching ocsf-json-schema $OCSF_PKG_VERSION (PyPI)" >&2
  tmp_whl="$(mktemp -d)"
  if python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp_whl" "ocsf-json-schema==$OCSF_PKG_VERSION" >&2 &&
    echo "$OCSF_PKG_SHA256  $(ls "$tmp_whl"/*.whl)" | sha256sum --check --quiet; then
    rm -rf "$ocsf_dir" && mkdir -p "$ocsf_dir"
    python3 -m zipfile -e "$tmp_whl"/*.whl "$ocsf_dir" && touch "$ocsf_dir/.complete"
  else
    echo "setup: could not fetch ocsf-json-schema; the OCSF schema validation test will be skipped" >&2
  fi
  rm -rf "$tmp_whl"
fi

# The BPF objects and the native addon: incremental, so cheap when nothing changed; when a prerequisite is
# missing it says which and the sensor reports that it cannot run (the replay source still works).
echo "setup: building the eBPF sensor (bpf/, native/)" >&2
npm_config_nodedir=/usr npm run --silent build:native >&2

echo "setup: building (tsc)" >&2
npm run --silent build >&2
