//! zk-health deletes only what its own session owns: a deregistration that
//! reaches the server late, and a registration that another session has
//! replaced, leave the other session's node alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Running, Tool, Zk};
use zookeeper_client::Stat;

const T: Duration = Duration::from_secs(30);

fn health() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-health"))
}

fn next_event(process: &Running, name: &str) -> Value {
    loop {
        let e = process.next_json(T);
        if e["event"] == name {
            return e;
        }
    }
}

/// Every event name the process prints within `quiet` of the last one.
fn events_for(process: &Running, quiet: Duration) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(line) = process.next_line(quiet) {
        let e: Value = serde_json::from_str(&line).unwrap();
        names.push(e["event"].as_str().unwrap_or_default().to_string());
    }
    names
}

/// The node's stat as the leader has it: a plain read may come from a
/// follower that has not applied the latest change yet.
fn stat(zk: &Zk, path: &str) -> Result<Stat, zookeeper_client::Error> {
    zk.block_on(zk.client().sync(path))?;
    zk.block_on(zk.client().check_stat(path))?
        .ok_or(zookeeper_client::Error::NoNode)
}

fn session_of(e: &Value) -> i64 {
    let hex = e["session_id"].as_str().unwrap().trim_start_matches("0x");
    i64::from_str_radix(hex, 16).unwrap()
}

/// Instance A turns unhealthy while it cannot reach ZooKeeper, so its
/// deregistration waits in the client for the link to come back. Meanwhile
/// B starts with `--takeover` for the same id and replaces A's node. When
/// A's link returns, A's deregistration must not remove B's node (it has the
/// same path and, being fresh, the same version 0 as A's had).
#[test]
fn a_late_deregistration_leaves_the_successors_node_alone() {
    require_zookeeper!();
    let (connect, proxy, via_proxy) = shared().chroot_via_proxy("health-late-deregister");
    let zk = Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let healthy = dir.path().join("healthy");
    std::fs::write(&healthy, "").unwrap();
    let check = format!("test -f {}", healthy.display());

    // A long session, so A's session outlives the partition and its queued
    // request is delivered, not dropped with an expired session.
    let a = health().zk(&via_proxy).spawn(&[
        "-v",
        "--session-timeout",
        "30s",
        "/s",
        "--id",
        "x",
        "--check",
        &check,
        "--interval",
        "100ms",
        "--rise",
        "1",
        "--fall",
        "1",
    ]);
    let a_registered = next_event(&a, "registered");
    assert_eq!(
        stat(&zk, "/s/x").unwrap().ephemeral_owner,
        session_of(&a_registered)
    );

    // Cut A off: its connection ends, and reconnecting hangs in silence.
    proxy.blackhole();
    proxy.reset();
    a.wait_stderr("disconnected from ZooKeeper", T);
    std::fs::remove_file(&healthy).unwrap();
    loop {
        let e = next_event(&a, "check");
        if e["passed"] == false {
            break; // --fall 1: A deregisters now, with no server to hear it
        }
    }

    let b = health()
        .zk(&connect)
        .spawn(&["/s", "--id", "x", "--takeover", "--interval", "100ms"]);
    let b_registered = next_event(&b, "registered");
    let b_stat = stat(&zk, "/s/x").unwrap();
    assert_eq!(b_stat.ephemeral_owner, session_of(&b_registered));

    // A's link comes back; whatever A had queued reaches the server now.
    proxy.restore();
    proxy.reset();
    next_event(&a, "deregistered");
    let after = stat(&zk, "/s/x");
    assert!(
        after.as_ref().is_ok_and(
            |stat| stat.czxid == b_stat.czxid && stat.ephemeral_owner == b_stat.ephemeral_owner
        ),
        "A's deregistration must leave B's node {b_stat:?} alone; now {after:?}"
    );
    let b_events = events_for(&b, Duration::from_secs(1));
    assert!(
        !b_events.iter().any(|e| e == "deregistered"),
        "B lost its registration: {b_events:?}"
    );
}

/// `--takeover` replaces a node once, at start. The instance it replaced has
/// lost: it waits for the newer one to go instead of taking the node back.
#[test]
fn two_takeover_instances_settle_on_the_newer_one() {
    require_zookeeper!();
    let connect = shared().chroot("health-takeover-settles");
    let zk = Zk::connect(&connect).unwrap();
    let args = ["/s", "--id", "x", "--takeover", "--interval", "100ms"];
    let a = health().zk(&connect).spawn(&args);
    next_event(&a, "registered");
    let mut b = health().zk(&connect).spawn(&args);
    let b_registered = next_event(&b, "registered");
    assert_eq!(
        next_event(&a, "deregistered")["reason"],
        "the node was deleted by someone else"
    );
    a.wait_stderr("held by another live session", T);
    let b_stat = stat(&zk, "/s/x").unwrap();
    assert_eq!(b_stat.ephemeral_owner, session_of(&b_registered));

    // Many probe rounds later B still holds the very node it created.
    let b_events = events_for(&b, Duration::from_secs(2));
    assert!(
        !b_events.iter().any(|e| e == "deregistered"),
        "A took the node back: B saw {b_events:?}"
    );
    let after = stat(&zk, "/s/x");
    assert!(
        after.as_ref().is_ok_and(|stat| stat.czxid == b_stat.czxid),
        "B's node {b_stat:?} was replaced: {after:?}"
    );

    // When B goes, A registers again.
    b.signal(nix::sys::signal::Signal::SIGTERM);
    b.wait(T);
    let again = next_event(&a, "registered");
    assert_eq!(
        stat(&zk, "/s/x").unwrap().ephemeral_owner,
        session_of(&again)
    );
}

#[test]
fn takeover_refuses_a_persistent_node() {
    require_zookeeper!();
    let connect = shared().chroot("health-takeover-persistent");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/s/x").unwrap();
    let mut process = health()
        .zk(&connect)
        .spawn(&["/s", "--id", "x", "--takeover"]);
    process.wait_stderr("is a persistent node", T);
    assert_eq!(process.wait(T).code(), Some(2));
    let stat = stat(&zk, "/s/x").unwrap();
    assert_eq!(stat.ephemeral_owner, 0, "the persistent node stays");
}

#[test]
fn acl_creator_protects_the_registration_and_the_parents_it_creates() {
    require_zookeeper!();
    let connect = shared().chroot("health-acl-creator");
    let mut process = health().zk(&connect).spawn(&[
        "--auth",
        "digest:owner:secret",
        "--acl",
        "creator",
        "/s/web",
        "--id",
        "a",
    ]);
    next_event(&process, "registered");
    let zk = Zk::connect(&connect).unwrap();
    for path in ["/s", "/s/web", "/s/web/a"] {
        zk.assert_creator_acl(path, "owner");
    }
    assert!(
        zk.delete("/s/web/a").is_err(),
        "deleted without the credential"
    );
    // Registered and wrapping nothing, SIGTERM is an orderly stop.
    process.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(process.wait(T).code(), Some(0));
}

/// Without --takeover a persistent node at our path would be waited for
/// forever (it is "held by session 0x0"): it is refused at once instead.
#[test]
fn a_persistent_node_at_our_path_is_refused_without_takeover_too() {
    require_zookeeper!();
    let connect = shared().chroot("health-persistent");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/s").unwrap();
    zk.create("/s/x", b"keep me", zookeeper_client::CreateMode::Persistent)
        .unwrap();
    let mut process = health().zk(&connect).spawn(&["/s", "--id", "x"]);
    process.wait_stderr("/s/x is a persistent node", T);
    let status = process.wait(T);
    let stderr = process.stderr_so_far();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains("0x0"),
        "not 'held by session 0x0': {stderr}"
    );
    let (data, stat) = zk.get("/s/x").unwrap();
    assert_eq!(
        (data.as_slice(), stat.ephemeral_owner),
        (&b"keep me"[..], 0)
    );
}
