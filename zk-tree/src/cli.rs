use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zk_common::cli::{parse_duration, parse_path, CommonArgs};

const EXAMPLES: &str = "\
Examples:
  zk-tree get /app/config > config.json
  zk-tree get --json /app/config | jq '.stat.version'
  printf 'v2' | zk-tree set /app/config --version 4
  zk-lock /locks/cfg -- sh -c 'printf v3 | zk-tree set /app/config --while-exists \"$ZK_NODE\"'
  zk-tree watch /app/config --exec 'cat > /etc/app/config.json'
  zk-tree dump /app > app.jsonl
  zk-tree --zk other:2181/copy restore app.jsonl --dry-run
  zk-tree du / --depth 2 | jq -r '.[] | \"\\(.bytes)\\t\\(.path)\"'
  zk-tree acl /app --recursive | jq '.[] | select(.world_writable)'";

/// Read, write, watch, back up and audit ZooKeeper nodes and subtrees.
///
/// Data goes out byte for byte (`get`), JSON goes to stdout for everything
/// else, and writes can be made to land only while a lock or leadership is
/// held (`set --while-exists "$ZK_NODE"`).
#[derive(Parser, Debug)]
#[command(name = "zk-tree", version, after_long_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(subcommand)]
    pub command: Command,
}

impl zk_common::app::Tool for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print NODE's data, byte for byte, to stdout; exit 1 if it does not exist.
    ///
    /// With --json, one JSON object instead: path, data (JSON, a string, or
    /// data_base64 for binary) and stat.
    #[command(after_help = "Examples:\n  zk-tree get /app/config > config.bin\n  \
                      zk-tree get --json /app/config | jq .stat.version")]
    Get(GetArgs),

    /// Write stdin to NODE, as one request; print the new stat as JSON.
    ///
    /// Exit 1 when a condition failed (--version differs, NODE missing
    /// without --create), 79 when a --while-exists node is gone (the lock or
    /// leadership was lost: nothing was written).
    #[command(after_help = "Examples:\n  \
        printf '%s' \"$json\" | zk-tree set /app/config --create\n  \
        v=$(zk-tree get --json /app/n | jq .stat.version); printf x | zk-tree set /app/n --version \"$v\"\n  \
        zk-lock /locks/cfg -- sh -c 'printf x | zk-tree set /app/n --while-exists \"$ZK_NODE\"'")]
    Set(SetArgs),

    /// Stream NODE's data as JSON Lines: a snapshot, then one line per change.
    ///
    /// Every line has event (snapshot, changed or deleted), time, path,
    /// exists, data, version and mzxid. Changes are never missed: after every
    /// event and reconnect the node is read again, so the last line always
    /// matches ZooKeeper (several quick writes may become one line).
    #[command(after_help = "Examples:\n  \
        zk-tree watch /app/config | jq -c '{event, version}'\n  \
        zk-tree watch /app/config --exec 'cat > /etc/app/config.json && systemctl reload app'")]
    Watch(WatchArgs),

    /// Print the subtree at PATH as JSON Lines, parents before children.
    ///
    /// One line per node: path, data (UTF-8 text) or data_base64, acl,
    /// ephemeral_owner and stat. Each node is read consistently on its own;
    /// the dump as a whole is not a point-in-time snapshot (nodes written
    /// while it runs may appear in their old or new state). The /zookeeper
    /// tree is left out.
    #[command(after_help = "Examples:\n  zk-tree dump /app > app.jsonl\n  \
                            zk-tree dump / | jq -r 'select(.ephemeral_owner) | .path'")]
    Dump(DumpArgs),

    /// Create the nodes of a dump (from FILE or stdin); print what it did as JSON.
    ///
    /// Idempotent: a node that already holds the same data and ACL is left
    /// alone. Any node that differs stops the restore before it writes
    /// anything (exit 1), unless --overwrite. Paths land under the chroot of
    /// --zk, which is created when missing. Ephemeral nodes are skipped
    /// unless --include-ephemeral. Writes go in batches (`multi`) that stay
    /// under the server's 1 MiB jute.maxbuffer.
    #[command(after_help = "Examples:\n  \
        zk-tree dump /app | zk-tree --zk backup:2181/restored restore --dry-run\n  \
        zk-tree --zk zk2:2181 restore app.jsonl --overwrite")]
    Restore(RestoreArgs),

    /// Data bytes and node counts per subtree, largest first, as one JSON array.
    #[command(after_help = "Examples:\n  zk-tree du /\n  \
                            zk-tree du /kafka --depth 2 | jq -r '.[:5][] | .path'")]
    Du(DuArgs),

    /// Who may do what on PATH (and below it with --recursive), as one JSON array.
    ///
    /// Flags world_writable nodes (anyone may write, create, delete or change
    /// the ACL) and single_identity nodes (only one identity may do anything
    /// but read: lose it and the node is stuck).
    #[command(after_help = "Examples:\n  zk-tree acl /app\n  \
                            zk-tree acl / --recursive | jq -r '.[] | select(.world_writable) | .path'")]
    Acl(AclArgs),
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// The node, e.g. /app/config.
    #[arg(value_parser = parse_path)]
    pub node: String,

    /// One JSON object with the data and the stat instead of the raw bytes.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// The node to write, e.g. /app/config.
    #[arg(value_parser = parse_path)]
    pub node: String,

    /// Write only if NODE's version is still V (compare-and-set); exit 1 if
    /// another writer got there first.
    #[arg(long, value_name = "V", allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(0..), conflicts_with = "create")]
    pub version: Option<i32>,

    /// Create NODE (and its missing parents, persistent) if it does not exist.
    #[arg(long)]
    pub create: bool,

    /// Write only while LOCK_NODE exists, checked in the same `multi` as the
    /// write: pass "$ZK_NODE" from inside zk-lock or zk-elect, and a holder
    /// that lost its lock cannot write (exit 79). Repeatable.
    #[arg(long, value_name = "LOCK_NODE", value_parser = parse_path)]
    pub while_exists: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The node, e.g. /app/config. It need not exist yet.
    #[arg(value_parser = parse_path)]
    pub node: String,

    /// After each change run CMD with `sh -c`, the node's raw data on its
    /// stdin (empty once deleted), ZK_TREE_NODE, ZK_TREE_EXISTS (1 or 0) and
    /// ZK_TREE_VERSION in its environment. Runs never overlap; changes during
    /// a run are coalesced into the next.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Kill an --exec handler (its whole process group) still running after DUR.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration, requires = "exec")]
    pub exec_timeout: Duration,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The top of the subtree, e.g. /app.
    #[arg(value_parser = parse_path)]
    pub path: String,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A dump in JSON Lines, as `zk-tree dump` wrote it [default: stdin].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print what would be done and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Replace the data and ACL of nodes that exist with other contents.
    #[arg(long)]
    pub overwrite: bool,

    /// Restore ephemeral nodes too, as persistent ones (their owner's session
    /// is gone).
    #[arg(long)]
    pub include_ephemeral: bool,
}

#[derive(Args, Debug)]
pub struct DuArgs {
    /// The top of the subtree, e.g. /.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// Report subtrees down to N levels below PATH (1: PATH's children).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub depth: u32,
}

#[derive(Args, Debug)]
pub struct AclArgs {
    /// The node, e.g. /app.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// Every node below PATH too.
    #[arg(short, long)]
    pub recursive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn version_and_create_exclude_each_other_and_a_version_is_not_negative() {
        assert!(
            Cli::try_parse_from(["zk-tree", "set", "/n", "--version", "1", "--create"]).is_err()
        );
        assert!(Cli::try_parse_from(["zk-tree", "set", "/n", "--version", "-1"]).is_err());
        assert!(Cli::try_parse_from(["zk-tree", "set", "/n", "--version", "0"]).is_ok());
    }
}
