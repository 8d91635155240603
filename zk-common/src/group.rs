//! Reading a group (the children of one node, with their data): one round trip for the names, then every member's data
//! in batched multi-reads (ZooKeeper 3.6+), all batches in flight at once.
//! The client sends a request when it is called, so creating every future
//! before awaiting any pipelines them. One request per member would cost the
//! server a full request cycle each: 10,000 members took half a second that
//! way, against a tenth of that in batches.

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result};
use serde_json::Value;
use zookeeper_client::{Client, Error as ZkError, MultiReadResult, Stat};

use crate::path::join;

/// The members of `path` as JSON records in join order (czxid), or `None`
/// when `path` does not exist. With `recursive`, each record gains
/// `children`, the same listing one level down.
pub async fn read_members(
    client: &Client,
    path: &str,
    recursive: bool,
) -> Result<Option<Vec<Value>>> {
    read_level(client, path.to_string(), recursive).await
}

type Level<'a> = Pin<Box<dyn Future<Output = Result<Option<Vec<Value>>>> + 'a>>;

fn read_level(client: &Client, parent: String, recursive: bool) -> Level<'_> {
    Box::pin(async move {
        let names = match client.list_children(&parent).await {
            Ok(names) => names,
            Err(ZkError::NoNode) => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("listing {parent}")),
        };
        let paths: Vec<String> = names.iter().map(|name| join(&parent, name)).collect();
        let datas = read_data(client, &paths)
            .await
            .with_context(|| format!("reading the members of {parent}"))?;
        let mut found: Vec<(String, String, Vec<u8>, Stat)> = Vec::with_capacity(names.len());
        for ((name, path), data) in names.into_iter().zip(paths).zip(datas) {
            // None: left between the listing and the read, not a member any more.
            if let Some((data, stat)) = data {
                found.push((name, path, data, stat));
            }
        }
        found.sort_by_key(|(_, _, _, stat)| stat.czxid);
        let mut members = Vec::with_capacity(found.len());
        for (name, path, data, stat) in found {
            let mut record = crate::node::record(&path, &name, &data, &stat);
            if recursive {
                let children = if stat.num_children > 0 {
                    read_level(client, path, true).await?.unwrap_or_default()
                } else {
                    Vec::new()
                };
                record.insert("children".into(), Value::Array(children));
            }
            members.push(Value::Object(record));
        }
        Ok(Some(members))
    })
}

/// Members per multi-read: small enough that a reply of members with a few
/// hundred bytes of data each stays far below the 1 MiB jute.maxbuffer.
const BATCH: usize = 200;

/// Data and stat of each path, `None` for a path that no longer exists.
async fn read_data(client: &Client, paths: &[String]) -> Result<Vec<Option<(Vec<u8>, Stat)>>> {
    let mut batches = Vec::new();
    for chunk in paths.chunks(BATCH) {
        let mut reader = client.new_multi_reader();
        for path in chunk {
            reader.add_get_data(path)?;
        }
        batches.push(reader.commit());
    }
    let mut out = Vec::with_capacity(paths.len());
    for (chunk, batch) in paths.chunks(BATCH).zip(batches) {
        let results = match batch.await {
            Ok(results) => results,
            Err(ZkError::Unimplemented) => return read_data_one_by_one(client, paths).await,
            Err(err) => return Err(err.into()),
        };
        for (path, result) in chunk.iter().zip(results) {
            match result {
                MultiReadResult::Data { data, stat } => out.push(Some((data, stat))),
                MultiReadResult::Error {
                    err: ZkError::NoNode,
                } => out.push(None),
                MultiReadResult::Error { err } => {
                    return Err(err).with_context(|| format!("reading {path}"))
                }
                other => anyhow::bail!("multi-read answered {other:?} for {path}"),
            }
        }
    }
    Ok(out)
}

/// For servers older than 3.6, which have no multi-read: one pipelined
/// request per member.
async fn read_data_one_by_one(
    client: &Client,
    paths: &[String],
) -> Result<Vec<Option<(Vec<u8>, Stat)>>> {
    let replies: Vec<_> = paths.iter().map(|path| client.get_data(path)).collect();
    let mut out = Vec::with_capacity(paths.len());
    for (path, reply) in paths.iter().zip(replies) {
        match reply.await {
            Ok(found) => out.push(Some(found)),
            Err(ZkError::NoNode) => out.push(None),
            Err(err) => return Err(err).with_context(|| format!("reading {path}")),
        }
    }
    Ok(out)
}
