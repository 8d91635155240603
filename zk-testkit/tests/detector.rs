//! Controls for the overlap detector the lock and election tests rely on
//! (`owner_command`, `assert_no_overlap`, `assert_handed_over`): plain
//! `sh -c` owners, no ZooKeeper. Two owners run at once on purpose and the
//! asserts must fail; one after the other they must pass. A detector that
//! cannot fail proves nothing with its silence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use zk_testkit::{
    assert_handed_over, assert_no_overlap, heartbeat_command, heartbeats, owner_command, wait_until,
};

const T: Duration = Duration::from_secs(30);

/// `sh -c script` in a process group of its own, killed whole (the
/// heartbeat loop and anything it forked) on `stop` or drop.
struct Shell(Child);

impl Shell {
    fn start(script: &str) -> Shell {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Shell(child)
    }

    /// Starts `script`, which beats into `file`, and waits for its first beat.
    fn beating(script: &str, file: &Path) -> Shell {
        let shell = Shell::start(script);
        wait_until(&format!("{} beats", file.display()), T, || {
            !heartbeats(file).is_empty()
        });
        shell
    }

    fn stop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The message `f` panicked with; fails the test if it did not panic.
fn panic_message(what: &str, f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f))
        .err()
        .unwrap_or_else(|| panic!("{what} passed, but it had to fail"));
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn two_owner_commands_at_once_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let _first = Shell::beating(&owner_command(&a), &a);
    let _second = Shell::beating(&owner_command(&b), &b);

    let why = panic_message("assert_no_overlap", || {
        assert_no_overlap(dir.path(), "planted overlap")
    });
    assert!(
        why.contains("began while another still held the exclusion lock")
            && why.contains("planted overlap"),
        "{why}"
    );
    let why = panic_message("assert_handed_over", || assert_handed_over(&a, &b, ""));
    assert!(
        why.contains("began while another still held the exclusion lock"),
        "{why}"
    );
}

/// The heartbeat half of `assert_handed_over` on its own: commands with no
/// flock, so only their timestamps can tell they ran at once.
#[test]
fn heartbeats_of_two_commands_at_once_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let _first = Shell::beating(&heartbeat_command(&a), &a);
    let _second = Shell::beating(&heartbeat_command(&b), &b);
    // Both still beat, so the first's last beat follows the second's first.
    let first_b = heartbeats(&b)[0];
    wait_until("a beats again after b began", T, || {
        heartbeats(&a).last().is_some_and(|&t| t > first_b)
    });

    let why = panic_message("assert_handed_over", || assert_handed_over(&a, &b, ""));
    assert!(why.contains("two owners at once"), "{why}");
}

/// A handover from an owner whose command never ran proves nothing: it
/// must fail, not pass because nothing overlapped.
#[test]
fn a_handover_from_an_old_owner_that_never_beat_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let _second = Shell::beating(&owner_command(&b), &b);

    let why = panic_message("assert_handed_over", || {
        assert_handed_over(&a, &b, "old owner's events: none")
    });
    assert!(
        why.contains("the old owner's command never beat")
            && why.contains("old owner's events: none"),
        "{why}"
    );
}

/// The positive control: one owner after the other passes both asserts,
/// so the failures above are the overlap's, not the detector's.
#[test]
fn one_owner_after_the_other_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut first = Shell::beating(&owner_command(&a), &a);
    first.stop();
    // Every process holding the lock is dead once another can take it.
    let lock = dir.path().join("owner.flock");
    wait_until("the first owner's flock is free", T, || {
        Command::new("flock")
            .arg("-n")
            .arg(&lock)
            .arg("true")
            .status()
            .is_ok_and(|s| s.success())
    });
    let _second = Shell::beating(&owner_command(&b), &b);

    assert_no_overlap(dir.path(), "");
    assert_handed_over(&a, &b, "");
}
