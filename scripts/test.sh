#!/usr/bin/env bash
# Installs dependencies, builds, starts a throwaway PostgreSQL 15 cluster on a free loopback
# port, runs the whole test suite (ctest) against both stores, and stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

pgdir=$(mktemp -d /tmp/failcat-pg-XXXXXX)
root=$(pwd)
cleanup() { "$root/scripts/pg-test-cluster.sh" stop "$pgdir" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
# The store tests' database sorts text by an ICU locale, as most production databases do, so
# an order that leans on the database's locale fails here rather than in production.
FAILCAT_TEST_DATABASE_URL=$(PG_TEST_ICU_LOCALE=${PG_TEST_ICU_LOCALE-en-US} scripts/pg-test-cluster.sh start "$pgdir")
export FAILCAT_TEST_DATABASE_URL
# PostgreSQL-backed tests fail rather than skip when the server is missing.
export FAILCAT_REQUIRE_POSTGRES=1
export FAILCAT_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

cd build
ctest --output-on-failure --timeout 600 -j"$(nproc 2>/dev/null || echo 2)" "$@"
