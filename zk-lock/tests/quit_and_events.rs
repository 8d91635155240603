//! SIGQUIT is a stop signal like SIGTERM (issue 11), and events that cannot
//! be written are said, not swallowed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{lock, lock_with_long_session, wait_for_queue, wait_for_queue_to_shrink};
use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared};

const T: Duration = Duration::from_secs(20);

#[test]
fn sigquit_while_waiting_exits_131_and_removes_the_queued_node() {
    require_zookeeper!();
    let connect = shared().chroot("lock-sigquit-waiting");
    let holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    for args in [&["/l", "--", "true"][..], &["/l"]] {
        let mut waiter = lock_with_long_session().zk(&connect).spawn(args);
        wait_for_queue(&connect, "/l", 2);
        waiter.signal(Signal::SIGQUIT);
        // Killed by the default action, it would have no exit code at all,
        // and its node would stay until the session expired.
        assert_eq!(waiter.wait(T).code(), Some(131), "{args:?}");
        let queue = wait_for_queue_to_shrink(&connect, "/l", 1);
        assert_eq!(queue[0]["state"], "holding");
    }
}

#[test]
fn sigquit_to_a_holder_without_a_command_releases_like_sigterm() {
    require_zookeeper!();
    let connect = shared().chroot("lock-sigquit-holding");
    let mut holder = lock_with_long_session().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    holder.signal(Signal::SIGQUIT);
    assert_eq!(holder.next_json(T)["event"], "released");
    assert_eq!(holder.wait(T).code(), Some(0));
    wait_for_queue_to_shrink(&connect, "/l", 0);
}

#[test]
fn events_that_cannot_be_written_are_said_once_and_the_command_still_runs() {
    require_zookeeper!();
    let connect = shared().chroot("lock-events-full");
    let ran = lock()
        .zk(&connect)
        .run(&["--events", "/dev/full", "/l", "--", "sh", "-c", "exit 3"]);
    // The command's status, as always: the events are a report, not the work.
    assert_eq!(ran.code(), 3, "{}", ran.stderr());
    let said: Vec<&str> = ran
        .stderr()
        .lines()
        .filter(|l| l.contains("--events /dev/full"))
        .map(|_| "")
        .collect();
    assert_eq!(said.len(), 1, "said once: {}", ran.stderr());
    assert!(ran.stderr().contains("No space left"), "{}", ran.stderr());
}

#[test]
fn an_events_file_that_cannot_be_opened_exits_74() {
    require_zookeeper!();
    let connect = shared().chroot("lock-events-open");
    let ran =
        lock()
            .zk(&connect)
            .run(&["--events", "/proc/version/events.jsonl", "/l", "--", "true"]);
    assert_eq!(ran.code(), 74, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("--events /proc/version/events.jsonl"),
        "{}",
        ran.stderr()
    );
    wait_for_queue(&connect, "/l", 0);
}

#[test]
fn a_lock_made_by_another_identity_is_named_as_such() {
    require_zookeeper!();
    let connect = shared().chroot("lock-other-identity");
    let holder =
        lock()
            .zk(&connect)
            .spawn(&["--auth", "digest:alice:secret", "--acl", "creator", "/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let ran = lock()
        .zk(&connect)
        .run(&["--timeout", "5s", "/l", "--", "true"]);
    assert_eq!(ran.code(), 77, "{}", ran.stderr());
    let stderr = ran.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/l belongs to another identity"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}
