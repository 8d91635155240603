//! `zk-lock`: run a command while holding a distributed lock, the way
//! flock(1) does on one machine. Curator compatible: `InterProcessMutex`
//! and `InterProcessReadWriteLock` on the same path exclude us and are
//! excluded by us.

mod cli;
mod hold;
mod holders;
mod once;
mod revoke;

pub use cli::Cli;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Some(cli::Command::Holders(args)) => holders::run(&cli.common, args).await,
        Some(cli::Command::Break(args)) => revoke::run(&cli.common, args).await,
        None => hold::run(&cli.common, &cli.lock).await,
    }
}
