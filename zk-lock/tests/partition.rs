//! zk-lock when the holder's server is cut off from its peers but not from
//! the holder: the follower answers the holder's pings from its own state
//! while the leader expires the holder's session and hands the lock on.
//! Only a confirmation through the leader can tell the holder in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use zk_testkit::{
    assert_handed_over, exclusive, owner_command, pause, require_zookeeper, resume, wait_for_file,
    wait_until, Ensemble, Proxy, Tool, Zk,
};

fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

const T: Duration = Duration::from_secs(60);

/// The holder talks only to `server`, a waiter to the other servers;
/// `fault` is applied once the waiter queued; the holder must be gone
/// before the waiter's command starts, and exit 79. Returns the holder's
/// events.
fn hand_over_after(ensemble: Ensemble, server: usize, fault: impl FnOnce(&mut Ensemble)) -> String {
    let others = ensemble.connect_string_except(server);
    hand_over_to(ensemble, server, &others, fault)
}

/// [`hand_over_after`] with the waiter talking to `others` only.
fn hand_over_to(
    mut ensemble: Ensemble,
    server: usize,
    others: &str,
    fault: impl FnOnce(&mut Ensemble),
) -> String {
    let others = others.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (events, held, waited) = (
        dir.path().join("events"),
        dir.path().join("holder"),
        dir.path().join("waiter"),
    );

    let mut holder = lock().zk(&ensemble.address(server)).spawn(&[
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
    let on_others = Zk::connect(&others).unwrap();
    wait_until("the waiter queued", T, || {
        on_others.children("/l").map_or(0, |c| c.len()) == 2
    });

    let cut = Instant::now();
    fault(&mut ensemble);
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
    log
}

#[test]
fn fault_follower_cut_off_from_the_leader_never_gives_two_holders() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    // An isolated follower serves on for syncLimit (10 s), far past the
    // holder's 4 s session.
    let ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let log = hand_over_after(ensemble, follower, |e| e.isolate(follower).unwrap());
    // Still connected to its follower, which answered every ping: the
    // reason is the leader's silence, not a disconnect.
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.contains(r#""event":"lost""#)
            && last.contains("leader has not confirmed our session")
            && !last.contains("disconnected"),
        "events:\n{log}"
    );
}

/// The turn comes through a follower that is cut off from the leader right
/// after it passed the news on: the waiter's node is first, but no leader
/// can confirm its session, so the command never starts and it exits as
/// lost (79), saying so, with a `lost` event.
#[test]
fn fault_a_turn_granted_by_a_cut_off_follower_never_starts_the_command() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, ran) = (dir.path().join("events"), dir.path().join("ran"));

    // Holds with no command, saying `acquired` on stdout.
    let mut holder = lock().zk(&ensemble.address(leader)).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    // The waiter talks to the follower only, so no other server can confirm it.
    let mut waiter = lock().zk(&ensemble.address(follower)).spawn(&[
        "--session-timeout",
        "4s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "--",
        "touch",
        ran.to_str().unwrap(),
    ]);
    let on_follower = Zk::connect(&ensemble.address(follower)).unwrap();
    wait_until("the waiter queued", T, || {
        on_follower.children("/l").map_or(0, |c| c.len()) == 2
    });

    // Frozen, the waiter cannot act on the news before the cut: the
    // follower applies the release and sends the watch event, then loses
    // the leader; the waiter reads its turn from the follower's state.
    pause(waiter.pid());
    holder.close_stdin();
    assert_eq!(holder.wait(T).code(), Some(0));
    wait_until("the follower saw the release", T, || {
        on_follower.children("/l").map_or(0, |c| c.len()) == 1
    });
    ensemble.isolate(follower).unwrap();
    resume(waiter.pid());

    let status = waiter.wait(T);
    let log = std::fs::read_to_string(&events).unwrap_or_default();
    let stderr = waiter.stderr_so_far();
    assert_eq!(status.code(), Some(79), "events:\n{log}\nstderr:\n{stderr}");
    assert!(!ran.exists(), "the command ran on an unconfirmed turn");
    assert!(
        stderr.contains("lost the lock /l before the command started"),
        "{stderr}"
    );
    let last = log.lines().last().unwrap_or_default();
    assert!(last.contains(r#""event":"lost""#), "events:\n{log}");
}

/// The leader the holder talks to is deposed without knowing it: its
/// followers lose their quorum links on their side only and elect a new
/// leader among themselves, while it serves on for syncLimit (10 s) and
/// answers every `sync` at once. The new leader expires the holder's 4 s
/// session and the waiter runs; the holder must have stopped by then. Only
/// a confirmation that needs a quorum (a write) tells the holder in time.
#[test]
fn fault_a_deposed_leader_never_confirms_the_lease() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    hand_over_after(ensemble, leader, |e| {
        e.depose(leader).unwrap();
        // The deposed leader still says it leads: the others elect anew.
        wait_until("a new leader", T, || {
            (0..3).any(|i| i != leader && e.mode(i).as_deref() == Some("leader"))
        });
    });
}

/// Five servers split {leader, one follower} | {three followers}, the
/// three resetting their side of the links, so they elect a new leader at
/// once, which expires the holder's session. The leader keeps one follower
/// and serves on for syncLimit (10 s), answering every read and `sync`. The minority is no quorum, so the holder's
/// confirming write goes unanswered and its lease lapses first.
#[test]
fn fault_a_leader_left_in_a_minority_never_confirms_the_lease() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let ensemble = Ensemble::start_partitionable(5).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..5).find(|&i| i != leader).unwrap();
    let minority = [leader, follower];
    let majority = (0..5)
        .filter(|i| !minority.contains(i))
        .map(|i| ensemble.address(i))
        .collect::<Vec<_>>()
        .join(",");
    hand_over_to(ensemble, leader, &majority, |e| {
        e.split_deposing(&minority).unwrap();
        wait_until("a new leader in the majority", T, || {
            (0..5).any(|i| !minority.contains(&i) && e.mode(i).as_deref() == Some("leader"))
        });
    });
}

/// A reconnect renegotiates the session timeout against the new server's
/// `maxSessionTimeout`, and that server's touches carry the new timeout to
/// the leader. The holder asks 10 s and gets it from one server, moves to a
/// server that allows 2 s, and is then cut off: the leader expires it about
/// 2 s later, and the window must have shrunk with the session. The
/// command ignores SIGTERM, as one that cleans up during its kill-after
/// does, so it runs until SIGKILL.
#[test]
fn fault_a_session_renegotiated_shorter_on_reconnect_shrinks_the_window() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    ensemble.configure(2, &["maxSessionTimeout=2000"]).unwrap();
    ensemble.wait_quorum(T).unwrap();
    let roomy = Proxy::start(&ensemble.address(0)).unwrap();
    let strict = Proxy::start(&ensemble.address(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, held, waited) = (
        dir.path().join("events"),
        dir.path().join("holder"),
        dir.path().join("waiter"),
    );

    // The first session comes from the server that allows 10 s.
    strict.refuse(true);
    let mut holder = lock()
        .zk(&format!("{},{}", roomy.address(), strict.address()))
        .spawn(&[
            "--session-timeout",
            "10s",
            "-v",
            "--events",
            events.to_str().unwrap(),
            "/l",
            "-c",
            &format!("trap '' TERM; {}", owner_command(&held)),
        ]);
    wait_for_file(&held, T);
    let _waiter = lock()
        .zk(&ensemble.address(1))
        .spawn(&["/l", "-c", &owner_command(&waited)]);
    let zk = Zk::connect(&ensemble.address(1)).unwrap();
    wait_until("the waiter queued", T, || {
        zk.children("/l").map_or(0, |c| c.len()) == 2
    });

    // The holder moves to the strict server and gets 2 s there.
    strict.refuse(false);
    roomy.refuse(true);
    roomy.reset();
    wait_until("the holder reconnected", T, || {
        strict.open_connections() == 1
    });
    // Long enough for the reconnect to settle and rounds to be confirmed
    // on the new terms.
    std::thread::sleep(Duration::from_secs(2));
    // And the lease holds on them: rounds now come every 225 ms (half the
    // 450 ms grace), not at the old window's 1.25 s, which would let the
    // shrunk lease run out between two rounds of a healthy connection.
    assert_eq!(
        holder.child.try_wait().unwrap(),
        None,
        "the holder gave up on the new terms before any fault:\n{}",
        holder.stderr_so_far()
    );
    strict.blackhole();
    let cut = Instant::now();
    wait_for_file(&waited, T);
    eprintln!("the waiter entered {:?} after the cut", cut.elapsed());
    let status = holder.wait(T);
    eprintln!(
        "the holder exited ({status}) {:?} after the cut",
        cut.elapsed()
    );

    let log = std::fs::read_to_string(&events).unwrap_or_default();
    let stderr = holder.stderr_so_far();
    assert_handed_over(
        &held,
        &waited,
        &format!("old owner's events:\n{log}\nstderr:\n{stderr}"),
    );
    assert_eq!(status.code(), Some(79), "events:\n{log}");
    assert!(
        stderr.contains("renegotiated from 10s to 2s"),
        "the shrink was not reported:\n{stderr}"
    );
}

/// Someone deletes the holder's node through the holder's own server,
/// which is then cut off from its peers. The deletion reached the holder as
/// a watch event before the cut, so it must stop at once and say why; a
/// confirmation round sent now would only hang on the cut-off server until
/// the lease ran out, while the next owner already runs.
#[test]
fn fault_a_node_deleted_just_before_a_partition_stops_the_holder_at_once() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, held) = (dir.path().join("events"), dir.path().join("holder"));

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
    // A few confirmation rounds, so the node watch is set.
    std::thread::sleep(Duration::from_secs(1));
    let on_follower = Zk::connect(&ensemble.address(follower)).unwrap();
    let node = on_follower
        .children("/l")
        .unwrap()
        .pop()
        .expect("the holder's node");
    // Answered by the follower once it applied the deletion, so the watch
    // event went out before the cut.
    on_follower.delete(&format!("/l/{node}")).unwrap();
    ensemble.isolate(follower).unwrap();

    let status = holder.wait(T);
    let log = std::fs::read_to_string(&events).unwrap_or_default();
    assert_eq!(status.code(), Some(79), "events:\n{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.contains(r#""event":"lost""#) && last.contains("the owning node was deleted"),
        "the holder did not stop on the deletion it was told of:\n{log}"
    );
}
