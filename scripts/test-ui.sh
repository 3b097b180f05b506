#!/usr/bin/env bash
# Runs the recovery review page's tests (tests/ui/*.test.mjs, Node's test runner) in jsdom,
# installed from npm into .cache/npm-ui on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

version=24.1.3
tools=.cache/npm-ui
if [ ! -d "$tools/node_modules/jsdom" ] || [ "$(cat "$tools/.version" 2>/dev/null)" != "$version" ]; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "jsdom@$version" >&2
  echo "$version" >"$tools/.version"
fi
exec node --test tests/ui/*.test.mjs
