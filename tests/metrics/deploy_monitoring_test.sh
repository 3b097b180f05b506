#!/usr/bin/env bash
# Exercises scripts/deploy-monitoring.sh against a throwaway directory: a dry run changes
# nothing, a real install copies the files and backs up the previous ones, and bad input fails.
set -euo pipefail

script=${1:?usage: deploy_monitoring_test.sh path/to/deploy-monitoring.sh}
work=$(mktemp -d)
out=$(mktemp)
trap 'rm -rf "$work" "$out"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Dry run: validates and leaves the directory untouched, even with a reload target given.
"$script" --dry-run --config-dir "$work" --prometheus-url http://127.0.0.1:1 >"$out"
grep -q "dry run complete" "$out" || fail "dry run did not complete"
grep -q "would POST http://127.0.0.1:1/-/reload" "$out" || fail "dry run did not plan the reload"
[[ -z $(ls -A "$work") ]] || fail "dry run wrote into the config directory"

# First install into an empty directory: no backups.
"$script" --config-dir "$work" --no-reload >/dev/null
[[ -f $work/prometheus.yml && -f $work/alerts.yml ]] || fail "files not installed"
"${PROMTOOL:-promtool}" check config "$work/prometheus.yml" >/dev/null || fail "installed config invalid"
[[ -z $(find "$work" -name '*.bak.*') ]] || fail "backup made without a previous file"

# Second install over a local edit: the edit is kept as a backup.
echo "# local edit" >>"$work/alerts.yml"
"$script" --config-dir "$work" --no-reload >/dev/null
backup=$(find "$work" -name 'alerts.yml.bak.*')
[[ -n $backup ]] || fail "previous alerts.yml not backed up"
grep -q "# local edit" "$backup" || fail "backup does not hold the previous file"
! grep -q "# local edit" "$work/alerts.yml" || fail "alerts.yml not replaced"

# A failed reload puts the previous files back and fails.
echo "# before failed reload" >>"$work/prometheus.yml"
if "$script" --config-dir "$work" --prometheus-url http://127.0.0.1:1 >/dev/null 2>&1; then
  fail "unreachable Prometheus did not fail the deploy"
fi
grep -q "# before failed reload" "$work/prometheus.yml" || fail "previous file not restored"

# Bad usage and broken sources fail with a non-zero status.
if "$script" --bogus >/dev/null 2>&1; then fail "unknown option accepted"; fi
if "$script" --dry-run --pid abc >/dev/null 2>&1; then fail "bad pid accepted"; fi
mkdir "$work/broken"
printf 'groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: "sum("\n' \
  >"$work/broken/alerts.yml"
cp "$(dirname "$script")/../metrics/monitoring/prometheus.yml" "$work/broken/"
cp "$(dirname "$script")/../metrics/monitoring/alerts_test.yml" "$work/broken/"
if "$script" --dry-run --source-dir "$work/broken" >/dev/null 2>&1; then
  fail "invalid rules accepted"
fi

echo "deploy-monitoring: all checks passed"
