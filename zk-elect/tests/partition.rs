//! zk-elect when the leader's server is cut off from its peers but not
//! from the leader: the follower answers the leader's pings from its own
//! state while ZooKeeper's leader expires the session and another
//! candidate is elected. Only a confirmation that a quorum must commit can
//! tell our leader in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use zk_testkit::{
    assert_handed_over, exclusive, owner_command, require_zookeeper, wait_for_file, Ensemble, Tool,
};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(60);

/// Our leader talks only to `server`, a candidate to the other servers;
/// `fault` is applied once both stand; our leader must be gone before the
/// candidate's command starts.
fn hand_over_after(mut ensemble: Ensemble, server: usize, fault: impl FnOnce(&mut Ensemble)) {
    let others = ensemble.connect_string_except(server);
    let dir = tempfile::tempdir().unwrap();
    let (events, led, next) = (
        dir.path().join("events"),
        dir.path().join("leader"),
        dir.path().join("candidate"),
    );

    let mut leader = elect().zk(&ensemble.address(server)).spawn(&[
        "--session-timeout",
        "4s",
        "--id",
        "a",
        "--events",
        events.to_str().unwrap(),
        "/e",
        "-c",
        &owner_command(&led),
    ]);
    wait_for_file(&led, T);
    let _candidate = elect().zk(&others).spawn(&[
        "--session-timeout",
        "4s",
        "--id",
        "b",
        "/e",
        "-c",
        &owner_command(&next),
    ]);
    // The candidate stands behind the leader before the cut.
    let deadline = Instant::now() + T;
    while elect()
        .zk(&others)
        .run(&["candidates", "/e"])
        .json()
        .as_array()
        .map_or(0, Vec::len)
        < 2
    {
        assert!(Instant::now() < deadline, "the candidate never stood");
        std::thread::sleep(Duration::from_millis(20));
    }

    fault(&mut ensemble);
    let cut = Instant::now();
    wait_for_file(&next, T);
    eprintln!(
        "the candidate was elected {:?} after the cut",
        cut.elapsed()
    );
    let status = leader.wait(T);
    eprintln!(
        "the old leader exited ({status}) {:?} after the cut",
        cut.elapsed()
    );

    let log = std::fs::read_to_string(&events).unwrap_or_default();
    assert_handed_over(&led, &next, &format!("old owner's events:\n{log}"));
    assert_eq!(status.code(), Some(79), "events:\n{log}");
}

#[test]
fn fault_follower_cut_off_from_the_leader_never_gives_two_leaders() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    // An isolated follower serves on for syncLimit (10 s), far past the
    // leader's 4 s session.
    let ensemble = Ensemble::start_partitionable(3).unwrap();
    let zk_leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != zk_leader).unwrap();
    hand_over_after(ensemble, follower, |e| e.isolate(follower).unwrap());
}

/// Our leader talks to ZooKeeper's leader, which is deposed without
/// knowing it (its followers reset their links on their side and elect
/// another): it answers syncs for syncLimit (10 s) while the new leader
/// expires our 4 s session. Our leader's confirming writes fail at once.
#[test]
fn fault_a_deposed_zookeeper_leader_never_confirms_our_leadership() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let ensemble = Ensemble::start_partitionable(3).unwrap();
    let zk_leader = ensemble.leader().expect("a leader");
    hand_over_after(ensemble, zk_leader, |e| e.depose(zk_leader).unwrap());
}
