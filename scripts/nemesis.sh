#!/usr/bin/env bash
# Jepsen-style check that no two contenders ever own a lock or leadership at
# once, under random faults: server and leader kills, paused servers, cut
# client links, stopped and killed holders, foreign nodes, and a follower
# isolated from its peers (--no-partitions leaves that out). Starts its
# own 3-server ensemble; prints one JSON summary on stdout; exits 1 on any
# violation. The same --seed (and flags) replays the same fault schedule.
#
#   scripts/nemesis.sh [--minutes N] [--seed S] [--no-partitions] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
# The same build as CI's (a subset would unify features differently and
# rebuild every dependency); its logs go to stderr, stdout is the summary.
cargo build --workspace --all-targets --locked >&2
exec target/debug/zk-nemesis "$@"
