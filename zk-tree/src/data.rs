//! `get` and `set`: one node's data.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use zookeeper_client::{Client, CreateMode, Error as ZkError, MultiWriteError, MultiWriteResult};

use zk_common::cli::ConnectArgs;
use zk_common::exit::{self, Failure};
use zk_common::{connect, output};

use crate::cli::{GetArgs, SetArgs};
use crate::render;

/// The most `set` takes from stdin: ZooKeeper's default `jute.maxbuffer`
/// (1 MiB less one byte) bounds a whole request, and a server given more
/// drops the connection instead of answering, which would read as an
/// outage.
pub const MAX_DATA: usize = 0xfffff - 1024;

pub async fn get(connect_args: &ConnectArgs, args: &GetArgs) -> Result<u8> {
    let client = connect::connect(connect_args).await?;
    let read = client.get_data(&args.node).await;
    connect::close(client).await;
    let (data, stat) = match read {
        Err(ZkError::NoNode) => return Err(missing(&args.node).into()),
        other => other.with_context(|| format!("reading {}", args.node))?,
    };
    if args.json {
        let mut record = Map::new();
        record.insert("path".into(), args.node.clone().into());
        zk_common::node::insert_data(&mut record, &data);
        record.insert("stat".into(), render::stat(&stat));
        output::document(&Value::Object(record))?;
    } else {
        output::bytes(&data)?;
    }
    Ok(exit::OK)
}

fn missing(node: &str) -> Failure {
    Failure::new(exit::CONDITION_FALSE, format!("{node} does not exist"))
}

pub async fn set(connect_args: &ConnectArgs, args: &SetArgs) -> Result<u8> {
    let data = read_stdin()?;
    let client = connect::connect(connect_args).await?;
    let written = write(&client, connect_args, args, &data).await;
    connect::close(client).await;
    output::document(&written?)?;
    Ok(exit::OK)
}

/// Everything on stdin, refusing a terminal (a forgotten pipe would wait
/// forever) and more than [`MAX_DATA`].
fn read_stdin() -> Result<Vec<u8>, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Failure::usage(
            "set reads the data from stdin, which is a terminal; pipe the data in \
             (printf '%s' VALUE | zk-tree set NODE)",
        ));
    }
    let mut data = Vec::new();
    stdin
        .lock()
        .take(MAX_DATA as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|err| Failure::usage(format!("reading the data from stdin: {err}")))?;
    if data.len() > MAX_DATA {
        return Err(Failure::usage(format!(
            "more than {MAX_DATA} bytes on stdin: ZooKeeper's default jute.maxbuffer \
             (1 MiB per request) would refuse the write"
        )));
    }
    Ok(data)
}

/// Writes in one `multi`: the `--while-exists` checks, any missing parents,
/// and the create or the (version-checked) set. Retried only when another
/// client created or deleted the node between our look and our write.
async fn write(
    client: &Client,
    connect_args: &ConnectArgs,
    args: &SetArgs,
    data: &[u8],
) -> Result<Value> {
    let acls = connect_args.acls();
    let options = CreateMode::Persistent.with_acls(acls);
    let node = args.node.as_str();
    for _attempt in 0..5 {
        let exists = client
            .check_stat(node)
            .await
            .with_context(|| format!("looking up {node}"))?
            .is_some();
        if !exists && !args.create {
            return Err(Failure::new(
                exit::CONDITION_FALSE,
                format!("{node} does not exist (--create creates it); nothing written"),
            )
            .into());
        }
        let missing_parents = if exists {
            Vec::new()
        } else {
            missing_ancestors(client, node).await?
        };
        let mut multi = client.new_multi_writer();
        for lock in &args.while_exists {
            multi.add_check_version(lock, -1)?;
        }
        for parent in &missing_parents {
            multi.add_create(parent, &[], &options)?;
        }
        if exists {
            multi.add_set_data(node, data, args.version)?;
        } else {
            multi.add_create(node, data, &options)?;
        }
        let checks = args.while_exists.len();
        match multi.commit().await {
            Ok(mut results) => {
                let mut record = Map::new();
                record.insert("path".into(), node.into());
                record.insert("created".into(), (!exists).into());
                match results.pop() {
                    Some(MultiWriteResult::SetData { stat }) => {
                        record.insert("version".into(), stat.version.into());
                        record.insert("mzxid".into(), stat.mzxid.into());
                    }
                    _ => {
                        record.insert("version".into(), 0.into());
                    }
                }
                record.insert("bytes".into(), data.len().into());
                return Ok(Value::Object(record));
            }
            Err(MultiWriteError::OperationFailed { index, source }) if index < checks => {
                let lock = &args.while_exists[index];
                return Err(match source {
                    ZkError::NoNode => Failure::new(
                        exit::OWNERSHIP_LOST,
                        format!(
                            "{lock} (--while-exists) is gone: the lock or leadership it \
                             stood for was lost; nothing written to {node}"
                        ),
                    )
                    .into(),
                    other => anyhow::Error::new(other).context(format!("checking {lock}")),
                });
            }
            Err(MultiWriteError::OperationFailed { source, .. }) => match source {
                // Someone created or deleted it since we looked: look again.
                ZkError::NodeExists => continue,
                ZkError::NoNode if args.create => continue,
                ZkError::NoNode => return Err(missing(node).into()),
                ZkError::BadVersion => {
                    let now = client.check_stat(node).await.ok().flatten();
                    let now =
                        now.map_or("gone".to_string(), |s| format!("at version {}", s.version));
                    return Err(Failure::new(
                        exit::CONDITION_FALSE,
                        format!(
                            "{node} is {now}, not {} (--version): another writer got there \
                             first; nothing written",
                            args.version.unwrap_or_default()
                        ),
                    )
                    .into());
                }
                other => return Err(anyhow::Error::new(other).context(format!("writing {node}"))),
            },
            Err(MultiWriteError::RequestFailed { source }) => {
                return Err(anyhow::Error::new(source).context(format!("writing {node}")))
            }
        }
    }
    Err(Failure::new(
        exit::NOT_ACQUIRED,
        format!("{node} was created and deleted by others under every attempt; nothing written"),
    )
    .into())
}

/// The ancestors of `node` that do not exist, outermost first.
async fn missing_ancestors(client: &Client, node: &str) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    let mut path = node;
    while let Some((parent, _)) = path.rsplit_once('/') {
        if parent.is_empty() {
            break;
        }
        let exists = client
            .check_stat(parent)
            .await
            .with_context(|| format!("looking up {parent}"))?;
        if exists.is_some() {
            break;
        }
        missing.push(parent.to_string());
        path = parent;
    }
    missing.reverse();
    Ok(missing)
}
