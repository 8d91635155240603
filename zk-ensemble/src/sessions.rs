//! `zk-ensemble sessions [--owner-of PATH]`: which clients are connected
//! (address, session, since when), from each server's `cons`, and which of
//! them owns an ephemeral node or holds a lock: the node's `ephemeralOwner`
//! joined with the servers' connections. What the server saw, not what a
//! client wrote about itself.

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use zookeeper_client::Error as ZkError;

use zk_common::cli::ConnectArgs;
use zk_common::node::session_hex;
use zk_common::output::millis_rfc3339;
use zk_common::queue::{sorted_entries, Family};
use zk_common::{connect, exit, output, Failure};

use crate::cli::SessionsArgs;
use crate::ensemble;
use crate::sources::{self, Answer};

pub async fn run(connect_args: &ConnectArgs, args: &SessionsArgs) -> Result<u8> {
    let owner = match &args.owner_of {
        Some(path) => Some(owner_of(connect_args, path).await?),
        None => None,
    };
    let survey = ensemble::survey(connect_args, &args.survey, args.probe_timeout).await?;
    // The AdminServer port of each server named in the connect string (the
    // one --admin-port, or one each); a discovered one's is the default.
    let listed = ensemble::targets(&connect_args.connect, &args.survey)?;
    let single = (args.survey.admin_port.len() == 1).then(|| args.survey.admin_port[0]);
    let mut set = JoinSet::new();
    for report in survey.reports.iter().filter(|r| r.reachable) {
        let address = report.address.clone();
        let admin_port = listed
            .iter()
            .find(|t| t.address == address)
            .map(|t| t.admin_port)
            .or(single)
            .unwrap_or(ensemble::DEFAULT_ADMIN_PORT);
        set.spawn(async move {
            let sessions = connections(&address, admin_port).await;
            (address, sessions)
        });
    }
    let mut sessions = Vec::new();
    let mut refused = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((server, answer)) = joined else {
            continue;
        };
        match answer {
            Ok(found) => sessions.extend(found),
            Err(why) => refused.push(format!("{server}: {why}")),
        }
    }
    sessions.sort_by(|a, b| {
        (a["server"].as_str(), a["address"].as_str())
            .cmp(&(b["server"].as_str(), b["address"].as_str()))
    });
    for why in &refused {
        tracing::warn!("{why}");
    }
    let Some((path, node, owner)) = owner else {
        if sessions.is_empty() && !refused.is_empty() {
            return Err(Failure::unavailable(format!(
                "no server told its connections: {}",
                refused.join("; ")
            ))
            .into());
        }
        output::document(&Value::Array(sessions))?;
        return Ok(exit::OK);
    };
    let connected: Vec<Value> = sessions
        .into_iter()
        .filter(|s| s["session_id"].as_str() == Some(owner.as_str()))
        .collect();
    let found = !connected.is_empty();
    output::document(&json!({
        "path": path,
        "node": node,
        "session_id": owner,
        "connections": connected,
    }))?;
    if !found {
        eprintln!(
            "zk-ensemble: session {owner} owns {node} but is connected to none of the servers probed \
             (disconnected and not yet expired, or connected to a server not probed)"
        );
        return Ok(exit::CONDITION_FALSE);
    }
    Ok(exit::OK)
}

/// One server's connections with a session: from `cons`, else (the word
/// not whitelisted, as by default since 3.5) from the AdminServer's
/// `connections`.
async fn connections(server: &str, admin_port: u16) -> Result<Vec<Value>, String> {
    let refusal = match sources::four_letter(server, "cons").await {
        Ok(Answer::Text(text)) => return Ok(parse_cons(server, &text)),
        Ok(Answer::NotWhitelisted) => "cons is not whitelisted".to_string(),
        Ok(_) => "no answer to cons".to_string(),
        Err(err) => err.to_string(),
    };
    let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
    match sources::admin_command(host, admin_port, "connections").await {
        Ok(answer) => Ok(parse_admin_connections(server, &answer)),
        Err(err) => Err(format!(
            "{refusal}, and {err} (whitelist cons, or give --admin-port)"
        )),
    }
}

/// The AdminServer's `connections`: objects with `remote_socket_address`,
/// `session_id` (a number), `established` (ms), `session_timeout`, ...
pub fn parse_admin_connections(server: &str, answer: &Map<String, Value>) -> Vec<Value> {
    ["connections", "secure_connections"]
        .iter()
        .filter_map(|key| answer.get(*key)?.as_array())
        .flatten()
        .filter_map(|c| {
            let session = c.get("session_id")?.as_i64().filter(|&s| s != 0)?;
            Some(json!({
                "server": server,
                "address": c.get("remote_socket_address")?.as_str()?.trim_start_matches('/'),
                "session_id": session_hex(session),
                "established": c.get("established").and_then(Value::as_i64).map(millis_rfc3339),
                "timeout_ms": c.get("session_timeout").and_then(Value::as_i64),
                "last_operation": c.get("last_operation").cloned().unwrap_or(Value::Null),
                "queued": c.get("outstanding_requests").and_then(Value::as_i64),
                "received": c.get("packets_received").and_then(Value::as_i64),
                "sent": c.get("packets_sent").and_then(Value::as_i64),
            }))
        })
        .collect()
}

/// The session owning PATH: its own, if PATH is an ephemeral node, else the
/// one holding the lock (or leading the election) PATH is the directory of.
async fn owner_of(connect_args: &ConnectArgs, path: &str) -> Result<(String, String, String)> {
    let client = connect::connect(connect_args).await?;
    let found = async {
        let stat = match client.check_stat(path).await {
            Ok(Some(stat)) => stat,
            Ok(None) => {
                return Err(
                    Failure::new(exit::CONDITION_FALSE, format!("{path} does not exist")).into(),
                )
            }
            Err(err) => return Err(anyhow::Error::new(err).context(format!("reading {path}"))),
        };
        if stat.ephemeral_owner != 0 {
            return Ok((
                path.to_string(),
                path.to_string(),
                session_hex(stat.ephemeral_owner),
            ));
        }
        let children = client
            .list_children(path)
            .await
            .with_context(|| format!("listing {path}"))?;
        let mut first = None;
        for family in [Family::Lock, Family::Election] {
            if let Some(entry) = sorted_entries(path, children.clone(), family)
                .into_iter()
                .next()
            {
                first = Some(entry.name);
                break;
            }
        }
        let Some(name) = first else {
            return Err(Failure::new(
                exit::CONDITION_FALSE,
                format!("{path} is not an ephemeral node, and holds no lock or election contender"),
            )
            .into());
        };
        let node = zk_common::path::join(path, &name);
        match client.check_stat(&node).await {
            Ok(Some(stat)) if stat.ephemeral_owner != 0 => {
                Ok((path.to_string(), node, session_hex(stat.ephemeral_owner)))
            }
            Ok(_) | Err(ZkError::NoNode) => Err(Failure::new(
                exit::CONDITION_FALSE,
                format!("{node} is gone or not ephemeral"),
            )
            .into()),
            Err(err) => Err(anyhow::Error::new(err).context(format!("reading {node}"))),
        }
    }
    .await;
    connect::close(client).await;
    found
}

/// The connections in a `cons` answer that carry a session:
/// ` /10.0.0.7:43322[1](queued=0,recved=1,sent=1,sid=0x1…,lop=SESS,est=…,to=30000,…)`.
pub fn parse_cons(server: &str, text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (address, rest) = line.split_once('[')?;
            let fields = rest.split_once('(')?.1.strip_suffix(')')?;
            let fields: Map<String, Value> = fields
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), Value::from(v)))
                .collect();
            let session = fields.get("sid")?.as_str()?;
            let number = |key: &str| fields.get(key)?.as_str()?.parse::<i64>().ok();
            Some(json!({
                "server": server,
                "address": address.trim_start_matches('/'),
                "session_id": normalise_session(session),
                "established": number("est").map(millis_rfc3339),
                "timeout_ms": number("to"),
                "last_operation": fields.get("lop"),
                "queued": number("queued"),
                "received": number("recved"),
                "sent": number("sent"),
            }))
        })
        .collect()
}

/// `0x100a1b…` as every tool prints a session id (no leading zeros).
fn normalise_session(text: &str) -> String {
    i64::from_str_radix(text.trim_start_matches("0x"), 16)
        .ok()
        .map_or_else(|| text.to_string(), session_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cons_lines_with_a_session_become_records() {
        let text = " /127.0.0.1:43322[1](queued=0,recved=5,sent=5,sid=0x100a1b2c3d40000,lop=PING,est=1733580000000,to=30000,lcxid=0x0,lzxid=0x2,lresp=1733580000100,llat=0,minlat=0,avglat=0.0,maxlat=0)\n /127.0.0.1:43330[0](queued=0,recved=1,sent=0)\n\n";
        let records = parse_cons("zk1:2181", text);
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r["address"], "127.0.0.1:43322");
        assert_eq!(r["session_id"], "0x100a1b2c3d40000");
        assert_eq!(r["timeout_ms"], 30000);
        assert_eq!(r["last_operation"], "PING");
        assert_eq!(r["established"], millis_rfc3339(1_733_580_000_000));
        assert!(parse_cons("x", "garbage\n[(\n").is_empty());
    }

    #[test]
    fn admin_server_connections_become_the_same_records() {
        let answer = json!({
            "connections": [
                {"remote_socket_address": "127.0.0.1:33210", "session_id": 72057954684239900_i64,
                 "last_operation": "PING", "established": 1796664675021_i64, "session_timeout": 4000,
                 "outstanding_requests": 0, "packets_received": 12, "packets_sent": 12},
                {"remote_socket_address": "127.0.0.1:33272", "session_id": 0}
            ],
            "secure_connections": []
        });
        let records = parse_admin_connections("zk1:2181", answer.as_object().unwrap());
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["session_id"], session_hex(72057954684239900));
        assert_eq!(records[0]["address"], "127.0.0.1:33210");
        assert_eq!(records[0]["timeout_ms"], 4000);
    }
}
