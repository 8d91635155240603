#!/usr/bin/env bash
# Benchmark of zk-ensemble status, whole process, on loopback (issue 6).
#
# In one run, on a 3-server and then a 5-server local ensemble of its own
# (ports 32181+, admin servers 38081+, a temporary data directory, removed
# at the end), times with hyperfine:
#   - zk-ensemble status (every server, all five four-letter words each,
#     in parallel, plus the verdict);
#   - the shell loop an operator writes: `echo mntr | nc` to each server
#     in turn (mntr only, no verdict);
#   - the same loop asking all five words zk-ensemble asks (mntr, srvr,
#     conf, isro, ruok), the like-for-like comparison;
#   - `zkServer.sh status` for each server in turn (one JVM per server).
# Target: a 5-server status in under 50 ms, faster than the shell loop.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
command -v nc >/dev/null || apt-get install -y -qq netcat-openbsd >/dev/null

export ZK_LOCAL_DIR=${ZK_BENCH_DIR:-$(mktemp -d)}
export ZK_BASE_PORT=32181 ZK_ADMIN_BASE_PORT=38081
out=$(mktemp -d)
cleanup() { scripts/zookeeper.sh clean >/dev/null 2>&1 || true; rm -rf "$out"; }
trap cleanup EXIT

cargo build --release --quiet -p zk-ensemble
bin=$PWD/target/release/zk-ensemble
zkserver=/usr/share/zookeeper/bin/zkServer.sh

for n in 3 5; do
  ZK=$(scripts/zookeeper.sh start "$n")
  ports=$(seq "$ZK_BASE_PORT" $((ZK_BASE_PORT + n - 1)) | tr '\n' ' ')
  # The verdict must be healthy before it is worth timing.
  "$bin" --zk "$ZK" wait --timeout 60s >/dev/null
  [ "$("$bin" --zk "$ZK" status | jq -r '.ensemble.servers')" = "$n" ] || { echo "status did not see $n servers" >&2; exit 1; }

  hyperfine --warmup 5 --runs 50 -N --export-json "$out/status$n.json" \
    -n "zk-ensemble status ($n)" "$bin --zk $ZK status"
  hyperfine --warmup 3 --runs 30 --export-json "$out/nc$n.json" \
    -n "echo mntr | nc, loop ($n)" "for p in $ports; do echo mntr | nc 127.0.0.1 \$p >/dev/null; done"
  hyperfine --warmup 3 --runs 20 --export-json "$out/nc5w$n.json" \
    -n "five words | nc, loop ($n)" \
    "for p in $ports; do for w in mntr srvr conf isro ruok; do echo \$w | nc 127.0.0.1 \$p >/dev/null; done; done"
  hyperfine --warmup 1 --runs 3 --export-json "$out/zkserver$n.json" \
    -n "zkServer.sh status, loop ($n)" \
    "for i in \$(seq $n); do $zkserver status $ZK_LOCAL_DIR/server\$i/zoo.cfg >/dev/null 2>&1; done"
done

python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
def stats(name):
    r = json.load(open(os.path.join(d, name)))["results"][0]
    return r["median"] * 1000, r["min"] * 1000, r["max"] * 1000
print()
print(f"{'what':36} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
for n in (3, 5):
    for label, f in [(f"zk-ensemble status, {n} servers", f"status{n}.json"),
                     (f"echo mntr | nc loop, {n} servers", f"nc{n}.json"),
                     (f"five words | nc loop, {n} servers", f"nc5w{n}.json"),
                     (f"zkServer.sh status loop, {n} servers", f"zkserver{n}.json")]:
        med, lo, hi = stats(f)
        print(f"{label:36} {med:10.1f} {lo:8.1f} {hi:8.1f}")
s5, nc5, w5, zs5 = (stats(f)[0] for f in ("status5.json", "nc5.json", "nc5w5.json", "zkserver5.json"))
print(f"5 servers: zk-ensemble status {s5:.1f} ms (target < 50 ms: {'met' if s5 < 50 else 'MISSED'}); "
      f"mntr|nc loop {nc5 / s5:.2f}x its time, five-word loop {w5 / s5:.1f}x, zkServer.sh status {zs5 / s5:.0f}x")
PY
