#!/usr/bin/env bash
# PyPI tools for the analytics tests: scikit-learn's IsolationForest, the reference the isolation-forest detector's
# scores are compared with (test/pipeline/processors/anomaly-iforest.test.ts).
#
#   analytics-tools.sh install [--optional]   create (once) the cached virtual environment with the pinned packages;
#                                            --optional: a failure (PyPI unreachable) is reported and exits 0, and
#                                            the reference test then skips with the reason
#   analytics-tools.sh info      key=value lines: python=<venv python>, installed=yes|no, packages=<pins>
#
# The environment lives in $AEGIS_CACHE_DIR/analytics-tools (py_venv in lib.sh; rebuilt when the pins change).
set -euo pipefail

AEGIS_SCRIPT_NAME="analytics-tools.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

VENV="$AEGIS_CACHE_DIR/analytics-tools"
PINS=(scikit-learn==1.5.2 numpy==2.1.3)

case "${1:-}" in
  install)
    if [[ "${2:-}" == --optional ]]; then
      with_lock "$AEGIS_CACHE_DIR/locks/analytics-tools.lock" py_venv "$VENV" "${PINS[@]}" ||
        echo "analytics-tools.sh: scikit-learn could not be installed (PyPI unreachable?); the isolation-forest reference test will skip" >&2
    else
      with_lock "$AEGIS_CACHE_DIR/locks/analytics-tools.lock" py_venv "$VENV" "${PINS[@]}"
    fi
    ;;
  info)
    installed=no
    [[ -f "$VENV/.aegis-requirements" && "$(cat "$VENV/.aegis-requirements")" == "$(printf '%s\n' "${PINS[@]}" | sort)" ]] && installed=yes
    printf 'python=%s\ninstalled=%s\npackages=%s\n' "$VENV/bin/python" "$installed" "${PINS[*]}"
    ;;
  *)
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
    ;;
esac
