#!/usr/bin/env bash
# Benchmark of zk-lock, whole processes on loopback (issue: zk-lock), in
# one run against one local 3-server ZooKeeper ensemble and one local etcd:
#   1. uncontended `zk-lock PATH -- true` next to `flock FILE true` (the
#      local floor), a kazoo (Python) lock script and `etcdctl lock`;
#   2. 4 workers x 25 contended iterations with each of them;
#   3. handoff: from one command's exit to the next command's start;
#   4. ZooKeeper packets per acquisition with 1 and with 50 waiters (mntr),
#      to show the herd effect is absent.
# Installs hyperfine, etcd and kazoo if missing (benchmark only, not CI).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null

ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-lock
lock=$PWD/target/release/zk-lock
work=$(mktemp -d)
trap 'kill ${etcd_pid:-} 2>/dev/null || true; pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
. scripts/bench/etcd.sh
kazoo="python3 scripts/bench/kazoo_lock.py"

echo "== 1. uncontended, whole process"
hyperfine -N --warmup 3 --runs 40 --export-json "$work/uncontended.json" \
  -n flock "flock $work/flock true" \
  -n zk-lock "$lock --zk $ZK /bench/uncontended -- true" \
  -n etcdctl "$etcdctl lock bench-uncontended true" \
  -n kazoo "$kazoo $ZK /bench/kazoo-uncontended true" >/dev/null

contended() { # NAME CMD...: 4 workers x 25 iterations, prints total ms
  local name=$1 start end; shift
  start=$(date +%s%N)
  local pids=()
  for _ in 1 2 3 4; do (for _ in $(seq 25); do "$@" >/dev/null; done) & pids+=($!); done
  wait "${pids[@]}"
  end=$(date +%s%N)
  echo "$name $(( (end - start) / 1000000 ))" >> "$work/contended"
}
echo "== 2. contended, 4 x 25"
contended flock flock "$work/flock" true
contended zk-lock "$lock" --zk "$ZK" /bench/contended -- true
contended etcdctl $etcdctl lock bench-contended true
contended kazoo $kazoo "$ZK" /bench/kazoo-contended true

echo "== 3. handoff"
stamp='echo "s $(date +%s%N)" >> '"$work"'/handoff; echo "e $(date +%s%N)" >> '"$work"'/handoff'
# `wait` alone would wait for etcd too: wait for the workers by pid.
pids=()
for _ in 1 2 3 4; do (for _ in $(seq 25); do "$lock" --zk "$ZK" /bench/handoff -c "$stamp"; done) & pids+=($!); done
wait "${pids[@]}"
pids=()
for _ in 1 2 3 4; do
  (for _ in $(seq 25); do $etcdctl lock bench-handoff -- sh -c "${stamp//handoff/handoff-etcd}" >/dev/null; done) & pids+=($!)
done
wait "${pids[@]}"

echo "== 4. packets per acquisition"
packets() { # total packets received + sent by all servers
  local total=0 port n
  for port in $(echo "$ZK" | tr ',' '\n' | cut -d: -f2); do
    n=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf mntr >&3; cat <&3" |
        awk '$1=="zk_packets_received"||$1=="zk_packets_sent"{s+=$2} END{print s+0}')
    total=$((total + n))
  done
  echo "$total"
}
watches() { # PATH: watches on nodes under PATH, on all servers (4lw, so no packets)
  local total=0 port n
  for port in $(echo "$ZK" | tr ',' '\n' | cut -d: -f2); do
    n=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; printf wchp >&3; cat <&3" |
        awk -v dir="$1/" '/^\//{p = index($0, dir) == 1} /^\t/{if (p) n++} END{print n + 0}')
    total=$((total + n))
  done
  echo "$total"
}
queued() { # N: packets per acquisition when N waiters queue behind one holder
  local n=$1 path=/bench/packets-$1 before after holder hold waiters=()
  before=$(packets)
  rm -f "$work/hold"; mkfifo "$work/hold"
  "$lock" --zk "$ZK" "$path" < "$work/hold" > /dev/null &
  holder=$!
  exec {hold}>"$work/hold"
  # The holder first (it watches its own node), then the waiters queue behind
  # it, each watching the node before it. Polling with wchp costs no
  # ZooKeeper packets, so the count is only the contenders'.
  until (( $(watches "$path") >= 1 )); do sleep 0.02; done
  # The waiters must not inherit the FIFO's write end, or the holder never sees EOF.
  for _ in $(seq "$n"); do "$lock" --zk "$ZK" "$path" -- true {hold}>&- & waiters+=($!); done
  until (( $(watches "$path") >= n + 1 )); do sleep 0.02; done
  exec {hold}>&-
  wait "$holder" "${waiters[@]}"
  after=$(packets)
  echo "$n $(( (after - before) ))" >> "$work/packets"
}
for n in 1 10 50; do queued "$n"; done

python3 - "$work" <<'PY'
import json, os, statistics, sys
d = sys.argv[1]
res = {r["command"]: r for r in json.load(open(os.path.join(d, "uncontended.json")))["results"]}
print("\nuncontended, whole process (median ms):")
for name in ["flock", "zk-lock", "etcdctl", "kazoo"]:
    print(f"  {name:8} {res[name]['median'] * 1000:7.1f}")
print("\n4 x 25 contended (total ms):")
for line in open(os.path.join(d, "contended")):
    name, ms = line.split()
    print(f"  {name:8} {int(ms):7d}")
def handoffs(name):
    events = sorted((int(t), k) for k, t in (l.split() for l in open(os.path.join(d, name))))
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:]) if a[1] == "e" and b[1] == "s"]
    assert len(gaps) == 99, len(gaps)
    return [g / 1e6 for g in gaps]
print("\nhandoff, one command's exit to the next one's start (ms):")
for label, f in [("zk-lock", "handoff"), ("etcdctl", "handoff-etcd")]:
    g = handoffs(f)
    print(f"  {label:8} median {statistics.median(g):6.1f}  p90 {sorted(g)[int(len(g) * 0.9)]:6.1f}")
print("\nZooKeeper packets per acquisition, one holder and N waiters queued behind it:")
for line in open(os.path.join(d, "packets")):
    waiters, total = line.split()
    print(f"  N = {waiters:>2}: {int(total) / (int(waiters) + 1):6.1f}")
PY
