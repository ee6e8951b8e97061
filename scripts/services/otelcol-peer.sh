#!/usr/bin/env bash
# Build (cached) the OpenTelemetry Collectors the peer benchmark (bench/peers.ts) compares aegisbpf with.
#
#   otelcol-peer.sh install   build what is missing (nice -n 19), then print what `info` prints
#   otelcol-peer.sh info      print, without building:
#                               binary.<exporter>=PATH     a built collector carrying that exporter
#                               problem.<exporter>=TEXT    why there is none (the build's refusal, verbatim)
#                               versions=TEXT              the release of each build
#
# Two builds, because the Go module proxy here serves no single release with every component (see the
# manifests' headers for what it refuses):
#   otelcol-peer.builder.yaml      contrib v0.148.0: filelog receiver; syslog, elasticsearch, kafka exporters
#   otelcol-peer-hec.builder.yaml  contrib v0.157.0: filelog receiver; splunk_hec exporter (builder run with
#                                  --skip-get-modules on the prepared otelcol-peer-hec.go.mod, then
#                                  `go mod tidy -e` and `go build`)
# Each is built with the OpenTelemetry Collector Builder of its release, modules from the Go module proxy only,
# and cached under $AEGIS_CACHE_DIR/otelcol-peer/builds/<name>-<hash of manifest, go.mod, builder, go>; a failed
# build leaves its log beside (…/<name>-failed.log) and is retried on the next install.
set -euo pipefail

AEGIS_SCRIPT_NAME="otelcol-peer.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

OTEL_ROOT="$AEGIS_CACHE_DIR/otelcol-peer"
GO_ENV_MODCACHE="$AEGIS_CACHE_DIR/go/mod"
GO_ENV_BUILDCACHE="$AEGIS_CACHE_DIR/go/build"

# name | builder version | manifest | prepared go.mod (or -) | exporters it carries
BUILDS=(
  "otelcol-aegis-peer|v0.148.0|otelcol-peer.builder.yaml|-|syslog elasticsearch kafka"
  "otelcol-aegis-peer-hec|v0.157.0|otelcol-peer-hec.builder.yaml|otelcol-peer-hec.go.mod|splunk_hec"
)

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

go_env() { # run a go-using command with the cache-local module/build caches
  env GOMODCACHE="$GO_ENV_MODCACHE" GOCACHE="$GO_ENV_BUILDCACHE" GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" "$@"
}

build_dir() { # NAME BUILDER MANIFEST GOMOD -> the cache directory of that build
  local gov key
  gov="$(go env GOVERSION 2>/dev/null || echo nogo)"
  key="$({ cat "$SCRIPT_DIR/$3"; [[ "$4" == - ]] || cat "$SCRIPT_DIR/$4"; printf '\nbuilder=%s\ngo=%s\n' "$2" "$gov"; } | sha256sum | cut -c1-16)"
  printf '%s/builds/%s-%s\n' "$OTEL_ROOT" "$1" "$key"
}

install_builder() { # VERSION -> path of the builder binary
  local bin="$OTEL_ROOT/tools/builder-$1/builder"
  if [[ ! -x "$bin" ]]; then
    log "installing go.opentelemetry.io/collector/cmd/builder@$1"
    mkdir -p "$(dirname "$bin")"
    go_env GOBIN="$(dirname "$bin")" nice -n 19 go install "go.opentelemetry.io/collector/cmd/builder@$1" >&2 \
      || die "go install go.opentelemetry.io/collector/cmd/builder@$1 failed (GOPROXY=$(go env GOPROXY))"
  fi
  printf '%s\n' "$bin"
}

build_one() { # NAME BUILDER MANIFEST GOMOD
  local name="$1" version="$2" manifest="$SCRIPT_DIR/$3" gomod="$4" dir builder tmp t0
  dir="$(build_dir "$@")"
  [[ -x "$dir/$name" ]] && return 0
  builder="$(install_builder "$version")"
  mkdir -p "$OTEL_ROOT/builds"
  tmp="$(mktemp -d "$OTEL_ROOT/builds/.tmp.XXXXXX")"
  awk -v out="$tmp/src" '{ print } /^dist:[[:space:]]*$/ { print "  output_path: " out }' "$manifest" >"$tmp/manifest.yaml"
  t0=$(now_ms)
  log "building $name from $3 (builder $version; log $tmp/build.log; minutes on a cold cache)"
  local ok=1
  if [[ "$gomod" == - ]]; then
    go_env nice -n 19 "$builder" --config="$tmp/manifest.yaml" >"$tmp/build.log" 2>&1 || ok=0
  else
    {
      go_env "$builder" --config="$tmp/manifest.yaml" --skip-get-modules --skip-compilation \
        && cp "$SCRIPT_DIR/$gomod" "$tmp/src/go.mod" \
        && (cd "$tmp/src" && go_env nice -n 19 go mod tidy -e && go_env nice -n 19 go build -trimpath -ldflags=-s -o "$name" .)
    } >"$tmp/build.log" 2>&1 || ok=0
  fi
  if (( ! ok )) || [[ ! -x "$tmp/src/$name" ]]; then
    cp "$tmp/build.log" "$OTEL_ROOT/builds/$name-failed.log"
    rm -rf "$tmp"
    log "$name: build failed (log: $OTEL_ROOT/builds/$name-failed.log)"
    return 1
  fi
  rm -f "$OTEL_ROOT/builds/$name-failed.log"
  mkdir -p "$tmp/out"
  mv "$tmp/src/$name" "$tmp/out/$name"
  cp "$tmp/src/go.mod" "$tmp/out/go.mod" # the resolved module graph, for the record
  cp "$manifest" "$tmp/out/manifest.yaml"
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
  rm -rf "$tmp"
  log "$name built in $(( $(now_ms) - t0 )) ms: $dir/$name"
}

cmd_info() {
  local spec name version manifest gomod exporters dir e versions="" reason
  for spec in "${BUILDS[@]}"; do
    IFS='|' read -r name version manifest gomod exporters <<<"$spec"
    versions+="${versions:+, }$name contrib $version"
    dir="$(build_dir "$name" "$version" "$manifest" "$gomod")"
    for e in $exporters; do
      if [[ -x "$dir/$name" ]]; then
        printf 'binary.%s=%s\n' "$e" "$dir/$name"
      elif [[ -f "$OTEL_ROOT/builds/$name-failed.log" ]]; then
        # The refusal as the go command reported it: the first module the proxy would not serve.
        reason="$(grep -m1 -E '403|404|410|not available|no matching versions|cannot find' "$OTEL_ROOT/builds/$name-failed.log" | tr -s ' \t' ' ' | cut -c1-300 || true)"
        printf 'problem.%s=%s build (contrib %s) failed: %s\n' "$e" "$name" "$version" "${reason:-see $OTEL_ROOT/builds/$name-failed.log}"
      elif ! command -v go >/dev/null 2>&1; then
        printf 'problem.%s=Go is not on PATH (needed to build %s)\n' "$e" "$name"
      else
        printf 'problem.%s=%s is not built yet (scripts/services/otelcol-peer.sh install)\n' "$e" "$name"
      fi
    done
  done
  printf 'versions=%s\n' "$versions"
}

cmd_install() {
  command -v go >/dev/null 2>&1 || { log "Go is not on PATH: cannot build the collectors"; cmd_info; return 0; }
  require_cmd flock util-linux
  local spec name version manifest gomod exporters
  for spec in "${BUILDS[@]}"; do
    IFS='|' read -r name version manifest gomod exporters <<<"$spec"
    with_lock "$OTEL_ROOT/.install.lock" build_one "$name" "$version" "$manifest" "$gomod" || true
  done
  cmd_info
}

main() {
  [[ $# -eq 1 ]] || usage
  case "$1" in
    install) cmd_install ;;
    info) cmd_info ;;
    -h|--help|help) usage ;;
    *) die "unknown subcommand '$1' (install|info)" ;;
  esac
}

main "$@"
