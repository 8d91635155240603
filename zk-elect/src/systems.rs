//! `leader --system` and `watch --system`: who leads another system's
//! election (Kafka's controller, Solr's overseer, Helix's controller), read
//! from the node that system writes, and never contended in.
//!
//! Each system keeps its leader in one node, whose creator leads. The node
//! formats are the systems' own (see each `read`); a node we cannot parse is
//! reported with `"id": null` and an `error` naming the system and what is
//! malformed, since a system's leader exists whether or not we understand it.

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use zookeeper_client::{Client, Error as ZkError, Stat};

use zk_common::node::session_hex;
use zk_common::output::millis_rfc3339;

/// The systems whose leader we can read.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// Kafka's controller (ZooKeeper mode): ROOT/controller, ROOT/controller_epoch.
    Kafka,
    /// Solr's overseer: ROOT/overseer_elect/leader.
    Solr,
    /// A Helix cluster's controller: /CLUSTER/CONTROLLER/LEADER.
    Helix,
}

impl System {
    pub fn name(self) -> &'static str {
        match self {
            System::Kafka => "kafka",
            System::Solr => "solr",
            System::Helix => "helix",
        }
    }

    /// The root PATH names when none is given; Helix has no default, its
    /// cluster name is the path.
    pub fn default_root(self) -> Option<&'static str> {
        match self {
            System::Kafka | System::Solr => Some("/"),
            System::Helix => None,
        }
    }

    /// The node whose creator leads.
    pub fn leader_node(self, root: &str) -> String {
        let root = root.trim_end_matches('/');
        match self {
            System::Kafka => format!("{root}/controller"),
            System::Solr => format!("{root}/overseer_elect/leader"),
            System::Helix => format!("{root}/CONTROLLER/LEADER"),
        }
    }
}

/// The leader record, `None` when nobody leads (no leader node).
pub async fn read(client: &Client, system: System, root: &str) -> Result<Option<Value>> {
    let node = system.leader_node(root);
    let (data, stat) = match client.get_data(&node).await {
        Ok(found) => found,
        Err(ZkError::NoNode) => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {node}")),
    };
    let mut record = Map::new();
    record.insert("system".into(), system.name().into());
    record.insert("id".into(), Value::Null);
    record.insert("node".into(), node.clone().into());
    record.insert("since".into(), millis_rfc3339(stat.ctime).into());
    record.insert("session_id".into(), owner(&stat));
    let parsed = match system {
        System::Kafka => kafka(client, root, &data).await,
        System::Solr => solr(&data),
        System::Helix => helix(&data),
    };
    match parsed {
        Ok(fields) => record.extend(fields),
        Err(why) => {
            let error = format!("{} {node}: malformed: {why}", system.name());
            tracing::warn!("{}", error.escape_debug());
            record.insert("error".into(), error.into());
        }
    }
    Ok(Some(Value::Object(record)))
}

fn owner(stat: &Stat) -> Value {
    (stat.ephemeral_owner != 0)
        .then(|| session_hex(stat.ephemeral_owner))
        .into()
}

fn object(data: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err("not a JSON object".into()),
        Err(err) => Err(format!("not JSON ({err})")),
    }
}

/// Kafka's `/controller`, as `ControllerZNode` writes it:
/// `{"version":2,"brokerid":N,"timestamp":"<ms>","kraftControllerEpoch":E}`
/// (version 1 has no `kraftControllerEpoch`). A `kraftControllerEpoch` of 0
/// or more means a KRaft controller owns the cluster (KIP-866 migration).
/// The epoch is `/controller_epoch`, a decimal number; the broker's address
/// comes from its registration, `/brokers/ids/N`.
async fn kafka(client: &Client, root: &str, data: &[u8]) -> Result<Map<String, Value>, String> {
    let fields = object(data)?;
    let broker = fields
        .get("brokerid")
        .and_then(Value::as_i64)
        .ok_or("no integer \"brokerid\"")?;
    let kraft_epoch = match fields.get("kraftControllerEpoch") {
        None => None,
        Some(epoch) => Some(
            epoch
                .as_i64()
                .ok_or("\"kraftControllerEpoch\" is not an integer")?,
        ),
    };
    let root = root.trim_end_matches('/');
    let mut record = Map::new();
    record.insert("id".into(), broker.to_string().into());
    record.insert("broker_id".into(), broker.into());
    record.insert(
        "version".into(),
        fields.get("version").cloned().unwrap_or(Value::Null),
    );
    record.insert(
        "epoch".into(),
        text_number(client, &format!("{root}/controller_epoch"))
            .await
            .into(),
    );
    record.insert("kraft_controller_epoch".into(), kraft_epoch.into());
    record.insert("kraft".into(), kraft_epoch.is_some_and(|e| e >= 0).into());
    let (host, port) = broker_address(client, &format!("{root}/brokers/ids/{broker}")).await;
    record.insert("host".into(), host);
    record.insert("port".into(), port);
    Ok(record)
}

/// A node holding a decimal number (Kafka's `/controller_epoch`); `None`
/// when missing or not a number.
async fn text_number(client: &Client, node: &str) -> Option<i64> {
    let (data, _) = client.get_data(node).await.ok()?;
    std::str::from_utf8(&data).ok()?.trim().parse().ok()
}

/// A broker's `host` and `port` from its registration (`BrokerIdZNode`),
/// or nulls when it has none or is not registered.
async fn broker_address(client: &Client, node: &str) -> (Value, Value) {
    let Ok((data, _)) = client.get_data(node).await else {
        return (Value::Null, Value::Null);
    };
    let Ok(fields) = object(&data) else {
        return (Value::Null, Value::Null);
    };
    let host = fields.get("host").filter(|h| h.is_string()).cloned();
    let port = fields.get("port").filter(|p| p.is_i64()).cloned();
    (host.unwrap_or(Value::Null), port.unwrap_or(Value::Null))
}

/// Solr's `/overseer_elect/leader`: `{"id":"<session>-<nodeName>-n_<seq>"}`
/// (`LeaderElector`: the election node's name, whose middle is the
/// overseer's node name, such as `10.0.0.5:8983_solr`).
fn solr(data: &[u8]) -> Result<Map<String, Value>, String> {
    let fields = object(data)?;
    let election = fields
        .get("id")
        .and_then(Value::as_str)
        .ok_or("no string \"id\"")?;
    let (rest, sequence) = election
        .rsplit_once("-n_")
        .ok_or("the id has no \"-n_<seq>\"")?;
    let sequence: u64 = sequence
        .parse()
        .map_err(|_| "the id's sequence is not a number")?;
    let (session, node_name) = rest
        .split_once('-')
        .ok_or("the id has no \"<session>-\" prefix")?;
    let session: i64 = session
        .parse()
        .map_err(|_| "the id's session is not a number")?;
    let mut record = Map::new();
    record.insert("id".into(), node_name.into());
    record.insert("election_node".into(), election.into());
    record.insert("sequence".into(), sequence.into());
    record.insert("election_session_id".into(), session_hex(session).into());
    Ok(record)
}

/// Helix's `/CLUSTER/CONTROLLER/LEADER`: a ZNRecord
/// (`{"id":..., "simpleFields":{...}, "listFields":{}, "mapFields":{}}`)
/// whose id is the controller's instance name.
fn helix(data: &[u8]) -> Result<Map<String, Value>, String> {
    let fields = object(data)?;
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .ok_or("no string \"id\" (not a ZNRecord)")?;
    let simple = fields.get("simpleFields").cloned().unwrap_or(json!({}));
    let mut record = Map::new();
    record.insert("id".into(), id.into());
    for (key, name) in [
        ("HELIX_VERSION", "helix_version"),
        ("LIVE_INSTANCE", "live_instance"),
    ] {
        record.insert(name.into(), simple.get(key).cloned().unwrap_or(Value::Null));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solr_ids_name_the_overseer() {
        let record =
            solr(br#"{"id":"72057594037927936-10.0.0.5:8983_solr-n_0000000003"}"#).unwrap();
        assert_eq!(record["id"], "10.0.0.5:8983_solr");
        assert_eq!(record["sequence"], 3);
        assert_eq!(record["election_session_id"], "0x100000000000000");
        // Node names may hold dashes; the session is the first part.
        let record = solr(br#"{"id":"5-solr-1.example:8983_solr-n_0000000012"}"#).unwrap();
        assert_eq!(record["id"], "solr-1.example:8983_solr");
        for bad in [
            &b"{}"[..],
            b"{\"id\":\"x\"}",
            b"{\"id\":\"x-n_1\"}",
            b"[1]",
            b"\xff",
        ] {
            assert!(solr(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn helix_reads_a_znrecord() {
        let record = helix(
            br#"{"id":"controller_0","simpleFields":{"HELIX_VERSION":"1.0.4","LIVE_INSTANCE":"77@h","SESSION_ID":"1"},"listFields":{},"mapFields":{}}"#,
        )
        .unwrap();
        assert_eq!(record["id"], "controller_0");
        assert_eq!(record["live_instance"], "77@h");
        assert!(helix(br#"{"simpleFields":{}}"#).is_err());
    }
}
