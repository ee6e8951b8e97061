#!/usr/bin/env bash
# Package the Splunk apps in rules/ as the .tgz files users install (Apps > Install app from file, or
# $SPLUNK_HOME/bin/splunk install app FILE) and that Splunk AppInspect checks:
#   TA-aegisbpf-<version>.tgz              rules/splunk/            knowledge objects; search heads and indexers; Cloud-ready
#   TA-aegisbpf-hec-inputs-<version>.tgz   rules/splunk-hec-inputs/ the HEC token input; Splunk Enterprise on-premises only
#
#   bash scripts/package-splunk.sh [OUT_DIR]     (default: dist/splunk); prints the paths written
#
# The archives are reproducible: sorted entries, owner 0, fixed mtime, no gzip timestamp, modes 644/755. Test data
# (samples/) stays out. The version is the [id] version of each app.conf, which must equal package.json's.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist/splunk}"
mkdir -p "$out"
pkg_version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json | head -n 1)"

package() { # SOURCE_DIR APP_NAME
  local src="$1" name="$2" version stage
  version="$(awk '/^\[id\]/ { s = 1; next } /^\[/ { s = 0 } s && /^version *=/ { sub(/^version *= */, ""); print; exit }' "$src/default/app.conf")"
  [[ -n "$version" ]] || { echo "package-splunk.sh: $src/default/app.conf has no [id] version" >&2; exit 1; }
  [[ "$version" == "$pkg_version" ]] || { echo "package-splunk.sh: $src is version $version, package.json $pkg_version" >&2; exit 1; }
  stage="$(mktemp -d)"
  mkdir -p "$stage/$name"
  (cd "$src" && find . -path ./samples -prune -o -type f -print | sort | while read -r f; do
    mkdir -p "$stage/$name/$(dirname "$f")"
    cp "$f" "$stage/$name/$f"
  done)
  local file="$out/$name-$version.tgz"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' --mode='u=rwX,go=rX' \
    -C "$stage" -cf - "$name" | gzip -n -9 >"$file"
  rm -rf "$stage"
  echo "$file"
}

package rules/splunk TA-aegisbpf
package rules/splunk-hec-inputs TA-aegisbpf-hec-inputs
