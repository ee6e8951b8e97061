#!/usr/bin/env bash
# Idempotent set-up for aegisbpf on a fresh Debian 12 machine: apt packages, npm ci, build.
#   scripts/setup.sh run    what `aegisbpf run` needs
#   scripts/setup.sh test   what the whole test suite needs (a superset)
# Re-running is cheap: installed packages are skipped, npm ci runs only when package-lock.json changed, tsc is incremental.
# One line per step on the terminal (what, why, how long); the package managers' output goes to .cache/logs/setup.log
# (scripts/lib/steps.sh), and a failing step shows its part of that log.
# Node: the machine's `node` when it is a supported LTS, otherwise the official build of Node 24 from the npm registry,
# unpacked into ${AEGIS_CACHE_DIR:-~/.cache/aegisbpf}/node/ (scripts/lib/node.sh); everything below uses that node.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-run}"
source scripts/lib/steps.sh
source scripts/lib/node.sh

# Debian packages, by profile. Keep each list minimal; say why a package is here.
RUN_PACKAGES=(
  ca-certificates   # TLS to receivers
  curl              # downloads the official Node build when the machine's node is not a supported LTS
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
  prometheus-alertmanager # amtool check-config: deploy/alertmanager/alertmanager.yml (the server is not used)
  iproute2          # ip netns / veth pairs: the XDP ingress kernel test (test/daemon/api/api-ingress-kernel.test.ts)
)
# python3 + pip: fetch and run the OCSF schema package (below); only when no python3 with pip is on PATH already.
if [ "$profile" = test ] && ! python3 -m pip --version >/dev/null 2>&1; then
  TEST_PACKAGES+=(python3 python3-pip)
fi
# Packages whose postinst would start a service the tests do not want: prometheus would listen on :9090, aegisbpf's
# default metrics port. When setup installs one, it keeps the service from starting (policy-rc.d, for the install
# only) and disables it; a package that was already installed, and its service, are left alone.
NO_SERVICE_PACKAGES=(prometheus prometheus-alertmanager)

case "$profile" in
  run) wanted=("${RUN_PACKAGES[@]}") ;;
  test) wanted=("${TEST_PACKAGES[@]}") ;;
  *) echo "setup.sh: unknown profile '$profile' (run|test)" >&2; exit 2 ;;
esac

aegis_log_open setup

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install_missing() {
  local no_service=() p q policy_added="" status=0
  $sudo apt-get update -qq || return
  for p in "${missing[@]}"; do
    for q in "${NO_SERVICE_PACKAGES[@]}"; do [ "$p" = "$q" ] && no_service+=("$p"); done
  done
  if [ "${#no_service[@]}" -gt 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, scripts/setup.sh: no service starts during this install\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null || return
    $sudo chmod 755 /usr/sbin/policy-rc.d || return
    policy_added=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  [ -n "$policy_added" ] && $sudo rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || return "$status"
  for p in "${no_service[@]}"; do
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
      echo "disabling the $p service that the package enabled (only its tools are used)"
      $sudo systemctl disable --now "$p.service" || true
    fi
  done
}
if [ "${#missing[@]}" -gt 0 ]; then
  why="the sensor build and the agent"
  [ "$profile" = test ] && why="the sensor build, the agent and the test suite's receivers and tools"
  aegis_step "apt packages (${missing[*]}) for $why" apt_install_missing
else
  aegis_note "apt packages already installed (${#wanted[@]} for profile '$profile')"
fi

# Node: the machine's when it is a supported LTS (scripts/lib/node.sh has the table), else the pinned official build.
if [ "$(aegis_node_choice)" = cache ]; then
  machine_node="$(command -v node 2>/dev/null || true)"
  found="no node on PATH"
  [ -n "$machine_node" ] && found="$machine_node is $("$machine_node" --version 2>/dev/null || echo 'an unknown version'), not a supported LTS"
  [ -n "$machine_node" ] && [ "${AEGIS_NODE:-}" = cache ] && found="AEGIS_NODE=cache"
  if aegis_node_installed; then
    aegis_note "already have node $AEGIS_NODE_VERSION in $AEGIS_NODE_DIR ($found)"
  else
    aegis_step "node $AEGIS_NODE_VERSION + npm $AEGIS_NPM_VERSION from the npm registry into $AEGIS_NODE_DIR ($found)" aegis_node_install
  fi
fi
aegis_use_node
node_line="node $(node --version) at $(command -v node), npm $(npm --version)"

# syslog-ng (tests only) is unpacked into a cache directory, never installed: it conflicts with rsyslog.
if [ "$profile" = test ]; then
  if bash scripts/setup-syslog-ng.sh check; then
    aegis_note "already have syslog-ng (unpacked in the cache) for the syslog-ng tests"
  else
    aegis_step "syslog-ng, unpacked into the cache for the syslog-ng tests (not installed: it conflicts with rsyslog)" bash scripts/setup-syslog-ng.sh
  fi
fi

# npm ci only when the lockfile or the node changed since the last install (node_modules/.aegis-lock-sha256 records
# both). npm ci also runs the package's install script, which builds the native addon (scripts/build-native.js).
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ ! -d node_modules ] || [ "$(cat node_modules/.aegis-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  aegis_step "npm ci (package-lock.json changed or first install; $node_line)" npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.aegis-lock-sha256
else
  aegis_note "node_modules already match package-lock.json ($node_line)"
fi

# The official OCSF schema exports (1.0-1.8) and a JSON Schema generator for them, from the PyPI package
# ocsf-json-schema (pinned by version and hash), for test/formatters/ocsf.test.ts. Downloaded with pip, unpacked
# (a wheel is a zip; nothing is installed) into .cache/. Without network the OCSF validation test skips and says why.
OCSF_PKG_VERSION=1.2.0
OCSF_PKG_SHA256=64d819042d20c3c04bc0d024c7c47c41006ebbe0209ce768ba6efa1240106708
ocsf_dir=".cache/ocsf-json-schema-$OCSF_PKG_VERSION"
fetch_ocsf() {
  local tmp_whl status=0
  tmp_whl="$(mktemp -d)"
  if python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp_whl" "ocsf-json-schema==$OCSF_PKG_VERSION" &&
    echo "$OCSF_PKG_SHA256  $(ls "$tmp_whl"/*.whl)" | sha256sum --check --quiet; then
    rm -rf "$ocsf_dir" && mkdir -p "$ocsf_dir" &&
      python3 -m zipfile -e "$tmp_whl"/*.whl "$ocsf_dir" && touch "$ocsf_dir/.complete" || status=$?
  else
    echo "could not fetch ocsf-json-schema; the OCSF schema validation test will be skipped"
    status=3
  fi
  rm -rf "$tmp_whl"
  return "$status"
}
if [ "$profile" = test ]; then
  if [ -f "$ocsf_dir/.complete" ]; then
    aegis_note "already have ocsf-json-schema $OCSF_PKG_VERSION (PyPI) for the OCSF validation test"
  else
    aegis_step "ocsf-json-schema $OCSF_PKG_VERSION (PyPI, hash-pinned) for the OCSF validation test" fetch_ocsf
  fi
fi

# The BPF objects and the native addon: incremental, so cheap when nothing changed (rebuilt when the node changed);
# when a prerequisite is missing it says which and the sensor reports that it cannot run (the replay source works).
aegis_step "eBPF sensor build (bpf/, native/ against $(node --version)'s headers)" npm run --silent build:native
if [ -f native/build/unavailable.json ]; then
  aegis_note "the eBPF sensor was NOT built: $(node -p 'require("./native/build/unavailable.json").reason')"
fi

aegis_step "TypeScript build (tsc, incremental)" npm run --silent build
