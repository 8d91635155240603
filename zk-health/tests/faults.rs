//! zk-health while ZooKeeper itself is away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{exclusive, require_zookeeper, Ensemble, Tool, Zk};

const T: Duration = Duration::from_secs(30);

#[test]
fn fault_keeps_probing_while_zookeeper_is_down_and_registers_when_it_is_back() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(1).unwrap();
    ensemble.kill(0);
    let process = Tool::new(env!("CARGO_BIN_EXE_zk-health"))
        .zk(&ensemble.connect_string())
        .spawn(&[
            "--connect-timeout",
            "300ms",
            "/s",
            "--id",
            "a",
            "--check",
            "true",
            "--interval",
            "100ms",
            "--rise",
            "1",
            "--every-check",
        ]);
    // It probes, and fails to register, without giving up.
    let check = process.next_json(T);
    assert_eq!(check["event"], "check");
    assert_eq!(check["passed"], true);
    process.wait_stderr("no ZooKeeper session", T);
    assert_eq!(
        process.next_json(T)["event"],
        "check",
        "still probing after ZooKeeper refused"
    );
    ensemble.restart(0).unwrap();
    loop {
        let e = process.next_json(T);
        if e["event"] == "registered" {
            break;
        }
    }
    assert!(Zk::connect(&ensemble.connect_string())
        .unwrap()
        .exists("/s/a")
        .unwrap());
}

#[test]
fn fault_registers_again_after_a_server_restart_outlasted_its_session() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(1).unwrap();
    let process = Tool::new(env!("CARGO_BIN_EXE_zk-health"))
        .zk(&ensemble.connect_string())
        .spawn(&["--session-timeout", "2s", "/s", "--id", "a"]);
    let first = loop {
        let e = process.next_json(T);
        if e["event"] == "registered" {
            break e;
        }
    };
    ensemble.kill(0);
    // The client gives its session up while the server is away; only then
    // does the server come back, so the node must be made anew.
    loop {
        let e = process.next_json(T);
        if e["event"] == "deregistered" {
            break;
        }
    }
    ensemble.restart(0).unwrap();
    let again = loop {
        let e = process.next_json(T);
        if e["event"] == "registered" {
            break e;
        }
    };
    assert_ne!(again["session_id"], first["session_id"]);
    let zk = Zk::connect(&ensemble.connect_string()).unwrap();
    let (_, stat) = zk.get("/s/a").unwrap();
    assert_eq!(
        format!("0x{:x}", stat.ephemeral_owner),
        again["session_id"].as_str().unwrap(),
        "the node is the new session's"
    );
}
