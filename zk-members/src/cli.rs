use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zk_common::cli::{parse_duration, parse_path, CommonArgs};

const EXAMPLES: &str = "\
Examples:
  zk-members list /services/web | jq -r '.[].data.address'
  zk-members list --recursive /services
  zk-members watch /services/web | jq -c '{joined, left}'
  zk-members watch /services/web --exec 'render-haproxy-cfg && systemctl reload haproxy'
  zk-members watch /services/web --output /etc/app/peers.json
  zk-members wait /cluster/peers --min 3 --timeout 2m";

/// List, watch and wait for the members of a ZooKeeper group, as JSON.
///
/// A group is the children of PATH, usually ephemeral nodes that exist while
/// their owner's session lives. Members come in join order (by czxid).
#[derive(Parser, Debug)]
#[command(name = "zk-members", version, after_long_help = EXAMPLES)]
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
    /// Print the members of PATH as one JSON array, in join order.
    ///
    /// Each member has id, path, data (JSON, a string, or data_base64 for
    /// binary), ephemeral_owner (hex session id, null if persistent),
    /// created, czxid and version. A PATH that does not exist lists as []
    /// with a warning: a group nobody joined yet is empty.
    #[command(after_help = "Example:\n  zk-members list /services/web | jq -r '.[].id'")]
    List(ListArgs),

    /// Stream the members of PATH as JSON Lines: a snapshot, then one line per change.
    ///
    /// Every line has event (snapshot or changed), time, path, session_id,
    /// members, and the ids that joined, left or were updated since the line
    /// before. Bursts are coalesced, never lost: the last line always matches
    /// ZooKeeper. Rides through server restarts; after a session expiry it
    /// opens a new session and prints a fresh snapshot.
    #[command(
        after_help = "Examples:\n  zk-members watch /services/web | jq -c '.joined'\n  \
                            zk-members watch /services/web --exec 'jq . > /tmp/peers.json'"
    )]
    Watch(WatchArgs),

    /// Block until PATH has a number of members, then print them like list.
    ///
    /// Exits 0 when the condition holds, 75 when --timeout elapses first.
    #[command(
        after_help = "Examples:\n  zk-members wait /cluster/peers --min 3 --timeout 2m\n  \
                            zk-members wait /services/web --count 0   # drained"
    )]
    Wait(WaitArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The group node, e.g. /services/web.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// List the whole tree below PATH; each member gains "children".
    #[arg(short, long)]
    pub recursive: bool,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The group node, e.g. /services/web.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// Watch the whole tree below PATH; each member gains "children".
    #[arg(short, long)]
    pub recursive: bool,

    /// After each change run CMD with `sh -c`, the members JSON on its stdin.
    /// Runs never overlap; changes during a run are coalesced into the next.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,

    /// Kill an --exec handler (its whole process group) still running after
    /// DUR, so a hung one cannot hold back every later change.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = parse_duration, requires = "exec")]
    pub exec_timeout: Duration,

    /// Wait this long after a change for more before reporting, so a burst
    /// of joins becomes one line (or one --exec run).
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_duration)]
    pub debounce: Duration,

    /// Report a change only after MIN without another, but never later than
    /// MAX after the first (default 4 x MIN), as consul-template's `wait`:
    /// a rolling restart becomes one line, and a group that never settles is
    /// still reported. Replaces --debounce.
    #[arg(long, value_name = "MIN[:MAX]", value_parser = parse_settle, conflicts_with = "debounce")]
    pub settle: Option<(Duration, Duration)>,

    /// Hold back a snapshot with fewer than N members: a `held_back` line
    /// instead of `changed`, --exec not run, --output left as it was, until
    /// the group has N again (a blanked group must not empty a load
    /// balancer's upstream list).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub min_members: Option<u32>,

    /// Write each snapshot (the members array) to FILE atomically, via a
    /// temporary file and rename, instead of JSON Lines on stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `MIN[:MAX]` for --settle.
fn parse_settle(s: &str) -> Result<(Duration, Duration), String> {
    let (min, max) = match s.split_once(':') {
        Some((min, max)) => (parse_duration(min)?, Some(parse_duration(max)?)),
        None => (parse_duration(s)?, None),
    };
    let max = max.unwrap_or(min * 4);
    if max < min {
        return Err(format!(
            "MAX ({}) is shorter than MIN",
            humantime::format_duration(max)
        ));
    }
    Ok((min, max))
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("condition").required(true).multiple(false))]
pub struct WaitArgs {
    /// The group node, e.g. /cluster/peers.
    #[arg(value_parser = parse_path)]
    pub path: String,

    /// Until at least N members.
    #[arg(long, value_name = "N", group = "condition")]
    pub min: Option<usize>,

    /// Until at most N members.
    #[arg(long, value_name = "N", group = "condition")]
    pub max: Option<usize>,

    /// Until exactly N members.
    #[arg(long, value_name = "N", group = "condition")]
    pub count: Option<usize>,

    /// Give up after DUR with exit 75 [default: wait forever].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

impl WaitArgs {
    /// Whether `n` members satisfy the condition.
    pub fn holds(&self, n: usize) -> bool {
        match (self.min, self.max, self.count) {
            (Some(min), _, _) => n >= min,
            (_, Some(max), _) => n <= max,
            (_, _, Some(count)) => n == count,
            _ => true,
        }
    }

    /// "at least 3", for messages.
    pub fn describe(&self) -> String {
        match (self.min, self.max, self.count) {
            (Some(n), _, _) => format!("at least {n}"),
            (_, Some(n), _) => format!("at most {n}"),
            (_, _, Some(n)) => format!("exactly {n}"),
            _ => "any number of".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn wait_conditions() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Wait(w) => w,
            other => panic!("{other:?}"),
        };
        let min = parse(&["zk-members", "wait", "/g", "--min", "3"]);
        assert!(!min.holds(2) && min.holds(3) && min.holds(4));
        let max = parse(&["zk-members", "wait", "/g", "--max", "1"]);
        assert!(max.holds(0) && max.holds(1) && !max.holds(2));
        let count = parse(&["zk-members", "wait", "/g", "--count", "2"]);
        assert!(!count.holds(1) && count.holds(2) && !count.holds(3));
        assert!(
            Cli::try_parse_from(["zk-members", "wait", "/g"]).is_err(),
            "a condition is required"
        );
        assert!(
            Cli::try_parse_from(["zk-members", "wait", "/g", "--min", "1", "--max", "2"]).is_err()
        );
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["zk-members", "--zk", "h:1", "list", "/g"]).unwrap();
        let after = Cli::try_parse_from(["zk-members", "list", "/g", "--zk", "h:1"]).unwrap();
        assert_eq!(before.common.connect.connect, "h:1");
        assert_eq!(after.common.connect.connect, "h:1");
    }
}
