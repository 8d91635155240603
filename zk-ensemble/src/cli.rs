use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use zk_common::cli::{parse_duration, parse_interval, CommonArgs};

const EXAMPLES: &str = "\
Examples:
  zk-ensemble --zk zk1:2181,zk2:2181,zk3:2181 status | jq '.ensemble'
  zk-ensemble --zk zk1:2181 status --format prometheus --output /var/lib/node_exporter/zookeeper.prom
  zk-ensemble check --max-latency 50ms && echo healthy
  zk-ensemble check --format nagios
  zk-ensemble wait --timeout 2m
  zk-ensemble watch --interval 10s | jq -c 'select(.event != \"status\")'
  zk-ensemble probe --count 20";

/// Is the ZooKeeper ensemble itself healthy? Status, checks, metrics and
/// smoke tests, as JSON.
///
/// Every server is probed in parallel with the four-letter words (mntr,
/// srvr, conf, isro, ruok); a word that is not whitelisted is asked of the
/// AdminServer instead (--admin-port), and the report says which source
/// each figure came from. With one reachable server the rest of the
/// ensemble is discovered from its configuration.
///
/// --timeout is how long `wait` waits in all (exit 75 after it), as in the
/// other tools; --probe-timeout is the budget of each server in a survey.
#[derive(Parser, Debug)]
#[command(name = "zk-ensemble", version, after_long_help = EXAMPLES)]
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
    /// Print one JSON document: every server's figures and the ensemble's verdict.
    ///
    /// The verdict (.status) is healthy, degraded or down, with the warnings
    /// that made it so. Exits 0 whenever the report was printed, even for a
    /// down ensemble: verdicts come from `check` and `wait`.
    #[command(
        after_help = "Examples:\n  zk-ensemble --zk zk1:2181 status | jq '.status, .warnings'\n  \
                            zk-ensemble status --format prometheus --output /var/lib/node_exporter/textfile/zookeeper.prom"
    )]
    Status(StatusArgs),

    /// A one-line verdict on stderr; exit 0 healthy, 1 degraded, 69 down.
    ///
    /// --format nagios prints a Nagios plugin line with perfdata on stdout
    /// and uses Nagios exit codes instead: 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN.
    #[command(
        after_help = "Examples:\n  zk-ensemble check --max-latency 50ms --max-lag 100 || page-someone\n  \
                            zk-ensemble check --format nagios   # check_command in Nagios or Icinga"
    )]
    Check(CheckArgs),

    /// Block until the ensemble is healthy, then print its status like `status`.
    ///
    /// Exits 0 when healthy (or, with --quorum, when it has a quorum), 75
    /// when --timeout elapses first.
    #[command(
        after_help = "Examples:\n  zk-ensemble wait --timeout 2m && exec my-service   # a container entrypoint\n  \
                            zk-ensemble wait --quorum --timeout 30s"
    )]
    Wait(WaitArgs),

    /// Stream JSON Lines: one status per --interval, plus an event line
    /// whenever the verdict or the leader changes.
    ///
    /// Lines: {"event":"status",...} every interval (the status document,
    /// without the per-server mntr maps unless --mntr);
    /// {"event":"status_changed","from","to","warnings"} and
    /// {"event":"leader_changed","from","to"} before the status line that
    /// shows the change.
    #[command(
        after_help = "Example:\n  zk-ensemble watch --interval 5s | jq -c 'select(.event | endswith(\"_changed\"))'"
    )]
    Watch(WatchArgs),

    /// End-to-end smoke test: create, read, update and delete a node N times
    /// through every server, then check that a write through one server is
    /// visible through every other after sync.
    ///
    /// Prints one JSON document with latency percentiles per server and
    /// operation. Exits 0 when every server passed, 1 when some failed, 69
    /// when none could be reached.
    #[command(
        after_help = "Example:\n  zk-ensemble --zk zk1:2181 probe --count 50 | jq '.servers[] | {address, ok, latency_ms}'"
    )]
    Probe(ProbeArgs),

    /// Which clients are connected to each server (address, session, since
    /// when), from `cons`; with --owner-of PATH, the connection of the
    /// session that owns PATH (an ephemeral node) or holds the lock (or
    /// leads the election) whose directory PATH is.
    ///
    /// Exits 1 with --owner-of when the owner's session is connected to no
    /// server probed.
    #[command(
        after_help = "Examples:\n  zk-ensemble sessions | jq -r '.[] | \"\\(.address) \\(.session_id)\"'\n  \
                      zk-ensemble sessions --owner-of /locks/backup | jq -r '.connections[].address'"
    )]
    Sessions(SessionsArgs),
}

/// The help heading of [`SurveyArgs`].
pub const SERVERS: &str = "Servers";
/// The help heading of [`Thresholds`].
pub const THRESHOLDS: &str = "Thresholds";

/// How servers are found and asked; shared by every subcommand.
// Headings per argument: a flattened struct's `next_help_heading` would
// leak onto the flags declared after it (see `zk_common::cli::ConnectArgs`).
#[derive(Args, Debug, Clone)]
pub struct SurveyArgs {
    /// AdminServer HTTP port, asked for a figure when its four-letter word
    /// is not whitelisted: one port for every server, or a comma-separated
    /// list in connect-string order (discovered servers then use 8080).
    #[arg(
        help_heading = SERVERS,
        long,
        value_name = "PORT[,PORT...]",
        value_delimiter = ',',
        default_value = "8080"
    )]
    pub admin_port: Vec<u16>,

    /// Probe only the servers in the connect string; do not add the other
    /// members found in the ensemble's configuration.
    #[arg(help_heading = SERVERS, long)]
    pub no_discover: bool,
}

/// When a figure turns into a warning (and the ensemble into degraded).
#[derive(Args, Debug, Clone)]
pub struct Thresholds {
    /// Warn when a server's average request latency exceeds DUR.
    #[arg(help_heading = THRESHOLDS, long, value_name = "DUR", default_value = "100ms", value_parser = parse_duration)]
    pub max_latency: Duration,

    /// Warn when a server has more than N outstanding requests.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N", default_value_t = 10)]
    pub max_outstanding: u64,

    /// Warn when a server's zxid is more than N transactions behind the newest.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N", default_value_t = 1000)]
    pub max_lag: u64,

    /// Warn when a server holds more than N watches.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N", default_value_t = 1_000_000)]
    pub max_watches: u64,

    /// Warn when a server uses more than PERCENT of its file descriptors.
    #[arg(help_heading = THRESHOLDS, long, value_name = "PERCENT", default_value_t = 80, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub max_fd_percent: u8,

    /// Critical (Nagios CRITICAL, exit 2) when a server's average latency
    /// exceeds DUR: Nagios' -c beside the --max-* warnings [default: never].
    #[arg(help_heading = THRESHOLDS, long, value_name = "DUR", value_parser = parse_duration)]
    pub critical_latency: Option<Duration>,

    /// Critical when a server has more than N outstanding requests.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N")]
    pub critical_outstanding: Option<u64>,

    /// Critical when a server's zxid is more than N transactions behind.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N")]
    pub critical_lag: Option<u64>,

    /// Critical when a server holds more than N watches.
    #[arg(help_heading = THRESHOLDS, long, value_name = "N")]
    pub critical_watches: Option<u64>,

    /// Critical when a server uses more than PERCENT of its file descriptors.
    #[arg(help_heading = THRESHOLDS, long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub critical_fd_percent: Option<u8>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_latency: Duration::from_millis(100),
            max_outstanding: 10,
            max_lag: 1000,
            max_watches: 1_000_000,
            max_fd_percent: 80,
            critical_latency: None,
            critical_outstanding: None,
            critical_lag: None,
            critical_watches: None,
            critical_fd_percent: None,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFormat {
    /// One JSON document.
    Json,
    /// Prometheus text exposition format, for node_exporter's textfile collector.
    Prometheus,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFormat {
    /// Nothing on stdout; the verdict on stderr.
    Text,
    /// The status document on stdout too.
    Json,
    /// A Nagios plugin line with perfdata on stdout, Nagios exit codes.
    Nagios,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Give up on a server that has not answered within DUR (each server, asked in parallel).
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    #[arg(long, value_enum, default_value = "json")]
    pub format: StatusFormat,

    /// Write the report to FILE instead of stdout, atomically (a temporary
    /// file in the same directory, then a rename), keeping FILE's mode (0644
    /// when new): safe for node_exporter's textfile collector to read at any time.
    #[arg(long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub survey: SurveyArgs,

    #[command(flatten)]
    pub thresholds: Thresholds,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Give up on a server that has not answered within DUR (each server, asked in parallel).
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,

    /// Instead of the verdict: may SERVER (host:port, or its server id) be
    /// stopped now? Exit 0 only if the other synced voters still make a
    /// quorum (a rolling restart's check before each server); says why not,
    /// and when SERVER is the leader (stopping it costs an election).
    #[arg(long, value_name = "SERVER")]
    pub can_stop: Option<String>,

    #[command(flatten)]
    pub survey: SurveyArgs,

    #[command(flatten)]
    pub thresholds: Thresholds,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Give up after DUR with exit 75 [default: wait forever].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Be satisfied with a quorum (healthy or degraded).
    #[arg(long)]
    pub quorum: bool,

    /// Time between two surveys of the ensemble.
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Give up on a server that has not answered within DUR, in each survey.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    #[command(flatten)]
    pub survey: SurveyArgs,

    #[command(flatten)]
    pub thresholds: Thresholds,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Time between two status lines.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Give up on a server that has not answered within DUR, in each survey.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    /// Include every server's full mntr map in each status line.
    #[arg(long)]
    pub mntr: bool,

    #[command(flatten)]
    pub survey: SurveyArgs,

    #[command(flatten)]
    pub thresholds: Thresholds,
}

#[derive(Args, Debug)]
pub struct SessionsArgs {
    /// The node (ephemeral), lock or election directory whose owner to find.
    #[arg(long, value_name = "PATH", value_parser = zk_common::cli::parse_path)]
    pub owner_of: Option<String>,

    /// Give up on a server that has not answered within DUR.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    #[command(flatten)]
    pub survey: SurveyArgs,
}

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Create, read, update and delete the test node N times per server.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,

    /// Parent of the test nodes (created if missing, removed afterwards if
    /// this probe created it and it is empty).
    #[arg(long, value_name = "PATH", default_value = "/zk-ensemble-probe", value_parser = parse_probe_path)]
    pub path: String,

    /// Give up on a server that has not passed within DUR (each server, tested in parallel).
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub probe_timeout: Duration,

    #[command(flatten)]
    pub survey: SurveyArgs,
}

/// The probe's parent: a node of its own, where it may write and delete,
/// so neither `/` nor ZooKeeper's own tree.
fn parse_probe_path(s: &str) -> Result<String, String> {
    let path = zk_common::cli::parse_writable_path(s)?;
    if path == "/" {
        return Err("the probe writes below PATH and removes what it made: give it a node of its own, e.g. /zk-ensemble-probe".into());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        zk_common::app::command::<Cli>().debug_assert();
    }

    #[test]
    fn admin_ports_take_one_or_a_list() {
        let cli =
            Cli::try_parse_from(["zk-ensemble", "status", "--admin-port", "8081,8082"]).unwrap();
        match cli.command {
            Command::Status(s) => assert_eq!(s.survey.admin_port, [8081, 8082]),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["zk-ensemble", "status"]).unwrap();
        match cli.command {
            Command::Status(s) => assert_eq!(s.survey.admin_port, [8080]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_flags_go_before_or_after_the_subcommand() {
        let before = Cli::try_parse_from(["zk-ensemble", "--zk", "h:1", "check"]).unwrap();
        let after = Cli::try_parse_from(["zk-ensemble", "check", "--zk", "h:1"]).unwrap();
        assert_eq!(before.common.connect.connect, "h:1");
        assert_eq!(after.common.connect.connect, "h:1");
    }

    #[test]
    fn thresholds_defaults_match_the_flags() {
        let cli = Cli::try_parse_from(["zk-ensemble", "check"]).unwrap();
        let Command::Check(c) = cli.command else {
            panic!()
        };
        let d = Thresholds::default();
        assert_eq!(c.thresholds.max_latency, d.max_latency);
        assert_eq!(c.thresholds.max_outstanding, d.max_outstanding);
        assert_eq!(c.thresholds.max_lag, d.max_lag);
        assert_eq!(c.thresholds.max_watches, d.max_watches);
        assert_eq!(c.thresholds.max_fd_percent, d.max_fd_percent);
    }
}
