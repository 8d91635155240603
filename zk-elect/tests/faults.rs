//! zk-elect under faults: ZooKeeper's own leader killed, our leader
//! partitioned, our leader's health check failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use zk_testkit::{
    assert_no_overlap, exclusion_prefix, exclusive, require_zookeeper, shared, wait_for_file,
    Ensemble, Tool,
};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

/// The complete lines of an events file: the last may still be being
/// written.
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_for_event(path: &Path, name: &str) -> Value {
    let deadline = Instant::now() + T;
    loop {
        if let Some(e) = events(path).into_iter().find(|e| e["event"] == name) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "no {name} event in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fault_killing_zookeepers_leader_does_not_change_ours() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    let connect = ensemble.connect_string();
    let dir = tempfile::tempdir().unwrap();
    let (events_a, stop) = (dir.path().join("a"), dir.path().join("stop"));
    let script = format!("while [ ! -e {} ]; do sleep 0.02; done", stop.display());
    let mut a = elect().zk(&connect).spawn(&[
        "--id",
        "a",
        "--events",
        events_a.to_str().unwrap(),
        "/e",
        "-c",
        &script,
    ]);
    let elected = wait_for_event(&events_a, "elected");
    let b = elect().zk(&connect).spawn(&["--id", "b", "/e"]);
    assert_eq!(b.next_json(T)["event"], "candidate");

    let zk_leader = ensemble.leader().unwrap();
    ensemble.kill(zk_leader);
    ensemble.wait_quorum(T).unwrap();
    ensemble.restart(zk_leader).unwrap();
    // Our leader is still a: same node, same token, and b never took over.
    let survivor = (0..3).find(|&i| i != zk_leader).unwrap();
    let leader = elect()
        .zk(&ensemble.address(survivor))
        .run(&["leader", "/e"])
        .json();
    assert_eq!(leader["id"], "a");
    assert_eq!(leader["token"], elected["token"]);
    assert_eq!(
        b.next_line(Duration::from_millis(300)),
        None,
        "b must still be waiting"
    );
    std::fs::write(&stop, "").unwrap();
    assert_eq!(a.wait(T).code(), Some(0));
    assert!(
        !events(&events_a).iter().any(|e| e["event"] == "lost"),
        "{:?}",
        events(&events_a)
    );
    assert_eq!(b.next_json(T)["event"], "elected");
}

#[test]
fn fault_a_partitioned_leaders_command_stops_before_the_next_one_starts() {
    require_zookeeper!();
    let (connect, proxy, via_proxy) = shared().chroot_via_proxy("elect-partition");
    let dir = tempfile::tempdir().unwrap();
    let (events_a, alive, started) = (
        dir.path().join("a"),
        dir.path().join("alive"),
        dir.path().join("started"),
    );
    // The commands exclude each other by a flock: an overlap of any length
    // is recorded; the timestamps only tell by how much they missed.
    let exclusion = exclusion_prefix(&dir.path().join("flock"), &dir.path().join("OVERLAP"));
    let stamp = format!(
        "{exclusion}while :; do date +%s%N >> {}; sleep 0.01; done",
        alive.display()
    );
    let mut a = elect().zk(&via_proxy).spawn(&[
        "--session-timeout",
        "2s",
        "--id",
        "a",
        "--events",
        events_a.to_str().unwrap(),
        "/e",
        "-c",
        &stamp,
    ]);
    wait_for_event(&events_a, "elected");
    wait_for_file(&alive, T);
    let mut b = elect().zk(&connect).spawn(&[
        "--id",
        "b",
        "/e",
        "-c",
        &format!("{exclusion}date +%s%N > {}", started.display()),
    ]);

    proxy.blackhole();
    assert_eq!(a.wait(T).code(), Some(79));
    assert_eq!(b.wait(T).code(), Some(0));
    let started_at: u128 = wait_for_file(&started, T).trim().parse().unwrap();
    let last_alive: u128 = std::fs::read_to_string(&alive)
        .unwrap()
        .lines()
        .filter_map(|l| l.parse().ok())
        .max()
        .unwrap();
    assert_no_overlap(dir.path(), "");
    assert!(
        last_alive < started_at,
        "a's command ran until {last_alive}, after b's started at {started_at}"
    );
    let lost = wait_for_event(&events_a, "lost");
    assert!(
        lost["reason"].as_str().unwrap().contains("safe window"),
        "{lost}"
    );
}

#[test]
fn an_unhealthy_leader_steps_down_and_rejoin_brings_it_back() {
    require_zookeeper!();
    let connect = shared().chroot("elect-health");
    let dir = tempfile::tempdir().unwrap();
    let (ok, events_a) = (dir.path().join("ok"), dir.path().join("a"));
    std::fs::write(&ok, "").unwrap();
    let check = format!("test -e {}", ok.display());
    let mut a = elect().zk(&connect).spawn(&[
        "--id",
        "a",
        "--check",
        &check,
        "--interval",
        "100ms",
        "--rise",
        "1",
        "--fall",
        "2",
        "--rejoin",
        "--events",
        events_a.to_str().unwrap(),
        "/e",
        "--",
        "sleep",
        "60",
    ]);
    wait_for_event(&events_a, "elected");
    let b = elect().zk(&connect).spawn(&["--id", "b", "/e"]);
    assert_eq!(b.next_json(T)["event"], "candidate");

    std::fs::remove_file(&ok).unwrap();
    assert_eq!(
        b.next_json(T)["event"],
        "elected",
        "b takes over from the unhealthy leader"
    );
    let lost = wait_for_event(&events_a, "lost");
    assert!(
        lost["reason"]
            .as_str()
            .unwrap()
            .contains("health check failing"),
        "{lost}"
    );
    // Unhealthy, a is not even a candidate.
    let candidates = elect().zk(&connect).run(&["candidates", "/e"]).json();
    assert_eq!(candidates.as_array().unwrap().len(), 1, "{candidates}");

    std::fs::write(&ok, "").unwrap();
    let deadline = Instant::now() + T;
    loop {
        let candidates = elect().zk(&connect).run(&["candidates", "/e"]).json();
        if candidates.as_array().unwrap().len() == 2 {
            assert_eq!(candidates[1]["id"], "a", "a rejoined behind the new leader");
            break;
        }
        assert!(Instant::now() < deadline, "a never rejoined: {candidates}");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(a.wait(T).code(), Some(143));
}
