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
        let mut found: Vec<(String, String, Option<Vec<u8>>, Stat)> =
            Vec::with_capacity(names.len());
        let mut refused = Vec::new();
        for ((name, path), data) in names.into_iter().zip(paths).zip(datas) {
            match data {
                Read::Data(data, stat) => found.push((name, path, Some(data), stat)),
                // Left between the listing and the read: not a member any more.
                Read::Gone => {}
                // Its ACL keeps its data from us, not its existence: the
                // stat needs no permission, so it is still listed in order.
                Read::NotAuthorized => match client.check_stat(&path).await {
                    Ok(Some(stat)) => {
                        refused.push(name.clone());
                        found.push((name, path, None, stat));
                    }
                    Ok(None) => {}
                    Err(err) => return Err(err).with_context(|| format!("checking {path}")),
                },
            }
        }
        if !refused.is_empty() {
            tracing::warn!(
                "{parent}: not authorized to read {} member(s): {}; listed with \"error\"",
                refused.len(),
                refused.join(", ").escape_debug()
            );
        }
        found.sort_by_key(|(_, _, _, stat)| stat.czxid);
        let mut members = Vec::with_capacity(found.len());
        for (name, path, data, stat) in found {
            let mut record = match &data {
                Some(data) => crate::node::record(&path, &name, data, &stat),
                None => {
                    let mut record = crate::node::record(&path, &name, b"", &stat);
                    record.shift_remove("data");
                    record.insert("error".into(), "not authorized".into());
                    record
                }
            };
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

/// What reading one member gave.
enum Read {
    Data(Vec<u8>, Stat),
    /// It left between the listing and the read.
    Gone,
    /// Its ACL refuses us the data.
    NotAuthorized,
}

/// Members per multi-read, at most: small enough that a reply of members
/// with a few hundred bytes of data each stays far below the 1 MiB
/// jute.maxbuffer.
const BATCH: usize = 200;

/// Request bytes per multi-read, at most. The server refuses a request
/// larger than its jute.maxbuffer (1 MiB by default, and maybe lowered) by
/// closing the connection, so long names must split batches too.
const BATCH_BYTES: usize = 32 * 1024;

/// The paths cut into batches of at most [`BATCH`] paths and about
/// [`BATCH_BYTES`] bytes of request (a path plus its framing per op).
fn batches(paths: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, path) in paths.iter().enumerate() {
        let size = path.len() + 16;
        if i > start && (i - start >= BATCH || bytes + size > BATCH_BYTES) {
            out.push(&paths[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < paths.len() {
        out.push(&paths[start..]);
    }
    out
}

/// Data and stat of each path.
async fn read_data(client: &Client, paths: &[String]) -> Result<Vec<Read>> {
    let chunks = batches(paths);
    let mut pending = Vec::new();
    for chunk in &chunks {
        let mut reader = client.new_multi_reader();
        for path in chunk.iter() {
            reader.add_get_data(path)?;
        }
        pending.push(reader.commit());
    }
    let mut out = Vec::with_capacity(paths.len());
    for (chunk, batch) in chunks.iter().zip(pending) {
        let results = match batch.await {
            Ok(results) => results,
            Err(ZkError::Unimplemented) => return read_data_one_by_one(client, paths).await,
            // The listing just went through on this connection; a server
            // drops a connection whose request is over its jute.maxbuffer,
            // and "connection lost" alone would not tell the operator that.
            Err(err @ ZkError::ConnectionLoss) => {
                let bytes: usize = chunk.iter().map(|path| path.len() + 16).sum();
                return Err(err).with_context(|| {
                    format!(
                        "the connection dropped on a read of {} member(s), ~{bytes} bytes; if the \
                         server logs a 'Len error', that is over its jute.maxbuffer (raise it \
                         with -Djute.maxbuffer=BYTES on every server)",
                        chunk.len()
                    )
                });
            }
            Err(err) => return Err(err.into()),
        };
        for (path, result) in chunk.iter().zip(results) {
            match result {
                MultiReadResult::Data { data, stat } => out.push(Read::Data(data, stat)),
                MultiReadResult::Error {
                    err: ZkError::NoNode,
                } => out.push(Read::Gone),
                MultiReadResult::Error {
                    err: ZkError::NoAuth,
                } => out.push(Read::NotAuthorized),
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
async fn read_data_one_by_one(client: &Client, paths: &[String]) -> Result<Vec<Read>> {
    let replies: Vec<_> = paths.iter().map(|path| client.get_data(path)).collect();
    let mut out = Vec::with_capacity(paths.len());
    for (path, reply) in paths.iter().zip(replies) {
        match reply.await {
            Ok((data, stat)) => out.push(Read::Data(data, stat)),
            Err(ZkError::NoNode) => out.push(Read::Gone),
            Err(ZkError::NoAuth) => out.push(Read::NotAuthorized),
            Err(err) => return Err(err).with_context(|| format!("reading {path}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_by_count_and_by_bytes() {
        let short: Vec<String> = (0..450).map(|i| format!("/g/m{i}")).collect();
        let sizes: Vec<usize> = batches(&short).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [200, 200, 50]);
        let long: Vec<String> = (0..100).map(|i| format!("/g/{i:0>2000}")).collect();
        let cut = batches(&long);
        assert!(cut.len() > 1, "100 paths of 2 kB do not fit one batch");
        for batch in &cut {
            let bytes: usize = batch.iter().map(|p| p.len() + 16).sum();
            assert!(bytes <= BATCH_BYTES, "{bytes}");
        }
        assert_eq!(cut.iter().map(|b| b.len()).sum::<usize>(), 100);
        assert!(batches(&[]).is_empty());
    }
}
