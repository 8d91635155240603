//! `zk-elect`: run one active copy of a command among many standbys, with
//! failover and no split brain. The election is Curator's `LeaderLatch`
//! layout (`PATH/_c_<uuid>-latch-<seq>`, the candidate's id as data), so
//! Java services using Curator and zk-elect candidates share one election.

mod candidate;
mod cli;
mod ready;
mod systems;
mod views;

pub use cli::Cli;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Some(cli::Command::Leader(args)) => views::leader(&cli.common, args).await,
        Some(cli::Command::Watch(args)) => views::watch(&cli.common, args).await,
        Some(cli::Command::Candidates(args)) => views::candidates(&cli.common, args).await,
        Some(cli::Command::Resign(args)) => views::resign(&cli.common, args).await,
        None => candidate::run(&cli.common, &cli.candidate).await,
    }
}
