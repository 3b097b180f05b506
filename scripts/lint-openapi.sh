#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly CLI (installed from npm into .cache/npm-tools on first
# use), then checks that the YAML subset reader the integration tests use sees the same document
# Redocly does, so the tests validate responses against what the linter checked.
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.77.0
tools=.cache/npm-tools
redocly=$tools/node_modules/.bin/redocly
if [ ! -x "$redocly" ] || [ "$(cat "$tools/.version" 2>/dev/null)" != "$version" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "@redocly/cli@$version" >&2
  echo "$version" >"$tools/.version"
fi

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$redocly" lint --config redocly.yaml docs/openapi.yaml

bundled=$(mktemp --suffix=.json)
trap 'rm -f "$bundled"' EXIT
"$redocly" bundle --config redocly.yaml docs/openapi.yaml --ext json --output "$bundled" >&2
python3 tests/integration/openapi_check.py --same-as "$bundled" docs/openapi.yaml
