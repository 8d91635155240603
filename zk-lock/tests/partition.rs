//! zk-lock when the holder's server is cut off from its peers but not from
//! the holder: the follower answers the holder's pings from its own state
//! while the leader expires the holder's session and hands the lock on.
//! Only a confirmation through the leader can tell the holder in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use zk_testkit::{
    assert_handed_over, exclusive, owner_command, require_zookeeper, wait_for_file, Ensemble, Tool,
};

fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

const T: Duration = Duration::from_secs(60);

#[test]
fn fault_follower_cut_off_from_the_leader_never_gives_two_holders() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    // An isolated follower serves on for syncLimit (10 s), far past the
    // holder's 4 s session.
    let mut ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let others = ensemble.connect_string_except(follower);
    let dir = tempfile::tempdir().unwrap();
    let (events, held, waited) = (
        dir.path().join("events"),
        dir.path().join("holder"),
        dir.path().join("waiter"),
    );

    let mut holder = lock().zk(&ensemble.address(follower)).spawn(&[
        "--session-timeout",
        "4s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &owner_command(&held),
    ]);
    wait_for_file(&held, T);
    let _waiter = lock().zk(&others).spawn(&[
        "--session-timeout",
        "4s",
        "/l",
        "-c",
        &owner_command(&waited),
    ]);
    // The waiter is queued behind the holder before the cut.
    let deadline = Instant::now() + T;
    while lock()
        .zk(&others)
        .run(&["holders", "/l"])
        .json()
        .as_array()
        .map_or(0, Vec::len)
        < 2
    {
        assert!(Instant::now() < deadline, "the waiter never queued");
        std::thread::sleep(Duration::from_millis(20));
    }

    ensemble.isolate(follower).unwrap();
    let cut = Instant::now();
    wait_for_file(&waited, T);
    eprintln!("the waiter entered {:?} after the cut", cut.elapsed());
    let status = holder.wait(T);
    eprintln!(
        "the holder exited ({status}) {:?} after the cut",
        cut.elapsed()
    );

    let log = std::fs::read_to_string(&events).unwrap_or_default();
    assert_handed_over(&held, &waited, &format!("old owner's events:\n{log}"));
    assert_eq!(status.code(), Some(79), "events:\n{log}");
}
