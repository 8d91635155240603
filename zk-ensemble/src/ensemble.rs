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
const DEFAULT_ADMIN_PORT: u16 = 8080;

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

/// Probes every target in parallel.
pub async fn probe_all(targets: Vec<Target>, timeout: Duration) -> Vec<Report> {
    let mut set = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        set.spawn(async move { (i, server::probe(&target, timeout).await) });
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
        let extra: Vec<Target> = members
            .iter()
            .filter(|m| !known_ids.contains(&m.id) && !known_addresses.contains(&m.client_address))
            .map(|m| Target {
                address: m.client_address.clone(),
                admin_port: single_port.unwrap_or(DEFAULT_ADMIN_PORT),
                discovered: true,
            })
            .collect();
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
                client_address,
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
        ))
    };
    match tokio::time::timeout(timeout * 2, read).await {
        Ok(Some(members)) if !members.is_empty() => Some(members),
        _ => None,
    }
}

/// One thing wrong, with the server it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub code: &'static str,
    pub server: Option<String>,
    /// `critical` (no quorum), `warning` (degrades the ensemble) or
    /// `notice` (worth knowing, degrades nothing).
    pub severity: &'static str,
    pub message: String,
}

impl Warning {
    fn new(
        code: &'static str,
        severity: &'static str,
        server: Option<&str>,
        message: String,
    ) -> Warning {
        Warning {
            code,
            server: server.map(str::to_string),
            severity,
            message,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "server": self.server, "severity": self.severity, "message": self.message})
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

/// Judges the survey.
pub fn assess(survey: &Survey, limits: &Thresholds) -> Assessment {
    let reports = &survey.reports;
    let servers = reports.len();
    let up = reports.iter().filter(|r| r.serving).count();
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
    let has_quorum = !leaders.is_empty() && serving_voters >= quorum_size.min(servers.max(1));
    let newest = reports
        .iter()
        .filter(|r| r.serving)
        .filter_map(|r| r.zxid)
        .max();
    let lags: Vec<Option<u64>> = reports
        .iter()
        .map(|r| match (r.serving, r.zxid, newest) {
            (true, Some(z), Some(n)) => Some(z.lag_behind(n)),
            _ => None,
        })
        .collect();
    let max_zxid_lag = lags.iter().flatten().copied().max();

    let mut warnings = Vec::new();
    let mut warn = |code, severity, server: Option<&str>, message: String| {
        warnings.push(Warning::new(code, severity, server, message));
    };
    let refusing = reports.iter().filter(|r| r.closed_at_once).count();
    if up == 0 && refusing > 0 {
        warn(
            "no_server",
            "critical",
            None,
            format!(
                "none of the {servers} server(s) answers us; {refusing} close our connections \
                 at once (maxClientCnxns reached)"
            ),
        );
    } else if up == 0 {
        warn(
            "no_server",
            "critical",
            None,
            format!("none of the {servers} server(s) serves requests"),
        );
    } else if leaders.is_empty() {
        warn(
            "no_leader",
            "critical",
            None,
            format!("no server is leader ({up} of {servers} serve)"),
        );
    } else if !has_quorum {
        warn(
            "no_quorum",
            "critical",
            None,
            format!(
                "{serving_voters} voting server(s) serve, a quorum needs {quorum_size} of {voters}"
            ),
        );
    }
    if leaders.len() > 1 {
        let names: Vec<&str> = leaders.iter().map(|r| r.address.as_str()).collect();
        warn(
            "multiple_leaders",
            "critical",
            None,
            format!(
                "{} servers claim leadership: {}",
                leaders.len(),
                names.join(", ")
            ),
        );
    }
    if voters > 1 && voters % 2 == 0 {
        warn(
            "even_voters",
            "notice",
            None,
            format!(
                "{voters} voting members: an even number survives no more failures than {} would; use an odd number",
                voters - 1
            ),
        );
    }
    let multi = servers > 1 || survey.listed > 1;
    for (report, lag) in reports.iter().zip(&lags) {
        let at = Some(report.address.as_str());
        let name = &report.address;
        if !report.reachable {
            let cause = report.error.clone().unwrap_or_default();
            warn(
                "server_down",
                "warning",
                at,
                format!("{name} is unreachable ({cause})"),
            );
            continue;
        }
        if report.closed_at_once {
            // Not a quorum problem: the server hangs up on us before a word.
            warn(
                "connections_refused",
                "warning",
                at,
                format!(
                    "{name} closes our connections at once: too many connections from this \
                     address (its maxClientCnxns is reached)"
                ),
            );
            if !report.serving {
                continue;
            }
        }
        if !report.serving {
            let message = match &report.mode {
                Some(mode) => format!("{name} is {mode} but not serving requests"),
                None => format!(
                    "{name} runs but does not serve requests (no quorum, or electing a leader)"
                ),
            };
            warn("server_not_serving", "warning", at, message);
            continue;
        }
        match report.mode.as_deref() {
            Some("standalone") if multi => warn(
                "standalone_in_ensemble",
                "warning",
                at,
                format!("{name} runs standalone, yet the ensemble has {servers} servers: it is not part of it"),
            ),
            Some("read-only") => warn(
                "read_only",
                "warning",
                at,
                format!("{name} is in read-only mode: it lost contact with the quorum"),
            ),
            Some("follower") | Some("observer") => {
                if let Some(state) = &report.peer_state {
                    if !state.ends_with("broadcast") {
                        warn(
                            "follower_not_synced",
                            "warning",
                            at,
                            format!("{name} is not in sync with the leader ({state})"),
                        );
                    }
                }
            }
            Some("leader") => {
                if let (Some(followers), Some(synced)) = (report.followers, report.synced_followers) {
                    // `learners` counts observers too: an ensemble with an
                    // observer in sync is not missing a follower.
                    let synced = synced + report.synced_non_voters.unwrap_or(0);
                    if synced < followers {
                        warn(
                            "follower_not_synced",
                            "warning",
                            at,
                            format!("leader {name} has {followers} learner(s) but only {synced} in sync"),
                        );
                    }
                }
            }
            _ => {}
        }
        if let Some(lag) = lag {
            if *lag > limits.max_lag {
                warn(
                    "zxid_lag",
                    "warning",
                    at,
                    format!(
                        "{name} is {lag} transactions behind the newest zxid (limit {})",
                        limits.max_lag
                    ),
                );
            }
        }
        if let Some(avg) = report.latency_avg {
            let limit_ms = limits.max_latency.as_secs_f64() * 1000.0;
            if avg > limit_ms {
                warn(
                    "high_latency",
                    "warning",
                    at,
                    format!("{name} answers in {avg} ms on average (limit {limit_ms} ms)"),
                );
            }
        }
        if let Some(outstanding) = report.outstanding_requests {
            if outstanding > limits.max_outstanding {
                warn(
                    "outstanding_requests",
                    "warning",
                    at,
                    format!(
                        "{name} has {outstanding} outstanding requests (limit {})",
                        limits.max_outstanding
                    ),
                );
            }
        }
        if let Some(watches) = report.watch_count {
            if watches > limits.max_watches {
                warn(
                    "watch_count",
                    "warning",
                    at,
                    format!(
                        "{name} holds {watches} watches (limit {})",
                        limits.max_watches
                    ),
                );
            }
        }
        if let (Some(open), Some(max)) = (report.open_file_descriptors, report.max_file_descriptors)
        {
            if max > 0 && open * 100 > max * u64::from(limits.max_fd_percent) {
                warn(
                    "file_descriptors",
                    "warning",
                    at,
                    format!(
                        "{name} uses {open} of {max} file descriptors ({}%, limit {}%)",
                        open * 100 / max,
                        limits.max_fd_percent
                    ),
                );
            }
        }
        for note in &report.notes {
            warn(
                "figures_unavailable",
                "notice",
                at,
                format!("{name}: {note}"),
            );
        }
    }
    let verdict = if !has_quorum || leaders.len() > 1 {
        Verdict::Down
    } else if warnings.iter().any(|w| w.severity != "notice") {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    };
    Assessment {
        verdict,
        servers,
        up,
        voters,
        quorum_size,
        has_quorum,
        leader: (leaders.len() == 1).then(|| leaders[0].address.clone()),
        leaders: leaders.len(),
        max_zxid_lag,
        worst_latency_ms: reports
            .iter()
            .filter(|r| r.serving)
            .filter_map(|r| r.latency_avg)
            .reduce(f64::max),
        lags,
        warnings,
    }
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
        .filter(|w| w.severity != "notice" || assessment.verdict == Verdict::Healthy)
        .map(|w| format!("{}: {}", w.code, w.message))
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
        assert_eq!(a.warnings[0].code, "server_down");
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
        let codes: Vec<&str> = a.warnings.iter().map(|w| w.code).collect();
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
        assert_eq!(a.warnings[0].code, "even_voters");
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
            .any(|w| w.code == "standalone_in_ensemble"));
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
