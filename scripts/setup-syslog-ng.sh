#!/usr/bin/env bash
# syslog-ng for the rules/syslog-ng tests, without installing it: the Debian package syslog-ng-core conflicts with
# rsyslog, so it is downloaded with apt-get (plus the libraries it needs that are not installed) and unpacked with
# dpkg -x into ${AEGIS_CACHE_DIR:-$HOME/.cache/aegisbpf}/syslog-ng-<version>/root. Idempotent: skipped when that
# unpacked version runs. Never fails the set-up: when it cannot be done it exits 3 with the reason as its last line
# (scripts/lib/steps.sh shows it as "skipped: …"), and the syslog-ng tests skip and say why.
#   setup-syslog-ng.sh         unpack it (when not done yet)
#   setup-syslog-ng.sh check   exit 0 when the unpacked syslog-ng runs, 1 otherwise; prints nothing
set -uo pipefail
cache="${AEGIS_CACHE_DIR:-$HOME/.cache/aegisbpf}"
version="$(apt-cache policy syslog-ng-core 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  [ "${1:-}" = check ] && exit 1
  echo "syslog-ng-core is not available from apt; syslog-ng tests will be skipped" >&2
  exit 3
fi
dest="$cache/syslog-ng-${version//[^A-Za-z0-9.+-]/_}"
root="$dest/root"
runs() {
  LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:$root/usr/lib/syslog-ng" \
    "$root/usr/sbin/syslog-ng" --version >/dev/null 2>&1
}
if [ -x "$root/usr/sbin/syslog-ng" ] && runs; then exit 0; fi
[ "${1:-}" = check ] && exit 1
echo "unpacking syslog-ng-core $version into $dest (not installed: it conflicts with rsyslog)" >&2
rm -rf "$dest"
mkdir -p "$dest/debs"
# Its library dependencies that this machine does not have (alternatives and non-libraries are not needed to run it).
missing=()
while read -r dep; do
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q "install ok installed" || missing+=("$dep")
done < <(apt-cache depends --no-recommends --no-suggests syslog-ng-core 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}')
# apt-get download writes into the current directory; _apt cannot write there, which apt reports and tolerates.
if ! (cd "$dest/debs" && apt-get download -q syslog-ng-core "${missing[@]}" >/dev/null 2>&1); then
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$dest/debs" && apt-get download -q syslog-ng-core "${missing[@]}" >/dev/null 2>&1) || {
    echo "apt-get download syslog-ng-core failed; syslog-ng tests will be skipped" >&2
    exit 3
  }
fi
for deb in "$dest"/debs/*.deb; do dpkg -x "$deb" "$root"; done
if runs; then
  echo "syslog-ng $version ready in $root" >&2
else
  echo "the unpacked syslog-ng does not run here; syslog-ng tests will be skipped" >&2
  exit 3
fi
exit 0
