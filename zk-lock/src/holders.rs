//! `zk-lock holders PATH`: who holds the lock and who waits.

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use zookeeper_client::{Client, Error as ZkError, Stat};

use zk_common::cli::CommonArgs;
use zk_common::queue::{sorted_entries, Dialect, Entry, Family, Kind};
use zk_common::{connect, exit, node, output};

use crate::cli::HoldersArgs;

pub async fn run(common: &CommonArgs, args: &HoldersArgs) -> Result<u8> {
    let client = connect::connect(&common.connect).await?;
    let records = records(&client, &args.path, args.max_holders).await;
    connect::close(client).await;
    output::document(&Value::Array(records?))?;
    Ok(exit::OK)
}

/// Every holder and waiter at `dir`, in queue order, as `holders` prints
/// them.
pub async fn records(client: &Client, dir: &str, max_holders: Option<u32>) -> Result<Vec<Value>> {
    let children = match client.list_children(dir).await {
        Ok(children) => children,
        Err(ZkError::NoNode) => {
            tracing::warn!("{dir} does not exist; nobody holds it");
            Vec::new()
        }
        Err(err) => return Err(err).with_context(|| format!("listing {dir}")),
    };
    // Participants only: junk in the directory holds nothing.
    let entries = sorted_entries(dir, children, Family::Lock);
    let paths: Vec<String> = entries
        .iter()
        .map(|e| zk_common::path::join(dir, &e.name))
        .collect();
    let replies: Vec<_> = paths.iter().map(|p| client.get_data(p)).collect();
    let mut found = Vec::new();
    let mut refused = Vec::new();
    for ((entry, path), reply) in entries.iter().zip(&paths).zip(replies) {
        match reply.await {
            Ok((data, stat)) => found.push((entry, path, Some(data), stat)),
            Err(ZkError::NoNode) => continue, // released while we looked
            // Its ACL hides its data, not its place in the queue: the stat
            // needs no permission, so it is listed with the error.
            Err(ZkError::NoAuth) => match client.check_stat(path).await {
                Ok(Some(stat)) => {
                    refused.push(entry.name.escape_debug().to_string());
                    found.push((entry, path, None, stat));
                }
                Ok(None) => continue,
                Err(err) => return Err(err).with_context(|| format!("checking {path}")),
            },
            Err(err) => return Err(err).with_context(|| format!("reading {path}")),
        }
    }
    if !refused.is_empty() {
        tracing::warn!(
            "{dir}: not authorized to read {} holder(s): {}; listed with \"error\"",
            refused.len(),
            refused.join(", ")
        );
    }
    // Who holds follows from the node names alone, as every contender works
    // it out: a semaphore's node names its size (`-sem<N>-`). A node's data
    // is whatever its creator wrote, so a `max_holders` in it (older
    // zk-locks stored N there) could make any waiter look like a holder.
    let fixed = max_holders;
    let max_holders = fixed.map_or(1, |n| n as usize);
    let mut records = Vec::new();
    let mut writer_seen = false;
    for (position, (entry, path, data, stat)) in found.into_iter().enumerate() {
        let holding = match entry.kind {
            Kind::Read | Kind::KazooRead => !writer_seen,
            Kind::Semaphore(n) => position < fixed.map_or(n, |n| n as usize),
            _ => position < max_holders,
        };
        writer_seen |= entry.is_writer();
        records.push(Value::Object(record(
            entry,
            path,
            data.as_deref(),
            &stat,
            holding,
        )));
    }
    Ok(records)
}

/// One holder or waiter as `holders` prints it.
fn record(
    entry: &Entry,
    path: &str,
    data: Option<&[u8]>,
    stat: &Stat,
    holding: bool,
) -> Map<String, Value> {
    let mut record = Map::new();
    let parsed = node::record(path, &entry.name, data.unwrap_or_default(), stat);
    let id = parsed
        .get("data")
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        // Curator stores the holder's IP address as plain text.
        .or_else(|| {
            parsed
                .get("data")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| entry.name.clone());
    // No id for a holder we may not read: the error says why.
    let id = if data.is_some() {
        Value::from(id)
    } else {
        Value::Null
    };
    record.insert("id".into(), id);
    record.insert(
        "state".into(),
        if holding { "holding" } else { "waiting" }.into(),
    );
    record.insert("kind".into(), kind(entry).into());
    let layout = match entry.kind.dialect() {
        Dialect::Curator => "curator",
        Dialect::Kazoo => "kazoo",
    };
    record.insert("layout".into(), layout.into());
    record.insert("node".into(), path.into());
    record.insert("token".into(), stat.czxid.into());
    record.insert(
        "session_id".into(),
        node::session_hex(stat.ephemeral_owner).into(),
    );
    record.insert("since".into(), output::millis_rfc3339(stat.ctime).into());
    match data {
        Some(_) => {
            for key in ["data", "data_base64"] {
                if let Some(value) = parsed.get(key) {
                    record.insert(key.into(), value.clone());
                }
            }
        }
        None => {
            record.insert("error".into(), "not authorized".into());
        }
    }
    record
}

fn kind(entry: &Entry) -> &'static str {
    match entry.kind {
        Kind::Read | Kind::KazooRead => "read",
        Kind::Write => "write",
        Kind::Semaphore(_) => "semaphore",
        Kind::Mutex | Kind::Latch | Kind::KazooLock => "exclusive",
    }
}
