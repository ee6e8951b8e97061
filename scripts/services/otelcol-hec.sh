#!/usr/bin/env bash
# Build (cached) and run an OpenTelemetry Collector that speaks Splunk HEC, for aegisbpf's tests.
#
#   otelcol-hec.sh install
#   otelcol-hec.sh start --port PORT [--work-dir DIR] [--token T]... [--no-auth] [--no-ack]
#                        [--tls | --tls-cert FILE --tls-key FILE] [--max-body-bytes N]
#                        [--splitting line|none] [--no-keepalive] [--log-level info|debug]
#                        [--set key=value]... [--timeout SECONDS] [--owner-pid PID]
#   otelcol-hec.sh render-config [same options as start, --work-dir required]
#   otelcol-hec.sh stop --work-dir DIR
#   otelcol-hec.sh info
#
# The collector is built with the OpenTelemetry Collector Builder from the pinned manifest
# otelcol-hec.builder.yaml (splunk_hec receiver, ack extension, bearertokenauth extension,
# file + debug exporters); modules come from the Go module proxy only. The build is cached
# under $AEGIS_CACHE_DIR/otelcol-hec/builds/<hash of manifest + go version>.
# `start` prints key=value lines on stdout (pid=, url=, port=, tokens=, output_file=,
# work_dir=, log_file=, ack=, tls=, ca_file=, startup_ms=); everything else goes to stderr.
# See scripts/services/README.md and docs/test-services.md.
set -euo pipefail

AEGIS_SCRIPT_NAME="otelcol-hec.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

BUILDER_VERSION="v0.157.0"            # go.opentelemetry.io/collector/cmd/builder; must match the manifest
MANIFEST="$SCRIPT_DIR/otelcol-hec.builder.yaml"
CONFIG_TEMPLATE="$SCRIPT_DIR/otelcol-hec.config.tmpl.yaml"
BINARY_NAME="otelcol-aegis-hec"
GO_MIN_MINOR=21                       # go >= 1.21 can fetch a newer toolchain from the module proxy if go.mod asks

OTEL_ROOT="$AEGIS_CACHE_DIR/otelcol-hec"
BUILDER_BIN="$OTEL_ROOT/tools/builder-$BUILDER_VERSION/builder"
GO_ENV_MODCACHE="$AEGIS_CACHE_DIR/go/mod"
GO_ENV_BUILDCACHE="$AEGIS_CACHE_DIR/go/build"

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ---- go / build ---------------------------------------------------------------------------------
check_go() {
  command -v go >/dev/null 2>&1 || die "Go is required to build the collector (go >= 1.$GO_MIN_MINOR on PATH; the CI image has /usr/local/go)"
  local v
  v="$(go env GOVERSION 2>/dev/null)" || die "'go env GOVERSION' failed"
  [[ "$v" =~ ^go1\.([0-9]+) ]] || die "cannot parse Go version '$v'"
  (( BASH_REMATCH[1] >= GO_MIN_MINOR )) || die "Go $v is too old (need >= 1.$GO_MIN_MINOR)"
  printf '%s\n' "$v"
}

go_env() { # run a go-using command with the cache-local module/build caches
  env GOMODCACHE="$GO_ENV_MODCACHE" GOCACHE="$GO_ENV_BUILDCACHE" \
    GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" "$@"
}

build_key() { # GO_VERSION -> hex key of (manifest, builder, go)
  { cat "$MANIFEST"; printf '\nbuilder=%s\ngo=%s\n' "$BUILDER_VERSION" "$1"; } | sha256sum | cut -c1-16
}

binary_path_for() { # GO_VERSION
  printf '%s/builds/%s/%s\n' "$OTEL_ROOT" "$(build_key "$1")" "$BINARY_NAME"
}

# Without Go on PATH, a cached build of the *same manifest* (builds/current) is still usable.
cached_binary_without_go() {
  local cur="$OTEL_ROOT/builds/current"
  [[ -x "$cur/$BINARY_NAME" && -f "$cur/manifest.yaml" ]] && cmp -s "$cur/manifest.yaml" "$MANIFEST" \
    && "$cur/$BINARY_NAME" --version >/dev/null 2>&1 && printf '%s\n' "$cur/$BINARY_NAME"
}

# The collector binary to run (after install): keyed by Go version, or the go-less fallback.
current_binary() {
  if command -v go >/dev/null 2>&1; then
    binary_path_for "$(check_go)"
  else
    cached_binary_without_go || die "Go is required to build the collector (go >= 1.$GO_MIN_MINOR on PATH) and no cached build of this manifest exists"
  fi
}

install_builder() {
  [[ -x "$BUILDER_BIN" ]] && return 0
  local t0
  t0=$(now_ms)
  log "installing go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
  mkdir -p "$(dirname "$BUILDER_BIN")"
  go_env GOBIN="$(dirname "$BUILDER_BIN")" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION" >&2 \
    || die "go install go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  log "builder installed in $(( $(now_ms) - t0 )) ms"
}

do_install_locked() {
  local gov bin
  if ! command -v go >/dev/null 2>&1 && cached_binary_without_go >/dev/null; then
    log "go is not on PATH; using the cached build of this manifest ($OTEL_ROOT/builds/current)"
    return 0
  fi
  gov="$(check_go)"
  bin="$(binary_path_for "$gov")"
  if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
    return 0
  fi
  install_builder
  local final_dir tmp t0
  final_dir="$(dirname "$bin")"
  mkdir -p "$OTEL_ROOT/builds"
  tmp="$(mktemp -d "$OTEL_ROOT/builds/.tmp.XXXXXX")"
  # Inject the output path into a copy of the manifest (the committed one has none).
  awk -v out="$tmp/src" '{ print } /^dist:[[:space:]]*$/ { print "  output_path: " out }' "$MANIFEST" >"$tmp/manifest.yaml"
  cp "$MANIFEST" "$tmp/manifest.source.yaml"
  t0=$(now_ms)
  log "building the collector from $MANIFEST with $gov (this takes a few minutes on a cold cache; log: $tmp/build.log)"
  if ! go_env "$BUILDER_BIN" --config="$tmp/manifest.yaml" >"$tmp/build.log" 2>&1; then
    tail_logs 40 "$tmp/build.log"
    local kept="$OTEL_ROOT/builds/failed-build.log"
    cp "$tmp/build.log" "$kept" 2>/dev/null || true
    rm -rf "$tmp"
    die "collector build failed (full log: $kept)"
  fi
  [[ -x "$tmp/src/$BINARY_NAME" ]] || { rm -rf "$tmp"; die "builder finished but $tmp/src/$BINARY_NAME is missing"; }
  mkdir -p "$tmp/out"
  mv "$tmp/src/$BINARY_NAME" "$tmp/out/$BINARY_NAME"
  cp "$tmp/src/go.mod" "$tmp/out/go.mod"          # record of the resolved module graph
  cp "$tmp/manifest.source.yaml" "$tmp/out/manifest.yaml"
  printf 'build_ms=%s\ngo=%s\nbuilder=%s\n' "$(( $(now_ms) - t0 ))" "$gov" "$BUILDER_VERSION" >"$tmp/out/build-info"
  rm -rf "$final_dir"
  mv "$tmp/out" "$final_dir"
  rm -rf "$tmp"
  ln -sfn "$(basename "$final_dir")" "$OTEL_ROOT/builds/current"
  log "collector built in $(( $(now_ms) - t0 )) ms: $bin"
}

cmd_install() {
  [[ $# -eq 0 ]] || usage
  local t0
  t0=$(now_ms)
  require_cmd flock util-linux
  require_cmd curl curl
  with_lock "$OTEL_ROOT/.install.lock" do_install_locked
  printf 'binary=%s\nbuilder=%s\ninstall_ms=%s\n' "$(current_binary)" "$BUILDER_VERSION" "$(( $(now_ms) - t0 ))"
}

# ---- options shared by start / render-config -------------------------------------------------
OPT_PORT="${AEGIS_HEC_PORT:-}"
OPT_WORK_DIR="${AEGIS_HEC_WORK_DIR:-}"
OPT_TOKENS=()
OPT_AUTH=1
OPT_ACK=1
OPT_TLS=0
OPT_TLS_CERT=""
OPT_TLS_KEY=""
OPT_MAX_BODY="${AEGIS_HEC_MAX_BODY_BYTES:-20971520}"
OPT_SPLITTING="line"
OPT_KEEPALIVE=true
OPT_LOG_LEVEL="${AEGIS_HEC_LOG_LEVEL:-info}"
OPT_SETS=()
OPT_TIMEOUT="${AEGIS_HEC_START_TIMEOUT:-30}"
OPT_OWNER_PID="${AEGIS_SERVICE_OWNER_PID:-}"

parse_opts() {
  local t
  if [[ -n "${AEGIS_HEC_TOKENS:-}" ]]; then
    for t in ${AEGIS_HEC_TOKENS//,/ }; do OPT_TOKENS+=("$t"); done
  fi
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) OPT_PORT="${2:?--port needs a value}"; shift 2 ;;
      --work-dir) OPT_WORK_DIR="${2:?--work-dir needs a value}"; shift 2 ;;
      --token) OPT_TOKENS+=("${2:?--token needs a value}"); shift 2 ;;
      --no-auth) OPT_AUTH=0; shift ;;
      --no-ack) OPT_ACK=0; shift ;;
      --tls) OPT_TLS=1; shift ;;
      --tls-cert) OPT_TLS=1; OPT_TLS_CERT="${2:?--tls-cert needs a file}"; shift 2 ;;
      --tls-key) OPT_TLS=1; OPT_TLS_KEY="${2:?--tls-key needs a file}"; shift 2 ;;
      --max-body-bytes) OPT_MAX_BODY="${2:?--max-body-bytes needs a value}"; shift 2 ;;
      --splitting) OPT_SPLITTING="${2:?--splitting needs line|none}"; shift 2 ;;
      --no-keepalive) OPT_KEEPALIVE=false; shift ;;
      --log-level) OPT_LOG_LEVEL="${2:?--log-level needs a value}"; shift 2 ;;
      --set) OPT_SETS+=("${2:?--set needs key=value}"); shift 2 ;;
      --timeout) OPT_TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
      --owner-pid) OPT_OWNER_PID="${2:?--owner-pid needs a pid}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
  done
  [[ -n "$OPT_PORT" ]] || die "--port (or AEGIS_HEC_PORT) is required"
  validate_port "$OPT_PORT" "--port"
  [[ "$OPT_MAX_BODY" =~ ^[0-9]+$ && "$OPT_MAX_BODY" -gt 0 ]] || die "--max-body-bytes must be a positive integer"
  [[ "$OPT_SPLITTING" == line || "$OPT_SPLITTING" == none ]] || die "--splitting must be line or none"
  [[ "$OPT_LOG_LEVEL" =~ ^(debug|info|warn|error)$ ]] || die "--log-level must be debug|info|warn|error"
  [[ "$OPT_TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds"
  if [[ -n "$OPT_OWNER_PID" ]]; then
    if [[ ! "$OPT_OWNER_PID" =~ ^[0-9]+$ ]] || ! pid_alive "$OPT_OWNER_PID"; then
      die "--owner-pid '$OPT_OWNER_PID' is not a running process"
    fi
  fi
  for t in "${OPT_TOKENS[@]}"; do
    [[ "$t" =~ ^[A-Za-z0-9._~+-]+$ ]] || die "token '$t' has characters other than [A-Za-z0-9._~+-]"
  done
  for t in "${OPT_SETS[@]}"; do
    [[ "$t" =~ ^[A-Za-z0-9_./:-]+=.*$ ]] || die "--set '$t' is not key=value"
  done
  if [[ -n "$OPT_TLS_CERT$OPT_TLS_KEY" ]]; then
    [[ -r "$OPT_TLS_CERT" && -r "$OPT_TLS_KEY" ]] || die "--tls-cert and --tls-key must both name readable files"
  fi
  if (( OPT_AUTH )) && [[ ${#OPT_TOKENS[@]} -eq 0 ]]; then
    OPT_TOKENS+=("$(cat /proc/sys/kernel/random/uuid)")
  fi
}

yaml_quote() { # single-quoted YAML scalar; refuse values that would need escaping
  [[ "$1" != *"'"* && "$1" != *$'\n'* ]] || die "value '$1' contains a quote or newline"
  printf "'%s'" "$1"
}

render_config() { # WORK_DIR OUTPUT_FILE -> config on stdout
  local work_dir="$1" output_file="$2" tokens="" t exts=() keep_re="^#@(" sep=""
  for t in "${OPT_TOKENS[@]}"; do tokens+="${tokens:+, }$(yaml_quote "$t")"; done
  (( OPT_ACK )) && { exts+=(ack); keep_re+="${sep}ack"; sep="|"; }
  (( OPT_AUTH )) && { exts+=(bearertokenauth/hec); keep_re+="${sep}auth"; sep="|"; }
  (( OPT_TLS )) && { keep_re+="${sep}tls"; sep="|"; }
  keep_re+=") "
  local ext_list="" e
  for e in "${exts[@]}"; do ext_list+="${ext_list:+, }$e"; done
  local cert="${OPT_TLS_CERT:-$work_dir/tls/cert.pem}" key="${OPT_TLS_KEY:-$work_dir/tls/key.pem}"
  local line out=""
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" =~ ^#@[a-z]+\  ]]; then
      [[ -n "$sep" && "$line" =~ $keep_re ]] || continue
      [[ "$line" =~ ^#@[a-z]+(.*)$ ]] && line="${BASH_REMATCH[1]}"
    fi
    line="${line//@@PORT@@/$OPT_PORT}"
    line="${line//@@KEEPALIVE@@/$OPT_KEEPALIVE}"
    line="${line//@@MAX_BODY_BYTES@@/$OPT_MAX_BODY}"
    line="${line//@@SPLITTING@@/$OPT_SPLITTING}"
    line="${line//@@TOKENS@@/[$tokens]}"
    line="${line//@@TLS_CERT@@/$(yaml_quote "$cert")}"
    line="${line//@@TLS_KEY@@/$(yaml_quote "$key")}"
    line="${line//@@OUTPUT_FILE@@/$(yaml_quote "$output_file")}"
    line="${line//@@EXTENSIONS@@/$ext_list}"
    line="${line//@@LOG_LEVEL@@/$OPT_LOG_LEVEL}"
    out+="$line"$'\n'
  done <"$CONFIG_TEMPLATE"
  if grep -v '^[[:space:]]*#' <<<"$out" | grep -q '@@[A-Z_]*@@'; then
    die "internal: unreplaced placeholder in $CONFIG_TEMPLATE"
  fi
  printf '%s' "$out"
}

cmd_render_config() {
  parse_opts "$@"
  [[ -n "$OPT_WORK_DIR" ]] || die "render-config needs --work-dir (paths in the config point into it)"
  render_config "$(realpath -m "$OPT_WORK_DIR")" "$(realpath -m "$OPT_WORK_DIR")/hec-received.jsonl"
}

make_self_signed() { # DIR
  require_cmd openssl openssl
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 || die "openssl could not create a self-signed certificate in $1"
  chmod 600 "$1/key.pem"
}

# ---- start ---------------------------------------------------------------------------------------
cmd_start() {
  parse_opts "$@"
  local t_start bin
  t_start=$(now_ms)
  require_cmd flock util-linux
  require_cmd curl curl
  with_lock "$OTEL_ROOT/.install.lock" do_install_locked
  bin="$(current_binary)"
  [[ -x "$bin" ]] || die "collector binary $bin missing after install"

  port_in_use "$OPT_PORT" && die "port 127.0.0.1:$OPT_PORT is already in use"
  local work_dir="$OPT_WORK_DIR"
  if [[ -z "$work_dir" ]]; then
    work_dir="$(mktemp -d "${TMPDIR:-/tmp}/aegis-hec.XXXXXX")"
  fi
  work_dir="$(realpath -m "$work_dir")"
  prepare_work_dir "$work_dir" otelcol-hec
  mkdir -p "$work_dir/run"

  local ca_file=""
  if (( OPT_TLS )) && [[ -z "$OPT_TLS_CERT" ]]; then
    make_self_signed "$work_dir/tls"
    ca_file="$work_dir/tls/cert.pem"
  fi
  local output_file="$work_dir/hec-received.jsonl" log_file="$work_dir/otelcol.log"
  : >"$output_file"
  render_config "$work_dir" "$output_file" >"$work_dir/config.yaml"

  local -a col_args=(--config="$work_dir/config.yaml")
  local s
  for s in "${OPT_SETS[@]}"; do col_args+=(--set="$s"); done

  (
    cd "$work_dir"
    # shellcheck disable=SC2016 # $$ and "$@" belong to the inner bash
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' aegis-hec-launch "$work_dir/run/service.pid" \
      "$bin" "${col_args[@]}"
  ) >"$log_file" 2>&1 </dev/null &
  local launcher=$! pgid=""
  for _ in $(seq 1 100); do
    [[ -s "$work_dir/run/service.pid" ]] && { pgid="$(cat "$work_dir/run/service.pid")"; break; }
    pid_alive "$launcher" || break
    sleep 0.05
  done
  if [[ -z "$pgid" ]]; then
    tail_logs 40 "$log_file"
    remove_work_dir "$work_dir"
    die "collector launcher exited before starting (see the log above)"
  fi

  local scheme=http
  local -a curl_tls=()
  if (( OPT_TLS )); then
    scheme=https
    if [[ -n "$ca_file" ]]; then curl_tls=(--cacert "$ca_file"); else curl_tls=(-k); fi
  fi
  local url="$scheme://127.0.0.1:$OPT_PORT"
  local -a curl_auth=()
  (( OPT_AUTH )) && curl_auth=(-H "Authorization: Splunk ${OPT_TOKENS[0]}")
  local deadline=$(( $(now_ms) + OPT_TIMEOUT * 1000 )) body=""
  while :; do
    if ! group_alive "$pgid"; then
      tail_logs 40 "$log_file"
      remove_work_dir "$work_dir"
      die "collector exited during start-up (port $OPT_PORT; log above)"
    fi
    body="$(curl -s --max-time 2 "${curl_tls[@]}" "${curl_auth[@]}" "$url/services/collector/health" 2>/dev/null || true)"
    [[ "$body" =~ \"code\":\ ?17 ]] && break
    if (( $(now_ms) > deadline )); then
      tail_logs 40 "$log_file"
      stop_group "$pgid" 5
      remove_work_dir "$work_dir"
      die "HEC receiver on $url not healthy within ${OPT_TIMEOUT}s; last health answer: ${body:-<none>}"
    fi
    sleep 0.05
  done
  start_watchdog "$OPT_OWNER_PID" "$work_dir" "$SCRIPT_DIR/otelcol-hec.sh"
  local startup_ms=$(( $(now_ms) - t_start )) tokens_csv
  tokens_csv="$(IFS=,; printf '%s' "${OPT_TOKENS[*]}")"
  log "HEC receiver healthy on $url after ${startup_ms} ms (work dir $work_dir)"
  printf 'pid=%s\nurl=%s\nport=%s\ntokens=%s\nauth=%s\nack=%s\ntls=%s\nca_file=%s\noutput_file=%s\nlog_file=%s\nconfig_file=%s\nwork_dir=%s\nstartup_ms=%s\n' \
    "$pgid" "$url" "$OPT_PORT" "$tokens_csv" "$( ((OPT_AUTH)) && echo on || echo off)" \
    "$( ((OPT_ACK)) && echo on || echo off)" "$( ((OPT_TLS)) && echo on || echo off)" "$ca_file" \
    "$output_file" "$log_file" "$work_dir/config.yaml" "$work_dir" "$startup_ms"
}

# ---- stop ----------------------------------------------------------------------------------------
cmd_stop() {
  stop_service AEGIS_HEC_WORK_DIR "${AEGIS_HEC_STOP_GRACE:-10}" collector "$@"
}

cmd_info() {
  local gov="unknown" bin="unknown"
  if command -v go >/dev/null 2>&1; then gov="$(go env GOVERSION)"; bin="$(binary_path_for "$gov")"; fi
  printf 'builder=%s\nmanifest=%s\nmanifest_sha256=%s\ngo=%s\nbinary=%s\nbuilt=%s\ncache_dir=%s\ngomodcache=%s\ngocache=%s\n' \
    "$BUILDER_VERSION" "$MANIFEST" "$(sha256_of "$MANIFEST")" "$gov" "$bin" \
    "$([[ -x "$bin" ]] && echo yes || echo no)" "$AEGIS_CACHE_DIR" "$GO_ENV_MODCACHE" "$GO_ENV_BUILDCACHE"
}

main() {
  [[ $# -ge 1 ]] || usage
  local sub="$1"; shift
  case "$sub" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    render-config) cmd_render_config "$@" ;;
    info) cmd_info "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown subcommand '$sub' (install|start|stop|render-config|info)" ;;
  esac
}

main "$@"
