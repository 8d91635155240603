use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zk_common::cli::{parse_duration, parse_path, parse_writable_path, CommonArgs};
use zk_common::probe::ProbeArgs;
use zk_common::supervisor::WrapArgs;

const EXAMPLES: &str = "\
Examples:
  zk-elect /election/scheduler -- ./scheduler --active     # one active scheduler among many hosts
  zk-elect --rejoin /election/worker -c 'exec ./worker'     # queue again after losing leadership
  zk-elect --check 'pg_isready -q' /election/pg -- ./promote-and-serve
  zk-elect --fence './fence-old-primary \"$ZK_PREV_LEADER_ID\"' /election/pg -- ./serve
  zk-elect --warm --signal-elected USR1 --signal-demoted USR2 /election/cache -- ./replica
  zk-elect leader /election/scheduler | jq -r .id
  # cron guard: each host stands with --id \"$(hostname)\"; only the leader's cron runs the job
  zk-elect --id \"$(hostname)\" /election/scheduler -- ./scheduler
  zk-elect leader --is \"$(hostname)\" /election/scheduler && run-cron-job
  zk-elect watch /election/scheduler | jq -c '{event, id: .leader.id}'
  zk-elect resign --leader web-1 /election/scheduler     # ask web-1 to step down

The leader's command gets ZK_CONNECT, ZK_NODE, ZK_FENCING_TOKEN (higher for
each new leader) and ZK_SESSION_ID. When leadership is lost (session expired,
node deleted, no confirmation by a ZooKeeper quorum within the safe
window, or the health check failing) the command's process group gets
SIGTERM, SIGKILL after --kill-after, and zk-elect exits 79, or queues again
with --rejoin. --fence, the breadcrumb and --on-elected run under the same
lease; a --warm command is stopped too. Ctrl-Z stops the command with
zk-elect, and --watchdog guards against zk-elect itself being frozen.";

/// Leader election and failover for any command.
///
/// Joins the election at PATH, waits until elected, runs the command while
/// leader, resigns when it exits and exits with its status. Without a
/// command, prints an `elected` event and leads until stdin reaches EOF or
/// SIGTERM/SIGINT arrives.
#[derive(Parser, Debug)]
#[command(name = "zk-elect", version, after_long_help = EXAMPLES, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub candidate: CandidateArgs,

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
    /// Print the current leader as JSON (id, node, token, since); exit 1 if nobody leads.
    #[command(
        after_help = "Examples:\n  zk-elect leader /election/scheduler | jq -r .id\n  \
                            zk-elect leader --wait --timeout 30s /election/scheduler\n  \
                            zk-elect leader --is web-1 /election/scheduler && echo 'I lead'\n  \
                            zk-elect leader --system kafka /kafka | jq '{broker_id, epoch, kraft}'\n  \
                            zk-elect leader --system solr --is 10.0.0.5:8983_solr /solr\n  \
                            zk-elect leader --system helix /MyCluster | jq -r .id"
    )]
    Leader(LeaderArgs),

    /// Stream the leader as JSON Lines: the current one, then one line per change (null when nobody leads).
    #[command(
        after_help = "Examples:\n  zk-elect watch /election/scheduler | jq -c '{event, id: .leader.id}'\n  \
                      zk-elect watch --system kafka /kafka | jq -c .leader.broker_id"
    )]
    Watch(WatchArgs),

    /// Print every candidate in queue order as JSON; the first leads.
    #[command(after_help = "Example:\n  zk-elect candidates /election/scheduler | jq -r '.[].id'")]
    Candidates(PathArg),

    /// Ask the leader at PATH to step down (Curator's Revoker: it stops its
    /// command, then exits 79 or queues again with --rejoin); --force-after deletes its node.
    #[command(after_help = RESIGN_EXAMPLES)]
    Resign(ResignArgs),
}

const RESIGN_EXAMPLES: &str = "\
Examples:
  zk-elect resign /election/scheduler                        # ask, wait until it stepped down
  zk-elect resign --leader web-1 /election/scheduler         # only if web-1 leads now
  zk-elect resign --force-after 30s /election/scheduler      # delete its node if it still leads 30s later

Prints {path, node, id, token, outcome, waited_ms}; outcome is `released`,
`forced` or `gone`. The next candidate leads after it; a lone --rejoin
candidate leads again. A forced resignation lets the next leader start at once,
while the old command may run until its lease's window ends: downstream,
check ZK_FENCING_TOKEN.";

#[derive(Args, Debug)]
pub struct ResignArgs {
    /// The election node.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// Only if the leader is ID (its id, or its node): exit 1 otherwise, so a
    /// leader that changed meanwhile is left alone.
    #[arg(long, value_name = "ID|NODE", value_parser = parse_leader_id)]
    pub leader: Option<String>,

    /// Delete the leader's node if it still leads DUR after being asked
    /// (version-checked: never a node written since) [default: never].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub force_after: Option<Duration>,

    /// Give up waiting after DUR (exit 75) [default: wait until it steps down].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Latch,
    Kazoo,
}

#[derive(Args, Debug)]
pub struct CandidateArgs {
    /// The election node, e.g. /election/scheduler.
    #[arg(value_parser = parse_writable_path, required = true)]
    pub path: Option<String>,

    /// This candidate's identity, stored as its node's data (JSON is shown parsed) [default: HOST:PID].
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Node layout, to share the election with other clients: `latch` as Curator's
    /// LeaderLatch, `kazoo` as kazoo's Election (where Python services stand)
    /// [default: latch, or kazoo where kazoo's candidates already stand].
    #[arg(long, value_enum)]
    pub layout: Option<Layout>,

    /// Keep FILE (JSON: who leads, since when, the token) present exactly while
    /// this candidate leads and its lease holds: a readiness probe becomes
    /// `test -f FILE`, with no ZooKeeper session per probe.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<std::path::PathBuf>,

    /// After losing leadership, queue again instead of exiting 79.
    #[arg(long)]
    pub rejoin: bool,

    /// Give up waiting to be elected after DUR (exit 75) [default: wait forever].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Run CMD (sh -c) when elected, before the command starts.
    #[arg(long, value_name = "CMD")]
    pub on_elected: Option<String>,

    /// Run CMD (sh -c) after leadership is lost or given up.
    #[arg(long, value_name = "CMD")]
    pub on_demoted: Option<String>,

    /// Run the command on every candidate from the start, not only the leader.
    #[arg(long, requires = "command_given")]
    pub warm: bool,

    /// With --warm: send SIG to the command's process group when elected.
    #[arg(long, value_name = "SIG", requires = "warm", value_parser = parse_signal)]
    pub signal_elected: Option<nix::sys::signal::Signal>,

    /// With --warm: send SIG to the command's process group when demoted.
    #[arg(long, value_name = "SIG", requires = "warm", value_parser = parse_signal)]
    pub signal_demoted: Option<nix::sys::signal::Signal>,

    /// Before leading, run CMD (sh -c) with the previous leader's ZK_PREV_LEADER_ID
    /// and ZK_PREV_LEADER_TOKEN when it did not resign cleanly; lead only if it exits 0.
    #[arg(long, value_name = "CMD")]
    pub fence: Option<String>,

    /// After SIGTERM to a command that lost leadership, wait this long before SIGKILL.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub kill_after: Duration,

    /// Also run a dead-man's switch: a guard process that SIGKILLs the command's
    /// process group when this tool stops confirming leadership (frozen by `kill -STOP`,
    /// a debugger, memory starvation) or dies without releasing it.
    #[arg(long)]
    pub watchdog: bool,

    #[command(flatten)]
    pub probe: ProbeArgs,

    #[command(flatten)]
    pub wrap: WrapArgs,
}

#[derive(Args, Debug)]
pub struct LeaderArgs {
    /// The election node, or the root of the SYSTEM read [default: / for
    /// kafka and solr (a chroot such as /kafka if they use one); helix needs
    /// /CLUSTER].
    #[arg(value_parser = parse_path, required_unless_present = "system")]
    pub path: Option<String>,

    /// Read who leads another system's own election from the node it writes,
    /// never taking part: Kafka's controller, Solr's overseer, a Helix
    /// cluster's controller.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub system: Option<crate::systems::System>,

    /// Block until somebody leads.
    #[arg(long)]
    pub wait: bool,

    /// Give up after DUR in all (exit 75): waiting for a leader with --wait,
    /// else connecting and reading who leads [default: --wait waits forever].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Exit 0 only if the leader's id is ID (1 otherwise).
    #[arg(long, value_name = "ID", value_parser = parse_leader_id)]
    pub is: Option<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The election node, or the root of the SYSTEM watched (as for `leader`).
    #[arg(value_parser = parse_path, required_unless_present = "system")]
    pub path: Option<String>,

    /// Watch another system's leader (as for `leader --system`).
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub system: Option<crate::systems::System>,
}

#[derive(Args, Debug)]
pub struct PathArg {
    /// The election node.
    #[arg(value_parser = parse_path)]
    pub path: String,
}

fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, String> {
    let name = s.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    name.parse()
        .map_err(|_| format!("unknown signal {s:?} (e.g. USR1, HUP, TERM)"))
}

/// `--is ""` would match a leader whose id could not be read, so that
/// `--is "$(hostname)"` passed when `hostname` failed.
fn parse_leader_id(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an empty ID names no candidate (did a command substitution fail?)".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn parses_candidates_and_views() {
        let cli = Cli::try_parse_from(["zk-elect", "--rejoin", "/e", "--", "sleep", "1"]).unwrap();
        assert!(cli.candidate.rejoin && cli.command.is_none());
        let cli =
            Cli::try_parse_from(["zk-elect", "--zk", "h:1", "leader", "/e", "--is", "a"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Leader(_))));
        assert!(
            Cli::try_parse_from(["zk-elect", "--warm", "/e"]).is_err(),
            "--warm needs a command"
        );
        assert!(
            Cli::try_parse_from(["zk-elect", "--signal-elected", "USR1", "/e", "--", "x"]).is_err()
        );
        let cli = Cli::try_parse_from([
            "zk-elect",
            "--warm",
            "--signal-elected",
            "usr1",
            "/e",
            "--",
            "x",
        ])
        .unwrap();
        assert_eq!(
            cli.candidate.signal_elected,
            Some(nix::sys::signal::Signal::SIGUSR1)
        );
        assert!(Cli::try_parse_from([
            "zk-elect",
            "--warm",
            "--signal-elected",
            "NOPE",
            "/e",
            "--",
            "x"
        ])
        .is_err());
    }
}
