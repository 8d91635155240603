//! zk-lock under faults: a server killed under the holder, the holder
//! partitioned from the ensemble, the holder frozen past its session. The
//! invariant checked everywhere: no other contender's command starts while
//! the holder's command still runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use zk_testkit::{
    assert_handed_over, assert_no_overlap, exclusion_prefix, exclusive, four_letter,
    heartbeat_command, heartbeats, require_zookeeper, shared, wait_until, Ensemble, Tool,
};

fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

const T: Duration = Duration::from_secs(30);

fn wait_for_file(path: &Path) -> String {
    zk_testkit::wait_for_file(path, T)
}

fn first_event(path: &Path) -> Value {
    serde_json::from_str(wait_for_file(path).lines().next().unwrap()).unwrap()
}

fn nanos(line: &str) -> u128 {
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a timestamp: {line:?}"))
}

#[test]
fn fault_killing_the_holders_server_does_not_disturb_the_command() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, stop) = (dir.path().join("events"), dir.path().join("stop"));
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; echo survived",
        stop.display()
    );
    let mut holder = lock().zk(&ensemble.connect_string()).spawn(&[
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &script,
    ]);
    let session = first_event(&events)["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sid = format!("sid={session}");
    let victim = (0..3)
        .find(|&i| {
            four_letter(&ensemble.address(i), "cons")
                .unwrap()
                .contains(&sid)
        })
        .unwrap();
    ensemble.kill(victim);
    // Wait until the session shows up on another server: it reconnected.
    let deadline = Instant::now() + T;
    while !(0..3).filter(|&i| i != victim).any(|i| {
        four_letter(&ensemble.address(i), "cons")
            .unwrap()
            .contains(&sid)
    }) {
        assert!(Instant::now() < deadline, "the holder never reconnected");
        std::thread::sleep(Duration::from_millis(50));
    }
    ensemble.restart(victim).unwrap();
    std::fs::write(&stop, "").unwrap();
    assert_eq!(
        holder.wait(T).code(),
        Some(0),
        "the command must run on through a server restart"
    );
    assert_eq!(
        holder.next_line(Duration::from_secs(1)).as_deref(),
        Some("survived")
    );
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(!log.contains("\"lost\""), "{log}");
}

#[test]
fn fault_a_partitioned_holders_command_dies_before_anyone_else_enters() {
    require_zookeeper!();
    let (connect, proxy, via_proxy) = shared().chroot_via_proxy("lock-partition");
    let dir = tempfile::tempdir().unwrap();
    let (events, alive, entered) = (
        dir.path().join("events"),
        dir.path().join("alive"),
        dir.path().join("entered"),
    );

    // The holder reaches ZooKeeper only through the proxy; one clock
    // (date +%s%N on this machine) stamps both commands.
    // The commands also exclude each other by a flock, which records an
    // overlap of any length; the stamps tell by how much they missed.
    let exclusion = exclusion_prefix(&dir.path().join("flock"), &dir.path().join("OVERLAP"));
    let holder_script = format!(
        "{exclusion}while :; do date +%s%N >> {}; sleep 0.01; done",
        alive.display()
    );
    let mut holder = lock().zk(&via_proxy).spawn(&[
        "--session-timeout",
        "2s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &holder_script,
    ]);
    let holder_token = first_event(&events)["token"].as_i64().unwrap();
    wait_for_file(&alive);
    let contender_script = format!(
        "{exclusion}date +%s%N > {}; echo $ZK_FENCING_TOKEN >> {}",
        entered.display(),
        entered.display()
    );
    let mut contender = lock().zk(&connect).spawn(&["/l", "-c", &contender_script]);

    proxy.blackhole();
    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "a partitioned holder must give up"
    );
    assert_eq!(contender.wait(T).code(), Some(0));
    let entered = wait_for_file(&entered);
    let mut lines = entered.lines();
    let entered_at = nanos(lines.next().unwrap());
    let contender_token: i64 = lines.next().unwrap().trim().parse().unwrap();
    let last_alive = std::fs::read_to_string(&alive)
        .unwrap()
        .lines()
        .map(nanos)
        .max()
        .unwrap();
    // Signed: on an overlap the difference is negative, and the assert
    // below, not an underflow, must report it.
    eprintln!(
        "holder's command last seen {} ms before the contender entered",
        (entered_at as i128 - last_alive as i128) / 1_000_000
    );
    assert_no_overlap(dir.path(), "");
    assert!(
        last_alive < entered_at,
        "the holder's command ran until {last_alive}, after the contender entered at {entered_at}"
    );
    assert!(contender_token > holder_token);
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(
        log.contains("\"lost\"") && log.contains("safe window"),
        "{log}"
    );
}

/// A holder whose connection is closed while every server stays silent:
/// the client knows it is disconnected, and the `lost` event says so, with
/// the safe window. (A holder still connected to a follower cut off from
/// its leader is told apart: partition.rs.)
#[test]
fn fault_a_holder_disconnected_when_its_lease_runs_out_says_so() {
    require_zookeeper!();
    let (_, proxy, via_proxy) = shared().chroot_via_proxy("lock-disconnected");
    let dir = tempfile::tempdir().unwrap();
    let (events, running) = (dir.path().join("events"), dir.path().join("running"));
    let mut holder = lock().zk(&via_proxy).spawn(&[
        "--session-timeout",
        "4s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &format!("echo up > {}; exec sleep 600", running.display()),
    ]);
    wait_for_file(&running);
    proxy.blackhole();
    proxy.reset();
    assert_eq!(holder.wait(T).code(), Some(79));
    let log = std::fs::read_to_string(&events).unwrap();
    let lost: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(lost["event"], "lost", "{log}");
    let reason = lost["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("disconnected from ZooKeeper for ")
            && reason.contains("has not confirmed our session for")
            && reason.ends_with("(the safe window)"),
        "{reason}"
    );
}

/// Kills a process group when dropped, so that a command left stopped by a
/// failed assertion does not outlive the test.
struct KillGroupOnDrop(i32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The holder, tool and command together, is frozen past its session while
/// a successor waits on the same lock; the successor takes over and its
/// command beats. On waking, the holder must kill its command before that
/// command runs again: judged by the heartbeats both commands recorded.
/// (Heartbeats, not a flock: the frozen command still exists, stopped, when
/// the successor starts, which is allowed; it must never beat again.)
///
/// Only the tool is woken, as job control wakes only the tool's group: the
/// tool alone decides whether its command ever runs again. (A command woken
/// by someone else before its tool can act, as in a paused VM, runs until
/// the tool wakes; that is what the fencing token is for.)
#[test]
fn fault_a_frozen_holder_is_stopped_on_waking_and_its_token_is_lower() {
    require_zookeeper!();
    let connect = shared().chroot("lock-frozen");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (events, a, b) = (path("events"), path("a"), path("b"));
    let script = format!(
        "echo $ZK_FENCING_TOKEN > {}; echo $$ > {}; {}",
        path("a.token").display(),
        path("a.pid").display(),
        heartbeat_command(&a)
    );
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "1s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &script,
    ]);
    let command_pid: i32 = wait_for_file(&path("a.pid")).trim().parse().unwrap();
    let _group = KillGroupOnDrop(command_pid);
    wait_until("the holder's command beats", T, || {
        !heartbeats(&a).is_empty()
    });
    let mut successor = lock().zk(&connect).spawn(&[
        "/l",
        "-c",
        &format!(
            "echo $ZK_FENCING_TOKEN > {}; {}",
            path("b.token").display(),
            heartbeat_command(&b)
        ),
    ]);
    wait_until("the successor waits on the lock", T, || {
        let holders = lock().zk(&connect).run(&["holders", "/l"]).json();
        holders.as_array().is_some_and(|h| h.len() == 2)
    });

    // Freeze the whole holder, tool and command, as a long GC or a stopped
    // job would; its session expires and the successor takes over.
    zk_testkit::pause(holder.pid());
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(command_pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    wait_until("the successor's command beats", T, || {
        !heartbeats(&b).is_empty()
    });
    zk_testkit::resume(holder.pid());

    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "on waking, the holder must find its lock gone"
    );
    assert!(
        !Path::new(&format!("/proc/{command_pid}")).exists(),
        "the command outlived the lock"
    );
    // The successor still runs: a stale command that ran again at any
    // point beat after the successor's first beat.
    assert_eq!(successor.child.try_wait().unwrap(), None);
    let log = std::fs::read_to_string(&events).unwrap_or_default();
    assert_handed_over(&a, &b, &log);
    let token = |name: &str| -> i64 { wait_for_file(&path(name)).trim().parse().unwrap() };
    let (token_a, token_b) = (token("a.token"), token("b.token"));
    assert!(
        token_a < token_b,
        "the stale holder's fencing token {token_a} must be lower than the new holder's {token_b}"
    );
    successor.signal(nix::sys::signal::Signal::SIGTERM);
    successor.wait(T);
}

#[test]
fn fault_a_waiter_whose_session_expired_queues_again_and_gets_the_lock() {
    require_zookeeper!();
    let connect = shared().chroot("lock-waiter-expired");
    let holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let waiter = lock()
        .zk(&connect)
        .spawn(&["--session-timeout", "1s", "-v", "/l"]);
    let queued = |n: usize| {
        let deadline = Instant::now() + T;
        loop {
            let holders = lock().zk(&connect).run(&["holders", "/l"]).json();
            if holders.as_array().unwrap().len() == n {
                return holders;
            }
            assert!(
                Instant::now() < deadline,
                "the queue never had {n} nodes: {holders}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let before = queued(2);
    // Frozen past its session timeout, the waiter loses its place.
    zk_testkit::pause(waiter.pid());
    queued(1);
    zk_testkit::resume(waiter.pid());
    waiter.wait_stderr("queueing again", T);
    let after = queued(2);
    assert_ne!(
        after[1]["session_id"], before[1]["session_id"],
        "it queued again with a new session"
    );
    let mut holder = holder;
    holder.close_stdin();
    assert_eq!(waiter.next_json(T)["event"], "acquired");
}

/// The holder's only server loses its quorum and turns read-only while the
/// holder still runs its command; a read-only server confirms nothing, so
/// the command is stopped. The session is long (30 s: a grace of 11.5 s
/// after the last confirmation) because a server turns read-only only 2 s
/// or more after it lost its quorum: with a short one the holder gives up
/// before, and the test would be one of quorum loss, not of read-only mode.
#[test]
fn fault_a_holder_whose_server_goes_read_only_stops_its_command() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start_read_only_capable(3).unwrap();
    let server = ensemble.leader().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, alive) = (dir.path().join("events"), dir.path().join("alive"));
    // Only that server: once it is cut off from the quorum, the holder has
    // nowhere to go but a server that can confirm nothing.
    let mut holder = lock().zk(&ensemble.address(server)).spawn(&[
        "--session-timeout",
        "30s",
        "--events",
        events.to_str().unwrap(),
        "/l",
        "-c",
        &zk_testkit::owner_command(&alive),
    ]);
    wait_for_file(&alive);
    for i in (0..3).filter(|&i| i != server) {
        ensemble.kill(i);
    }
    wait_until("the holder's server is read-only", T, || {
        ensemble.mode(server).as_deref() == Some("read-only")
    });
    // The phase this test is about: the server is read-only, and the
    // holder's command still runs (it beats after the server was seen so).
    let beats = heartbeats(&alive).len();
    assert_eq!(
        holder.child.try_wait().unwrap(),
        None,
        "the holder gave up before its server turned read-only; events: {}",
        std::fs::read_to_string(&events).unwrap_or_default()
    );
    wait_until("the command beats while its server is read-only", T, || {
        heartbeats(&alive).len() > beats
    });
    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "a read-only server keeps no lock alive; events: {}",
        std::fs::read_to_string(&events).unwrap_or_default()
    );
    assert_eq!(
        ensemble.mode(server).as_deref(),
        Some("read-only"),
        "the server must still be read-only when the holder gives up"
    );
    let log = std::fs::read_to_string(&events).unwrap();
    assert!(log.contains("\"lost\""), "{log}");
}
