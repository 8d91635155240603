//! `zk-members`: list, watch and wait for the members of a ZooKeeper group.
//!
//! A group is the set of children of one node, usually ephemeral nodes that
//! live as long as their owner's session (what `zk-health` registers, or
//! Curator's `GroupMember`). Members are listed in join order (czxid).

mod cli;
mod wait;
mod watch;

pub use cli::Cli;
pub use zk_common::group::read_members;

use zk_common::connect;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let quiet = cli.common.log.quiet;
    match cli.command {
        cli::Command::List(args) => {
            let client = connect::connect(&cli.common.connect).await?;
            let members = read_members(&client, &args.path, args.recursive).await?;
            if members.is_none() {
                tracing::warn!("{} does not exist; listing it as an empty group", args.path);
            }
            let members = members.unwrap_or_default();
            connect::close(client).await;
            zk_common::output::document(&serde_json::Value::Array(members))?;
            Ok(zk_common::exit::OK)
        }
        cli::Command::Watch(args) => watch::run(&cli.common.connect, &args).await,
        cli::Command::Wait(args) => wait::run(&cli.common.connect, &args, quiet).await,
    }
}
