#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang 14 (ASan + UBSan) in build-fuzz/ and runs each
# for SECONDS (default 60) from its seed corpus. Exits non-zero on the first crash, leak,
# timeout or sanitizer report; the reproducer is left in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

missing=()
command -v clang++-14 >/dev/null || missing+=(clang-14)
ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "fuzz: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

targets=(fuzz_ingest_body fuzz_query_string fuzz_catalog fuzz_matcher)
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFAILCAT_FUZZ=ON -DFAILCAT_BUILD_TESTS=OFF -DFAILCAT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"

# Largest input worth trying per target: a bit past each limit the parsers enforce.
declare -A max_len=(
  [fuzz_ingest_body]=70000    # 64 KiB single body (batch bodies are tried up to this too)
  [fuzz_query_string]=4096    # header-sized query strings
  [fuzz_catalog]=65536
  [fuzz_matcher]=12000        # error_message is capped at 10,000 characters
)

mkdir -p "$build/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for target in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/${target#fuzz_}"
  work="$build/corpus/${target#fuzz_}"
  mkdir -p "$work"
  echo "fuzz: $target for ${seconds}s"
  if ! "$build/fuzz/$target" "$work" "$seeds" -max_total_time="$seconds" \
      -max_len="${max_len[$target]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$target-" >"$build/$target.log" 2>&1; then
    echo "fuzz: $target FAILED; see $build/$target.log and $build/artifacts/" >&2
    tail -n 40 "$build/$target.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$target.log" | sed "s/^/  /"
  fi
done
exit $status
