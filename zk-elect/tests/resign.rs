//! `zk-elect resign`: the leader is asked to step down (Curator's
//! `__REVOKE__` on its node), stops its command as on any loss, and the
//! next candidate leads only after; judged by the commands' own records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use zk_testkit::{
    assert_handed_over, heartbeats, owner_command, require_zookeeper, shared, wait_until, Tool,
};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

#[test]
fn a_resigned_leaders_command_is_gone_before_the_next_leader_starts() {
    require_zookeeper!();
    let connect = shared().chroot("elect-resign");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let events = path("a.events");
    let mut first = elect().zk(&connect).spawn(&[
        "--id",
        "first",
        "--events",
        events.to_str().unwrap(),
        "--kill-after",
        "1s",
        "/e",
        "-c",
        &format!("trap '' TERM; {}", owner_command(&path("a"))),
    ]);
    wait_until("the first leader beats", T, || {
        !heartbeats(&path("a")).is_empty()
    });
    let mut second =
        elect()
            .zk(&connect)
            .spawn(&["--id", "second", "/e", "-c", &owner_command(&path("b"))]);
    wait_until("two candidates stand", T, || {
        let ran = elect().zk(&connect).run(&["candidates", "/e"]);
        ran.json().as_array().is_some_and(|c| c.len() == 2)
    });

    // Naming a candidate that does not lead leaves the leader alone.
    let wrong = elect()
        .zk(&connect)
        .run(&["resign", "--leader", "second", "/e"]);
    assert_eq!(wrong.code(), 1, "{}", wrong.stderr());
    assert!(
        wrong.stderr().contains("is first, not"),
        "{}",
        wrong.stderr()
    );

    let resigned =
        elect()
            .zk(&connect)
            .run(&["resign", "--leader", "first", "--timeout", "20s", "/e"]);
    assert_eq!(resigned.code(), 0, "{}", resigned.stderr());
    let report = resigned.json();
    assert_eq!(report["outcome"], "released", "{report}");
    assert_eq!(report["id"], "first");

    assert_eq!(first.wait(T).code(), Some(79));
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|e| e["event"] == "revoked"),
        "no revoked event: {log}"
    );
    wait_until("the second leader beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    assert_handed_over(&path("a"), &path("b"), &log);
    second.signal(Signal::SIGTERM);
    second.wait(T);

    let nobody = elect().zk(&connect).run(&["resign", "/e"]);
    assert_eq!(nobody.code(), 0, "{}", nobody.stderr());
    assert!(
        nobody.stderr().contains("nobody leads"),
        "{}",
        nobody.stderr()
    );
}
