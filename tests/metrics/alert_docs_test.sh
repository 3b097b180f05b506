#!/usr/bin/env bash
# Every alert in alerts.yml links a runbook that exists, is unit-tested in alerts_test.yml and
# is listed in docs/monitoring.md.
set -euo pipefail

root=${1:?usage: alert_docs_test.sh path/to/repository}
rules=$root/metrics/monitoring/alerts.yml
tests=$root/metrics/monitoring/alerts_test.yml
table=$root/docs/monitoring.md
failed=0
fail() {
  echo "FAIL: $*" >&2
  failed=1
}

alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules")
[[ -n $alerts ]] || fail "no alerts found in $rules"
for alert in $alerts; do
  grep -q "alertname: $alert\$" "$tests" || fail "$alert has no test in alerts_test.yml"
  grep -q "| \`$alert\` |" "$table" || fail "$alert is not listed in docs/monitoring.md"
done
runbooks=$(sed -n 's/^ *runbook_url: *"\([^"]*\)".*/\1/p' "$rules")
[[ $(wc -w <<<"$runbooks") -eq $(wc -w <<<"$alerts") ]] || fail "an alert has no runbook_url"
for runbook in $runbooks; do
  [[ -f $root/$runbook ]] || fail "runbook $runbook does not exist"
done
[[ $failed -eq 0 ]] && echo "alert docs: $(wc -w <<<"$alerts") alerts checked"
exit $failed
