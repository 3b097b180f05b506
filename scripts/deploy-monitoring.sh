#!/usr/bin/env bash
# Validates failcat's Prometheus config and alert rules, installs them into a Prometheus
# configuration directory (keeping a backup of what was there) and reloads Prometheus.
set -euo pipefail

readonly SCRIPT_NAME=${0##*/}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR

usage() {
  cat <<EOF
Usage: $SCRIPT_NAME [options]

Validates metrics/monitoring/{prometheus.yml,alerts.yml,alerts_test.yml} with promtool,
copies prometheus.yml and alerts.yml into the Prometheus configuration directory (existing
files are kept as <name>.bak.<timestamp>) and asks Prometheus to reload.

Options (each also settable by the environment variable in brackets):
  --config-dir DIR      Prometheus configuration directory [PROMETHEUS_CONFIG_DIR]
                        (default /etc/prometheus)
  --prometheus-url URL  reload through POST URL/-/reload; Prometheus must run with
                        --web.enable-lifecycle [PROMETHEUS_URL] (default http://127.0.0.1:9090)
  --pid PID             reload by sending SIGHUP to PID instead of the HTTP call [PROMETHEUS_PID]
  --no-reload           install only; Prometheus picks the files up at its next reload
  --source-dir DIR      where the monitoring files are [FAILCAT_MONITORING_DIR]
                        (default: metrics/monitoring of this checkout)
  --promtool PATH       promtool binary [PROMTOOL] (default: promtool from PATH)
  --dry-run             validate and print what would be done; change nothing
  -h, --help            show this help

Exit status: 0 on success, 1 on a failed check, install or reload, 2 on bad usage.
EOF
}

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() {
  printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2
  exit 1
}
usage_error() {
  printf '%s: %s (see --help)\n' "$SCRIPT_NAME" "$*" >&2
  exit 2
}

config_dir=${PROMETHEUS_CONFIG_DIR:-/etc/prometheus}
prometheus_url=${PROMETHEUS_URL:-http://127.0.0.1:9090}
prometheus_pid=${PROMETHEUS_PID:-}
source_dir=${FAILCAT_MONITORING_DIR:-$SCRIPT_DIR/../metrics/monitoring}
promtool=${PROMTOOL:-promtool}
reload=1
dry_run=0

need_value() {
  [[ $# -ge 2 && -n $2 ]] || usage_error "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --config-dir) need_value "$@"; config_dir=$2; shift 2 ;;
    --prometheus-url) need_value "$@"; prometheus_url=$2; shift 2 ;;
    --pid) need_value "$@"; prometheus_pid=$2; shift 2 ;;
    --no-reload) reload=0; shift ;;
    --source-dir) need_value "$@"; source_dir=$2; shift 2 ;;
    --promtool) need_value "$@"; promtool=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

if [[ -n $prometheus_pid && ! $prometheus_pid =~ ^[1-9][0-9]*$ ]]; then
  usage_error "--pid must be a process id, got '$prometheus_pid'"
fi
command -v "$promtool" >/dev/null 2>&1 ||
  die "promtool not found ('$promtool'); install Debian's prometheus package or pass --promtool"
[[ -d $source_dir ]] || die "monitoring source directory not found: $source_dir"
source_dir=$(cd "$source_dir" && pwd)

readonly installed_files=(prometheus.yml alerts.yml)
for file in "${installed_files[@]}" alerts_test.yml; do
  [[ -f $source_dir/$file ]] || die "missing $source_dir/$file"
done

# 1. Validate. promtool resolves rule_files relative to the file it checks.
log "checking $source_dir/prometheus.yml"
"$promtool" check config "$source_dir/prometheus.yml" || die "promtool check config failed"
log "checking $source_dir/alerts.yml"
"$promtool" check rules "$source_dir/alerts.yml" || die "promtool check rules failed"
log "running alert unit tests $source_dir/alerts_test.yml"
(cd "$source_dir" && "$promtool" test rules alerts_test.yml) || die "promtool test rules failed"

# Puts back the files this run replaced (and removes those it added).
restore_backups() {
  local file
  for file in "${installed_files[@]}"; do
    if [[ -e $config_dir/$file.bak.$stamp ]]; then
      cp -p "$config_dir/$file.bak.$stamp" "$config_dir/$file"
    else
      rm -f "$config_dir/$file"
    fi
  done
}

# 2. Install.
stamp="$(date -u +%Y%m%dT%H%M%SZ).$$"
if [[ $dry_run -eq 1 ]]; then
  for file in "${installed_files[@]}"; do
    if [[ -e $config_dir/$file ]]; then
      log "dry run: would back up $config_dir/$file to $config_dir/$file.bak.$stamp"
    fi
    log "dry run: would install $source_dir/$file as $config_dir/$file"
  done
else
  [[ -d $config_dir ]] || die "Prometheus configuration directory not found: $config_dir"
  [[ -w $config_dir ]] || die "cannot write to $config_dir (run as the owner of the directory)"
  backups=()
  for file in "${installed_files[@]}"; do
    if [[ -e $config_dir/$file ]]; then
      cp -p "$config_dir/$file" "$config_dir/$file.bak.$stamp" ||
        die "cannot back up $config_dir/$file"
      backups+=("$config_dir/$file.bak.$stamp")
    fi
  done
  # Copy under a temporary name, then rename, so Prometheus never reads a half-written file.
  for file in "${installed_files[@]}"; do
    tmp="$config_dir/.$file.$stamp.tmp"
    if ! cp "$source_dir/$file" "$tmp" || ! mv -f "$tmp" "$config_dir/$file"; then
      rm -f "$tmp"
      restore_backups
      die "cannot install $config_dir/$file; previous files restored"
    fi
    log "installed $config_dir/$file"
  done
  if [[ ${#backups[@]} -gt 0 ]]; then
    log "previous files kept as: ${backups[*]}"
  fi
  if ! "$promtool" check config "$config_dir/prometheus.yml" >/dev/null; then
    restore_backups
    die "installed configuration does not validate in $config_dir; previous files restored"
  fi
fi

# 3. Reload.
if [[ $reload -eq 0 ]]; then
  log "not reloading (--no-reload)"
elif [[ -n $prometheus_pid ]]; then
  if [[ $dry_run -eq 1 ]]; then
    log "dry run: would send SIGHUP to Prometheus (pid $prometheus_pid)"
  else
    kill -0 "$prometheus_pid" 2>/dev/null || {
      restore_backups
      die "no process $prometheus_pid to signal; previous files restored"
    }
    kill -HUP "$prometheus_pid"
    log "sent SIGHUP to Prometheus (pid $prometheus_pid)"
  fi
else
  reload_url="${prometheus_url%/}/-/reload"
  if [[ $dry_run -eq 1 ]]; then
    log "dry run: would POST $reload_url"
  else
    command -v curl >/dev/null 2>&1 || {
      restore_backups
      die "curl not found; install it or reload with --pid; previous files restored"
    }
    if ! curl --fail --silent --show-error --max-time 30 -X POST "$reload_url"; then
      # Prometheus keeps its running config when a reload fails; put the files back so the
      # disk matches what runs.
      restore_backups
      die "reload through $reload_url failed (is --web.enable-lifecycle set?); previous files restored"
    fi
    log "reloaded Prometheus through $reload_url"
  fi
fi

if [[ $dry_run -eq 1 ]]; then
  log "dry run complete: configuration is valid, nothing was changed"
else
  log "done"
fi
