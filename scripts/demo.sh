#!/usr/bin/env bash
# Installs what is missing, starts a local 3-server ZooKeeper ensemble,
# builds the tools and shows them doing their job. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

command -v cargo >/dev/null || { echo "demo.sh: cargo is missing; install Rust (https://rustup.rs) first" >&2; exit 1; }
say "Installing ZooKeeper, Java and Curator if missing"
scripts/zookeeper.sh install
command -v jq >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq jq >/dev/null; } || true

say "Starting a local 3-server ensemble"
ZK_CONNECT=$(scripts/zookeeper.sh start 3)
export ZK_CONNECT
scripts/zookeeper.sh status

say "Building (release)"
cargo build --release --quiet
export PATH="$PWD/target/release:$PATH"

# ZooKeeper's own CLI stands in for the services that join the group.
zkcli() {
  local try
  for try in 1 2 3; do
    /usr/share/zookeeper/bin/zkCli.sh -server "$ZK_CONNECT" "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "demo.sh: zkCli.sh $* failed" >&2
  return 1
}
zkcli deleteall /demo 2>/dev/null || true
zkcli deleteall /demo-copy 2>/dev/null || true
zkcli create /demo ""
zkcli create /demo/web ""

say "zk-members: watch a group, wait for it to fill up"
events=$(mktemp)
zk-members watch /demo/web > "$events" &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
zk-members wait /demo/web --min 3 --timeout 60s > /tmp/zk-demo-wait.json &
waiter=$!
for i in 1 2 3; do
  echo "  (ZooKeeper's own zkCli.sh registers web-$i)"
  zkcli create "/demo/web/web-$i" "{\"address\":\"10.0.0.$i\",\"port\":8080}"
done
wait "$waiter"
echo "zk-members wait --min 3 returned:"
jq -c '[.[].id]' /tmp/zk-demo-wait.json

say "zk-members list, piped to jq"
show zk-members list /demo/web
echo '$ zk-members list /demo/web | jq -r '"'"'.[] | "\(.data.address):\(.data.port)"'"'"
zk-members list /demo/web | jq -r '.[] | "\(.data.address):\(.data.port)"'

say "Kill a ZooKeeper server, change the group: the watch rides through"
scripts/zookeeper.sh kill 1
zkcli delete /demo/web/web-2
scripts/zookeeper.sh restart 1
sleep 0.5
kill "$watcher"
echo "zk-members watch printed:"
jq -c '{event, joined, left, members: [.members[].id]}' "$events"

say "zk-lock: three jobs, one lock, increasing fencing tokens"
for i in 1 2 3; do
  zk-lock /demo/locks/job -c "echo \"job $i holds the lock, token \$ZK_FENCING_TOKEN\"; sleep 0.2" &
done
wait
echo '$ zk-lock -n /demo/locks/job -- true   # while another process holds it'
coproc HOLDER { zk-lock /demo/locks/job; }
read -r acquired <&"${HOLDER[0]}"
set +e; zk-lock -n /demo/locks/job -- true; echo "exit $?"; set -e
echo '$ zk-lock holders /demo/locks/job'
zk-lock holders /demo/locks/job | jq -c '.[] | {state, id, token}'
exec {HOLDER[1]}>&-
wait

say "zk-health: registered only while healthy"
touch /tmp/zk-demo-healthy
zk-health /demo/services/api --id api-1 --data '{"address":"10.0.0.9","port":9000}' \
  --check 'test -e /tmp/zk-demo-healthy' --interval 200ms --rise 1 --fall 1 > /tmp/zk-demo-health.log &
health=$!
zk-members wait /demo/services/api --count 1 --timeout 30s | jq -c '[.[] | {id, data}]'
echo "(the health check starts failing)"
rm /tmp/zk-demo-healthy
zk-members wait /demo/services/api --count 0 --timeout 30s >/dev/null && echo "deregistered: $(zk-members list /demo/services/api)"
kill "$health"; wait "$health" || true
jq -c 'select(.event != "check") | {event, reason}' /tmp/zk-demo-health.log

say "zk-elect: one leader among three candidates"
for i in 1 2 3; do zk-elect --id "candidate-$i" /demo/election -c 'sleep 0.4' > /dev/null & done
zk-elect leader --wait --timeout 30s /demo/election | jq -c '{id, token}'
wait

say "zk-ensemble: is ZooKeeper itself healthy?"
zk-ensemble status | jq -c '{status, ensemble: {up: .ensemble.up, leader: .ensemble.leader}}'
zk-ensemble check --format nagios || true
# Kill a follower (killing ZooKeeper's leader would show a moment of "down"
# while the other two elect a new one).
follower=$(scripts/zookeeper.sh status | awk '$4 == "follower" { print $2; exit }')
scripts/zookeeper.sh kill "$follower" >/dev/null
set +e; zk-ensemble check; echo "one follower of three down: exit $?"; set -e
scripts/zookeeper.sh restart "$follower" >/dev/null

say "zk-tree: data byte for byte, writes fenced by the lock, a backup and its restore"
printf '{"port":80}' | zk-tree set --create /demo/app/config | jq -c .
echo '$ zk-lock /demo/locks/cfg -- sh -c '"'"'printf ... | zk-tree set /demo/app/config --while-exists "$ZK_NODE"'"'"
zk-lock /demo/locks/cfg -- sh -c 'printf "{\"port\":81}" | zk-tree set /demo/app/config --while-exists "$ZK_NODE"' | jq -c '{version}'
echo "$ zk-tree get /demo/app/config: $(zk-tree get /demo/app/config)"
zk-tree dump /demo/app > /tmp/zk-demo-dump.jsonl
echo "dumped $(wc -l < /tmp/zk-demo-dump.jsonl) nodes; restoring under the chroot /demo-copy:"
zk-tree --zk "$ZK_CONNECT/demo-copy" restore /tmp/zk-demo-dump.jsonl | jq -c '{created, unchanged}'
zk-tree du /demo --depth 1 | jq -c '.[] | {path, bytes, nodes}'

say "Exit codes a script can act on"
set +e
zk-members wait /demo/web --min 5 --timeout 1s >/dev/null; echo "wait that times out: exit $?"
zk-members --zk 127.0.0.1:1 --connect-timeout 1s list /demo/web; echo "unreachable ZooKeeper: exit $?"
zk-members list demo/web; echo "relative path: exit $?"
set -e

zkcli deleteall /demo
zkcli deleteall /demo-copy
rm -f "$events" /tmp/zk-demo-wait.json /tmp/zk-demo-health.log /tmp/zk-demo-dump.jsonl
say "Done. The ensemble keeps running at $ZK_CONNECT (scripts/zookeeper.sh stop to stop it)."
