#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh) several times in a row, to
# find tests that pass once but not every time, optionally with every core
# kept busy by stress-ng so that timing assumptions show up. Prints one line
# per run (exit code, duration, test count, failures) and exits non-zero if
# any run failed. Logs are kept in target/soak/.
#
#   scripts/soak.sh 5              five runs in a row
#   scripts/soak.sh 1 --stress     one run with stress-ng on every core
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
stress=${2:-}
mkdir -p target/soak
if [ "$stress" = --stress ]; then
  command -v stress-ng >/dev/null || apt-get install -y stress-ng >/dev/null
  # One CPU hog per core, at normal priority, for as long as the runs last.
  stress-ng --cpu "$(nproc)" --cpu-method matrixprod --timeout 0 >/dev/null 2>&1 &
  hog=$!
  trap 'kill $hog 2>/dev/null || true' EXIT
fi

cargo test --workspace --locked --no-run >/dev/null 2>&1
failed=0
for i in $(seq 1 "$runs"); do
  log=target/soak/run-$i${stress:+-stress}.log
  start=$(date +%s)
  rc=0
  scripts/test.sh >"$log" 2>&1 || rc=$?
  passed=$(grep -h '^test result' "$log" | awk '{s+=$4} END {print s+0}')
  failures=$(grep -h '^test result' "$log" | awk '{s+=$6} END {print s+0}')
  echo "run $i${stress:+ (stress)}: exit $rc, $(( $(date +%s) - start )) s, $passed passed, $failures failed, log $log"
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -h -- '--- FAIL\|^    [a-z_:]* *$\|panicked at' "$log" | head -20 || true
  fi
done
exit $failed
