//! Running a command, or just holding on, while we own a node (a lock, a
//! leadership), and stopping the command the moment ownership is lost.

use anyhow::Result;
use tokio::io::AsyncReadExt;

use crate::exit;
use crate::lease::{Lost, Ownership};
use crate::queue::Ticket;
use crate::supervisor::{CommandSpec, Event, Supervisor};

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
    let mut supervisor = Supervisor::install()?;
    let clock = ownership.clock();
    // Nothing watched the lease since it was confirmed (events were
    // written, handlers installed): a lapsed one starts nothing.
    if let Some(lost) = clock.lapsed() {
        return Ok((exit::OWNERSHIP_LOST, Some(lost)));
    }
    supervisor.start(spec, env)?;
    if watchdog {
        if let Err(err) = supervisor.guard(&clock) {
            supervisor.stop(clock.kill_after()).await;
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
                supervisor.stop(clock.kill_after()).await;
                break (exit::OWNERSHIP_LOST, Some(lost));
            }
            event = supervisor.next() => match event {
                Event::Exited(code) => break (code, None),
                Event::Signal(signal) => {
                    tracing::info!("forwarding {signal} to the command");
                    supervisor.forward(signal);
                }
                Event::Suspend => {
                    if let Some(stalled) = supervisor.suspend(Some(&clock)) {
                        tracing::error!("lost ownership: {}", stalled.reason());
                        supervisor.wait().await;
                        break (exit::OWNERSHIP_LOST, Some(stalled));
                    }
                }
            },
        }
    };
    clock.disarm();
    Ok(outcome)
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
