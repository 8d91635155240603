//! The ensemble as a whole: which servers to ask (the connect string plus
//! what their configuration names), and the verdict on the answers.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use zk_common::cli::ConnectArgs;
use zk_common::connect::split_connect_string;
use zk_common::Failure;

use crate::cli::{SurveyArgs, Thresholds};
use crate::server::{self, host_of, Member, Report, Target};

/// The default AdminServer port, for discovered servers when
/// `--admin-port` gave one port per connect-string server.
pub const DEFAULT_ADMIN_PORT: u16 = 8080;

/// Every server's report, in connect-string order then discovered ones.
#[derive(Debug, Clone)]
pub struct Survey {
    pub reports: Vec<Report>,
    /// The ensemble's members, when some server told us.
    pub membership: Option<Vec<Member>>,
    /// Where the membership came from: `conf of host:port`, ...
    pub membership_source: Option<String>,
    /// Servers in the connect string.
    pub listed: usize,
}

/// The connect string's servers as probe targets.
pub fn targets(connect: &str, survey: &SurveyArgs) -> Result<Vec<Target>, Failure> {
    let (servers, _chroot) = split_connect_string(connect)?;
    let addresses: Vec<String> = servers
        .split(',')
        .map(|s| {
            if s.rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                s.to_string()
            } else {
                format!("{s}:2181")
            }
        })
        .collect();
    let ports = &survey.admin_port;
    if ports.len() > 1 && ports.len() != addresses.len() {
        return Err(Failure::usage(format!(
            "--admin-port lists {} ports for {} servers in the connect string; give one port, or one per server",
            ports.len(),
            addresses.len()
        )));
    }
    Ok(addresses
        .into_iter()
        .enumerate()
        .map(|(i, address)| Target {
            address,
            admin_port: if ports.len() == 1 { ports[0] } else { ports[i] },
            discovered: false,
        })
        .collect())
}

/// The targets without repeats: `a:1,a:1` or `localhost:1,127.0.0.1:1`
/// name one server, which must be probed and counted once. Two targets are
/// the same when their resolved addresses overlap; a name that does not
/// resolve is compared as written (its probe will say why it fails).
pub async fn distinct(targets: Vec<Target>) -> Vec<Target> {
    let mut seen: Vec<(BTreeSet<std::net::SocketAddr>, String)> = Vec::new();
    let mut out = Vec::new();
    for target in targets {
        let resolved: BTreeSet<std::net::SocketAddr> = match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::lookup_host(target.address.as_str()),
        )
        .await
        {
            Ok(Ok(addrs)) => addrs.collect(),
            _ => BTreeSet::new(),
        };
        let same = seen
            .iter()
            .find(|(addrs, address)| *address == target.address || !addrs.is_disjoint(&resolved));
        if let Some((_, first)) = same {
            tracing::warn!(
                "{} is the same server as {first}; probing it once",
                target.address
            );
            continue;
        }
        seen.push((resolved, target.address.clone()));
        out.push(target);
    }
    out
}

/// How many servers are probed at once: each probe opens a handful of
/// connections, and a `conf` listing a thousand members must not exhaust
/// the descriptors (`ulimit -n 1024`).
const PARALLEL_PROBES: usize = 32;

/// The most members discovery adds: real ensembles have a few voters and
/// observers; a `conf` listing more is a hostile or broken server.
const MAX_DISCOVERED: usize = 100;

/// Probes every target, [`PARALLEL_PROBES`] at a time.
pub async fn probe_all(targets: Vec<Target>, timeout: Duration) -> Vec<Report> {
    let mut set = JoinSet::new();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL_PROBES));
    for (i, target) in targets.into_iter().enumerate() {
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (i, server::probe(&target, timeout).await)
        });
    }
    let mut reports: Vec<(usize, Report)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(pair) => reports.push(pair),
            Err(err) => tracing::error!("a probe task failed: {err}"),
        }
    }
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Probes the connect string's servers, learns the membership from the
/// first that can tell (its `conf`, else its AdminServer's `voting_view`,
/// else `/zookeeper/config` through a session), and probes the members
/// the connect string did not name.
pub async fn survey(
    connect: &ConnectArgs,
    args: &SurveyArgs,
    timeout: Duration,
) -> anyhow::Result<Survey> {
    let listed = distinct(targets(&connect.connect, args)?).await;
    let count = listed.len();
    let mut reports = probe_all(listed.clone(), timeout).await;
    let (membership, membership_source) = membership(&reports, &listed, connect, timeout).await;
    if let (Some(members), false) = (&membership, args.no_discover) {
        let known_ids: BTreeSet<u64> = reports.iter().filter_map(|r| r.server_id).collect();
        let known_addresses: BTreeSet<String> = reports.iter().map(|r| r.address.clone()).collect();
        let single_port = (args.admin_port.len() == 1).then(|| args.admin_port[0]);
        let mut extra: Vec<Target> = members
            .iter()
            .filter(|m| !known_ids.contains(&m.id))
            .filter_map(|m| m.client_address.clone())
            .filter(|address| !known_addresses.contains(address))
            .map(|address| Target {
                address,
                admin_port: single_port.unwrap_or(DEFAULT_ADMIN_PORT),
                discovered: true,
            })
            .collect();
        if extra.len() > MAX_DISCOVERED {
            tracing::warn!(
                "the membership lists {} more servers; probing only the first {MAX_DISCOVERED}",
                extra.len()
            );
            extra.truncate(MAX_DISCOVERED);
        }
        if !extra.is_empty() {
            tracing::info!(
                "discovered {} more server(s): {}",
                extra.len(),
                extra
                    .iter()
                    .map(|t| t.address.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            reports.extend(probe_all(extra, timeout).await);
        }
    }
    Ok(Survey {
        reports,
        membership,
        membership_source,
        listed: count,
    })
}

async fn membership(
    reports: &[Report],
    targets: &[Target],
    connect: &ConnectArgs,
    timeout: Duration,
) -> (Option<Vec<Member>>, Option<String>) {
    // The leader's view first: after a reconfiguration it is the newest.
    let mut ordered: Vec<&Report> = reports.iter().filter(|r| r.reachable).collect();
    ordered.sort_by_key(|r| r.mode.as_deref() != Some("leader"));
    if let Some(r) = ordered.iter().find(|r| r.membership.is_some()) {
        return (r.membership.clone(), Some(format!("conf of {}", r.address)));
    }
    for report in &ordered {
        let Some(target) = targets.iter().find(|t| t.address == report.address) else {
            continue;
        };
        let voting = tokio::time::timeout(
            timeout,
            crate::sources::admin_command(target.host(), target.admin_port, "voting_view"),
        )
        .await;
        if let Ok(Ok(view)) = voting {
            let members = voting_view_members(&view);
            if !members.is_empty() {
                return (
                    Some(members),
                    Some(format!("AdminServer voting_view of {}", report.address)),
                );
            }
        }
    }
    for report in ordered.iter().filter(|r| r.serving) {
        if let Some(members) = zookeeper_config(&report.address, connect, timeout).await {
            return (
                Some(members),
                Some(format!("/zookeeper/config of {}", report.address)),
            );
        }
    }
    (None, None)
}

fn voting_view_members(view: &Map<String, Value>) -> Vec<Member> {
    let Some(Value::Object(config)) = view.get("current_config") else {
        return Vec::new();
    };
    let mut members: Vec<Member> = config
        .iter()
        .filter_map(|(id, server)| {
            let id = id.parse::<u64>().ok()?;
            let client = server.get("client_address")?.as_str()?;
            let peer_host = server
                .get("server_addresses")
                .and_then(|a| a.get(0))
                .and_then(Value::as_str)
                .map(host_of)
                .unwrap_or("");
            let client_address = match client.rsplit_once(':') {
                Some(("0.0.0.0" | "[::]" | "", port)) => format!("{peer_host}:{port}"),
                _ => client.to_string(),
            };
            let participant =
                server.get("learner_type").and_then(Value::as_str) != Some("observer");
            Some(Member {
                id,
                client_address: Some(client_address),
                participant,
            })
        })
        .collect();
    members.sort_by_key(|m| m.id);
    members
}

/// Reads `/zookeeper/config` through a session with `address` alone.
async fn zookeeper_config(
    address: &str,
    connect: &ConnectArgs,
    timeout: Duration,
) -> Option<Vec<Member>> {
    let mut args = connect.clone();
    args.connect = address.to_string();
    args.connect_timeout = timeout;
    let read = async {
        let client = zk_common::connect::connect(&args).await.ok()?;
        let data = client.get_data("/zookeeper/config").await;
        zk_common::connect::close(client).await;
        let (data, _) = data.ok()?;
        Some(server::parse_membership(
            &String::from_utf8_lossy(&data),
            None,
            None,
        ))
    };
    match tokio::time::timeout(timeout * 2, read).await {
        Ok(Some(members)) if !members.is_empty() => Some(members),
        _ => None,
    }
}

/// How much a warning weighs in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// No quorum, or two leaders: the ensemble is down.
    Critical,
    /// Degrades the ensemble.
    Warning,
    /// Worth knowing; degrades nothing.
    Notice,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Notice];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// What is wrong, as scripts match on it (`.warnings[].code`); each code
/// has one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NoServer,
    NoLeader,
    LeaderNotProbed,
    NoQuorum,
    MultipleLeaders,
    EvenVoters,
    ServerDown,
    ConnectionsRefused,
    ServerNotServing,
    StandaloneInEnsemble,
    ReadOnly,
    FollowerNotSynced,
    ZxidLag,
    HighLatency,
    OutstandingRequests,
    WatchCount,
    FileDescriptors,
    FiguresUnavailable,
    MemberNotLocated,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NoServer => "no_server",
            Code::NoLeader => "no_leader",
            Code::LeaderNotProbed => "leader_not_probed",
            Code::NoQuorum => "no_quorum",
            Code::MultipleLeaders => "multiple_leaders",
            Code::EvenVoters => "even_voters",
            Code::ServerDown => "server_down",
            Code::ConnectionsRefused => "connections_refused",
            Code::ServerNotServing => "server_not_serving",
            Code::StandaloneInEnsemble => "standalone_in_ensemble",
            Code::ReadOnly => "read_only",
            Code::FollowerNotSynced => "follower_not_synced",
            Code::ZxidLag => "zxid_lag",
            Code::HighLatency => "high_latency",
            Code::OutstandingRequests => "outstanding_requests",
            Code::WatchCount => "watch_count",
            Code::FileDescriptors => "file_descriptors",
            Code::FiguresUnavailable => "figures_unavailable",
            Code::MemberNotLocated => "member_not_located",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::NoServer | Code::NoLeader | Code::NoQuorum | Code::MultipleLeaders => {
                Severity::Critical
            }
            Code::EvenVoters | Code::FiguresUnavailable | Code::MemberNotLocated => {
                Severity::Notice
            }
            _ => Severity::Warning,
        }
    }
}

/// One thing wrong, with the server it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub code: Code,
    pub server: Option<String>,
    pub message: String,
    /// Over a `--critical-*` threshold: critical whatever its code.
    pub critical: bool,
}

impl Warning {
    fn ensemble(code: Code, message: String) -> Warning {
        Warning {
            code,
            server: None,
            message,
            critical: false,
        }
    }

    fn server(code: Code, report: &Report, message: String) -> Warning {
        Warning {
            code,
            server: Some(report.address.clone()),
            message,
            critical: false,
        }
    }

    pub fn severity(&self) -> Severity {
        if self.critical {
            return Severity::Critical;
        }
        self.code.severity()
    }

    pub fn to_json(&self) -> Value {
        json!({"code": self.code.as_str(), "server": self.server, "severity": self.severity().as_str(), "message": self.message})
    }
}

/// healthy, degraded or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Degraded,
    Down,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Down => "down",
        }
    }
}

/// The ensemble's verdict and the figures behind it.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub verdict: Verdict,
    pub servers: usize,
    pub up: usize,
    pub voters: usize,
    pub quorum_size: usize,
    pub has_quorum: bool,
    pub leader: Option<String>,
    pub leaders: usize,
    pub max_zxid_lag: Option<u64>,
    /// The highest average request latency of any serving server, ms.
    pub worst_latency_ms: Option<f64>,
    /// Per report, in order: its zxid lag behind the newest.
    pub lags: Vec<Option<u64>>,
    pub warnings: Vec<Warning>,
}

/// What the verdict and the ensemble-wide rules are computed from.
struct Figures<'a> {
    servers: usize,
    up: usize,
    leaders: Vec<&'a Report>,
    voters: usize,
    quorum_size: usize,
    serving_voters: usize,
    /// Followers that serve while a voter went unprobed: a follower serves
    /// only while it follows a leader that holds a quorum, so one proves
    /// both, though the leader is among those not probed.
    serving_followers: usize,
    has_quorum: bool,
    /// Per report, in order: its zxid lag behind the newest.
    lags: Vec<Option<u64>>,
}

impl<'a> Figures<'a> {
    fn of(survey: &'a Survey) -> Figures<'a> {
        let reports = &survey.reports;
        let servers = reports.len();
        let leaders: Vec<&Report> = reports
            .iter()
            .filter(|r| matches!(r.mode.as_deref(), Some("leader" | "standalone")))
            .collect();
        let voters = match &survey.membership {
            Some(members) => members.iter().filter(|m| m.participant).count(),
            None => reports
                .iter()
                .filter(|r| r.mode.as_deref() != Some("observer"))
                .count(),
        };
        let quorum_size = voters / 2 + 1;
        let serving_voters = reports
            .iter()
            .filter(|r| r.serving && r.is_voter_mode())
            .count();
        // Only where some voter was not probed at all (--no-discover, or a
        // member discovery could not place): a leader that was probed and
        // found silent (paused) still has followers that serve until
        // syncLimit runs out, and their writes hang.
        let unprobed_voters = voters > reports.len();
        let serving_followers = reports
            .iter()
            .filter(|r| unprobed_voters && r.serving && r.mode.as_deref() == Some("follower"))
            .count();
        let has_quorum = serving_followers > 0
            || (!leaders.is_empty() && serving_voters >= quorum_size.min(servers.max(1)));
        let newest = reports
            .iter()
            .filter(|r| r.serving)
            .filter_map(|r| r.zxid)
            .max();
        let lags = reports
            .iter()
            .map(|r| match (r.serving, r.zxid, newest) {
                (true, Some(z), Some(n)) => Some(z.lag_behind(n)),
                _ => None,
            })
            .collect();
        Figures {
            servers,
            up: reports.iter().filter(|r| r.serving).count(),
            leaders,
            voters,
            quorum_size,
            serving_voters,
            serving_followers,
            has_quorum,
            lags,
        }
    }
}

/// Members that no configuration locates (old-style lines of servers on
/// one host) and that the connect string did not name either: counted as
/// voters, never probed, never made up at another server's port.
fn members_not_located(survey: &Survey) -> Option<Warning> {
    let probed: BTreeSet<u64> = survey.reports.iter().filter_map(|r| r.server_id).collect();
    let unlocated: Vec<String> = survey
        .membership
        .iter()
        .flatten()
        .filter(|m| m.client_address.is_none() && !probed.contains(&m.id))
        .map(|m| format!("server.{}", m.id))
        .collect();
    (!unlocated.is_empty()).then(|| {
        Warning::ensemble(
            Code::MemberNotLocated,
            format!(
                "{} share a host with other servers and name no client port (old-style \
                 server.N lines); name them in --zk to probe them",
                unlocated.join(", ")
            ),
        )
    })
}

/// Judges the survey: the ensemble-wide rules, then each server's.
pub fn assess(survey: &Survey, limits: &Thresholds) -> Assessment {
    let figures = Figures::of(survey);
    let reports = &survey.reports;
    let mut warnings: Vec<Warning> = [
        quorum(survey, &figures),
        multiple_leaders(&figures),
        even_voters(&figures),
        members_not_located(survey),
    ]
    .into_iter()
    .flatten()
    .collect();
    // A single server named alone may run standalone; one of several not.
    let in_ensemble = figures.servers > 1 || survey.listed > 1;
    for (report, lag) in reports.iter().zip(&figures.lags) {
        warnings.extend(server_warnings(
            report,
            *lag,
            limits,
            in_ensemble,
            figures.servers,
        ));
    }
    let leaders = &figures.leaders;
    let verdict = if !figures.has_quorum || leaders.len() > 1 {
        Verdict::Down
    } else if warnings.iter().any(|w| w.severity() != Severity::Notice) {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    };
    Assessment {
        verdict,
        servers: figures.servers,
        up: figures.up,
        voters: figures.voters,
        quorum_size: figures.quorum_size,
        has_quorum: figures.has_quorum,
        leader: (leaders.len() == 1).then(|| leaders[0].address.clone()),
        leaders: leaders.len(),
        max_zxid_lag: figures.lags.iter().flatten().copied().max(),
        worst_latency_ms: reports
            .iter()
            .filter(|r| r.serving)
            .filter_map(|r| r.latency_avg)
            .reduce(f64::max),
        lags: figures.lags,
        warnings,
    }
}

/// At most one of: nobody answers, nobody leads, too few voters serve.
fn quorum(survey: &Survey, f: &Figures) -> Option<Warning> {
    let (servers, up) = (f.servers, f.up);
    let refusing = survey.reports.iter().filter(|r| r.closed_at_once).count();
    let (code, message) = if up == 0 && refusing > 0 {
        (
            Code::NoServer,
            format!(
                "none of the {servers} server(s) answers us; {refusing} close our connections \
                 at once (maxClientCnxns reached)"
            ),
        )
    } else if up == 0 {
        (
            Code::NoServer,
            format!("none of the {servers} server(s) serves requests"),
        )
    } else if f.leaders.is_empty() && f.serving_followers > 0 {
        (
            Code::LeaderNotProbed,
            format!(
                "no probed server is the leader, but {} follower(s) serve, which they do only \
                 while a leader holds a quorum; name the leader's address to probe it",
                f.serving_followers
            ),
        )
    } else if f.leaders.is_empty() {
        (
            Code::NoLeader,
            format!("no server is leader ({up} of {servers} serve)"),
        )
    } else if !f.has_quorum {
        (
            Code::NoQuorum,
            format!(
                "{} voting server(s) serve, a quorum needs {} of {}",
                f.serving_voters, f.quorum_size, f.voters
            ),
        )
    } else {
        return None;
    };
    Some(Warning::ensemble(code, message))
}

fn multiple_leaders(f: &Figures) -> Option<Warning> {
    if f.leaders.len() < 2 {
        return None;
    }
    let names: Vec<&str> = f.leaders.iter().map(|r| r.address.as_str()).collect();
    Some(Warning::ensemble(
        Code::MultipleLeaders,
        format!(
            "{} servers claim leadership: {}",
            f.leaders.len(),
            names.join(", ")
        ),
    ))
}

fn even_voters(f: &Figures) -> Option<Warning> {
    let voters = f.voters;
    (voters > 1 && voters % 2 == 0).then(|| {
        Warning::ensemble(
            Code::EvenVoters,
            format!(
                "{voters} voting members: an even number survives no more failures than {} would; use an odd number",
                voters - 1
            ),
        )
    })
}

/// One server's warnings. A server that cannot be asked is reported as
/// such and nothing else; one that serves is judged by its mode, its
/// figures against the limits, and what it could not tell us.
fn server_warnings(
    report: &Report,
    lag: Option<u64>,
    limits: &Thresholds,
    in_ensemble: bool,
    servers: usize,
) -> Vec<Warning> {
    let mut warnings: Vec<Warning> = availability(report);
    if !report.serving {
        return warnings;
    }
    warnings.extend(mode(report, in_ensemble, servers));
    warnings.extend(over_limits(report, lag, limits));
    warnings.extend(report.notes.iter().map(|note| {
        Warning::server(
            Code::FiguresUnavailable,
            report,
            format!("{}: {note}", report.address),
        )
    }));
    warnings
}

/// Down, refusing our connections, or running without serving.
fn availability(report: &Report) -> Vec<Warning> {
    let name = &report.address;
    if !report.reachable {
        let cause = report.error.clone().unwrap_or_default();
        let message = format!("{name} is unreachable ({cause})");
        return vec![Warning::server(Code::ServerDown, report, message)];
    }
    let mut warnings = Vec::new();
    if report.closed_at_once {
        // Not a quorum problem: the server hangs up on us before a word.
        warnings.push(Warning::server(
            Code::ConnectionsRefused,
            report,
            format!(
                "{name} closes our connections at once: too many connections from this \
                 address (its maxClientCnxns is reached)"
            ),
        ));
        if !report.serving {
            return warnings;
        }
    }
    if !report.serving {
        let message = match &report.mode {
            Some(mode) => format!("{name} is {mode} but not serving requests"),
            None => {
                format!("{name} runs but does not serve requests (no quorum, or electing a leader)")
            }
        };
        warnings.push(Warning::server(Code::ServerNotServing, report, message));
    }
    warnings
}

/// What a serving server's mode says is wrong.
fn mode(report: &Report, in_ensemble: bool, servers: usize) -> Option<Warning> {
    let name = &report.address;
    let (code, message) = match report.mode.as_deref() {
        Some("standalone") if in_ensemble => (
            Code::StandaloneInEnsemble,
            format!("{name} runs standalone, yet the ensemble has {servers} servers: it is not part of it"),
        ),
        Some("read-only") => (
            Code::ReadOnly,
            format!("{name} is in read-only mode: it lost contact with the quorum"),
        ),
        Some("follower" | "observer") => {
            let state = report.peer_state.as_ref()?;
            if state.ends_with("broadcast") {
                return None;
            }
            (
                Code::FollowerNotSynced,
                format!("{name} is not in sync with the leader ({state})"),
            )
        }
        Some("leader") => {
            let (Some(followers), Some(synced)) = (report.followers, report.synced_followers)
            else {
                return None;
            };
            // `learners` counts observers too: an ensemble with an
            // observer in sync is not missing a follower.
            let synced = synced + report.synced_non_voters.unwrap_or(0);
            if synced >= followers {
                return None;
            }
            (
                Code::FollowerNotSynced,
                format!("leader {name} has {followers} learner(s) but only {synced} in sync"),
            )
        }
        _ => return None,
    };
    Some(Warning::server(code, report, message))
}

/// A serving server's figures over the `--max-*` limits (warnings), or over
/// the `--critical-*` ones (critical).
fn over_limits(report: &Report, lag: Option<u64>, limits: &Thresholds) -> Vec<Warning> {
    let name = &report.address;
    let mut warnings = Vec::new();
    // `value` over `warn`, or over `critical` (then critical): the message
    // names the limit it crossed.
    let mut judge =
        |code, value: f64, warn: f64, critical: Option<f64>, what: String, unit: &str| {
            let over_critical = critical.is_some_and(|c| value > c);
            if value > warn || over_critical {
                let (kind, limit) = match critical {
                    Some(c) if over_critical => ("critical limit", c),
                    _ => ("limit", warn),
                };
                warnings.push(Warning {
                    critical: over_critical,
                    ..Warning::server(code, report, format!("{what} ({kind} {limit}{unit})"))
                });
            }
        };
    if let Some(lag) = lag {
        judge(
            Code::ZxidLag,
            lag as f64,
            limits.max_lag as f64,
            limits.critical_lag.map(|c| c as f64),
            format!("{name} is {lag} transactions behind the newest zxid"),
            "",
        );
    }
    if let Some(avg) = report.latency_avg {
        judge(
            Code::HighLatency,
            avg,
            limits.max_latency.as_secs_f64() * 1000.0,
            limits.critical_latency.map(|c| c.as_secs_f64() * 1000.0),
            format!("{name} answers in {avg} ms on average"),
            " ms",
        );
    }
    if let Some(outstanding) = report.outstanding_requests {
        judge(
            Code::OutstandingRequests,
            outstanding as f64,
            limits.max_outstanding as f64,
            limits.critical_outstanding.map(|c| c as f64),
            format!("{name} has {outstanding} outstanding requests"),
            "",
        );
    }
    if let Some(watches) = report.watch_count {
        judge(
            Code::WatchCount,
            watches as f64,
            limits.max_watches as f64,
            limits.critical_watches.map(|c| c as f64),
            format!("{name} holds {watches} watches"),
            "",
        );
    }
    if let (Some(open), Some(max)) = (report.open_file_descriptors, report.max_file_descriptors) {
        if max > 0 {
            let used = open as f64 * 100.0 / max as f64;
            judge(
                Code::FileDescriptors,
                used,
                f64::from(limits.max_fd_percent),
                limits.critical_fd_percent.map(f64::from),
                format!(
                    "{name} uses {open} of {max} file descriptors ({}%)",
                    open * 100 / max
                ),
                "%",
            );
        }
    }
    warnings
}

/// Whether one server may be stopped (a rolling restart's question) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct CanStop {
    pub server: String,
    pub can_stop: bool,
    pub leader: bool,
    /// Voters other than it that serve and are synced (lag within --max-lag).
    pub remaining: usize,
    pub quorum_size: usize,
    pub voters: usize,
    pub reason: String,
}

/// Would the ensemble keep a quorum of synced voters without `server`
/// (`host:port` as probed, or its server id)? A voter that does not serve,
/// or lags more than `--max-lag`, cannot stand in for it; an observer or a
/// server that is already down can always stop. `Err` when no probed
/// server is `server`.
pub fn can_stop(
    survey: &Survey,
    assessment: &Assessment,
    limits: &Thresholds,
    server: &str,
) -> Result<CanStop, String> {
    let wanted_id = server.parse::<u64>().ok();
    let index = survey
        .reports
        .iter()
        .position(|r| r.address == server || (wanted_id.is_some() && r.server_id == wanted_id))
        .ok_or_else(|| {
            let known: Vec<&str> = survey.reports.iter().map(|r| r.address.as_str()).collect();
            format!(
                "{server} is none of the servers probed ({})",
                known.join(", ")
            )
        })?;
    let target = &survey.reports[index];
    let synced = |(i, r): &(usize, &Report)| {
        *i != index
            && r.serving
            && r.is_voter_mode()
            && assessment.lags[*i].is_some_and(|lag| lag <= limits.max_lag)
    };
    let remaining = survey.reports.iter().enumerate().filter(synced).count();
    let (voters, quorum_size) = (assessment.voters, assessment.quorum_size);
    let leader = target.mode.as_deref() == Some("leader");
    let name = &target.address;
    let counts_for_quorum = target.serving && target.is_voter_mode();
    let can_stop = !counts_for_quorum || remaining >= quorum_size;
    let mut reason = if !counts_for_quorum {
        format!("{name} is not a serving voter; stopping it cannot cost the quorum")
    } else if can_stop {
        format!(
            "{remaining} other synced voter(s) would serve; a quorum needs {quorum_size} of {voters}"
        )
    } else {
        // The others that cannot stand in: down, or a voter behind.
        let down: Vec<&str> = survey
            .reports
            .iter()
            .enumerate()
            .filter(|&(i, r)| i != index && (!r.serving || (r.is_voter_mode() && !synced(&(i, r)))))
            .map(|(_, r)| r.address.as_str())
            .collect();
        format!(
            "only {remaining} other synced voter(s) would serve; a quorum needs {quorum_size} of {voters}{}",
            if down.is_empty() {
                String::new()
            } else {
                format!(" (not serving or not synced: {})", down.join(", "))
            }
        )
    };
    if leader {
        reason.push_str(&format!(
            "; {name} is the leader: stopping it costs an election (writes wait for a new leader)"
        ));
    }
    Ok(CanStop {
        server: name.clone(),
        can_stop,
        leader,
        remaining,
        quorum_size,
        voters,
        reason,
    })
}

/// The status document.
pub fn document(survey: &Survey, assessment: &Assessment, with_mntr: bool) -> Map<String, Value> {
    let servers: Vec<Value> = survey
        .reports
        .iter()
        .zip(&assessment.lags)
        .map(|(report, lag)| {
            let mut value = report.to_json(with_mntr);
            if let Value::Object(map) = &mut value {
                map.insert("zxid_lag".into(), (*lag).into());
            }
            value
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("time".into(), zk_common::output::now_rfc3339().into());
    doc.insert("status".into(), assessment.verdict.as_str().into());
    doc.insert(
        "ensemble".into(),
        json!({
            "servers": assessment.servers,
            "up": assessment.up,
            "voters": assessment.voters,
            "quorum_size": assessment.quorum_size,
            "has_quorum": assessment.has_quorum,
            "leader": assessment.leader,
            "leaders": assessment.leaders,
            "max_zxid_lag": assessment.max_zxid_lag,
            "membership_source": survey.membership_source,
        }),
    );
    doc.insert(
        "warnings".into(),
        assessment
            .warnings
            .iter()
            .map(Warning::to_json)
            .collect::<Vec<_>>()
            .into(),
    );
    doc.insert("servers".into(), servers.into());
    doc
}

/// One line for people: `degraded: 2/3 servers serve, leader a:1; server_down a:2 ...`.
pub fn summary(assessment: &Assessment) -> String {
    let leader = assessment
        .leader
        .as_deref()
        .map_or_else(|| "no leader".to_string(), |l| format!("leader {l}"));
    let mut line = format!(
        "{}: {}/{} servers serve, {leader}",
        assessment.verdict.as_str(),
        assessment.up,
        assessment.servers
    );
    let problems: Vec<String> = assessment
        .warnings
        .iter()
        .filter(|w| w.severity() != Severity::Notice || assessment.verdict == Verdict::Healthy)
        .map(|w| format!("{}: {}", w.code.as_str(), w.message))
        .collect();
    if !problems.is_empty() {
        line.push_str("; ");
        line.push_str(&problems.join("; "));
    }
    line
}

/// Survey and judge in one go.
pub async fn status(
    connect: &ConnectArgs,
    args: &SurveyArgs,
    timeout: Duration,
    limits: &Thresholds,
) -> anyhow::Result<(Survey, Assessment)> {
    let survey = survey(connect, args, timeout).await?;
    let assessment = assess(&survey, limits);
    Ok((survey, assessment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Zxid;

    fn serving(address: &str, mode: &str, zxid: u64) -> Report {
        Report {
            address: address.into(),
            reachable: true,
            serving: true,
            mode: Some(mode.into()),
            zxid: Some(Zxid(zxid)),
            latency_avg: Some(0.5),
            ..Report::default()
        }
    }

    fn down(address: &str) -> Report {
        Report {
            address: address.into(),
            error: Some(format!("{address}: Connection refused")),
            ..Report::default()
        }
    }

    fn survey_of(reports: Vec<Report>) -> Survey {
        let listed = reports.len();
        Survey {
            reports,
            membership: None,
            membership_source: None,
            listed,
        }
    }

    #[test]
    fn three_up_with_one_leader_is_healthy() {
        let s = survey_of(vec![
            serving("a:1", "follower", 5),
            serving("a:2", "leader", 5),
            serving("a:3", "follower", 5),
        ]);
        let a = assess(&s, &Thresholds::default());
        assert_eq!(a.verdict, Verdict::Healthy, "{:?}", a.warnings);
        assert_eq!((a.up, a.voters, a.quorum_size, a.leaders), (3, 3, 2, 1));
        assert_eq!(a.leader.as_deref(), Some("a:2"));
        assert_eq!(a.max_zxid_lag, Some(0));
    }

    #[test]
    fn one_down_degrades_and_two_down_is_down() {
        let s = survey_of(vec![
            serving("a:1", "follower", 5),
            serving("a:2", "leader", 5),
            down("a:3"),
        ]);
        let a = assess(&s, &Thresholds::default());
        assert_eq!(a.verdict, Verdict::Degraded);
        assert_eq!(a.warnings[0].code, Code::ServerDown);
        assert_eq!(a.warnings[0].server.as_deref(), Some("a:3"));

        let s = survey_of(vec![down("a:1"), serving("a:2", "leader", 5), down("a:3")]);
        let a = assess(&s, &Thresholds::default());
        assert_eq!(a.verdict, Verdict::Down);
        assert!(!a.has_quorum);
    }

    #[test]
    fn even_voters_is_a_notice_and_lag_latency_fds_are_warnings() {
        let mut slow = serving("a:4", "follower", 2);
        slow.latency_avg = Some(250.0);
        slow.open_file_descriptors = Some(90);
        slow.max_file_descriptors = Some(100);
        let s = survey_of(vec![
            serving("a:1", "follower", 5000),
            serving("a:2", "leader", 5000),
            serving("a:3", "follower", 5000),
            slow,
        ]);
        let a = assess(&s, &Thresholds::default());
        let codes: Vec<&str> = a.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "even_voters",
                "zxid_lag",
                "high_latency",
                "file_descriptors"
            ]
        );
        assert_eq!(a.verdict, Verdict::Degraded);

        let s = survey_of(vec![
            serving("a:1", "follower", 5),
            serving("a:2", "leader", 5),
            serving("a:3", "follower", 5),
            serving("a:4", "follower", 5),
        ]);
        let a = assess(&s, &Thresholds::default());
        assert_eq!(
            a.verdict,
            Verdict::Healthy,
            "a notice alone does not degrade"
        );
        assert_eq!(a.warnings[0].code, Code::EvenVoters);
    }

    #[test]
    fn critical_thresholds_make_a_figure_critical() {
        let mut slow = serving("a:3", "follower", 5);
        slow.latency_avg = Some(250.0);
        let s = survey_of(vec![
            serving("a:1", "follower", 5),
            serving("a:2", "leader", 5),
            slow,
        ]);
        let mut limits = Thresholds::default();
        let a = assess(&s, &limits);
        assert_eq!(a.warnings[0].severity(), Severity::Warning);
        limits.critical_latency = Some(std::time::Duration::from_millis(200));
        let a = assess(&s, &limits);
        assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
        assert_eq!(a.warnings[0].severity(), Severity::Critical);
        assert!(
            a.warnings[0].message.contains("critical limit 200 ms"),
            "{:?}",
            a.warnings
        );
        let (line, code) = crate::nagios::render(&a, &limits);
        assert_eq!(code, crate::nagios::CRITICAL, "{line}");
        assert!(line.contains("max_avg_latency=250ms;100;200;0;"), "{line}");
        // Still a quorum: the JSON verdict stays degraded.
        assert_eq!(a.verdict, Verdict::Degraded);
    }

    #[test]
    fn two_leaders_is_down_and_standalone_in_a_list_warns() {
        let s = survey_of(vec![
            serving("a:1", "leader", 5),
            serving("a:2", "leader", 5),
            serving("a:3", "follower", 5),
        ]);
        assert_eq!(assess(&s, &Thresholds::default()).verdict, Verdict::Down);
        let s = survey_of(vec![serving("a:1", "standalone", 5), down("a:2")]);
        let a = assess(&s, &Thresholds::default());
        assert!(a
            .warnings
            .iter()
            .any(|w| w.code == Code::StandaloneInEnsemble));
    }

    #[test]
    fn admin_ports_must_match_the_server_count() {
        let args = SurveyArgs {
            admin_port: vec![1, 2],
            no_discover: false,
        };
        assert!(targets("a:1,b:2,c:3", &args).is_err());
        let t = targets("a:1,b:2", &args).unwrap();
        assert_eq!((t[0].admin_port, t[1].admin_port), (1, 2));
        let t = targets(
            "zk1,zk2:2182/chroot",
            &SurveyArgs {
                admin_port: vec![8080],
                no_discover: false,
            },
        )
        .unwrap();
        assert_eq!(t[0].address, "zk1:2181");
        assert_eq!(t[1].address, "zk2:2182");
    }
}
