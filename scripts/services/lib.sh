# shellcheck shell=bash
# Shared helpers for scripts/services/*.sh. Sourced, never executed.
# Everything here is plain bash + coreutils/util-linux; no network access.

AEGIS_CACHE_DIR="${AEGIS_CACHE_DIR:-$HOME/.cache/aegisbpf}"
# Marker written into every work dir a script creates or adopts; `stop` only deletes
# directories that carry it, so a wrong --work-dir can never wipe unrelated data.
AEGIS_WORKDIR_MARKER=".aegis-service-workdir"

die() {
  printf '%s: error: %s\n' "${AEGIS_SCRIPT_NAME:-service}" "$*" >&2
  exit 1
}

log() {
  printf '%s: %s\n' "${AEGIS_SCRIPT_NAME:-service}" "$*" >&2
}

now_ms() {
  date +%s%3N
}

# is_root: true when running with EUID 0.
is_root() {
  [[ "$(id -u)" -eq 0 ]]
}

# apt_install PKG...: install Debian packages if missing (root only). Idempotent.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  is_root || die "missing Debian packages: ${missing[*]} (run as root or install them: apt-get install -y ${missing[*]})"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and apt-get is not available"
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } \
    || die "apt-get install ${missing[*]} failed"
}

# require_cmd CMD PKG: make sure CMD exists, installing Debian package PKG if needed.
require_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "command '$1' not found even after installing package '$2'"
}

# with_lock FILE CMD...: run CMD under an exclusive flock on FILE (serialises concurrent installs).
with_lock() {
  local lockfile="$1"; shift
  mkdir -p "$(dirname "$lockfile")"
  (
    flock -w 1800 9 || die "timed out waiting for lock $lockfile"
    "$@"
  ) 9>"$lockfile"
}

# validate_port VALUE NAME
validate_port() {
  if [[ ! "$1" =~ ^[0-9]+$ ]] || (( $1 < 1 || $1 > 65535 )); then
    die "$2 must be a TCP port number (1-65535), got '$1'"
  fi
}

# port_in_use PORT: true if something accepts connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# prepare_work_dir DIR SERVICE: create DIR (or adopt it if empty) and mark it as ours.
prepare_work_dir() {
  local dir="$1" service="$2"
  if [[ -e "$dir" ]]; then
    [[ -d "$dir" ]] || die "work dir $dir exists and is not a directory"
    if [[ -n "$(ls -A "$dir")" ]]; then
      die "work dir $dir is not empty (refusing to reuse it; stop the previous instance or pick a new dir)"
    fi
  else
    mkdir -p "$dir" || die "cannot create work dir $dir"
  fi
  printf 'service=%s\ncreated_by_pid=%s\n' "$service" "$$" >"$dir/$AEGIS_WORKDIR_MARKER"
}

# pid_alive PID
pid_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null
}

# group_alive PGID: true while any process of the process group exists and is not a zombie (where PID 1 does not
# reap orphans, a killed service's processes linger as zombies, which `kill -0` still finds).
group_alive() {
  [[ -n "$1" ]] && kill -0 -- "-$1" 2>/dev/null || return 1
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# stop_group PGID GRACE_SECONDS: SIGTERM the process group, wait, then SIGKILL and wait (up to 10 s: a JVM with a
# large heap on a loaded machine takes more than a moment to go).
stop_group() {
  local pgid="$1" grace="$2" waited=0
  group_alive "$pgid" || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  while group_alive "$pgid" && (( waited < grace * 10 )); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if group_alive "$pgid"; then
    log "process group $pgid still alive after ${grace}s, sending SIGKILL"
    kill -KILL -- "-$pgid" 2>/dev/null || true
    waited=0
    while group_alive "$pgid" && (( waited < 100 )); do
      sleep 0.1
      waited=$((waited + 1))
    done
  fi
}

# start_watchdog OWNER_PID WORK_DIR SCRIPT: run `SCRIPT stop --work-dir WORK_DIR` as soon as OWNER_PID is gone,
# so a test runner that is killed (SIGKILL, timeout) cannot leak a running service. The watchdog polls every
# 2 s, lives in its own session with no inherited stdio, and ends by itself once WORK_DIR's marker disappears
# (i.e. after a normal stop). Its pid is kept in WORK_DIR/run/watchdog.pid.
start_watchdog() {
  local owner="$1" dir="$2" script="$3"
  [[ -n "$owner" ]] || return 0
  [[ "$owner" =~ ^[0-9]+$ ]] || die "--owner-pid must be a process id, got '$owner'"
  pid_alive "$owner" || die "--owner-pid $owner is not a running process"
  # shellcheck disable=SC2016 # the positional parameters belong to the inner bash
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -f "$2/$4" ]]; do sleep 2; done
    if [[ -f "$2/$4" ]]; then exec "$3" stop --work-dir "$2"; fi' \
    aegis-watchdog "$owner" "$dir" "$script" "$AEGIS_WORKDIR_MARKER" </dev/null >/dev/null 2>&1 &
  printf '%s\n' "$!" >"$dir/run/watchdog.pid"
}

# stop_watchdog WORK_DIR: end the watchdog of WORK_DIR (unless we are that watchdog, exec'd into `stop`).
stop_watchdog() {
  local wpid=""
  [[ -s "$1/run/watchdog.pid" ]] && wpid="$(cat "$1/run/watchdog.pid")"
  if [[ "$wpid" =~ ^[0-9]+$ && "$wpid" != "$$" ]]; then
    kill -TERM -- "-$wpid" 2>/dev/null || true   # its own session/process group (bash + its sleep)
  fi
}

# remove_work_dir DIR: delete DIR only if it carries our marker (unless AEGIS_KEEP_WORK_DIR=1).
remove_work_dir() {
  local dir="$1"
  [[ -d "$dir" ]] || return 0
  if [[ "${AEGIS_KEEP_WORK_DIR:-0}" == "1" ]]; then
    log "AEGIS_KEEP_WORK_DIR=1: keeping $dir"
    return 0
  fi
  [[ -f "$dir/$AEGIS_WORKDIR_MARKER" ]] || die "refusing to delete $dir: it has no $AEGIS_WORKDIR_MARKER marker (not created by this script)"
  rm -rf -- "$dir" || die "could not delete work dir $dir"
}

# stop_service ENV_VAR GRACE_SECONDS LABEL [stop args...]: the `stop` command of a service script. Stops the process
# group recorded in --work-dir (default: the value of ENV_VAR), ends its watchdog and removes the work dir.
stop_service() {
  local env_var="$1" grace="$2" label="$3"; shift 3
  local work_dir="${!env_var:-}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --work-dir) work_dir="${2:?--work-dir needs a value}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "unknown stop argument '$1' (see --help)" ;;
    esac
  done
  [[ -n "$work_dir" ]] || die "stop needs --work-dir (or $env_var)"
  if [[ ! -d "$work_dir" ]]; then
    log "work dir $work_dir does not exist: nothing to stop"
    return 0
  fi
  [[ -f "$work_dir/$AEGIS_WORKDIR_MARKER" ]] || die "$work_dir was not created by a services script (no $AEGIS_WORKDIR_MARKER); refusing to touch it"
  local pgid=""
  [[ -s "$work_dir/run/service.pid" ]] && pgid="$(cat "$work_dir/run/service.pid")"
  if [[ "$pgid" =~ ^[0-9]+$ ]]; then
    stop_group "$pgid" "$grace"
    group_alive "$pgid" && die "could not stop $label process group $pgid"
    log "stopped $label (process group $pgid)"
  else
    log "no pid file in $work_dir/run: nothing running to stop"
  fi
  stop_watchdog "$work_dir"
  remove_work_dir "$work_dir"
  printf 'stopped=%s\n' "${pgid:-none}"
}

# tail_logs LINES FILE...: print the last LINES lines of each existing FILE to stderr.
tail_logs() {
  local n="$1" f; shift
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
  done
}

# sha256_of FILE
sha256_of() {
  sha256sum "$1" | cut -d' ' -f1
}

# py_venv DIR PKG==VER...: a Python virtual environment in DIR holding exactly these PyPI packages (pinned versions),
# for test tools that come from PyPI (wazuhregex, sigma-cli, splunk-appinspect, scikit-learn …). Idempotent: a stamp
# records the requested set; a different set rebuilds the environment. Callers serialise with with_lock.
py_venv() {
  local dir="$1"; shift
  local want stamp="$dir/.aegis-requirements"
  want="$(printf '%s\n' "$@" | sort)"
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && return 0
  require_cmd python3 python3
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  rm -rf "$dir"
  python3 -m venv "$dir" || die "python3 -m venv $dir failed"
  "$dir/bin/pip" install --disable-pip-version-check --no-input --quiet "$@" >&2 || die "pip install $* into $dir failed"
  printf '%s\n' "$want" >"$stamp"
}
