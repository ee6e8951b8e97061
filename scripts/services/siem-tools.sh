#!/usr/bin/env bash
# PyPI tools that check aegisbpf's SIEM content (rules/wazuh, rules/sigma, rules/splunk), for the rules tests.
#
#   siem-tools.sh install   create or reuse the virtual environments (pinned versions), under a lock
#   siem-tools.sh info      key=value lines: one <tool>= path per binary (empty when not installed)
#
# One virtual environment per tool family, because their dependency sets differ (sigma-cli pins pySigma < 2;
# splunk-appinspect pulls its own lxml/jinja2 set):
#   wazuh/       wazuhregex       OS_Regex reimplemented in Python (validation_errors, os_regex, get_substrings)
#   sigma/       sigma-cli + pySigma backends for Elasticsearch (lucene) and Splunk
#   appinspect/  splunk-appinspect, Splunk's own app validator
# Cached under $AEGIS_CACHE_DIR/pytools/<name>; an environment is rebuilt only when its pinned set changes.
# A tool PyPI cannot provide is reported and left out: the tests that need it skip with that reason.
set -euo pipefail

AEGIS_SCRIPT_NAME="siem-tools.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

ROOT="$AEGIS_CACHE_DIR/pytools"
WAZUH_PKGS=(wazuhregex==0.3.0)
# sigma-cli 3.1.0 and both backends require pySigma < 2; 1.5.1 is the newest such release.
SIGMA_PKGS=(sigma-cli==3.1.0 pysigma==1.5.1 pysigma-backend-elasticsearch==2.1.1 pysigma-backend-splunk==2.1.0)
APPINSPECT_PKGS=(splunk-appinspect==4.3.1)

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

install_one() { # NAME PKG...
  local name="$1"; shift
  if ! with_lock "$ROOT/.lock-$name" py_venv "$ROOT/$name" "$@"; then
    log "could not install $* from PyPI; the tests that need them will skip"
    return 1
  fi
}

cmd_install() {
  local failed=0
  install_one wazuh "${WAZUH_PKGS[@]}" || failed=1
  install_one sigma "${SIGMA_PKGS[@]}" || failed=1
  install_one appinspect "${APPINSPECT_PKGS[@]}" || failed=1
  if (( failed )); then
    # 3 = "skipped" for aegis_step: the suite goes on and the tests that need a missing tool skip with the reason.
    echo "some SIEM checkers could not be installed from PyPI; their tests skip" >&2
    exit 3
  fi
}

bin_of() { # ENV BINARY: the path when the environment is complete, else empty
  local stamp="$ROOT/$1/.aegis-requirements" bin="$ROOT/$1/bin/$2"
  if [[ -f "$stamp" && -x "$bin" ]]; then printf '%s' "$bin"; fi
}

cmd_info() {
  printf 'root=%s\n' "$ROOT"
  printf 'python_wazuh=%s\n' "$(bin_of wazuh python)"
  printf 'sigma=%s\n' "$(bin_of sigma sigma)"
  printf 'splunk_appinspect=%s\n' "$(bin_of appinspect splunk-appinspect)"
}

main() {
  local sub="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$sub" in
    install) cmd_install "$@" ;;
    info) cmd_info "$@" ;;
    -h|--help|help|"") usage ;;
    *) die "unknown subcommand '$sub' (install|info)" ;;
  esac
}

main "$@"
