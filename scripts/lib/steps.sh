# shellcheck shell=bash
# One line per set-up step on the terminal; the package managers' output goes to a log file. Sourced, never executed.
#
#   aegis_log_open NAME   the log is .cache/logs/NAME.log (truncated), or the one a parent script opened
#                         (AEGIS_STEP_LOG, inherited); its path is printed once, by whoever opened it
#   aegis_step "what … why" CMD...
#       runs CMD with stdout and stderr appended to the log, then prints `PREFIX: what … why … 12.3 s`.
#       CMD exiting 3 means "not possible here, and that is fine": the line ends with `skipped: <CMD's last line>`.
#       Any other failure prints the step's whole log (its last 200 lines when longer) and exits with CMD's status.
#   aegis_note "text"     a line for a step that has nothing to do ("already …")
#   AEGIS_STEP_DONE="already …" aegis_step …   a step expected to find its work done (a cheap, idempotent check
#                         that still runs): on success it prints that text instead of the timing
# PREFIX is AEGIS_STEP_PREFIX (default: setup).

aegis_log_open() {
  if [ -n "${AEGIS_STEP_LOG:-}" ] && [ -f "$AEGIS_STEP_LOG" ]; then return 0; fi
  mkdir -p .cache/logs
  AEGIS_STEP_LOG="$PWD/.cache/logs/$1.log"
  : >"$AEGIS_STEP_LOG"
  export AEGIS_STEP_LOG
  echo "${AEGIS_STEP_PREFIX:-setup}: package managers' and builds' output goes to $AEGIS_STEP_LOG" >&2
}

aegis_note() {
  echo "${AEGIS_STEP_PREFIX:-setup}: $1" >&2
}

aegis_step() {
  local what="$1" t0 t1 start status=0 secs lines
  shift
  start=$(($(wc -l <"$AEGIS_STEP_LOG") + 1))
  printf '\n===== %s: %s (%s)\n$ %s\n' "${AEGIS_STEP_PREFIX:-setup}" "$what" "$(date -Is)" "$*" >>"$AEGIS_STEP_LOG"
  t0=$(date +%s%N)
  "$@" >>"$AEGIS_STEP_LOG" 2>&1 </dev/null || status=$?
  t1=$(date +%s%N)
  secs="$(awk -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", ns / 1e9 }')"
  if [ "$status" -eq 0 ] && [ -n "${AEGIS_STEP_DONE:-}" ]; then
    echo "${AEGIS_STEP_PREFIX:-setup}: $AEGIS_STEP_DONE" >&2
    return 0
  fi
  if [ "$status" -eq 0 ]; then
    echo "${AEGIS_STEP_PREFIX:-setup}: $what … $secs s" >&2
    return 0
  fi
  if [ "$status" -eq 3 ]; then
    echo "${AEGIS_STEP_PREFIX:-setup}: $what … skipped: $(tail -n 1 "$AEGIS_STEP_LOG") ($secs s)" >&2
    return 0
  fi
  lines=$(($(wc -l <"$AEGIS_STEP_LOG") - start + 1))
  echo "${AEGIS_STEP_PREFIX:-setup}: $what … FAILED (exit $status) after $secs s; its output:" >&2
  if [ "$lines" -gt 200 ]; then
    echo "----- last 200 of its $lines lines (all of it: $AEGIS_STEP_LOG) -----" >&2
    tail -n 200 "$AEGIS_STEP_LOG" >&2
  else
    tail -n +"$start" "$AEGIS_STEP_LOG" >&2
  fi
  echo "----- end of the failed step's output (full log: $AEGIS_STEP_LOG) -----" >&2
  exit "$status"
}
