#!/usr/bin/env bash
# Mutation testing of the ownership code: cargo-mutants changes one thing at
# a time in lease.rs, queue.rs, supervisor.rs, owner.rs (zk-common), hold.rs
# (zk-lock) and candidate.rs (zk-elect), and runs the tests that guard that
# file. A mutant the tests do not catch ("missed") is a hole in the tests,
# or an equivalent change: docs/mutants.md lists each with its test or its
# reason. Not run in CI (hours on a small machine).
#
#   scripts/mutants.sh                  every group below
#   scripts/mutants.sh common           lease.rs and queue.rs, zk-common's unit tests
#   scripts/mutants.sh common-it        all four zk-common files, zk-lock's integration
#                                       tests (owner.rs and supervisor.rs have no unit tests)
#   scripts/mutants.sh lock             hold.rs, zk-lock's tests
#   scripts/mutants.sh elect            candidate.rs, zk-elect's tests
#   scripts/mutants.sh lock --list      extra arguments go to cargo mutants
#
# Mutants are built and tested in place in the tree this script sits in, so
# run it from a worktree of its own (git worktree add), never the one you
# edit: `cargo mutants --in-place` restores each file, but an interrupted run
# can leave one mutated (`git checkout -- .` repairs it). Results go to
# target/mutants/GROUP/mutants.out (caught.txt, missed.txt, timeout.txt,
# unviable.txt). MUTANTS_TIMEOUT (seconds per mutant's tests, default 600)
# and ZK_TEST_BASE_PORT (default 23181) as for scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
scripts/zookeeper.sh install >/dev/null

# The integration tests share one ensemble, as under scripts/test.sh.
base=${ZK_TEST_BASE_PORT:-23181}
ZK_LOCAL_DIR=$(mktemp -d /tmp/zk-tools-mutants.XXXXXX)
export ZK_LOCAL_DIR ZK_BASE_PORT=$base ZK_ADMIN_BASE_PORT=$((base + 6000))
trap 'scripts/zookeeper.sh clean >/dev/null 2>&1 || true' EXIT
ZK_TEST_CONNECT=$(scripts/zookeeper.sh start 3)
export ZK_TEST_CONNECT CI=1

group=${1:-all}
shift || true

# In place is one job at a time: the machine is small, and the fault tests
# take turns anyway.
run() {
  local name=$1
  shift
  mkdir -p "target/mutants/$name"
  cargo mutants --in-place --no-shuffle \
    --timeout "${MUTANTS_TIMEOUT:-600}" --build-timeout 1800 \
    --output "target/mutants/$name" "$@" || true
  echo "== $name: $(for f in caught missed timeout unviable; do
    printf '%s %s  ' "$f" "$(wc -l <"target/mutants/$name/mutants.out/$f.txt" 2>/dev/null || echo 0)"
  done)"
}

common_files=(--file zk-common/src/lease.rs --file zk-common/src/queue.rs
              --file zk-common/src/supervisor.rs --file zk-common/src/owner.rs)
# The integration tests that exercise zk-common's ownership code through the
# real binary: loss of the lease, partitions, job control, signals, queueing.
lock_tests=(--test exclusion --test exits --test faults --test job_control
            --test partition --test signals --test quit_and_events --test hostile
            --test environment)
elect_tests=(--test transitions --test lease --test faults --test election)

group_common() {
  run common --file zk-common/src/lease.rs --file zk-common/src/queue.rs \
    --test-package zk-common "$@" -- --lib
}
group_common_it() {
  # cargo test applies --test NAME to every package given, so zk-lock's
  # alone: zk-common's unit tests are the `common` group.
  # cargo-mutants' baseline tests the mutated package (zk-common) whatever
  # --test-package says, and zk-common has no such test targets: skip it;
  # scripts/test.sh is the baseline.
  run common-it "${common_files[@]}" --test-package zk-lock --baseline skip "$@" \
    -- "${lock_tests[@]}"
}
group_lock() { run lock --file zk-lock/src/hold.rs --test-package zk-lock "$@" -- "${lock_tests[@]}"; }
group_elect() {
  run elect --file zk-elect/src/candidate.rs --test-package zk-elect "$@" -- "${elect_tests[@]}"
}

case $group in
  common) group_common "$@" ;;
  common-it) group_common_it "$@" ;;
  lock) group_lock "$@" ;;
  elect) group_elect "$@" ;;
  all) group_common "$@"; group_common_it "$@"; group_lock "$@"; group_elect "$@" ;;
  *) echo "usage: scripts/mutants.sh [common|common-it|lock|elect|all] [cargo mutants args]" >&2; exit 2 ;;
esac
