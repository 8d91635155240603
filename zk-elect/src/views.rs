//! `leader`, `watch` and `candidates`: the election as JSON.

use std::time::Duration;
use zk_common::timeout::GiveUp;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use zk_common::cli::CommonArgs;
use zk_common::follow::Follow;
use zk_common::queue::{sorted_entries, Family};
use zk_common::{connect, exit, output, Failure};

use crate::cli::{LeaderArgs, PathArg, ResignArgs, WatchArgs};
use crate::systems::{self, System};

/// The candidates in queue order, as view records, from a listing of the
/// group at `dir`. Latch nodes (Curator's `LeaderLatch`) and kazoo's
/// `Election` nodes take part; the first leads. Anything else is ignored,
/// with a warning.
pub fn candidates_of(dir: &str, members: &[Value]) -> Vec<Value> {
    let names = members
        .iter()
        .filter_map(|m| m["id"].as_str())
        .map(String::from);
    sorted_entries(dir, names, Family::Election)
        .into_iter()
        .filter_map(|entry| members.iter().find(|m| m["id"] == entry.name.as_str()))
        .enumerate()
        .map(|(i, member)| Value::Object(view(member, i == 0)))
        .collect()
}

/// A candidate as the views show it: its id (parsed when it is a JSON
/// object or array), node, token (czxid), since, session.
fn view(member: &Value, leads: bool) -> Map<String, Value> {
    let mut record = Map::new();
    let id = match &member["data"] {
        // Unreadable (its ACL): no id, and the error says why, so
        // `leader --is` can never match an id we could not read.
        _ if member.get("error").is_some() => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        Value::Null => Value::String(String::new()),
        // The id parsed as JSON: keep objects and arrays, but an id such as
        // "42" stays the string it was written as.
        data @ (Value::Object(_) | Value::Array(_)) => data.clone(),
        other => Value::String(other.to_string()),
    };
    record.insert("id".into(), id);
    record.insert("node".into(), member["path"].clone());
    record.insert("token".into(), member["czxid"].clone());
    record.insert("since".into(), member["created"].clone());
    record.insert("session_id".into(), member["ephemeral_owner"].clone());
    for key in ["data_base64", "error"] {
        if let Some(value) = member.get(key) {
            record.insert(key.into(), value.clone());
        }
    }
    record.insert("leader".into(), leads.into());
    record
}

/// The id as `--is` compares it; none for an id we could not read.
fn id_text(record: &Value) -> Option<String> {
    match &record["id"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub async fn candidates(common: &CommonArgs, args: &PathArg) -> Result<u8> {
    let client = connect::connect(&common.connect).await?;
    let members = zk_common::group::read_members(&client, &args.path, false)
        .await?
        .unwrap_or_default();
    connect::close(client).await;
    output::document(&Value::Array(candidates_of(&args.path, &members)))?;
    Ok(exit::OK)
}

/// PATH, or with --system the system's root (its default when none).
fn root_or_path(path: Option<&String>, system: Option<System>) -> Result<String> {
    match (path, system) {
        (Some(path), _) => Ok(path.clone()),
        (None, Some(system)) => system.default_root().map(String::from).ok_or_else(|| {
            Failure::usage(format!(
                "--system {} needs the cluster's path, e.g. /MyCluster",
                system.name()
            ))
            .into()
        }),
        // clap requires PATH without --system.
        (None, None) => Err(Failure::usage("PATH is required").into()),
    }
}

pub async fn leader(common: &CommonArgs, args: &LeaderArgs) -> Result<u8> {
    let path = root_or_path(args.path.as_ref(), args.system)?;
    if let Some(system) = args.system {
        return system_leader(common, args, system, &path).await;
    }
    let mut follow = Follow::new(&common.connect, &path, false, Duration::ZERO);
    let spinner = args.wait.then(|| {
        zk_common::progress::Waiting::start(
            format!("waiting for a leader at {path}"),
            common.log.quiet,
        )
    });
    let find = async {
        loop {
            let members = follow.next().await?.members.unwrap_or_default();
            let leader = candidates_of(&path, &members).into_iter().next();
            if leader.is_some() || !args.wait {
                return anyhow::Ok(leader);
            }
        }
    };
    let leader = tokio::select! {
        leader = find => leader?,
        timeout = GiveUp::after(args.timeout).reached() => {
            let what = if args.wait {
                format!("nobody leads {path} after waiting {timeout}")
            } else {
                format!("no answer about the leader of {path} within {timeout}")
            };
            return Err(Failure::not_acquired(what).into());
        }
        code = zk_common::signals::stop_requested() => return Ok(code),
    };
    drop(spinner);
    let Some(leader) = leader else {
        eprintln!("zk-elect: nobody leads {path}");
        return Ok(exit::CONDITION_FALSE);
    };
    output::document(&leader)?;
    match &args.is {
        Some(id) if id_text(&leader).as_ref() != Some(id) => Ok(exit::CONDITION_FALSE),
        _ => Ok(exit::OK),
    }
}

pub async fn watch(common: &CommonArgs, args: &WatchArgs) -> Result<u8> {
    let path = root_or_path(args.path.as_ref(), args.system)?;
    if let Some(system) = args.system {
        return tokio::select! {
            result = watch_system(common, system, &path) => result,
            code = zk_common::signals::stop_requested() => Ok(code),
        };
    }
    let follow_leader = async {
        let mut follow = Follow::new(&common.connect, &path, false, Duration::ZERO);
        let mut last: Option<Option<Value>> = None;
        loop {
            let members = follow.next().await?.members.unwrap_or_default();
            let leader = candidates_of(&path, &members).into_iter().next();
            let same = match (&last, &leader) {
                (Some(Some(a)), Some(b)) => a["node"] == b["node"],
                (Some(None), None) => true,
                _ => false,
            };
            if same {
                continue;
            }
            let mut line = output::event(if last.is_none() { "leader" } else { "changed" });
            line.insert("path".into(), path.clone().into());
            line.insert("leader".into(), leader.clone().unwrap_or(Value::Null));
            output::line(&Value::Object(line))?;
            last = Some(leader);
        }
    };
    tokio::select! {
        result = follow_leader => result,
        code = zk_common::signals::stop_requested() => Ok(code),
    }
}

/// `leader --system`: one read of the system's leader node (with --wait,
/// until it exists).
async fn system_leader(
    common: &CommonArgs,
    args: &LeaderArgs,
    system: System,
    root: &str,
) -> Result<u8> {
    let node = system.leader_node(root);
    let find = async {
        let client = connect::connect(&common.connect).await?;
        let found = loop {
            let leader = systems::read(&client, system, root).await;
            match leader {
                Ok(None) if args.wait => {
                    // Woken when the leader node appears.
                    let (stat, watcher) = client.check_and_watch_stat(&node).await?;
                    if stat.is_none() {
                        watcher.changed().await;
                    }
                }
                other => break other,
            }
        };
        connect::close(client).await;
        found
    };
    let _spinner = args.wait.then(|| {
        zk_common::progress::Waiting::start(format!("waiting for {node}"), common.log.quiet)
    });
    let leader = tokio::select! {
        leader = find => leader?,
        timeout = GiveUp::after(args.timeout).reached() => {
            return Err(Failure::not_acquired(format!(
                "no leader of {} at {node} within {timeout}", system.name()
            )).into());
        }
        code = zk_common::signals::stop_requested() => return Ok(code),
    };
    let Some(leader) = leader else {
        eprintln!(
            "zk-elect: nobody leads {} ({node} does not exist)",
            system.name()
        );
        return Ok(exit::CONDITION_FALSE);
    };
    output::document(&leader)?;
    match &args.is {
        Some(id) if id_text(&leader).as_ref() != Some(id) => Ok(exit::CONDITION_FALSE),
        _ => Ok(exit::OK),
    }
}

/// `watch --system`: the system's leader now, then a line whenever its
/// leader node is created, deleted or rewritten, by ZooKeeper's watches; a
/// new session after an expiry starts again with a fresh `leader` line.
async fn watch_system(common: &CommonArgs, system: System, root: &str) -> Result<u8> {
    let node = system.leader_node(root);
    let mut last: Option<Option<Value>> = None;
    loop {
        let client = connect::connect(&common.connect).await?;
        loop {
            // The watch is set before the read, so no change falls between.
            let watched = client.check_and_watch_stat(&node).await;
            let watcher = match watched {
                Ok((_, watcher)) => watcher,
                Err(err) if client.state().is_terminated() => {
                    tracing::warn!("{err}; opening a new session");
                    break;
                }
                Err(err) => return Err(err).with_context(|| format!("watching {node}")),
            };
            let leader = match systems::read(&client, system, root).await {
                Ok(leader) => leader,
                Err(err) if client.state().is_terminated() => {
                    tracing::warn!("{err:#}; opening a new session");
                    break;
                }
                Err(err) => return Err(err),
            };
            if last.as_ref() != Some(&leader) {
                let mut line = output::event(if last.is_none() { "leader" } else { "changed" });
                line.insert("path".into(), root.into());
                line.insert("system".into(), system.name().into());
                line.insert("leader".into(), leader.clone().unwrap_or(Value::Null));
                output::line(&Value::Object(line))?;
                last = Some(leader);
            }
            watcher.changed().await;
        }
        connect::close(client).await;
        last = None;
    }
}

/// `resign`: asks the leader to step down (see [`zk_common::revoke`]).
pub async fn resign(common: &CommonArgs, args: &ResignArgs) -> Result<u8> {
    let client = connect::connect(&common.connect).await?;
    let result = ask_leader_to_resign(&client, args, common.log.quiet).await;
    connect::close(client).await;
    match result? {
        Some(report) => {
            output::document(&report)?;
            Ok(exit::OK)
        }
        None => Ok(exit::OK),
    }
}

async fn ask_leader_to_resign(
    client: &zookeeper_client::Client,
    args: &ResignArgs,
    quiet: bool,
) -> Result<Option<Value>> {
    let path = &args.path;
    let members = zk_common::group::read_members(client, path, false)
        .await?
        .unwrap_or_default();
    let Some(leader) = candidates_of(path, &members).into_iter().next() else {
        if let Some(wanted) = &args.leader {
            return Err(Failure::new(
                exit::CONDITION_FALSE,
                format!("nobody leads {path}, so not {wanted:?}"),
            )
            .into());
        }
        eprintln!("zk-elect: nobody leads {path}; nothing to resign");
        return Ok(None);
    };
    let node = leader["node"].as_str().unwrap_or_default().to_owned();
    if let Some(wanted) = &args.leader {
        let by_node = node == *wanted || node.rsplit('/').next() == Some(wanted.as_str());
        if !by_node && id_text(&leader).as_ref() != Some(wanted) {
            return Err(Failure::new(
                exit::CONDITION_FALSE,
                format!(
                    "the leader of {path} is {}, not {wanted:?}; left alone",
                    id_text(&leader)
                        .unwrap_or_else(|| node.clone())
                        .escape_debug()
                ),
            )
            .into());
        }
    }
    let _spinner =
        zk_common::progress::Waiting::start(format!("asking {node} to step down"), quiet);
    let (outcome, waited) =
        zk_common::revoke::revoke(client, &node, args.force_after, GiveUp::after(args.timeout))
            .await?;
    Ok(Some(zk_common::revoke::report(
        path, &node, &leader, outcome, waited,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_latches_take_part_and_the_lowest_sequence_leads() {
        let members = vec![
            json!({"id": "_c_b-latch-0000000007", "path": "/e/_c_b-latch-0000000007", "data": "b", "czxid": 9}),
            json!({"id": "breadcrumb", "path": "/e/breadcrumb", "data": {"id": "x"}, "czxid": 1}),
            json!({"id": "_c_a-latch-0000000003", "path": "/e/_c_a-latch-0000000003",
                   "data": {"host": "10.0.0.1", "port": 80}, "czxid": 5}),
        ];
        let candidates = candidates_of("/e", &members);
        assert_eq!(candidates.len(), 2);
        assert_eq!(candidates[0]["id"], json!({"host": "10.0.0.1", "port": 80}));
        assert_eq!(candidates[0]["leader"], true);
        assert_eq!(candidates[1]["id"], "b");
        assert_eq!(candidates[1]["leader"], false);
    }
}
