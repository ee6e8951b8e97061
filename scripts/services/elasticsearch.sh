#!/usr/bin/env bash
# Provision and run a throw-away single-node Elasticsearch 8.x for aegisbpf's sink tests.
#
#   elasticsearch.sh install
#   elasticsearch.sh start --port PORT [--work-dir DIR] [--heap 512m] [--setting key=value]... [--timeout SECONDS]
#                          [--owner-pid PID]   (stop the node automatically once PID has exited)
#   elasticsearch.sh stop  --work-dir DIR
#   elasticsearch.sh info
#
# Source: the integration-test distribution zip from Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch), checksum-pinned below.
# That distribution has no bundled JDK and only the x-pack-core/x-pack-security modules:
# see docs/test-services.md for what it lacks. Runs as a dedicated non-root user
# (aegis-es, created on demand) when invoked as root; as the invoking user otherwise.
#
# `start` prints machine-readable key=value lines on stdout (pid=, es_pid=, url=, port=,
# work_dir=, log_file=, startup_ms=); everything else goes to stderr.
# See scripts/services/README.md.
set -euo pipefail

AEGIS_SCRIPT_NAME="elasticsearch.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

# ---- pinned artifact -------------------------------------------------------------------------
# Newest 8.x on Maven Central at the time of pinning (maven-metadata.xml <release>8.19.21</release>).
# Overriding AEGIS_ES_VERSION requires AEGIS_ES_SHA512 as well (no unverified downloads).
ES_PINNED_VERSION="8.19.21"
ES_PINNED_SHA512="cf6b0a93860d329937ae7f913ec5073b0c726c77639764b93fc83a304aa1dd9d4defcfa2849948eea3b0b47c2065f994908603939fc2a4774c9c4d868c5ec1dd"
ES_VERSION="${AEGIS_ES_VERSION:-$ES_PINNED_VERSION}"
if [[ "$ES_VERSION" == "$ES_PINNED_VERSION" ]]; then
  ES_SHA512="${AEGIS_ES_SHA512:-$ES_PINNED_SHA512}"
else
  ES_SHA512="${AEGIS_ES_SHA512:-}"
  [[ -n "$ES_SHA512" ]] || die "AEGIS_ES_VERSION=$ES_VERSION differs from the pinned $ES_PINNED_VERSION: set AEGIS_ES_SHA512 to its sha512 too"
fi
ES_GROUP_PATH="org/elasticsearch/distribution/integ-test-zip/elasticsearch"
MAVEN_CENTRAL="${AEGIS_MAVEN_CENTRAL_URL:-https://repo1.maven.org/maven2}"
ES_ZIP_NAME="elasticsearch-${ES_VERSION}.zip"
ES_URL="$MAVEN_CENTRAL/$ES_GROUP_PATH/$ES_VERSION/$ES_ZIP_NAME"

ES_USER="${AEGIS_ES_USER:-aegis-es}"
ES_DOWNLOAD_DIR="$AEGIS_CACHE_DIR/downloads"
ES_ZIP="$ES_DOWNLOAD_DIR/elasticsearch-integ-test-zip-${ES_VERSION}.zip"
ES_INSTALL_ROOT="$AEGIS_CACHE_DIR/elasticsearch"
ES_HOME_CACHED="$ES_INSTALL_ROOT/$ES_VERSION"
ES_INSTALLED_MARKER="$ES_HOME_CACHED/.aegis-installed"
ES_JAVA_MIN=17

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ---- java --------------------------------------------------------------------------------------
java_major() { # JAVA_BIN -> major version number
  "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}' | cut -d. -f1
}

find_java_home() {
  local jh="${AEGIS_ES_JAVA_HOME:-${ES_JAVA_HOME:-}}" jbin
  if [[ -n "$jh" && ! -x "$jh/bin/java" ]]; then
    die "AEGIS_ES_JAVA_HOME/ES_JAVA_HOME=$jh has no executable bin/java"
  fi
  if [[ -z "$jh" ]]; then
    if command -v java >/dev/null 2>&1; then
      jbin="$(readlink -f "$(command -v java)")"
      jh="${jbin%/bin/java}"
    fi
  fi
  if [[ -z "$jh" || ! -x "$jh/bin/java" ]]; then
    apt_install openjdk-17-jre-headless
    jbin="$(readlink -f "$(command -v java)")" || die "java not found after installing openjdk-17-jre-headless"
    jh="${jbin%/bin/java}"
  fi
  local major
  major="$(java_major "$jh/bin/java")"
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not determine the Java version of $jh/bin/java"
  (( major >= ES_JAVA_MIN )) || die "Elasticsearch $ES_VERSION needs Java >= $ES_JAVA_MIN, $jh/bin/java is Java $major (set AEGIS_ES_JAVA_HOME)"
  printf '%s\n' "$jh"
}

# ---- install -----------------------------------------------------------------------------------
verify_sha512() { # FILE -> 0 if it matches ES_SHA512
  [[ -f "$1" ]] && [[ "$(sha512sum "$1" | cut -d' ' -f1)" == "$ES_SHA512" ]]
}

download_zip() {
  mkdir -p "$ES_DOWNLOAD_DIR"
  if verify_sha512 "$ES_ZIP"; then
    log "using cached $ES_ZIP (sha512 ok)"
    return 0
  fi
  rm -f "$ES_ZIP"
  local m2="${HOME}/.m2/repository/$ES_GROUP_PATH/$ES_VERSION/$ES_ZIP_NAME"
  if verify_sha512 "$m2"; then
    log "copying $ES_ZIP_NAME from the local Maven repository $m2"
    cp "$m2" "$ES_ZIP.part" && mv "$ES_ZIP.part" "$ES_ZIP"
    return 0
  fi
  local t0 part="$ES_ZIP.part"
  t0=$(now_ms)
  log "downloading $ES_URL"
  if ! curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 1800 -o "$part" "$ES_URL" >&2; then
    rm -f "$part"
    if command -v mvn >/dev/null 2>&1; then
      log "curl failed; trying Maven (dependency:copy) from the configured Maven repositories"
      local mtmp
      mtmp="$(mktemp -d "$ES_DOWNLOAD_DIR/mvn.XXXXXX")"
      mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip" \
        "-DoutputDirectory=$mtmp" >&2 || { rm -rf "$mtmp"; die "could not download $ES_URL (curl and mvn both failed)"; }
      mv "$mtmp/$ES_ZIP_NAME" "$part" && rm -rf "$mtmp"
    else
      die "could not download $ES_URL (curl failed; no mvn for a fallback)"
    fi
  fi
  verify_sha512 "$part" || { rm -f "$part"; die "sha512 mismatch for $ES_URL (expected $ES_SHA512)"; }
  mv "$part" "$ES_ZIP"
  log "downloaded $(stat -c %s "$ES_ZIP") bytes in $(( $(now_ms) - t0 )) ms, sha512 verified"
}

unpack_zip() {
  if [[ -f "$ES_INSTALLED_MARKER" ]] && [[ "$(cat "$ES_INSTALLED_MARKER")" == "$ES_SHA512" ]]; then
    return 0
  fi
  local t0 tmp
  t0=$(now_ms)
  rm -rf "$ES_HOME_CACHED"
  mkdir -p "$ES_INSTALL_ROOT"
  tmp="$(mktemp -d "$ES_INSTALL_ROOT/.unpack.XXXXXX")"
  unzip -q "$ES_ZIP" -d "$tmp" || { rm -rf "$tmp"; die "unzip of $ES_ZIP failed"; }
  [[ -x "$tmp/elasticsearch-$ES_VERSION/bin/elasticsearch" ]] || { rm -rf "$tmp"; die "unexpected zip layout: no elasticsearch-$ES_VERSION/bin/elasticsearch"; }
  # Readable (not writable) by the service user: it only ever runs from a per-run hard-linked copy.
  chmod -R u+rwX,go+rX,go-w "$tmp/elasticsearch-$ES_VERSION"
  mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME_CACHED"
  rm -rf "$tmp"
  printf '%s\n' "$ES_SHA512" >"$ES_INSTALLED_MARKER"
  log "unpacked to $ES_HOME_CACHED in $(( $(now_ms) - t0 )) ms"
}

ensure_user() {
  is_root || return 0
  if ! id -u "$ES_USER" >/dev/null 2>&1; then
    log "creating system user $ES_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER" 2>/dev/null \
      || id -u "$ES_USER" >/dev/null 2>&1 || die "useradd $ES_USER failed"
  fi
}

do_install_locked() {
  require_cmd curl curl
  require_cmd unzip unzip
  require_cmd sha512sum coreutils
  require_cmd setpriv util-linux
  find_java_home >/dev/null
  if [[ -f "$ES_INSTALLED_MARKER" ]] && [[ "$(cat "$ES_INSTALLED_MARKER")" == "$ES_SHA512" ]]; then
    : # unpacked from a zip whose sha512 was verified; nothing to download
  else
    download_zip
    unpack_zip
  fi
  ensure_user
}

cmd_install() {
  [[ $# -eq 0 ]] || usage
  local t0
  t0=$(now_ms)
  require_cmd flock util-linux
  with_lock "$ES_INSTALL_ROOT/.install.lock" do_install_locked
  printf 'version=%s\nhome=%s\ninstall_ms=%s\n' "$ES_VERSION" "$ES_HOME_CACHED" "$(( $(now_ms) - t0 ))"
}

# ---- start -------------------------------------------------------------------------------------
cmd_start() {
  local port="${AEGIS_ES_PORT:-}" work_dir="${AEGIS_ES_WORK_DIR:-}" heap="${AEGIS_ES_HEAP:-512m}"
  local timeout="${AEGIS_ES_START_TIMEOUT:-180}" owner_pid="${AEGIS_SERVICE_OWNER_PID:-}"
  local -a settings=()
  local s
  if [[ -n "${AEGIS_ES_SETTINGS:-}" ]]; then
    for s in $AEGIS_ES_SETTINGS; do settings+=("$s"); done
  fi
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      --work-dir) work_dir="${2:?--work-dir needs a value}"; shift 2 ;;
      --heap) heap="${2:?--heap needs a value}"; shift 2 ;;
      --setting|-E) settings+=("${2:?--setting needs key=value}"); shift 2 ;;
      --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
      --owner-pid) owner_pid="${2:?--owner-pid needs a pid}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "unknown start argument '$1' (see --help)" ;;
    esac
  done
  [[ -n "$port" ]] || die "start needs --port (or AEGIS_ES_PORT)"
  validate_port "$port" "--port"
  [[ "$heap" =~ ^[0-9]+[mMgG]$ ]] || die "--heap must look like 512m or 1g, got '$heap'"
  [[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"
  if [[ -n "$owner_pid" ]]; then
    if [[ ! "$owner_pid" =~ ^[0-9]+$ ]] || ! pid_alive "$owner_pid"; then
      die "--owner-pid '$owner_pid' is not a running process"
    fi
  fi
  for s in "${settings[@]}"; do
    [[ "$s" =~ ^[A-Za-z0-9_.-]+=.*$ ]] || die "setting '$s' is not key=value"
  done

  local t_start
  t_start=$(now_ms)
  require_cmd flock util-linux
  with_lock "$ES_INSTALL_ROOT/.install.lock" do_install_locked
  local java_home
  java_home="$(find_java_home)"

  port_in_use "$port" && die "port 127.0.0.1:$port is already in use"

  if [[ -z "$work_dir" ]]; then
    work_dir="$(mktemp -d "${TMPDIR:-/tmp}/aegis-es.XXXXXX")"
    chmod 755 "$work_dir"
  fi
  work_dir="$(realpath -m "$work_dir")"
  prepare_work_dir "$work_dir" elasticsearch
  mkdir -p "$work_dir"/{data,logs,tmp,run}

  # Per-run ES home: hard links into the cached install (instant, no copy) so that the
  # service user never needs to traverse $AEGIS_CACHE_DIR (e.g. /root is 0700).
  if ! cp -al "$ES_HOME_CACHED" "$work_dir/home" 2>/dev/null; then
    rm -rf "${work_dir:?}/home"
    cp -a "$ES_HOME_CACHED" "$work_dir/home" || die "could not stage $ES_HOME_CACHED into $work_dir/home"
  fi
  rm -f "$work_dir/home/.aegis-installed"
  cp -a "$ES_HOME_CACHED/config" "$work_dir/config.new"
  rm -rf "$work_dir/home/config"
  mv "$work_dir/config.new" "$work_dir/config"

  cat >"$work_dir/config/elasticsearch.yml" <<EOF
# generated by scripts/services/elasticsearch.sh for one test run
cluster.name: aegis-es-test
node.name: aegis-es-${port}
path.data: ${work_dir}/data
path.logs: ${work_dir}/logs
network.host: 127.0.0.1
http.port: ${port}
transport.port: 0
discovery.type: single-node
xpack.security.enabled: false
cluster.routing.allocation.disk.threshold_enabled: false
EOF

  local -a run_as=()
  if is_root; then
    chown -R "$ES_USER:$ES_USER" "$work_dir"/{data,logs,tmp,run,config}
    chown "$ES_USER:$ES_USER" "$work_dir"
    run_as=(setpriv --reuid "$ES_USER" --regid "$ES_USER" --init-groups)
    "${run_as[@]}" test -w "$work_dir/data" -a -r "$work_dir/home/bin/elasticsearch" \
      || die "user $ES_USER cannot use $work_dir (a parent directory is not traversable?); pick a --work-dir under /tmp"
  fi

  local -a es_args=(-p "$work_dir/run/elasticsearch.pid")
  for s in "${settings[@]}"; do es_args+=("-E$s"); done

  local log_file="$work_dir/logs/aegis-es-test.log" console="$work_dir/logs/console.log"
  (
    cd "$work_dir"
    # shellcheck disable=SC2016 # $$ and "$@" belong to the inner bash
    exec env -i PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME="$work_dir" LANG=C.UTF-8 \
      ES_JAVA_HOME="$java_home" ES_PATH_CONF="$work_dir/config" ES_TMPDIR="$work_dir/tmp" \
      ES_JAVA_OPTS="-Xms$heap -Xmx$heap ${AEGIS_ES_JAVA_OPTS:-}" \
      setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' aegis-es-launch "$work_dir/run/service.pid" \
      "${run_as[@]}" "$work_dir/home/bin/elasticsearch" "${es_args[@]}"
  ) >"$console" 2>&1 </dev/null &
  local launcher=$! pgid=""
  for _ in $(seq 1 100); do
    [[ -s "$work_dir/run/service.pid" ]] && { pgid="$(cat "$work_dir/run/service.pid")"; break; }
    pid_alive "$launcher" || break
    sleep 0.05
  done
  if [[ -z "$pgid" ]]; then
    tail_logs 40 "$console"
    remove_work_dir "$work_dir"
    die "Elasticsearch launcher exited before starting (see the log above)"
  fi

  local health_url="http://127.0.0.1:${port}/_cluster/health?wait_for_status=yellow&timeout=1s"
  local deadline=$(( $(now_ms) + timeout * 1000 )) body=""
  while :; do
    if ! group_alive "$pgid"; then
      tail_logs 60 "$log_file" "$console"
      remove_work_dir "$work_dir"
      die "Elasticsearch exited during start-up (port $port; logs above)"
    fi
    body="$(curl -s --max-time 3 "$health_url" 2>/dev/null || true)"
    if [[ "$body" =~ \"status\":\"(yellow|green)\" ]]; then
      break
    fi
    if (( $(now_ms) > deadline )); then
      tail_logs 60 "$log_file" "$console"
      stop_group "$pgid" 20
      remove_work_dir "$work_dir"
      die "Elasticsearch on 127.0.0.1:$port not healthy (yellow/green) within ${timeout}s; last _cluster/health answer: ${body:-<none>}"
    fi
    sleep 0.25
  done
  start_watchdog "$owner_pid" "$work_dir" "$SCRIPT_DIR/elasticsearch.sh"
  local es_pid=""
  [[ -s "$work_dir/run/elasticsearch.pid" ]] && es_pid="$(cat "$work_dir/run/elasticsearch.pid")"
  local startup_ms=$(( $(now_ms) - t_start ))
  log "Elasticsearch $ES_VERSION healthy on http://127.0.0.1:$port after ${startup_ms} ms (work dir $work_dir)"
  printf 'pid=%s\nes_pid=%s\nurl=http://127.0.0.1:%s\nport=%s\nwork_dir=%s\nlog_file=%s\nversion=%s\nstartup_ms=%s\n' \
    "$pgid" "$es_pid" "$port" "$port" "$work_dir" "$log_file" "$ES_VERSION" "$startup_ms"
}

# ---- stop --------------------------------------------------------------------------------------
cmd_stop() {
  stop_service AEGIS_ES_WORK_DIR "${AEGIS_ES_STOP_GRACE:-30}" Elasticsearch "$@"
}

cmd_info() {
  printf 'version=%s\nurl=%s\nsha512=%s\nzip=%s\nhome=%s\nuser=%s\ncache_dir=%s\n' \
    "$ES_VERSION" "$ES_URL" "$ES_SHA512" "$ES_ZIP" "$ES_HOME_CACHED" "$ES_USER" "$AEGIS_CACHE_DIR"
}

main() {
  [[ $# -ge 1 ]] || usage
  local sub="$1"; shift
  case "$sub" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    info) cmd_info "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown subcommand '$sub' (install|start|stop|info)" ;;
  esac
}

main "$@"
