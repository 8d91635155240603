use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;
use zk_common::cli::{parse_duration, parse_json, parse_path, parse_writable_path, CommonArgs};
use zk_common::supervisor::WrapArgs;

const EXAMPLES: &str = "\
Examples:
  zk-lock /locks/backup -- pg_dump mydb | gzip > db.sql.gz
  zk-lock --timeout 5m /locks/migrate -c 'rails db:migrate'
  zk-lock -n /locks/cron-report -- ./report.sh || echo 'another host is on it'
  zk-lock --shared /locks/schema -- ./read-only-job      # readers share, writers exclude
  zk-lock --max-holders 3 /locks/encoders -- ffmpeg ...   # at most 3 at once
  zk-lock holders /locks/backup | jq '.[] | {state, id, since}'
  zk-lock break --force-after 30s /locks/backup           # make a stuck holder let go

  # cron on every host; the report runs once an hour, whichever host fires first
  0 * * * *  zk-lock -n -E 0 --once-per 55m /locks/report -- ./report.sh

  # hold a lock across several shell steps
  coproc LOCK { zk-lock /locks/deploy; }
  read -r acquired <&\"${LOCK[0]}\"; step1; step2; exec {LOCK[1]}>&-

The command gets ZK_CONNECT, ZK_NODE, ZK_FENCING_TOKEN (strictly increasing
from one holder to the next) and ZK_SESSION_ID in its environment. If the
lock is lost while it runs (session expired, node deleted, revoked by
`zk-lock break`, or ZooKeeper's leader has not confirmed the session within
the safe window), the command's
process group gets SIGTERM, SIGKILL after --kill-after, and zk-lock exits 79.
As with flock(1), the lock is held until the command's whole process group
is gone: a job it left running (`cmd & exit 0`) keeps the lock.
Started from a terminal, the command holds it while it runs (it may read it).
Ctrl-Z stops the command with zk-lock; on resume it runs on only if the lock
survived the stop. --watchdog adds a guard process that kills the command
even if zk-lock itself is frozen (kill -STOP) or killed.";

/// Run a command while holding a distributed lock in ZooKeeper: flock(1) for a cluster.
///
/// Waits for the lock at PATH, runs the command while holding it, releases
/// it the moment the command exits and exits with the command's status.
/// Without a command, prints an `acquired` event and holds the lock until
/// stdin reaches EOF or SIGTERM/SIGINT arrives.
#[derive(Parser, Debug)]
#[command(
    name = "zk-lock",
    version,
    after_long_help = EXAMPLES,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl zk_common::app::Tool for Cli {
    fn common(&self) -> &CommonArgs {
        &self.common
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print who holds the lock at PATH and who waits, in queue order, as JSON.
    #[command(
        after_help = "Example:\n  zk-lock holders /locks/backup | jq -r '.[] | select(.state == \"holding\") | .id'"
    )]
    Holders(HoldersArgs),

    /// Ask the holder of the lock at PATH to let go (Curator's Revoker: it stops
    /// its command, exit 79, and releases); with --force-after, then delete its node.
    #[command(after_help = BREAK_EXAMPLES)]
    Break(BreakArgs),
}

const BREAK_EXAMPLES: &str = "\
Examples:
  zk-lock break /locks/backup                       # ask, and wait until it is released
  zk-lock break --force-after 30s /locks/backup     # delete its node if still held 30s later
  zk-lock break --holder db1:4242 /locks/encoders   # one holder of a semaphore

Prints {path, node, id, token, outcome, waited_ms}; outcome is `released`,
`forced` or `gone`. A zk-lock or zk-elect owner (and a Curator lock made
revocable) lets go when asked. A forced break lets the next owner start at
once, while the old command may run until its lease's window ends (a few
seconds when its host is cut off): downstream, check ZK_FENCING_TOKEN.";

#[derive(Args, Debug)]
pub struct BreakArgs {
    /// The lock node, e.g. /locks/backup.
    #[arg(value_parser = parse_writable_path)]
    pub path: String,

    /// The holder to ask, by id (as `holders` shows it) or node; needed where
    /// several hold (a semaphore, readers).
    #[arg(long, value_name = "ID|NODE")]
    pub holder: Option<String>,

    /// Delete the holder's node if it still holds DUR after being asked
    /// (version-checked: never a node written since) [default: never].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub force_after: Option<Duration>,

    /// Give up waiting after DUR (exit 75) [default: wait until released].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// The semaphore size, to tell holders from waiters, as for `holders`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_holders: Option<u32>,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// The lock node, e.g. /locks/backup.
    #[arg(value_parser = parse_writable_path, required = true)]
    pub path: Option<String>,

    /// Give up after DUR in all, connecting included (exit 75); 0 tries once,
    /// as `flock -w 0` [default: wait forever].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Do not wait: exit 75 at once if the lock is busy.
    #[arg(short = 'n', long, conflicts_with = "timeout")]
    pub nonblock: bool,

    /// Exit N instead of 75 when the lock is busy (-n) or --timeout passes, as
    /// `flock -E`: tells "busy" from a command's own 75.
    #[arg(short = 'E', long, value_name = "N", value_parser = clap::value_parser!(u8))]
    pub conflict_exit_code: Option<u8>,

    /// Take a shared (read) lock; readers share, writers (the default) exclude.
    #[arg(long, conflicts_with = "max_holders")]
    pub shared: bool,

    /// Node layout, to share the lock with other clients: `mutex` as Curator's
    /// InterProcessMutex, `rw` as the write half of its InterProcessReadWriteLock
    /// (where Java services take Curator read-write locks), `kazoo` as kazoo's
    /// Lock/WriteLock, or ReadLock with --shared (where Python services lock)
    /// [default: mutex, or kazoo where kazoo's contenders already queue].
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,

    /// A semaphore: at most N holders at once. `--max-holders 1` is the plain
    /// exclusive lock, Curator's InterProcessMutex.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_holders: Option<u32>,

    /// Run at most once per DUR across every host: skip (exit 0, a `skipped`
    /// event) when another run of this lock started less than DUR ago, by
    /// ZooKeeper's clock, never this host's. Set it a little under the
    /// schedule's period (55m for an hourly timer). Runs are recorded in
    /// PATH.runs; a run that failed or died counts from its start.
    #[arg(long, value_name = "DUR", value_parser = parse_period)]
    pub once_per: Option<Duration>,

    /// Exit N instead of 0 when --once-per skips the run.
    #[arg(long, value_name = "N", requires = "once_per", value_parser = clap::value_parser!(u8))]
    pub skip_exit_code: Option<u8>,

    /// Who holds the lock, as `holders` shows it [default: HOST:PID].
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Store the whole command line in the lock node for `holders` to show;
    /// by default only the program is stored, since the node is readable
    /// cluster-wide while arguments may hold secrets.
    #[arg(long)]
    pub record_command: bool,

    /// Extra JSON stored in the lock node for `holders` to show.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub data: Option<Value>,

    /// After SIGTERM to a command that lost the lock, wait this long before SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub kill_after: Duration,

    /// Also run a dead-man's switch: a guard process that SIGKILLs the command's
    /// process group when this tool stops confirming the lock (frozen by `kill -STOP`,
    /// a debugger, memory starvation) or dies without releasing it.
    #[arg(long)]
    pub watchdog: bool,

    #[command(flatten)]
    pub wrap: WrapArgs,
}

/// A `--once-per` period: at least a millisecond, the resolution of
/// ZooKeeper's clock.
fn parse_period(s: &str) -> Result<Duration, String> {
    let period = parse_duration(s)?;
    if period < Duration::from_millis(1) {
        return Err("the period must be at least 1ms".into());
    }
    Ok(period)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Mutex,
    #[value(name = "rw")]
    ReadWrite,
    Kazoo,
}

#[derive(Args, Debug)]
pub struct HoldersArgs {
    /// The lock node, e.g. /locks/backup.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// The semaphore size, to tell holders from waiters [default: the N of
    /// the nodes' `-sem<N>-` names, else 1; node data is not trusted].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_holders: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn path_command_and_subcommand_parse() {
        let cli = Cli::try_parse_from(["zk-lock", "/l", "--", "echo", "hi"]).unwrap();
        assert_eq!(cli.lock.path.as_deref(), Some("/l"));
        assert_eq!(cli.lock.wrap.command, ["echo", "hi"]);
        let cli =
            Cli::try_parse_from(["zk-lock", "--timeout", "1s", "/l", "-c", "echo hi"]).unwrap();
        assert_eq!(cli.lock.wrap.shell.as_deref(), Some("echo hi"));
        let cli = Cli::try_parse_from(["zk-lock", "holders", "/l"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Holders(_))));
        let cli = Cli::try_parse_from(["zk-lock", "--zk", "h:1", "holders", "/l", "-q"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Holders(_))));
        assert_eq!(cli.common.connect.connect, "h:1");
        assert!(
            Cli::try_parse_from(["zk-lock"]).is_err(),
            "PATH is required"
        );
        assert!(Cli::try_parse_from(["zk-lock", "/l", "-c", "x", "--", "y"]).is_err());
        assert!(Cli::try_parse_from(["zk-lock", "/l", "--shared", "--max-holders", "2"]).is_err());
        assert!(Cli::try_parse_from(["zk-lock", "/l", "--max-holders", "0"]).is_err());
        assert!(Cli::try_parse_from(["zk-lock", "/l", "--data", "{bad"]).is_err());
    }
}
