#!/usr/bin/env bash
# Benchmark of zk-members list, whole process, on loopback (issue: foundation).
#
# In one run, against one local 3-server ensemble:
#   - zk-members list on a 10-member group, next to ZooKeeper's own
#     `zkCli.sh ls` of the same group;
#   - zk-members list on a 10,000-member group.
# Uses hyperfine (Debian package) for the timings. Prints a summary table.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
ZK=$(scripts/zookeeper.sh start 3)
cargo build --release --quiet -p zk-members --bin zk-members --example populate
bin=target/release/zk-members
populate=target/release/examples/populate
out=$(mktemp -d)

$populate "$ZK" /bench/small 10
$populate "$ZK" /bench/large 10000
[ "$($bin --zk "$ZK" list /bench/small | jq length)" = 10 ] || { echo "small group not populated" >&2; exit 1; }
[ "$($bin --zk "$ZK" list /bench/large | jq length)" = 10000 ] || { echo "large group not populated" >&2; exit 1; }

hyperfine --warmup 3 --runs 30 -N --export-json "$out/small.json" \
  -n "zk-members list (10)" "$bin --zk $ZK list /bench/small"
hyperfine --warmup 1 --runs 5 --export-json "$out/zkcli.json" \
  -n "zkCli.sh ls (10)" "/usr/share/zookeeper/bin/zkCli.sh -server $ZK ls /bench/small"
hyperfine --warmup 2 --runs 15 -N --export-json "$out/large.json" \
  -n "zk-members list (10,000)" "$bin --zk $ZK list /bench/large"

python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
def median_ms(name):
    r = json.load(open(os.path.join(d, name)))["results"][0]
    return r["median"] * 1000, r["min"] * 1000, r["max"] * 1000
small, zkcli, large = median_ms("small.json"), median_ms("zkcli.json"), median_ms("large.json")
print()
print(f"{'what':32} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
for name, (med, lo, hi) in [("zk-members list, 10 members", small), ("zkCli.sh ls, 10 members", zkcli),
                            ("zk-members list, 10,000 members", large)]:
    print(f"{name:32} {med:10.1f} {lo:8.1f} {hi:8.1f}")
print(f"zk-members is {zkcli[0] / small[0]:.0f}x faster than zkCli.sh on the small group")
PY
$populate "$ZK" /bench/small delete
$populate "$ZK" /bench/large delete
rm -rf "$out"
