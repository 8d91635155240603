//! Ctrl-Z: SIGTSTP stops the tool, and the tool must stop its command with
//! it (the command runs in a process group of its own, which the
//! terminal's job control does not reach). On SIGCONT the command resumes
//! only if the lease survived the stop; otherwise it is killed while still
//! stopped. Overlap is judged by the heartbeats the commands wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared, wait_for_file, Tool};

fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

const T: Duration = Duration::from_secs(30);

fn stamps(path: &Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A command that stamps the time (one clock for every command) every
/// 10 ms and records its pid.
fn heartbeat(file: &Path, pid: &Path) -> String {
    format!(
        "echo $$ > {}; while :; do date +%s%N >> {}; sleep 0.01; done",
        pid.display(),
        file.display()
    )
}

/// The state letter of a process in /proc (T: stopped), if it exists.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// Stopped, or (D) waiting in vfork for a child that the same group stop
/// caught before it could exec: a shell loop is often found so.
fn stopped(pid: i32) -> bool {
    matches!(state(pid), Some('T' | 'D'))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ctrl_z_past_the_session_stops_the_command_with_the_tool_and_kills_it_on_resume() {
    require_zookeeper!();
    let connect = shared().chroot("lock-ctrl-z");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "2s",
        "/l",
        "-c",
        &heartbeat(&path("a"), &path("a.pid")),
    ]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    wait_until("the holder beats", || !stamps(&path("a")).is_empty());
    let mut contender =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &heartbeat(&path("b"), &path("b.pid"))]);

    holder.signal(Signal::SIGTSTP);
    wait_until("the command is stopped with the tool", || stopped(command));
    // The tool is stopped past its session: the contender takes over.
    wait_until("the contender beats", || !stamps(&path("b")).is_empty());
    holder.signal(Signal::SIGCONT);
    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "resumed past its lease, the holder must report the lock lost"
    );
    assert!(
        state(command).is_none(),
        "the stale command must be dead, not resumed"
    );
    let last_a = *stamps(&path("a")).iter().max().unwrap();
    let first_b = *stamps(&path("b")).iter().min().unwrap();
    assert!(
        last_a < first_b,
        "two holders at once: the stopped holder's command beat at {last_a}, after the contender's first beat at {first_b}"
    );
    contender.signal(Signal::SIGTERM);
    contender.wait(T);
}

#[test]
fn a_short_ctrl_z_stops_and_resumes_the_command_with_the_tool() {
    require_zookeeper!();
    let connect = shared().chroot("lock-ctrl-z-short");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut holder =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &heartbeat(&path("a"), &path("a.pid"))]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    holder.signal(Signal::SIGTSTP);
    let tool = holder.pid() as i32;
    wait_until("the tool and the command are stopped", || {
        state(tool) == Some('T') && stopped(command)
    });
    let beats = stamps(&path("a")).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stamps(&path("a")).len(),
        beats,
        "a stopped command must not beat"
    );
    holder.signal(Signal::SIGCONT);
    wait_until("the command beats again", || {
        stamps(&path("a")).len() > beats
    });
    holder.signal(Signal::SIGTERM);
    assert_eq!(holder.wait(T).code(), Some(143));
}

#[test]
fn with_watchdog_a_tool_frozen_alone_cannot_leave_its_command_running() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "2s",
        "--watchdog",
        "/l",
        "-c",
        &heartbeat(&path("a"), &path("a.pid")),
    ]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    wait_until("the holder beats", || !stamps(&path("a")).is_empty());
    let mut contender =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &heartbeat(&path("b"), &path("b.pid"))]);

    // SIGSTOP of the tool alone: nothing in it can act, only the guard.
    zk_testkit::pause(holder.pid());
    wait_until("the contender beats", || !stamps(&path("b")).is_empty());
    // A zombie: killed, and not yet reaped by its frozen parent.
    assert!(
        matches!(state(command), None | Some('Z')),
        "the guard must have killed the frozen tool's command"
    );
    let last_a = *stamps(&path("a")).iter().max().unwrap();
    let first_b = *stamps(&path("b")).iter().min().unwrap();
    assert!(
        last_a < first_b,
        "two holders at once: the frozen holder's command beat at {last_a}, after the contender's first beat at {first_b}"
    );
    zk_testkit::resume(holder.pid());
    assert_eq!(holder.wait(T).code(), Some(79));
    contender.signal(Signal::SIGTERM);
    contender.wait(T);
}
