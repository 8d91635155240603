#!/usr/bin/env bash
# Benchmark of zk-elect failover on loopback (issue: zk-elect), in one run
# against one local 3-server ZooKeeper ensemble and one local etcd:
#   - graceful failover (SIGTERM to the leader) and crash failover (SIGKILL):
#     from the signal to the new leader's command start, for zk-elect, a
#     kazoo Election script and `etcdctl elect` (graceful only: its lease
#     TTL is a fixed 60 s);
#   - resident memory of an idle candidate of each.
# Installs etcd and kazoo if missing (benchmark only, not CI).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null

ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-elect
elect=$PWD/target/release/zk-elect
work=$(mktemp -d)
# Leaders' commands are `sleep 999.123`, so leftovers (kazoo does not take
# its command with it when killed) can be found and ended.
trap 'kill ${etcd_pid:-} 2>/dev/null || true; pkill -f "$work" 2>/dev/null || true; pkill -f "sleep 999.123" || true; rm -rf "$work"' EXIT
. scripts/bench/etcd.sh
ROUNDS=${ROUNDS:-10}
SESSION=2   # seconds, for zk-elect and kazoo crash failover

now() { date +%s%N; }
wait_file() { for _ in $(seq 3000); do [ -s "$1" ] && return; sleep 0.005; done; echo "timeout waiting for $1" >&2; exit 1; }

# One failover: start leader A, then standby B, kill A, time B's command start.
# TOOL is zk-elect, kazoo or etcdctl; SIGNAL is TERM or KILL.
failover() {
  local tool=$1 signal=$2 round=$3 a b t0 t1 path=/bench/elect-$1-$2-$3
  local a_mark=$work/a-$tool-$signal-$round b_mark=$work/b-$tool-$signal-$round
  case $tool in
    zk-elect)
      "$elect" --zk "$ZK" --session-timeout ${SESSION}s --kill-after 400ms "$path" -c "echo up > $a_mark; exec sleep 999.123" & a=$!
      wait_file "$a_mark"
      "$elect" --zk "$ZK" --session-timeout ${SESSION}s --kill-after 400ms "$path" -c "date +%s%N > $b_mark; exec sleep 999.123" & b=$! ;;
    kazoo)
      python3 scripts/bench/kazoo_elect.py "$ZK" "$path" "echo up > $a_mark; exec sleep 999.123" $SESSION & a=$!
      wait_file "$a_mark"
      python3 scripts/bench/kazoo_elect.py "$ZK" "$path" "date +%s%N > $b_mark; exec sleep 999.123" $SESSION & b=$! ;;
    etcdctl)
      (exec $etcdctl elect "elect-$round" a > "$a_mark") & a=$!
      wait_file "$a_mark"
      ($etcdctl elect "elect-$round" b | (read -r _; date +%s%N > "$b_mark"; cat >/dev/null)) & b=$! ;;
  esac
  sleep 0.5   # let B queue behind A
  t0=$(now)
  kill -"$signal" "$a"
  wait_file "$b_mark"
  t1=$(cat "$b_mark")
  echo "$tool $signal $(( (t1 - t0) / 1000 ))" >> "$work/failover"
  kill "$b" 2>/dev/null || true
  pkill -f "$a_mark" 2>/dev/null || true
  wait "$a" "$b" 2>/dev/null || true
}

for round in $(seq "$ROUNDS"); do
  failover zk-elect TERM "$round"; failover kazoo TERM "$round"; failover etcdctl TERM "$round"
done
for round in $(seq 3); do
  failover zk-elect KILL "$round"; failover kazoo KILL "$round"
done

# Resident memory of an idle candidate waiting behind a leader.
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
"$elect" --zk "$ZK" /bench/rss -c 'exec sleep 999.123' & leader=$!
sleep 0.5
"$elect" --zk "$ZK" /bench/rss -c 'exec sleep 999.123' & idle=$!
python3 scripts/bench/kazoo_elect.py "$ZK" /bench/rss-kazoo "exec sleep 999.123" & kl=$!
sleep 0.5
python3 scripts/bench/kazoo_elect.py "$ZK" /bench/rss-kazoo "exec sleep 999.123" & kidle=$!
$etcdctl elect rss a > /dev/null & el=$!
sleep 0.5
$etcdctl elect rss b > /dev/null & eidle=$!
sleep 2
echo "zk-elect $(rss $idle)" >> "$work/rss"
echo "kazoo $(rss $kidle)" >> "$work/rss"
echo "etcdctl $(rss $eidle)" >> "$work/rss"
kill $leader $idle $kl $kidle $el $eidle 2>/dev/null || true
pkill -f "exec sleep 999.123" 2>/dev/null || true

python3 - "$work" <<'PY'
import os, statistics, sys
d = sys.argv[1]
rows = {}
for line in open(os.path.join(d, "failover")):
    tool, sig, us = line.split()
    rows.setdefault((tool, sig), []).append(int(us) / 1000)
print("\nfailover, signal to the new leader's command start (ms): median [min, max] over n")
for (tool, sig), ms in sorted(rows.items()):
    kind = "graceful (SIGTERM)" if sig == "TERM" else "crash (SIGKILL)"
    print(f"  {tool:8} {kind:18} {statistics.median(ms):8.1f} [{min(ms):.1f}, {max(ms):.1f}] n={len(ms)}")
print("\nresident memory of an idle candidate:")
for line in open(os.path.join(d, "rss")):
    tool, kb = line.split()
    print(f"  {tool:8} {int(kb) / 1024:5.1f} MB")
PY
