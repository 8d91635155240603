//! Running a command, or just holding on, while we own a node (a lock, a
//! leadership), and stopping the command the moment ownership is lost.

use anyhow::Result;
use tokio::io::AsyncReadExt;

use crate::exit;
use nix::sys::signal::Signal;

use crate::lease::{LeaseClock, Lost, Ownership};
use crate::queue::Ticket;
use crate::supervisor::{self, CommandSpec};

/// The environment every wrapped command gets: `ZK_CONNECT`, `ZK_NODE`,
/// `ZK_FENCING_TOKEN` (the node's czxid) and `ZK_SESSION_ID`.
pub fn command_env(
    connect: &str,
    ticket: &Ticket,
    session_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("ZK_CONNECT", connect.to_string()),
        ("ZK_NODE", ticket.node.clone()),
        ("ZK_FENCING_TOKEN", ticket.token.to_string()),
        ("ZK_SESSION_ID", session_id.to_string()),
    ]
}

/// Runs the command while ownership lasts; forwards our signals to its
/// process group; stops it when ownership is lost. Job control stops the
/// command with us and resumes it only if the lease survived the stop.
/// With `watchdog`, a dead-man's switch enforces the lease as well.
pub async fn run_command(
    ownership: Ownership,
    spec: &CommandSpec,
    env: &[(&str, String)],
    watchdog: bool,
) -> Result<(u8, Option<Lost>)> {
    // Handlers first, so no signal sent right after the spawn is missed.
    let mut signals = crate::signals::Forwarded::install()?;
    let mut job_control = crate::signals::JobControl::install()?;
    let clock = ownership.clock();
    // Nothing watched the lease since it was confirmed (events were
    // written, handlers installed): a lapsed one starts nothing.
    if let Some(lost) = clock.lapsed() {
        return Ok((exit::OWNERSHIP_LOST, Some(lost)));
    }
    let mut child = supervisor::spawn(spec, env)?;
    if watchdog {
        if let Err(err) = guard(&clock, &child) {
            child.stop(clock.kill_after()).await;
            return Err(err);
        }
    }
    let mut ownership = ownership;
    let lost = ownership.lost();
    tokio::pin!(lost);
    let outcome = loop {
        tokio::select! {
            biased;
            lost = &mut lost => {
                tracing::error!("lost ownership: {}", lost.reason());
                child.stop(clock.kill_after()).await;
                break (exit::OWNERSHIP_LOST, Some(lost));
            }
            code = child.wait() => break (code, None),
            signal = signals.recv() => {
                tracing::info!("forwarding {signal} to the command");
                child.signal(signal);
            }
            () = job_control.stop_requested() => {
                if let Some(lost) = suspend(&child, &clock) {
                    tracing::error!("lost ownership: {}", lost.reason());
                    child.wait().await;
                    break (exit::OWNERSHIP_LOST, Some(lost));
                }
            }
        }
    };
    clock.disarm();
    Ok(outcome)
}

/// Starts the dead-man's switch for a running command.
pub fn guard(clock: &LeaseClock, child: &supervisor::Supervised) -> Result<()> {
    let watchdog = crate::watchdog::Watchdog::start(child.pid())
        .map_err(|err| anyhow::anyhow!("cannot start the --watchdog guard: {err}"))?;
    clock.guard_with(watchdog);
    Ok(())
}

/// Ctrl-Z: stops the command's group, then ourselves. On SIGCONT the
/// command resumes only if the lease has not run out meanwhile; otherwise
/// it is killed while still stopped, before it runs another instruction.
pub fn suspend(child: &supervisor::Supervised, clock: &LeaseClock) -> Option<Lost> {
    child.signal(Signal::SIGSTOP);
    let stopped_at = tokio::time::Instant::now();
    crate::signals::stop_self();
    let stopped_for = stopped_at.elapsed();
    if clock.expired() {
        child.signal(Signal::SIGKILL);
        return Some(Lost::Stalled(stopped_for));
    }
    tracing::info!(
        "resumed after {}; the lease still holds",
        humantime::format_duration(stopped_for)
    );
    child.signal(Signal::SIGCONT);
    None
}

/// Resolves when stdin reaches EOF (or fails): how a tool holding something
/// without a command is told to let go.
pub async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 512];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Holds on with no command until stdin closes or we are told to stop.
pub async fn hold(mut ownership: Ownership) -> (u8, Option<Lost>) {
    tokio::select! {
        () = stdin_closed() => (exit::OK, None),
        _ = crate::signals::stop_requested() => (exit::OK, None),
        lost = ownership.lost() => (exit::OWNERSHIP_LOST, Some(lost)),
    }
}
