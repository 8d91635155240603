//! Every subcommand and option of zk-lock given hostile arguments (issue
//! 11): no run may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared};

#[test]
fn no_hostile_argument_makes_it_panic() {
    require_zookeeper!();
    let connect = shared().chroot("walk-lock");
    let cmd = zk_common::app::command::<zk_lock::Cli>();
    let (runs, panics) = zk_testkit::hostile::walk(
        env!("CARGO_BIN_EXE_zk-lock"),
        &cmd,
        &["--zk", &connect, "--connect-timeout", "2s"],
        Duration::from_secs(3),
    );
    eprintln!(
        "zk-lock: {runs} runs with hostile arguments, {} panicked",
        panics.len()
    );
    assert!(runs > 100, "the walk found only {runs} runs");
    assert!(panics.is_empty(), "{panics:#?}");
}

/// A chroot that puts PATH inside ZooKeeper's own tree (`--zk H/zookeeper`)
/// is a usage error, as `/zookeeper/...` itself is, and writes nothing there.
#[test]
fn a_chroot_into_zookeepers_own_tree_is_refused() {
    require_zookeeper!();
    zk_testkit::hostile::assert_chroot_into_zookeeper_refused(
        env!("CARGO_BIN_EXE_zk-lock"),
        &["/l", "--", "true"],
    );
}
