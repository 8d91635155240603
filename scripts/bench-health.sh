#!/usr/bin/env bash
# Benchmark of zk-health on loopback (issue: zk-health), against a local
# 3-server ensemble:
#   - resident memory and CPU time of an idle zk-health probing every 1 s
#     for DURATION seconds (default 120), next to a kazoo process holding a
#     session for comparison;
#   - time from a probe starting to fail to the node disappearing
#     (--interval 1s --fall 1), over several trials.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
python3 -c 'import kazoo' 2>/dev/null || pip install -q kazoo
ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-health -p zk-members
health=$PWD/target/release/zk-health
members=$PWD/target/release/zk-members
work=$(mktemp -d)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
DURATION=${DURATION:-120}
ticks=$(getconf CLK_TCK)

touch "$work/ok"
"$health" --zk "$ZK" /bench/health --id idle --check "test -e $work/ok" --interval 1s --rise 1 > /dev/null &
idle=$!
python3 - "$ZK" "$work" <<'PY' &
import sys, time
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1]); zk.start()
zk.create("/bench/kazoo-idle", ephemeral=True, makepath=True)
time.sleep(10**6)
PY
kazoo=$!
sleep 3
cpu() { awk -v t="$ticks" '{print ($14 + $15 + $16 + $17) / t}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
cpu0=$(cpu $idle)
echo "idle zk-health for ${DURATION}s..."
sleep "$DURATION"
cpu1=$(cpu $idle)
echo "idle $(rss $idle) $cpu0 $cpu1 $(rss $kazoo)" > "$work/idle"
kill $idle $kazoo

# Removal time: the probe starts failing at t0 (the file goes); the node
# is gone when `zk-members wait --count 0` returns.
for trial in $(seq 10); do
  touch "$work/ok"
  "$health" --zk "$ZK" /bench/removal --id r --check "test -e $work/ok" --interval 1s --rise 1 --fall 1 > /dev/null &
  pid=$!
  "$members" --zk "$ZK" wait /bench/removal --count 1 --timeout 30s > /dev/null
  t0=$(date +%s%N)
  rm "$work/ok"
  "$members" --zk "$ZK" wait /bench/removal --count 0 --timeout 30s > /dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 )) >> "$work/removal"
  kill $pid; wait $pid 2>/dev/null || true
done

python3 - "$work" "$DURATION" <<'PY'
import os, statistics, sys
d, duration = sys.argv[1], float(sys.argv[2])
_, rss, cpu0, cpu1, kazoo_rss = open(os.path.join(d, "idle")).read().split()
print(f"\nidle zk-health, 1 s interval, {duration:.0f} s:")
print(f"  resident memory       {int(rss) / 1024:5.1f} MB   (kazoo holding a session: {int(kazoo_rss) / 1024:.1f} MB)")
cpu = float(cpu1) - float(cpu0)
print(f"  CPU time (incl. probes) {cpu:5.2f} s = {100 * cpu / duration:.2f}% of one core")
ms = [int(x) for x in open(os.path.join(d, "removal")).read().split()]
print(f"\nprobe failing -> node gone (--interval 1s --fall 1), {len(ms)} trials:")
print(f"  median {statistics.median(ms)} ms, min {min(ms)} ms, max {max(ms)} ms")
PY
