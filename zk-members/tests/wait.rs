//! `zk-members wait` against a real ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::CreateMode;

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

#[test]
fn returns_when_the_third_member_joins() {
    require_zookeeper!();
    let connect = shared().chroot("wait-min");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/peers", b"", CreateMode::Persistent).unwrap();
    zk.create("/peers/a", b"", CreateMode::Ephemeral).unwrap();
    let mut waiter =
        members()
            .zk(&connect)
            .spawn(&["-v", "wait", "/peers", "--min", "3", "--timeout", "60s"]);
    // Acting once it is connected, so it is the wait that is tested.
    waiter.wait_stderr("connected to", Duration::from_secs(20));
    zk.create("/peers/b", b"", CreateMode::Ephemeral).unwrap();
    // Two of three: it must still be waiting. A line now would be a bug.
    assert_eq!(
        waiter.next_line(Duration::from_millis(500)),
        None,
        "returned with only two members"
    );
    zk.create("/peers/c", b"{\"n\":3}", CreateMode::Ephemeral)
        .unwrap();
    let snapshot = waiter.next_json(Duration::from_secs(20));
    let ids: Vec<_> = snapshot
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(waiter.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn waits_for_a_group_to_drain_and_for_a_group_that_does_not_exist_yet() {
    require_zookeeper!();
    let connect = shared().chroot("wait-drain");
    let zk = Zk::connect(&connect).unwrap();
    let mut waiter =
        members()
            .zk(&connect)
            .spawn(&["-v", "wait", "/later", "--count", "1", "--timeout", "60s"]);
    waiter.wait_stderr("connected to", Duration::from_secs(20));
    zk.create("/later", b"", CreateMode::Persistent).unwrap();
    zk.create("/later/x", b"", CreateMode::Persistent).unwrap();
    let snapshot = waiter.next_json(Duration::from_secs(20));
    assert_eq!(snapshot[0]["id"], "x");
    assert_eq!(waiter.wait(Duration::from_secs(10)).code(), Some(0));

    let mut drain =
        members()
            .zk(&connect)
            .spawn(&["-v", "wait", "/later", "--max", "0", "--timeout", "60s"]);
    drain.wait_stderr("connected to", Duration::from_secs(20));
    zk.delete("/later/x").unwrap();
    assert_eq!(
        drain.next_json(Duration::from_secs(20)),
        serde_json::json!([])
    );
    assert_eq!(drain.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn timeout_exits_75_and_says_how_far_it_got() {
    require_zookeeper!();
    let connect = shared().chroot("wait-timeout");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/peers", b"", CreateMode::Persistent).unwrap();
    zk.create("/peers/a", b"", CreateMode::Ephemeral).unwrap();
    let ran = members()
        .zk(&connect)
        .run(&["wait", "/peers", "--min", "3", "--timeout", "700ms"]);
    assert_eq!(ran.code(), 75, "{}", ran.stderr());
    assert!(ran.stdout().is_empty());
    let stderr = ran.stderr();
    assert!(
        stderr.contains("/peers") && stderr.contains("at least 3") && stderr.contains("it has 1"),
        "{stderr}"
    );
}

#[test]
fn sigterm_while_waiting_exits_143() {
    require_zookeeper!();
    let connect = shared().chroot("wait-signal");
    let mut waiter = members()
        .zk(&connect)
        .spawn(&["-v", "wait", "/never", "--min", "1"]);
    // Signal handlers are in place before the tool connects.
    waiter.wait_stderr("connected to", Duration::from_secs(20));
    waiter.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(waiter.wait(Duration::from_secs(10)).code(), Some(143));
}
