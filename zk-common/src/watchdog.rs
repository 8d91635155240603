//! The opt-in dead-man's switch (`--watchdog`): a tiny guard process that
//! SIGKILLs the command's process group when the lease runs out and the
//! tool has not said otherwise.
//!
//! The lease (see `lease`) is enforced by the tool, so a tool that is
//! itself frozen (`kill -STOP` of the tool alone, a debugger, a process
//! starved of memory) cannot stop its command, while the command runs on.
//! Patroni solves this with a hardware or softdog watchdog device; we use a
//! second process: the tool feeds it the instant at which it would SIGKILL
//! the command itself (last confirmation + grace + kill-after, on the
//! system-wide monotonic clock), and the guard kills the group then unless
//! fed a later instant first. It lives in a process group of its own, so
//! the terminal's Ctrl-Z and Ctrl-C do not reach it, and it also kills the
//! group when the tool dies without disarming it, which covers the
//! grandchildren the parent-death signal does not.
//!
//! The guard itself is this same binary, started with a hidden first
//! argument (`--internal-watchdog PGID`), so there is nothing to install.

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::time::{clock_gettime, ClockId};
use nix::unistd::Pid;
use tokio::time::Instant;

/// The hidden first argument that turns a tool into the guard.
pub const ARG: &str = "--internal-watchdog";

/// The tool's end: feeds and disarms the guard.
pub struct Watchdog {
    child: Child,
    feed: Option<ChildStdin>,
}

impl Watchdog {
    /// Starts the guard for the process group `group`.
    pub fn start(group: u32) -> std::io::Result<Watchdog> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(ARG)
            .arg(group.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        let feed = child.stdin.take();
        Ok(Watchdog { child, feed })
    }

    /// The guard kills the group at `kill_at` unless fed again before.
    pub fn feed(&mut self, kill_at: Instant) {
        let nanos = monotonic_nanos()
            .saturating_add(kill_at.saturating_duration_since(Instant::now()).as_nanos());
        if let Some(feed) = self.feed.as_mut() {
            if let Err(err) = writeln!(feed, "{nanos}") {
                tracing::warn!("feeding the watchdog: {err}");
            }
        }
    }

    /// The command has been reaped: the guard may go.
    pub fn disarm(mut self) {
        if let Some(mut feed) = self.feed.take() {
            let _ = writeln!(feed, "disarm");
        }
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watchdog({})", self.child.id())
    }
}

fn monotonic_nanos() -> u128 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| Duration::from(t).as_nanos())
        .unwrap_or(0)
}

/// What the guard heard on its pipe.
enum Heard {
    KillAt(u128),
    Disarm,
    /// The tool is gone without disarming us.
    Closed,
}

/// The guard's main: `--internal-watchdog PGID`, fed on stdin.
pub fn run(group: Option<&str>) -> ExitCode {
    let Some(group) = group.and_then(|g| g.parse::<i32>().ok()).filter(|&g| g > 1) else {
        eprintln!("{ARG} needs a process group id");
        return ExitCode::from(crate::exit::USAGE);
    };
    let group = Pid::from_raw(group);
    let (heard, rx) = std::sync::mpsc::channel();
    // A reader thread turns the pipe into messages; the main thread waits
    // for the next one or for the deadline, whichever comes first.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let message = match line.as_deref().map(str::trim) {
                Ok("disarm") => Heard::Disarm,
                Ok(n) => match n.parse() {
                    Ok(n) => Heard::KillAt(n),
                    Err(_) => continue,
                },
                Err(_) => break,
            };
            if heard.send(message).is_err() {
                return;
            }
        }
        let _ = heard.send(Heard::Closed);
    });
    let mut kill_at: Option<u128> = None;
    loop {
        let wait = kill_at.map(|at| at.saturating_sub(monotonic_nanos()));
        let message = match wait {
            Some(0) => break,
            Some(nanos) => match rx.recv_timeout(Duration::from_nanos(nanos as u64)) {
                Ok(message) => message,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Heard::Closed,
            },
            None => rx.recv().unwrap_or(Heard::Closed),
        };
        match message {
            Heard::KillAt(at) => kill_at = Some(at),
            Heard::Disarm => return ExitCode::SUCCESS,
            Heard::Closed => break,
        }
    }
    // Unfed past the deadline, or orphaned: the command must not run on.
    let _ = killpg(group, Signal::SIGKILL);
    ExitCode::SUCCESS
}
