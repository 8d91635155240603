#!/usr/bin/env bash
# The failover story end to end, on one machine: two replicas of a small
# HTTP service under zk-elect (one active, one standby); the active one runs
# its server under zk-health, registered while it answers; zk-members watch
# rewrites a proxy's upstream file (update-upstream.sh) on every change.
# Kill the active replica and the standby takes over: the upstream file
# names it one session timeout later (at once when the active one is stopped
# with SIGTERM instead).
#
#   ZK_CONNECT=127.0.0.1:2181 examples/failover/run.sh [DIR]
#   cat DIR/upstream.conf; kill -9 "$(cat DIR/replica-1.pid)"; cat DIR/upstream.conf
#
# Environment: ZK_CONNECT (127.0.0.1:2181), FAILOVER_PORTS (the replicas'
# ports, "8001 8002"), FAILOVER_PATH (/failover), ZK_SESSION_TIMEOUT (4s: how
# long a crashed replica's election and registration nodes outlive it).
# DIR (default: a new temporary directory) receives upstream.conf, each
# replica's zk-elect pid (replica-N.pid) and the logs. Runs until SIGTERM or
# Ctrl-C, then stops everything it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$(mktemp -d /tmp/zk-failover.XXXXXX)}
mkdir -p "$dir"
export ZK_CONNECT=${ZK_CONNECT:-127.0.0.1:2181}
export ZK_SESSION_TIMEOUT=${ZK_SESSION_TIMEOUT:-4s}
base=${FAILOVER_PATH:-/failover}
read -r -a ports <<< "${FAILOVER_PORTS:-8001 8002}"

pids=()
stop() {
  trap - EXIT TERM INT
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
}
trap stop EXIT
trap 'stop; exit 143' TERM
trap 'stop; exit 130' INT

for i in 1 2; do
  port=${ports[$((i - 1))]}
  # Each replica stands for election; the leader starts zk-health, which
  # starts the server and registers it once it answers over HTTP.
  zk-elect --id "replica-$i" --kill-after 500ms "$base/election" -- \
    zk-health "$base/upstreams" --id "replica-$i" \
      --data "{\"address\":\"127.0.0.1\",\"port\":$port}" \
      --http "http://127.0.0.1:$port/" --interval 250ms --rise 1 --fall 2 \
      -- python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" \
    > "$dir/replica-$i.log" 2>&1 &
  pids+=($!)
  echo "$!" > "$dir/replica-$i.pid"
done

zk-members watch "$base/upstreams" --debounce 50ms \
  --exec "$here/update-upstream.sh $dir/upstream.conf" > "$dir/watch.log" 2>&1 &
pids+=($!)

echo "failover demo in $dir: upstream file $dir/upstream.conf"
# Until every process ended, or a signal (its trap stops them all).
wait || true
