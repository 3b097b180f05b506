#!/usr/bin/env bash
# Quick start: installs dependencies, builds, and serves on 127.0.0.1:8080 with the embedded
# SQLite store in ./data. Extra arguments go to `failcat serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/failcat serve "$@"
