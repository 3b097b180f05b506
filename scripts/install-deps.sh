#!/usr/bin/env bash
# Installs every Debian 12 package failcat needs to build, test and run. Idempotent.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git python3 curl
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
  # libraries
  libcaf-dev libpistache-dev libpqxx-dev libpq-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libre2-dev nlohmann-json3-dev libsqlite3-dev
  libssl-dev libcurl4-openssl-dev libgoogle-perftools-dev
  # servers and tools used by tests and benchmarks
  postgresql-15 postgresql-client-15 prometheus wrk sqlite3 jq
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster when postgresql is installed; failcat's tests use their own.
echo "install-deps: done"
