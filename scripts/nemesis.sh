#!/usr/bin/env bash
# Jepsen-style check that no two contenders ever own a lock or leadership at
# once, under random faults: server and leader kills, paused servers, cut
# and slowed client links, stopped and killed holders, a --watchdog holder's
# stderr left unread until it blocks, foreign nodes, the
# leader frozen while its followers restart, and on peer links (left out by
# --no-partitions) a follower or the leader isolated, the leader deposed
# without knowing it, and with --servers 5 a minority holding the leader.
# Starts its own ensemble (3 servers unless --servers 5; the last one
# allows shorter sessions than the contenders ask); prints one JSON summary
# on stdout; exits 1 on any violation. The same --seed (and flags) replays
# the same fault schedule.
#
#   scripts/nemesis.sh [--minutes N] [--seed S] [--servers 3|5] [--no-partitions] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/zookeeper.sh install >/dev/null
# The same build as CI's (a subset would unify features differently and
# rebuild every dependency); its logs go to stderr, stdout is the summary.
cargo build --workspace --all-targets --locked >&2
exec target/debug/zk-nemesis "$@"
