#!/usr/bin/env bash
# What the quorum-confirmed lease costs (issue 18), against a local
# 3-server ZooKeeper ensemble:
#   1. requests per second that one holder sends to its server while it
#      holds a lock (`cons` counts them per connection), next to a waiter,
#      which only sends the client library's idle pings; for the default
#      10 s session and for a 4 s one. Each confirmation round is one multi
#      holding a version check (a transaction the leader proposes and a
#      quorum logs) and one exists (answered locally);
#   2. the whole-process time of an uncontended `zk-lock PATH -- true`,
#      which now includes one confirmation round trip before the command.
#      Set OLD_ZK_LOCK=/path/to/an/older/zk-lock to compare with it;
#   3. one round made each possible way (sync, multi-check, version-checked
#      set_data): latency, transactions and fsyncs per round (from mntr),
#      and watch events a Curator-style waiter gets per round.
# Installs hyperfine if missing (benchmark only, not CI).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null

ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-lock -p zk-testkit
lock=$PWD/target/release/zk-lock
work=$(mktemp -d)
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
seconds=${SECONDS_PER_RUN:-30}
server=${ZK%%,*}

# recved= of the connection of session $1 on the first server, from `cons`.
recved() {
  local host=${server%:*} port=${server#*:}
  exec 3<>"/dev/tcp/$host/$port"
  printf cons >&3
  grep -F "sid=$1" <&3 | sed -n 's/.*recved=\([0-9]*\).*/\1/p'
  exec 3<&-
}

rate() { # SESSION_TIMEOUT ROLE: requests/s of a holder or waiter over $seconds
  local timeout=$1 role=$2 path=/bench/lease-$1-$2 sid before after
  "$lock" --zk "$server" --session-timeout "$timeout" "$path" -c "sleep $((seconds + 30)) # $work" >/dev/null 2>&1 &
  local holder=$!
  if [ "$role" = waiter ]; then
    local log=$work/waiter-$timeout.log
    "$lock" --zk "$server" --session-timeout "$timeout" -v "$path" -c "true # $work" 2>"$log" &
    local waiter=$!
    until grep -q session_id= "$log" 2>/dev/null; do sleep 0.1; done
    sid=$(sed -n 's/.*session_id=\(0x[0-9a-f]*\).*/\1/p' "$log" | head -1)
  else
    sleep 1
    sid=$("$lock" --zk "$ZK" holders "$path" | sed -n 's/.*"session_id":"\(0x[0-9a-f]*\)".*/\1/p' | head -1)
  fi
  sleep 2
  before=$(recved "$sid")
  sleep "$seconds"
  after=$(recved "$sid")
  kill "$holder" ${waiter:-} 2>/dev/null || true
  wait 2>/dev/null || true
  awk -v a="$after" -v b="$before" -v s="$seconds" -v t="$timeout" -v r="$role" \
    'BEGIN { printf "%-6s session %-4s %.2f requests/s (one per %.2f s)\n", r, t, (a - b) / s, s / (a - b) }'
}

echo "== 1. requests per second to the server (${seconds}s each)"
for timeout in 10s 4s; do
  rate "$timeout" holder
  rate "$timeout" waiter
done

echo "== 2. uncontended zk-lock PATH -- true, whole process"
args=(-N --warmup 3 --runs 40 -n zk-lock "$lock --zk $ZK /bench/lease-uncontended -- true")
if [ -n "${OLD_ZK_LOCK:-}" ]; then
  args+=(-n zk-lock-before "$OLD_ZK_LOCK --zk $ZK /bench/lease-uncontended-old -- true")
fi
hyperfine "${args[@]}" --export-json "$work/uncontended.json" >/dev/null
python3 - "$work/uncontended.json" <<'PY'
import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']:<16} median {statistics.median(r['times']) * 1000:.1f} ms")
PY

echo "== 3. one confirmation round, each way (${ROUNDS:-300} rounds)"
target/release/zk-confirm-cost "$ZK" "${ROUNDS:-300}"
