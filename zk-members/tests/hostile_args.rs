//! Every subcommand and option of zk-members given hostile arguments (issue
//! 11): no run may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared};

#[test]
fn no_hostile_argument_makes_it_panic() {
    require_zookeeper!();
    let connect = shared().chroot("walk-members");
    let cmd = zk_common::app::command::<zk_members::Cli>();
    let (runs, panics) = zk_testkit::hostile::walk(
        env!("CARGO_BIN_EXE_zk-members"),
        &cmd,
        &["--zk", &connect, "--connect-timeout", "2s"],
        Duration::from_secs(3),
    );
    eprintln!(
        "zk-members: {runs} runs with hostile arguments, {} panicked",
        panics.len()
    );
    assert!(runs > 100, "the walk found only {runs} runs");
    assert!(panics.is_empty(), "{panics:#?}");
}
