//! `zk-health`: an ephemeral node that exists exactly while a service
//! passes its health checks, like Airbnb's nerve or a Consul check.

mod cli;
mod registration;

pub use cli::Cli;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    registration::run(&cli).await
}
