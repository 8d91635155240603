//! `zk-lock break`: the holder is asked to let go (Curator's `__REVOKE__`),
//! stops its command as on any loss and releases; `--force-after` deletes a
//! node whose owner does not listen. Handover is judged by the commands'
//! own records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{lock, wait_for_queue};
use serde_json::Value;
use zk_testkit::{
    assert_handed_over, heartbeats, owner_command, require_zookeeper, shared, wait_until,
    JavaClient, Zk,
};
use zookeeper_client::CreateMode;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_revoked_holders_command_is_gone_before_the_next_owner_starts() {
    require_zookeeper!();
    let connect = shared().chroot("lock-break");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let events = path("a.events");
    // The holder's command ignores SIGTERM: only the SIGKILL after
    // --kill-after ends it, and the next owner must wait for that.
    let mut holder = lock().zk(&connect).spawn(&[
        "--events",
        events.to_str().unwrap(),
        "--kill-after",
        "1s",
        "/l",
        "-c",
        &format!("trap '' TERM; {}", owner_command(&path("a"))),
    ]);
    wait_until("the holder beats", T, || !heartbeats(&path("a")).is_empty());
    let mut next = lock()
        .zk(&connect)
        .spawn(&["/l", "-c", &owner_command(&path("b"))]);
    wait_for_queue(&connect, "/l", 2);

    let broke = lock()
        .zk(&connect)
        .run(&["break", "--timeout", "20s", "/l"]);
    assert_eq!(broke.code(), 0, "{}", broke.stderr());
    let report = broke.json();
    assert_eq!(report["outcome"], "released", "{report}");
    assert_eq!(report["path"], "/l");

    let status = holder.wait(T);
    assert_eq!(status.code(), Some(79));
    let events = std::fs::read_to_string(&events).unwrap();
    let revoked: Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "revoked")
        .unwrap_or_else(|| panic!("no revoked event: {events}"));
    assert!(
        revoked["reason"].as_str().unwrap().contains("revoked"),
        "{revoked}"
    );
    assert_eq!(report["node"], revoked["node"]);

    wait_until("the next owner beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    assert_handed_over(&path("a"), &path("b"), &events);
    next.signal(nix::sys::signal::Signal::SIGTERM);
    next.wait(T);
}

#[test]
fn a_holder_that_does_not_listen_is_forced_after_the_delay_and_only_then() {
    require_zookeeper!();
    let connect = shared().chroot("lock-break-force");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/l").unwrap();
    // A holder that knows nothing of revocation: a bare Curator-style node.
    zk.create("/l/_c_x-lock-", b"deaf", CreateMode::EphemeralSequential)
        .unwrap();

    // Without --force-after it is only asked; --timeout gives up (75).
    let asked = lock().zk(&connect).run(&["break", "--timeout", "1s", "/l"]);
    assert_eq!(asked.code(), 75, "{}", asked.stderr());
    assert!(
        asked.stderr().contains("still exists"),
        "{}",
        asked.stderr()
    );
    assert_eq!(zk.children("/l").unwrap().len(), 1);
    let (data, _) = zk.get("/l/_c_x-lock-0000000000").unwrap();
    assert_eq!(data, b"__REVOKE__");

    let forced = lock()
        .zk(&connect)
        .run(&["break", "--force-after", "1s", "/l"]);
    assert_eq!(forced.code(), 0, "{}", forced.stderr());
    let report = forced.json();
    assert_eq!(report["outcome"], "forced", "{report}");
    assert!(report["waited_ms"].as_u64().unwrap() >= 1000, "{report}");
    assert!(zk.children("/l").unwrap().is_empty());
    assert_eq!(
        lock().zk(&connect).run(&["-n", "/l", "--", "true"]).code(),
        0
    );
}

#[test]
fn break_says_what_it_cannot_break() {
    require_zookeeper!();
    let connect = shared().chroot("lock-break-usage");
    let free = lock().zk(&connect).run(&["break", "/l"]);
    assert_eq!(free.code(), 0, "{}", free.stderr());
    assert!(free.stderr().contains("not held"), "{}", free.stderr());
    assert!(free.stdout().is_empty());

    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/s").unwrap();
    for _ in 0..2 {
        zk.create("/s/_c_x-sem2-lock-", b"{}", CreateMode::EphemeralSequential)
            .unwrap();
    }
    let ambiguous = lock().zk(&connect).run(&["break", "/s"]);
    assert_eq!(ambiguous.code(), 2, "{}", ambiguous.stderr());
    assert!(
        ambiguous.stderr().contains("--holder"),
        "{}",
        ambiguous.stderr()
    );
    let nobody = lock()
        .zk(&connect)
        .run(&["break", "--holder", "nobody", "/s"]);
    assert_eq!(nobody.code(), 1, "{}", nobody.stderr());
    // Named by its node's name, one of the two is asked; the other is not.
    let named = lock().zk(&connect).run(&[
        "break",
        "--holder",
        "_c_x-sem2-lock-0000000001",
        "--timeout",
        "500ms",
        "/s",
    ]);
    assert_eq!(named.code(), 75, "{}", named.stderr());
    assert_eq!(
        zk.get("/s/_c_x-sem2-lock-0000000001").unwrap().0,
        b"__REVOKE__"
    );
    assert_eq!(zk.get("/s/_c_x-sem2-lock-0000000000").unwrap().0, b"{}");
}

#[test]
fn a_revocable_curator_lock_is_revoked_by_break() {
    require_zookeeper!();
    let connect = shared().chroot("lock-break-curator");
    let java = JavaClient::compile("CuratorRevocable").unwrap();
    let mut worker = java
        .command(&[&connect, "/l"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(worker.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "HOLDING");
    let broke = lock().zk(&connect).run(&["break", "/l"]);
    assert_eq!(broke.code(), 0, "{}", broke.stderr());
    assert_eq!(broke.json()["outcome"], "released");
    assert_eq!(lines.next().unwrap().unwrap(), "RELEASED");
    assert!(worker.wait().unwrap().success());
    assert_eq!(
        lock().zk(&connect).run(&["-n", "/l", "--", "true"]).code(),
        0
    );
}
