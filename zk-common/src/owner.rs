//! Running a command, or just holding on, while we own a node (a lock, a
//! leadership), and stopping the command the moment ownership is lost.

use anyhow::Result;
use tokio::io::AsyncReadExt;
use zookeeper_client::Client;

use crate::exit;
use crate::lease::{watch_ownership, Lost, SafeWindow};
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

/// Runs the command while watching ownership; forwards our signals to its
/// process group; stops it when ownership is lost.
pub async fn run_command(
    client: &Client,
    node: &str,
    window: SafeWindow,
    spec: &CommandSpec,
    env: &[(&str, String)],
) -> Result<(u8, Option<Lost>)> {
    let mut signals = crate::signals::Forwarded::install()?;
    let mut child = supervisor::spawn(spec, env)?;
    let ownership = watch_ownership(client, node, window);
    tokio::pin!(ownership);
    loop {
        tokio::select! {
            code = child.wait() => return Ok((code, None)),
            signal = signals.recv() => {
                tracing::info!("forwarding {signal} to the command");
                child.signal(signal);
            }
            lost = &mut ownership => {
                tracing::error!("lost ownership of {node}: {}", lost.reason());
                child.stop(window.kill_after).await;
                return Ok((exit::OWNERSHIP_LOST, Some(lost)));
            }
        }
    }
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
pub async fn hold(client: &Client, node: &str, window: SafeWindow) -> (u8, Option<Lost>) {
    tokio::select! {
        () = stdin_closed() => (exit::OK, None),
        _ = crate::signals::stop_requested() => (exit::OK, None),
        lost = watch_ownership(client, node, window) => (exit::OWNERSHIP_LOST, Some(lost)),
    }
}
