#!/usr/bin/env bash
# Benchmark of zk-tree on a subtree of 10,000 nodes (issue: zk-tree), whole
# process, on loopback, against one local 3-server ensemble:
#   - restore of a generated dump (10 parents x 1,000 children, 100 bytes each)
#     into an empty chroot: the batched multis;
#   - dump of that subtree: the pipelined reads;
#   - du of it (stats only);
#   - the same dump by ZooKeeper's own zkCli.sh (`ls -R` and a `get` per
#     node would be 10,000 JVM round trips; `ls -R` alone is shown).
# Uses hyperfine (Debian package) for the timings; prints a summary table.
# ZK_BASE_PORT picks the ensemble's ports (default 2181), as for zookeeper.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
ZK_LOCAL_DIR=$(mktemp -d /tmp/zk-tools-bench-tree.XXXXXX)
export ZK_LOCAL_DIR
out=$(mktemp -d)
trap 'scripts/zookeeper.sh clean >/dev/null 2>&1 || true; rm -rf "$out" "$ZK_LOCAL_DIR"' EXIT
ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-tree
bin=target/release/zk-tree

python3 - "$out/tree.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"path": "/big", "data": ""}) + "\n")
    for g in range(10):
        f.write(json.dumps({"path": f"/big/g{g}", "data": ""}) + "\n")
        for n in range(1000):
            f.write(json.dumps({"path": f"/big/g{g}/n{n:04}", "data": "x" * 100}) + "\n")
PY

# Each restore goes into a chroot of its own, which it creates.
hyperfine --shell bash --runs 5 --export-json "$out/restore.json" \
  -n "zk-tree restore (10,011 nodes)" \
  "$bin --zk $ZK/restore-\$RANDOM\$RANDOM restore $out/tree.jsonl >/dev/null"
$bin --zk "$ZK" restore "$out/tree.jsonl" >/dev/null
[ "$($bin --zk "$ZK" du /big | jq '.[0].nodes')" = 10011 ] || { echo "bench-tree.sh: the tree is not there" >&2; exit 1; }
hyperfine --warmup 1 --runs 10 -N --export-json "$out/dump.json" \
  -n "zk-tree dump (10,011 nodes)" "$bin --zk $ZK dump /big"
hyperfine --warmup 1 --runs 10 -N --export-json "$out/du.json" \
  -n "zk-tree du (10,011 nodes)" "$bin --zk $ZK du /big"
hyperfine --warmup 1 --runs 3 --export-json "$out/zkcli.json" \
  -n "zkCli.sh ls -R (10,011 nodes)" "/usr/share/zookeeper/bin/zkCli.sh -server $ZK ls -R /big >/dev/null 2>&1"

python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
print(f"\n{'what':34} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
for name in ["restore", "dump", "du", "zkcli"]:
    r = json.load(open(os.path.join(d, f"{name}.json")))["results"][0]
    print(f"{r['command']:34} {r['median']*1000:10.0f} {r['min']*1000:8.0f} {r['max']*1000:8.0f}")
PY
