//! Reading a group: one round trip for the names, then every member's data
//! in flight at once (the client sends each request when it is called, so
//! creating all the futures before awaiting any pipelines them).

use std::future::Future;
use std::pin::Pin;

use anyhow::{Context, Result};
use serde_json::Value;
use zookeeper_client::{Client, Error as ZkError, Stat};

use zk_common::path::join;

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
        let replies: Vec<_> = paths.iter().map(|path| client.get_data(path)).collect();
        let mut found: Vec<(String, String, Vec<u8>, Stat)> = Vec::with_capacity(names.len());
        for ((name, path), reply) in names.into_iter().zip(paths).zip(replies) {
            match reply.await {
                Ok((data, stat)) => found.push((name, path, data, stat)),
                // Left between the listing and the read: not a member any more.
                Err(ZkError::NoNode) => continue,
                Err(err) => return Err(err).with_context(|| format!("reading {path}")),
            }
        }
        found.sort_by_key(|(_, _, _, stat)| stat.czxid);
        let mut members = Vec::with_capacity(found.len());
        for (name, path, data, stat) in found {
            let mut record = zk_common::node::record(&path, &name, &data, &stat);
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
