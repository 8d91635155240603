#!/usr/bin/env bash
# Size and idle memory of the tools (issue: ship it), against a local
# 3-server ensemble:
#   - each binary's size as shipped (the one static zk-tools executable the
#     release installs, with a link per tool: "multicall"), as each tool's
#     own static binary ("static", what releases shipped before) and as
#     `cargo build --release` makes it (dynamically linked glibc);
#   - resident memory (VmRSS, and its anonymous part) of each long-running
#     tool once idle: zk-lock holding a lock around `sleep`, zk-elect leading,
#     zk-health registered and probing every second, zk-members watch and
#     zk-ensemble watch. Each is sampled once a second for SAMPLES seconds
#     (default 5) after it is ready; the table shows the largest sample.
#
#   scripts/bench-size.sh                 builds all three variants, measures them
#   BUILD=0 scripts/bench-size.sh         measures the binaries already built
#   VARIANTS=static scripts/bench-size.sh only the static build
#
# ZK_BASE_PORT picks the ensemble's ports (default 2181), as for zookeeper.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(zk-members zk-lock zk-elect zk-health zk-ensemble zk-tree)
variants=(${VARIANTS:-multicall static dynamic})
SAMPLES=${SAMPLES:-5}
dir_of() {
  case $1 in
    static) echo target/x86_64-unknown-linux-gnu/release ;;
    dynamic) echo target/release ;;
    multicall) echo "$work/multicall" ;;  # links to the static zk-tools
  esac
}

if [ "${BUILD:-1}" = 1 ]; then
  packages=()
  for tool in "${tools[@]}"; do packages+=(-p "$tool"); done
  for v in "${variants[@]}"; do
    case $v in
      static) RUSTFLAGS="-C target-feature=+crt-static" \
                cargo build --release --locked --quiet --target x86_64-unknown-linux-gnu --bins "${packages[@]}" ;;
      multicall) RUSTFLAGS="-C target-feature=+crt-static" \
                cargo build --release --locked --quiet --target x86_64-unknown-linux-gnu --bins -p zk-tools ;;
      dynamic) cargo build --release --locked --quiet --bins "${packages[@]}" ;;
      *) echo "bench-size.sh: VARIANTS takes multicall, static and dynamic, not '$v'" >&2; exit 2 ;;
    esac
  done
fi

scripts/zookeeper.sh install >/dev/null
ZK_LOCAL_DIR=$(mktemp -d /tmp/zk-tools-bench-size.XXXXXX)
export ZK_LOCAL_DIR
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/zookeeper.sh clean >/dev/null 2>&1 || true
  rm -rf "$work" "$ZK_LOCAL_DIR"
}
trap cleanup EXIT
ZK=$(scripts/zookeeper.sh start 3)
mkdir "$work/multicall"
for tool in "${tools[@]}"; do ln -s "$PWD/target/x86_64-unknown-linux-gnu/release/zk-tools" "$work/multicall/$tool"; done

# Polls CMD until it succeeds, for up to 20 s.
until_ok() {
  local i
  for ((i = 0; i < 200; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench-size.sh: not ready: $*" >&2
  return 1
}
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# Starts one idle tool in the background, waits until READY succeeds, then
# samples its memory; prints "tool rss_kib anon_kib".
measure() {
  local name=$1 ready=$2 pid i rss anon max_rss=0 max_anon=0
  shift 2
  "$@" > "$work/$name.out" 2> "$work/$name.err" &
  pid=$!
  pids+=("$pid")
  until_ok eval "$ready"
  sleep 2
  for ((i = 0; i < SAMPLES; i++)); do
    kill -0 "$pid" 2>/dev/null || { echo "bench-size.sh: $name exited: $(cat "$work/$name.err")" >&2; return 1; }
    rss=$(kib "$pid" VmRSS)
    anon=$(kib "$pid" RssAnon)
    ((rss > max_rss)) && max_rss=$rss
    ((anon > max_anon)) && max_anon=$anon
    sleep 1
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  echo "$name $max_rss $max_anon"
}

for v in "${variants[@]}"; do
  bin=$(dir_of "$v")
  for tool in "${tools[@]}"; do
    echo "size $v $tool $(stat -L -c %s "$bin/$tool")" >> "$work/results"
  done
  m=$bin/zk-members
  g=/bench-size-$v
  {
    measure zk-lock "$m --zk $ZK list $g/lock | grep -q lock-" \
      "$bin/zk-lock" --zk "$ZK" "$g/lock" -- sleep 600
    measure zk-elect "$bin/zk-elect --zk $ZK leader $g/elect" \
      "$bin/zk-elect" --zk "$ZK" "$g/elect" -- sleep 600
    measure zk-health "$m --zk $ZK wait $g/health --min 1 --timeout 1s" \
      "$bin/zk-health" --zk "$ZK" "$g/health" --id a --check true --interval 1s --rise 1
    measure "zk-members watch" "test -s $work/zk-members\\ watch.out" \
      "$m" --zk "$ZK" watch "$g/health"
    measure "zk-ensemble watch" "test -s $work/zk-ensemble\\ watch.out" \
      "$bin/zk-ensemble" --zk "$ZK" watch --interval 1s
  } | sed "s/^/rss $v /" >> "$work/results"
done

python3 - "$work/results" <<'PY'
import sys
size, rss = {}, {}
for line in open(sys.argv[1]):
    kind, variant, rest = line.split(" ", 2)
    if kind == "size":
        tool, n = rest.split()
        size[(variant, tool)] = int(n)
    else:
        *name, r, a = rest.split()
        rss[(variant, " ".join(name))] = (int(r), int(a))
order = ["multicall", "static", "dynamic"]
variants = sorted({v for v, _ in size}, key=order.index)
print("\nbinary size, stripped (MiB)")
print(f"{'tool':14}" + "".join(f"{v:>10}" for v in variants))
tools = ["zk-members", "zk-lock", "zk-elect", "zk-health", "zk-ensemble", "zk-tree"]
for tool in tools:
    print(f"{tool:14}" + "".join(f"{size[(v, tool)] / 2**20:10.2f}" for v in variants))
# Installed: one executable for multicall, every tool's own otherwise.
total = lambda v: size[(v, tools[0])] if v == "multicall" else sum(size[(v, t)] for t in tools)
print(f"{'installed':14}" + "".join(f"{total(v) / 2**20:10.2f}" for v in variants))
print("\nidle resident memory, MiB (VmRSS, of which anonymous)")
print(f"{'tool':20}" + "".join(f"{v:>18}" for v in variants))
for name in ["zk-lock", "zk-elect", "zk-health", "zk-members watch", "zk-ensemble watch"]:
    print(f"{name:20}" + "".join(f"{rss[(v, name)][0] / 1024:10.2f} ({rss[(v, name)][1] / 1024:4.2f})" for v in variants))
PY
