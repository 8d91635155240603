//! One server's figures: asked with every four-letter word at once, with
//! the AdminServer standing in for each word that is not whitelisted.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::sources::{self, Answer};

/// A server to probe.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` of the client port.
    pub address: String,
    /// The AdminServer's HTTP port on the same host.
    pub admin_port: u16,
    /// Found in the ensemble's configuration, not in the connect string.
    pub discovered: bool,
}

impl Target {
    pub fn host(&self) -> &str {
        host_of(&self.address)
    }
}

/// The host part of `host:port` (IPv6 brackets removed).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A zxid split as ZooKeeper builds it: the leader's epoch in the high 32
/// bits, a counter within the epoch in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Zxid(pub u64);

impl Zxid {
    pub fn epoch(self) -> u64 {
        self.0 >> 32
    }

    pub fn counter(self) -> u64 {
        self.0 & 0xffff_ffff
    }

    fn parse_hex(text: &str) -> Option<Zxid> {
        u64::from_str_radix(text.trim().trim_start_matches("0x"), 16)
            .ok()
            .map(Zxid)
    }

    pub fn to_json(self) -> Value {
        json!({"hex": format!("{:#x}", self.0), "epoch": self.epoch(), "counter": self.counter()})
    }

    /// How many transactions `self` is behind `newest`: the counter
    /// difference within one epoch; from an older epoch, at least the
    /// newest epoch's counter.
    pub fn lag_behind(self, newest: Zxid) -> u64 {
        if self.epoch() == newest.epoch() {
            newest.counter().saturating_sub(self.counter())
        } else if self.epoch() < newest.epoch() {
            newest.counter().max(1)
        } else {
            0
        }
    }
}

/// One voting or observing member, from `conf` or `/zookeeper/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// The client address, `host:port`; `None` when no line says it and
    /// it cannot be inferred (old-style lines of several servers on one
    /// host: each one's client port is only in its own `clientPort`).
    pub client_address: Option<String>,
    pub participant: bool,
}

/// Parses `server.N=host:peer:election[:role][;[clientHost:]clientPort]`
/// lines (conf, zoo.cfg, /zookeeper/config). `client_port` (that of the
/// server `own_id` whose configuration this is) stands in for lines that
/// name no client address (old-style configurations), as long as the
/// line's host is no other line's: servers sharing a host must differ in
/// client port, which only their own configurations say.
pub fn parse_membership(text: &str, client_port: Option<u16>, own_id: Option<u64>) -> Vec<Member> {
    let mut members = Vec::new();
    // How many lines name each peer host.
    let mut hosts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        if key.starts_with("server.") {
            let host = value.split(':').next().unwrap_or("").trim().to_string();
            *hosts.entry(host).or_default() += 1;
        }
    }
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let Some(id) = key
            .strip_prefix("server.")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            continue;
        };
        let (servers, client) = match value.split_once(';') {
            Some((servers, client)) => (servers, Some(client.trim())),
            None => (value, None),
        };
        let parts: Vec<&str> = servers.split(':').collect();
        let peer_host = parts.first().copied().unwrap_or("").trim();
        let participant = !parts.iter().skip(3).any(|p| p.trim() == "observer");
        let (host, port) = match client {
            Some(client) => match client.rsplit_once(':') {
                Some((host, port)) if host != "0.0.0.0" && host != "[::]" && !host.is_empty() => {
                    (host, port.parse::<u16>().ok())
                }
                Some((_, port)) => (peer_host, port.parse::<u16>().ok()),
                None => (peer_host, client.parse::<u16>().ok()),
            },
            None => (peer_host, client_port),
        };
        // A line without a usable host and port names no server we could
        // probe: skip it rather than probe an address made of garbage.
        let (false, Some(port)) = (host.is_empty(), port) else {
            continue;
        };
        let inferred = client.is_none();
        let shared_host = hosts.get(peer_host).copied().unwrap_or(0) > 1;
        let client_address = if inferred && shared_host && own_id != Some(id) {
            None
        } else {
            Some(format!("{host}:{port}"))
        };
        members.push(Member {
            id,
            client_address,
            participant,
        });
    }
    members
}

/// Everything learned about one server.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub address: String,
    pub discovered: bool,
    pub reachable: bool,
    /// Reachable and serving clients (a mode is known).
    pub serving: bool,
    pub error: Option<String>,
    /// Every connection was closed without a word: the server refuses our
    /// connections (its maxClientCnxns for our address is reached).
    pub closed_at_once: bool,
    pub mode: Option<String>,
    pub server_id: Option<u64>,
    pub version: Option<String>,
    pub zxid: Option<Zxid>,
    pub latency_min: Option<Value>,
    pub latency_avg: Option<f64>,
    pub latency_max: Option<Value>,
    pub outstanding_requests: Option<u64>,
    pub znode_count: Option<u64>,
    pub watch_count: Option<u64>,
    pub ephemerals_count: Option<u64>,
    pub alive_connections: Option<u64>,
    pub approximate_data_size: Option<u64>,
    pub open_file_descriptors: Option<u64>,
    pub max_file_descriptors: Option<u64>,
    pub followers: Option<u64>,
    pub synced_followers: Option<u64>,
    /// Observers and non-voting followers in sync (3.6+ say them apart from
    /// `synced_followers`, while their `learners` counts them all).
    pub synced_non_voters: Option<u64>,
    /// `following - broadcast` when a follower is in sync with its leader.
    pub peer_state: Option<String>,
    pub read_only: Option<bool>,
    pub ruok: Option<bool>,
    /// The ensemble as this server sees it (from `conf`).
    pub membership: Option<Vec<Member>>,
    /// Figure name to where it came from: `mntr`, `srvr`, ... for a
    /// four-letter word, `admin:monitor`, ... for the AdminServer.
    pub sources: Map<String, Value>,
    pub mntr: Option<Map<String, Value>>,
    /// Why figures are missing (a word not whitelisted and no AdminServer).
    pub notes: Vec<String>,
}

impl Report {
    fn unreachable(target: &Target, error: String) -> Report {
        Report {
            address: target.address.clone(),
            discovered: target.discovered,
            error: Some(error),
            ..Report::default()
        }
    }

    /// Whether this server votes (leader, follower, or standalone).
    pub fn is_voter_mode(&self) -> bool {
        matches!(
            self.mode.as_deref(),
            Some("leader" | "follower" | "standalone")
        )
    }

    pub fn to_json(&self, with_mntr: bool) -> Value {
        let latency = if self.latency_avg.is_some() {
            json!({"min": self.latency_min, "avg": self.latency_avg, "max": self.latency_max})
        } else {
            Value::Null
        };
        let descriptors =
            if self.open_file_descriptors.is_some() || self.max_file_descriptors.is_some() {
                json!({"open": self.open_file_descriptors, "max": self.max_file_descriptors})
            } else {
                Value::Null
            };
        let mut out = json!({
            "address": self.address,
            "reachable": self.reachable,
            "serving": self.serving,
            "error": self.error,
            "discovered": self.discovered,
            "mode": self.mode,
            "server_id": self.server_id,
            "version": self.version,
            "zxid": self.zxid.map(Zxid::to_json),
            "latency_ms": latency,
            "outstanding_requests": self.outstanding_requests,
            "znode_count": self.znode_count,
            "watch_count": self.watch_count,
            "ephemerals_count": self.ephemerals_count,
            "alive_connections": self.alive_connections,
            "approximate_data_size": self.approximate_data_size,
            "file_descriptors": descriptors,
            "read_only": self.read_only,
            "ruok": self.ruok,
        });
        if let Value::Object(map) = &mut out {
            if self.mode.as_deref() == Some("leader") {
                map.insert("followers".into(), self.followers.into());
                map.insert("synced_followers".into(), self.synced_followers.into());
            }
            map.insert("sources".into(), Value::Object(self.sources.clone()));
            if !self.notes.is_empty() {
                map.insert("notes".into(), self.notes.clone().into());
            }
            if with_mntr {
                map.insert(
                    "mntr".into(),
                    self.mntr.clone().map_or(Value::Null, Value::Object),
                );
            }
        }
        out
    }
}

/// Probes one server; an unanswered server costs at most `timeout`.
pub async fn probe(target: &Target, timeout: Duration) -> Report {
    match tokio::time::timeout(timeout, gather(target)).await {
        Ok(report) => report,
        Err(_) => Report::unreachable(
            target,
            format!(
                "{}: no answer within {}",
                target.address,
                humantime::format_duration(timeout)
            ),
        ),
    }
}

type Fetched = Result<Answer, std::io::Error>;

async fn gather(target: &Target) -> Report {
    let a = target.address.as_str();
    let (mntr, srvr, conf, isro, ruok) = tokio::join!(
        sources::four_letter(a, "mntr"),
        sources::four_letter(a, "srvr"),
        sources::four_letter(a, "conf"),
        sources::four_letter(a, "isro"),
        sources::four_letter(a, "ruok"),
    );
    let answers = [&mntr, &srvr, &conf, &isro, &ruok];
    if answers.iter().all(|r| r.is_err()) {
        let cause = answers
            .iter()
            .find_map(|r| r.as_ref().err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Report::unreachable(target, format!("{a}: {cause}"));
    }
    let host = target.host();
    let port = target.admin_port;
    // Every word that was refused is asked of the AdminServer, all at once.
    let admin = |refused: bool, command: &'static str| async move {
        if refused {
            Some(sources::admin_command(host, port, command).await)
        } else {
            None
        }
    };
    let refused = |r: &Fetched| matches!(r, Ok(Answer::NotWhitelisted | Answer::Silent));
    // Every word unanswered, even srvr (whitelisted by default): the server
    // hangs up on our connections, not on the words.
    let closed_at_once = answers.iter().all(|r| matches!(r, Ok(Answer::Silent)));
    let any_refused = answers.iter().any(|r| refused(r));
    // The configuration is asked whenever the AdminServer is, to check it
    // belongs to this server: on a host running several servers, a wrong
    // --admin-port would otherwise lend one server's figures to another.
    let (a_mntr, a_srvr, a_conf, a_isro, a_ruok) = tokio::join!(
        admin(refused(&mntr), "monitor"),
        admin(refused(&srvr), "server_stats"),
        admin(any_refused, "configuration"),
        admin(refused(&isro), "is_read_only"),
        admin(refused(&ruok), "ruok"),
    );
    let client_port = target
        .address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u64>().ok());
    let admin_port_of = a_conf
        .as_ref()
        .and_then(|c| c.as_ref().ok())
        .and_then(|c| c.get("client_port"))
        .and_then(Value::as_u64);
    let foreign = match (client_port, admin_port_of) {
        (Some(ours), Some(theirs)) if ours != theirs => Some(format!(
            "the AdminServer at {host}:{port} belongs to the server with client port {theirs}"
        )),
        _ => None,
    };
    let (a_mntr, a_srvr, a_conf, a_isro, a_ruok) = match &foreign {
        Some(why) => {
            let refuse =
                |asked: Option<_>| asked.map(|_| Err::<Map<String, Value>, String>(why.clone()));
            (
                refuse(a_mntr),
                refuse(a_srvr),
                refuse(a_conf.filter(|_| refused(&conf))),
                refuse(a_isro),
                refuse(a_ruok),
            )
        }
        None => (
            a_mntr,
            a_srvr,
            a_conf.filter(|_| refused(&conf)),
            a_isro,
            a_ruok,
        ),
    };

    let mut report = Report {
        address: target.address.clone(),
        discovered: target.discovered,
        reachable: true,
        ..Report::default()
    };
    let not_serving = answers.iter().any(|r| matches!(r, Ok(Answer::NotServing)));
    let note =
        |what: &str, answer: &Fetched, admin: &Option<Result<Map<String, Value>, String>>| {
            if let Some(Err(err)) = admin {
                report_note(what, answer, err)
            } else {
                None
            }
        };
    let notes: Vec<String> = [
        note("mntr", &mntr, &a_mntr),
        note("srvr", &srvr, &a_srvr),
        note("conf", &conf, &a_conf),
        note("isro", &isro, &a_isro),
        note("ruok", &ruok, &a_ruok),
    ]
    .into_iter()
    .flatten()
    .collect();
    report.notes = notes;

    // mntr first: it has the most figures.
    match (&mntr, a_mntr) {
        (Ok(Answer::Text(text)), _) => from_mntr(&mut report, sources::parse_mntr(text), "mntr"),
        (_, Some(Ok(map))) => from_mntr(&mut report, map, "admin:monitor"),
        _ => {}
    }
    match (&srvr, a_srvr) {
        (Ok(Answer::Text(text)), _) => from_srvr(&mut report, &sources::parse_srvr(text)),
        (_, Some(Ok(map))) => from_server_stats(&mut report, &map),
        _ => {}
    }
    match (&conf, a_conf) {
        (Ok(Answer::Text(text)), _) => from_conf(&mut report, text),
        (_, Some(Ok(map))) => {
            if let Some(id) = map.get("server_id").and_then(Value::as_u64) {
                set(
                    &mut report.server_id,
                    &mut report.sources,
                    "server_id",
                    Some(id),
                    "admin:configuration",
                );
            }
        }
        _ => {}
    }
    match (&isro, a_isro) {
        (Ok(Answer::Text(text)), _) => {
            let ro = text.trim() == "ro";
            set(
                &mut report.read_only,
                &mut report.sources,
                "read_only",
                Some(ro),
                "isro",
            );
        }
        (_, Some(Ok(map))) => {
            let ro = map.get("read_only").and_then(Value::as_bool);
            set(
                &mut report.read_only,
                &mut report.sources,
                "read_only",
                ro,
                "admin:is_read_only",
            );
        }
        _ => {}
    }
    match (&ruok, a_ruok) {
        (Ok(Answer::Text(text)), _) => {
            set(
                &mut report.ruok,
                &mut report.sources,
                "ruok",
                Some(text.trim() == "imok"),
                "ruok",
            );
        }
        (_, Some(Ok(_))) => set(
            &mut report.ruok,
            &mut report.sources,
            "ruok",
            Some(true),
            "admin:ruok",
        ),
        _ => {}
    }
    if report.read_only == Some(true) {
        report.mode = Some("read-only".into());
    }
    report.closed_at_once = closed_at_once;
    report.serving = report.mode.is_some() && !not_serving;
    if closed_at_once && report.mode.is_none() {
        report.error = Some(format!(
            "{}: closes our connections at once (its maxClientCnxns is reached)",
            target.address
        ));
    }
    if not_serving && report.mode.is_none() {
        report.error = Some(format!(
            "{}: running but not serving requests (no quorum, or electing a leader)",
            target.address
        ));
    }
    report
}

/// Why a word's figures are missing: refused by the whitelist, or no
/// answer at all (a server at its maxClientCnxns closes connections at
/// once), and then why the AdminServer could not stand in.
fn report_note(what: &str, answer: &Fetched, err: &str) -> Option<String> {
    let why = match answer {
        Ok(Answer::Silent) => {
            "got no answer (the server closed the connection at once: maxClientCnxns reached?)"
        }
        _ => "is not whitelisted",
    };
    Some(format!("{what} {why} and {err}"))
}

/// Sets `field` from `value` unless already known, and records the source.
fn set<T>(
    field: &mut Option<T>,
    sources: &mut Map<String, Value>,
    name: &str,
    value: Option<T>,
    source: &str,
) {
    if field.is_none() {
        if let Some(value) = value {
            *field = Some(value);
            sources.insert(name.into(), source.into());
        }
    }
}

fn normalise_mode(mode: &str) -> String {
    match mode.trim() {
        "leading" => "leader".into(),
        "following" => "follower".into(),
        "observing" => "observer".into(),
        "read_only" | "readonly" => "read-only".into(),
        other => other.to_string(),
    }
}

fn from_mntr(report: &mut Report, map: Map<String, Value>, source: &str) {
    let u = |key: &str| map.get(key).and_then(Value::as_u64);
    let s = &mut report.sources;
    let version = map
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string);
    set(&mut report.version, s, "version", version, source);
    let mode = map
        .get("server_state")
        .and_then(Value::as_str)
        .map(normalise_mode);
    set(&mut report.mode, s, "mode", mode, source);
    if map.get("avg_latency").is_some() {
        report.latency_min = map.get("min_latency").cloned();
        report.latency_max = map.get("max_latency").cloned();
    }
    set(
        &mut report.latency_avg,
        s,
        "latency_ms",
        map.get("avg_latency").and_then(Value::as_f64),
        source,
    );
    set(
        &mut report.outstanding_requests,
        s,
        "outstanding_requests",
        u("outstanding_requests"),
        source,
    );
    set(
        &mut report.znode_count,
        s,
        "znode_count",
        u("znode_count"),
        source,
    );
    set(
        &mut report.watch_count,
        s,
        "watch_count",
        u("watch_count"),
        source,
    );
    set(
        &mut report.ephemerals_count,
        s,
        "ephemerals_count",
        u("ephemerals_count"),
        source,
    );
    set(
        &mut report.alive_connections,
        s,
        "alive_connections",
        u("num_alive_connections"),
        source,
    );
    set(
        &mut report.approximate_data_size,
        s,
        "approximate_data_size",
        u("approximate_data_size"),
        source,
    );
    set(
        &mut report.open_file_descriptors,
        s,
        "file_descriptors",
        u("open_file_descriptor_count"),
        source,
    );
    report.max_file_descriptors = u("max_file_descriptor_count");
    // 3.4 to 3.5 say followers; 3.6+ say learners (followers and observers).
    set(
        &mut report.followers,
        s,
        "followers",
        u("followers").or(u("learners")),
        source,
    );
    set(
        &mut report.synced_followers,
        s,
        "synced_followers",
        u("synced_followers"),
        source,
    );
    if u("synced_observers").is_some() || u("synced_non_voting_followers").is_some() {
        report.synced_non_voters = Some(
            u("synced_observers").unwrap_or(0) + u("synced_non_voting_followers").unwrap_or(0),
        );
    }
    let peer_state = map
        .get("peer_state")
        .and_then(Value::as_str)
        .map(str::to_string);
    set(&mut report.peer_state, s, "peer_state", peer_state, source);
    report.sources.insert("mntr".into(), source.into());
    report.mntr = Some(map);
}

fn from_srvr(report: &mut Report, map: &Map<String, Value>) {
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    let number = |key: &str| text(key).and_then(|v| v.parse::<u64>().ok());
    let s = &mut report.sources;
    set(
        &mut report.version,
        s,
        "version",
        text("Zookeeper version").map(str::to_string),
        "srvr",
    );
    set(
        &mut report.mode,
        s,
        "mode",
        text("Mode").map(normalise_mode),
        "srvr",
    );
    set(
        &mut report.zxid,
        s,
        "zxid",
        text("Zxid").and_then(Zxid::parse_hex),
        "srvr",
    );
    if report.latency_avg.is_none() {
        if let Some(latency) = text("Latency min/avg/max") {
            let parts: Vec<&str> = latency.split('/').collect();
            if let [min, avg, max] = parts[..] {
                report.latency_min = Some(sources::number_or_string(min));
                report.latency_max = Some(sources::number_or_string(max));
                set(
                    &mut report.latency_avg,
                    s,
                    "latency_ms",
                    avg.parse::<f64>().ok().filter(|f| f.is_finite()),
                    "srvr",
                );
            }
        }
    }
    set(
        &mut report.outstanding_requests,
        s,
        "outstanding_requests",
        number("Outstanding"),
        "srvr",
    );
    set(
        &mut report.znode_count,
        s,
        "znode_count",
        number("Node count"),
        "srvr",
    );
    set(
        &mut report.alive_connections,
        s,
        "alive_connections",
        number("Connections"),
        "srvr",
    );
}

fn from_server_stats(report: &mut Report, map: &Map<String, Value>) {
    const SOURCE: &str = "admin:server_stats";
    let stats = map.get("server_stats").cloned().unwrap_or(Value::Null);
    let u = |key: &str| stats.get(key).and_then(Value::as_u64);
    let s = &mut report.sources;
    let version = map
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string);
    set(&mut report.version, s, "version", version, SOURCE);
    let mode = stats
        .get("server_state")
        .and_then(Value::as_str)
        .map(normalise_mode);
    set(&mut report.mode, s, "mode", mode, SOURCE);
    set(
        &mut report.zxid,
        s,
        "zxid",
        u("last_processed_zxid").map(Zxid),
        SOURCE,
    );
    if report.latency_avg.is_none() {
        report.latency_min = stats.get("min_latency").cloned();
        report.latency_max = stats.get("max_latency").cloned();
        set(
            &mut report.latency_avg,
            s,
            "latency_ms",
            stats.get("avg_latency").and_then(Value::as_f64),
            SOURCE,
        );
    }
    set(
        &mut report.outstanding_requests,
        s,
        "outstanding_requests",
        u("outstanding_requests"),
        SOURCE,
    );
    set(
        &mut report.znode_count,
        s,
        "znode_count",
        map.get("node_count").and_then(Value::as_u64),
        SOURCE,
    );
    set(
        &mut report.alive_connections,
        s,
        "alive_connections",
        u("num_alive_client_connections"),
        SOURCE,
    );
}

fn from_conf(report: &mut Report, text: &str) {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let id = value("serverId").and_then(|v| v.parse::<u64>().ok());
    set(
        &mut report.server_id,
        &mut report.sources,
        "server_id",
        id,
        "conf",
    );
    let client_port = value("clientPort").and_then(|v| v.parse::<u16>().ok());
    let members = parse_membership(text, client_port, id);
    if !members.is_empty() {
        report.membership = Some(members);
        report.sources.insert("membership".into(), "conf".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_into_epoch_and_counter_and_measures_lag() {
        let z = Zxid::parse_hex("0x100013da5").unwrap();
        assert_eq!(z.epoch(), 1);
        assert_eq!(z.counter(), 0x13da5);
        assert_eq!(z.to_json()["hex"], "0x100013da5");
        let newest = Zxid((1 << 32) | 0x13dff);
        assert_eq!(z.lag_behind(newest), 0x13dff - 0x13da5);
        assert_eq!(newest.lag_behind(z), 0);
        let next_epoch = Zxid((2 << 32) | 7);
        assert_eq!(z.lag_behind(next_epoch), 7);
        assert_eq!(Zxid(2 << 32).lag_behind(Zxid(3 << 32)), 1);
    }

    #[test]
    fn membership_parses_every_config_style() {
        let conf = "clientPort=2181\nserverId=1\nmembership: \n\
                    server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
                    server.2=zk2:2889:3889:participant;0.0.0.0:2182\n\
                    server.3=zk3:2890:3890:observer;2183\n\
                    server.4=zk4:2891:3891\nversion=0";
        let members = parse_membership(conf, Some(2181), Some(1));
        assert_eq!(
            members,
            vec![
                Member {
                    id: 1,
                    client_address: Some("127.0.0.1:2181".into()),
                    participant: true
                },
                Member {
                    id: 2,
                    client_address: Some("zk2:2182".into()),
                    participant: true
                },
                Member {
                    id: 3,
                    client_address: Some("zk3:2183".into()),
                    participant: false
                },
                Member {
                    id: 4,
                    client_address: Some("zk4:2181".into()),
                    participant: true
                },
            ]
        );
    }

    #[test]
    fn old_style_lines_on_one_host_are_not_given_one_client_port() {
        let conf = "server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.1:2889:3889\n\
                    server.3=10.0.0.2:2888:3888\n";
        let located: Vec<(u64, Option<String>)> = parse_membership(conf, Some(2181), Some(2))
            .into_iter()
            .map(|m| (m.id, m.client_address))
            .collect();
        assert_eq!(
            located,
            [
                (1, None),
                (2, Some("10.0.0.1:2181".to_string())),
                (3, Some("10.0.0.2:2181".to_string()))
            ]
        );
    }

    #[test]
    fn membership_skips_lines_that_name_no_usable_client_address() {
        // /zookeeper/config is written by the servers, but what they hold
        // must not crash a survey or make up servers to probe.
        let garbage = "server.1=\nserver.2=:::;\nserver.x=h:1:2;3\n\
                       server.3=h:1:2:participant;h:notaport\nserver.4=h:1:2;[::]:\n\
                       server.5=h:1:2;70000\nserver.6=:1:2;9\n\
                       server.99999999999999999999999=h:1:2;h:5\n\u{fffd};;==\nversion=zz";
        assert_eq!(parse_membership(garbage, None, None), []);
        assert_eq!(parse_membership(garbage, Some(2181), None), []);
        assert_eq!(
            parse_membership("server.7=h:1:2;h:5\nserver.8=:1:2", Some(2181), None),
            [Member {
                id: 7,
                client_address: Some("h:5".into()),
                participant: true
            }]
        );
    }

    /// `mntr` of a ZooKeeper 3.8.0 leader of three servers and of one of
    /// its followers, as captured from the test kit's ensemble (trimmed to
    /// the lines the verdict reads). A follower caught mid-sync, or queued
    /// requests above the limit, cannot be held still on a real ensemble
    /// long enough to survey (tests/warnings.rs provokes outstanding
    /// requests for real with a paused leader); so the tests below edit
    /// these real answers instead.
    const LEADER_MNTR: &str =
        "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        zk_server_state\tleader\nzk_peer_state\tleading - broadcast\nzk_avg_latency\t0.0\n\
        zk_outstanding_requests\t0\nzk_znode_count\t5\nzk_watch_count\t0\n\
        zk_synced_followers\t2\nzk_synced_non_voting_followers\t0\nzk_synced_observers\t0\n\
        zk_max_file_descriptor_count\t20000\nzk_open_file_descriptor_count\t52\n\
        zk_pending_syncs\t0\nzk_learners\t2\nzk_quorum_size\t3\n";
    const FOLLOWER_MNTR: &str =
        "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        zk_server_state\tfollower\nzk_peer_state\tfollowing - broadcast\nzk_avg_latency\t0.0\n\
        zk_outstanding_requests\t0\nzk_znode_count\t5\nzk_watch_count\t0\n\
        zk_max_file_descriptor_count\t20000\nzk_open_file_descriptor_count\t49\n";

    fn from_real_mntr(address: &str, mntr: &str) -> Report {
        let mut report = Report {
            address: address.into(),
            reachable: true,
            zxid: Some(Zxid(1 << 32)),
            ..Report::default()
        };
        from_mntr(&mut report, sources::parse_mntr(mntr), "mntr");
        report.serving = report.mode.is_some();
        report
    }

    /// The warnings on an ensemble of the leader and two followers.
    fn warnings(leader: &str, follower: &str) -> Vec<(&'static str, Option<String>)> {
        let survey = crate::ensemble::Survey {
            reports: vec![
                from_real_mntr("a:1", leader),
                from_real_mntr("a:2", follower),
                from_real_mntr("a:3", FOLLOWER_MNTR),
            ],
            membership: None,
            membership_source: None,
            listed: 3,
        };
        crate::ensemble::assess(&survey, &crate::cli::Thresholds::default())
            .warnings
            .into_iter()
            .map(|w| (w.code.as_str(), w.server))
            .collect()
    }

    #[test]
    fn real_mntr_of_a_healthy_ensemble_warns_of_nothing() {
        assert_eq!(warnings(LEADER_MNTR, FOLLOWER_MNTR), []);
    }

    #[test]
    fn a_follower_still_syncing_is_not_synced_on_both_sides() {
        // The leader counts a learner that has not caught up yet...
        let leader = LEADER_MNTR.replace("zk_synced_followers\t2", "zk_synced_followers\t1");
        assert_eq!(
            warnings(&leader, FOLLOWER_MNTR),
            [("follower_not_synced", Some("a:1".into()))]
        );
        // ...and that follower says it is synchronising.
        let syncing = FOLLOWER_MNTR.replace("following - broadcast", "following - synchronization");
        assert_eq!(
            warnings(LEADER_MNTR, &syncing),
            [("follower_not_synced", Some("a:2".into()))]
        );
    }

    #[test]
    fn an_observer_in_sync_is_not_a_missing_follower() {
        // 3.6+ count observers among the learners but not among the synced
        // followers.
        let with_observer = LEADER_MNTR
            .replace("zk_learners\t2", "zk_learners\t3")
            .replace("zk_synced_observers\t0", "zk_synced_observers\t1");
        assert_eq!(warnings(&with_observer, FOLLOWER_MNTR), []);
        let observer_not_synced = LEADER_MNTR.replace("zk_learners\t2", "zk_learners\t3");
        assert_eq!(
            warnings(&observer_not_synced, FOLLOWER_MNTR),
            [("follower_not_synced", Some("a:1".into()))]
        );
    }

    #[test]
    fn outstanding_requests_above_the_limit_warn() {
        // The limit (10 by default) is a maximum: 10 is fine, 11 is not.
        let at_limit =
            FOLLOWER_MNTR.replace("zk_outstanding_requests\t0", "zk_outstanding_requests\t10");
        assert_eq!(warnings(LEADER_MNTR, &at_limit), []);
        let over =
            FOLLOWER_MNTR.replace("zk_outstanding_requests\t0", "zk_outstanding_requests\t11");
        assert_eq!(
            warnings(LEADER_MNTR, &over),
            [("outstanding_requests", Some("a:2".into()))]
        );
    }

    #[test]
    fn hosts_come_out_of_addresses() {
        assert_eq!(host_of("127.0.0.1:2181"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2181"), "::1");
        assert_eq!(host_of("zk1"), "zk1");
    }
}
