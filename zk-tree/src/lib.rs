//! `zk-tree`: a node's data and a subtree, from a shell.
//!
//! - `get`/`set` ([`data`]): one node's bytes, compare-and-set, and writes
//!   that land only while a lock node exists (one `multi` with a check);
//! - `watch` ([`watch`]): one node's data as JSON Lines, with a handler;
//! - `dump`/`restore` ([`dump`], [`restore`]): a subtree as JSON Lines and
//!   back, byte for byte and ACL for ACL;
//! - `du`/`acl` ([`audit`]): sizes per subtree, and who may do what.
//!
//! Subtrees are read by [`walk`], which keeps many requests in flight on
//! one session instead of one round trip per node.

mod audit;
mod cli;
mod data;
mod dump;
mod render;
mod restore;
mod walk;
mod watch;

pub use cli::Cli;

/// Runs the parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let connect = &cli.common.connect;
    match cli.command {
        cli::Command::Get(args) => data::get(connect, &args).await,
        cli::Command::Set(args) => data::set(connect, &args).await,
        cli::Command::Watch(args) => watch::run(connect, &args).await,
        cli::Command::Dump(args) => dump::run(connect, &args).await,
        cli::Command::Restore(args) => restore::run(connect, &args).await,
        cli::Command::Du(args) => audit::du(connect, &args).await,
        cli::Command::Acl(args) => audit::acl(connect, &args).await,
    }
}
