//! Every subcommand and option of zk-health given hostile arguments (issue
//! 11): no run may panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared};

#[test]
fn no_hostile_argument_makes_it_panic() {
    require_zookeeper!();
    let connect = shared().chroot("walk-health");
    let cmd = zk_common::app::command::<zk_health::Cli>();
    let (runs, panics) = zk_testkit::hostile::walk(
        env!("CARGO_BIN_EXE_zk-health"),
        &cmd,
        &["--zk", &connect, "--connect-timeout", "2s"],
        Duration::from_secs(3),
    );
    eprintln!(
        "zk-health: {runs} runs with hostile arguments, {} panicked",
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
    let before = zk_testkit::Zk::connect(shared().connect_string())
        .unwrap()
        .children("/zookeeper")
        .unwrap();
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_zk-health"))
        .args(["--zk", &format!("{}/zookeeper", shared().connect_string())])
        .args(["--id", "x", "/svc", "--", "sleep", "1"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("in ZooKeeper's own tree"), "{stderr}");
    let after = zk_testkit::Zk::connect(shared().connect_string())
        .unwrap()
        .children("/zookeeper")
        .unwrap();
    assert_eq!(before, after);
}
