//! `--once-per DUR`: at most one run per period across hosts, measured by
//! ZooKeeper's clock.
//!
//! Each run that holds the lock records itself as a persistent sequential
//! node under `PATH.runs` (beside the lock, never inside the directory
//! Curator and kazoo read). The create's `ctime` is stamped by ZooKeeper's
//! leader, so comparing it with the previous run's `ctime` measures the gap
//! by one clock whatever the hosts' clocks say. The record is written while
//! the lock is held, so two runs never decide at once.
//!
//! A record starts as `"state": "deciding"`; a run that decides to skip
//! deletes it, and one left behind (the delete failed, the tool died) never
//! counts, since no command ran under it. Only `running` records count, and
//! they count from their start whatever their end: a command that failed
//! or a host that died mid-run used the period. At most once, never "at
//! least once".

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError, Stat};

use zk_common::exit::{self, is_transient};
use zk_common::output::{event, millis_rfc3339};
use zk_common::Failure;

/// The records kept of past runs (the newest), for the next decision and
/// for an operator asking what ran when.
const KEEP: usize = 10;

const PREFIX: &str = "run-";

pub struct OncePer {
    period: Duration,
    lock_path: String,
}

/// A run that goes ahead: its record, finished when the command ends.
pub struct Run {
    node: String,
    fields: Map<String, Value>,
}

pub enum Decision {
    Run(Run),
    /// The final event: the last run and when the next may start.
    Skip(Map<String, Value>),
}

impl OncePer {
    pub fn new(lock_path: &str, period: Duration) -> OncePer {
        OncePer {
            period,
            lock_path: lock_path.to_owned(),
        }
    }

    fn dir(&self) -> String {
        format!("{}.runs", self.lock_path.trim_end_matches('/'))
    }

    /// Records our start and decides, while we hold the lock. `who` is the
    /// id, host and pid the lock node holds.
    pub async fn decide(&self, client: &Client, who: &Value, acls: Acls<'_>) -> Result<Decision> {
        let mut fields = who.as_object().cloned().unwrap_or_default();
        fields.insert("state".into(), "deciding".into());
        let (ours, stat, sequence) = self.create_record(client, &fields, acls).await?;
        let started = stat.ctime;

        let mut previous = None;
        // Runs, newest first: strays left `deciding` are forgotten here, and
        // the newest KEEP of the rest are kept.
        let mut runs = Vec::new();
        for (node, data, stat) in self.records_before(client, sequence).await? {
            match parse_state(&data) {
                Some(state) if state == "deciding" => self.forget(client, &node).await,
                _ => {
                    runs.push(node.clone());
                    if previous.is_none() {
                        previous = Some((node, data, stat));
                    }
                }
            }
        }
        for node in runs.iter().skip(KEEP) {
            self.forget(client, node).await;
        }

        if let Some((node, data, stat)) = &previous {
            let since = started - stat.ctime;
            if since < self.period.as_millis() as i64 {
                self.forget(client, &ours).await;
                return Ok(Decision::Skip(self.skipped(node, data, stat)));
            }
        }

        fields.insert("state".into(), "running".into());
        fields.insert("started".into(), millis_rfc3339(started).into());
        let bytes = serde_json::to_vec(&fields).unwrap_or_default();
        match client.set_data(&ours, &bytes, Some(stat.version)).await {
            Ok(_) => Ok(Decision::Run(Run { node: ours, fields })),
            // Only a holder writes here, and we hold the lock: someone who
            // does not (an operator, a holder that lost it) changed our record.
            Err(ZkError::NoNode | ZkError::BadVersion) => Err(Failure::new(
                exit::OWNERSHIP_LOST,
                format!("our run record {ours} was changed by another client; nothing ran"),
            )
            .into()),
            Err(err) => Err(err).with_context(|| format!("recording our run at {ours}")),
        }
    }

    /// Adds how the run ended to its record (its `mtime` says when). A
    /// failure is only a warning: the run happened, and counts either way.
    pub async fn finish(&self, client: &Client, mut run: Run, code: u8, lost: bool) {
        run.fields
            .insert("state".into(), if lost { "lost" } else { "exited" }.into());
        run.fields.insert("exit".into(), code.into());
        let bytes = serde_json::to_vec(&run.fields).unwrap_or_default();
        if let Err(err) = client.set_data(&run.node, &bytes, None).await {
            tracing::warn!("could not record how the run ended at {}: {err}", run.node);
        }
    }

    async fn create_record(
        &self,
        client: &Client,
        fields: &Map<String, Value>,
        acls: Acls<'_>,
    ) -> Result<(String, Stat, i64)> {
        let dir = self.dir();
        let prefix = format!("{dir}/{PREFIX}");
        let bytes = serde_json::to_vec(fields).unwrap_or_default();
        let mode = CreateMode::PersistentSequential.with_acls(acls);
        loop {
            match client.create(&prefix, &bytes, &mode).await {
                Ok((stat, sequence)) => {
                    return Ok((format!("{prefix}{sequence}"), stat, sequence.into_i64()))
                }
                Err(ZkError::NoNode) => {
                    match client
                        .mkdir(&dir, &CreateMode::Persistent.with_acls(acls))
                        .await
                    {
                        Ok(()) | Err(ZkError::NodeExists) => {}
                        Err(err) => {
                            return Err(err).with_context(|| format!("creating {dir}"));
                        }
                    }
                }
                // A create whose reply was lost leaves a `deciding` record
                // that never counts: trying again is safe.
                Err(err) if is_transient(&err) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(ZkError::NoAuth) => {
                    return Err(Failure::permission(format!(
                        "{dir}: its ACL does not let us record a run there"
                    ))
                    .into())
                }
                Err(err) => return Err(err).with_context(|| format!("recording a run in {dir}")),
            }
        }
    }

    /// The records before ours, newest first. Names that are not ours
    /// (`run-` and ten digits) are no record of a run and are left alone.
    async fn records_before(
        &self,
        client: &Client,
        sequence: i64,
    ) -> Result<Vec<(String, Vec<u8>, Stat)>> {
        let dir = self.dir();
        let children = client
            .list_children(&dir)
            .await
            .with_context(|| format!("listing {dir}"))?;
        let earlier = records_newest_first(children, sequence);
        let mut records = Vec::new();
        for name in earlier {
            let node = format!("{dir}/{name}");
            match client.get_data(&node).await {
                Ok((data, stat)) => records.push((node, data, stat)),
                Err(ZkError::NoNode) => {}
                // An unreadable record still says a run started then.
                Err(ZkError::NoAuth) => match client.check_stat(&node).await {
                    Ok(Some(stat)) => records.push((node, Vec::new(), stat)),
                    Ok(None) => {}
                    Err(err) => return Err(err).with_context(|| format!("reading {node}")),
                },
                Err(err) => return Err(err).with_context(|| format!("reading {node}")),
            }
        }
        Ok(records)
    }

    async fn forget(&self, client: &Client, node: &str) {
        match client.delete(node, None).await {
            Ok(()) | Err(ZkError::NoNode) => {}
            Err(err) => tracing::debug!("could not delete {node}: {err}"),
        }
    }

    fn skipped(&self, node: &str, data: &[u8], stat: &Stat) -> Map<String, Value> {
        let mut last = describe_run(node, data, stat);
        let next = stat.ctime + self.period.as_millis() as i64;
        let mut e = event("skipped");
        e.insert("path".into(), self.lock_path.clone().into());
        e.insert(
            "period".into(),
            humantime::format_duration(self.period).to_string().into(),
        );
        e.insert("next_run_after".into(), millis_rfc3339(next).into());
        last.insert("node".into(), node.into());
        e.insert("last_run".into(), last.into());
        e
    }
}

/// One run as the `skipped` event shows it: who, from when (ZooKeeper's
/// clock), and how it ended if it told us. Fields are copied as JSON values,
/// so text planted in a record stays a JSON string.
fn describe_run(node: &str, data: &[u8], stat: &Stat) -> Map<String, Value> {
    let fields = serde_json::from_slice::<Value>(data).unwrap_or(Value::Null);
    let mut run = Map::new();
    for key in ["id", "host", "pid", "state", "exit"] {
        run.insert(key.into(), fields.get(key).cloned().unwrap_or(Value::Null));
    }
    run.insert("started".into(), millis_rfc3339(stat.ctime).into());
    let ended = matches!(
        fields.get("state").and_then(Value::as_str),
        Some("exited" | "lost")
    );
    run.insert(
        "ended".into(),
        ended.then(|| millis_rfc3339(stat.mtime)).into(),
    );
    run.insert("node".into(), node.into());
    run
}

/// The one line on stderr for a skip: the last run and the next chance.
/// Text from ZooKeeper is escaped: a record is anyone's input.
pub fn skip_message(skipped: &Map<String, Value>) -> String {
    let last = &skipped["last_run"];
    let text = |v: &Value| match v {
        Value::String(s) => s.escape_debug().to_string(),
        Value::Null => "?".into(),
        other => other.to_string().escape_debug().to_string(),
    };
    format!(
        "skipped: {} ran within the last {} (started {} by {}); next run after {}",
        text(&skipped["path"]),
        text(&skipped["period"]),
        text(&last["started"]),
        text(&last["id"]),
        text(&skipped["next_run_after"]),
    )
}

/// The names of the records before `sequence`, newest first.
fn records_newest_first(children: Vec<String>, sequence: i64) -> Vec<String> {
    let mut earlier: Vec<(i64, String)> = children
        .into_iter()
        .filter_map(|name| Some((record_sequence(&name)?, name)))
        .filter(|(seq, _)| *seq < sequence)
        .collect();
    earlier.sort_unstable_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    earlier.into_iter().map(|(_, name)| name).collect()
}

fn parse_state(data: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(data).ok()?;
    Some(value.get("state")?.as_str()?.to_owned())
}

/// The sequence of a record's name: `run-` and the ten digits ZooKeeper
/// appends.
fn record_sequence(name: &str) -> Option<i64> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The `who` fields of our record, from the lock node's data.
pub fn who(lock_data: &[u8]) -> Value {
    let data: Value = serde_json::from_slice(lock_data).unwrap_or(Value::Null);
    json!({"id": data["id"], "host": data["host"], "pid": data["pid"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_ours_or_ignored() {
        assert_eq!(record_sequence("run-0000000042"), Some(42));
        assert_eq!(record_sequence("run-42"), None);
        assert_eq!(record_sequence("run-00000000x2"), None);
        assert_eq!(record_sequence("lock-0000000042"), None);
        assert_eq!(record_sequence("run-+000000042"), None);
        let children = ["run-0000000003", "junk", "run-0000000001", "run-0000000009"];
        assert_eq!(
            records_newest_first(children.map(String::from).to_vec(), 9),
            ["run-0000000003", "run-0000000001"]
        );
    }

    #[test]
    fn a_record_ends_only_when_it_says_so() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            pzxid: 1,
            ctime: 1_000,
            mtime: 5_000,
            version: 1,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
        };
        let running = describe_run("/l.runs/run-1", br#"{"id":"a","state":"running"}"#, &stat);
        assert_eq!(running["ended"], Value::Null);
        let exited = describe_run(
            "/l.runs/run-1",
            br#"{"id":"a","state":"exited","exit":3}"#,
            &stat,
        );
        assert_eq!(exited["ended"], millis_rfc3339(5_000));
        assert_eq!(exited["exit"], 3);
        let planted = describe_run("/l.runs/run-1", b"\x00\xff not json", &stat);
        assert_eq!(planted["id"], Value::Null);
        assert_eq!(planted["started"], millis_rfc3339(1_000));
    }
}
