#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its
# committed corpus (tests/fuzz/corpus/<name>/) in a scratch copy, so CI runs
# are bounded and the tree stays clean. A crash, leak or timeout fails the run
# and leaves the reproducer in the scratch directory, whose path is printed.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/wshub-fuzz.XXXXXX)
status=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  mkdir -p "$scratch/$name"
  seeds="$root/tests/fuzz/corpus/$name"
  [ -d "$seeds" ] && cp -r "$seeds/." "$scratch/$name/"
  echo "fuzz_$name: ${seconds}s from $(ls "$scratch/$name" | wc -l) seeds"
  if ! (cd "$scratch" && "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$scratch/$name" 2>"$scratch/$name.log"); then
    echo "fuzz_$name FAILED; artifacts in $scratch"; tail -50 "$scratch/$name.log"; status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$scratch/$name.log" | tail -2
  fi
done
[ $status -eq 0 ] && rm -rf "$scratch"
exit $status
