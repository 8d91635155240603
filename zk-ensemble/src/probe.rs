//! `zk-ensemble probe`: an end-to-end smoke test per server, in the spirit
//! of zk-smoketest: a session with each server alone, create, read, update
//! and delete a node N times, then a write through one server read back
//! through every other after `sync`.
//!
//! Every node it creates is ephemeral, so even a probe killed half way
//! leaves nothing behind once its sessions end.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use zookeeper_client::{Client, CreateMode, Error as ZkError};

use zk_common::cli::ConnectArgs;
use zk_common::connect::split_connect_string;
use zk_common::{exit, output};

use crate::cli::ProbeArgs;
use crate::ensemble;

/// What one server's smoke test found.
struct Outcome {
    address: String,
    /// The error, and the exit code it maps to (77 for an ACL refusal).
    result: Result<Passed, (String, u8)>,
}

struct Passed {
    client: Client,
    session_id: String,
    connect_ms: f64,
    /// The parent and the ancestors this session created, to remove after.
    created: Vec<String>,
    latencies: [Vec<Duration>; 4],
}

const OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

pub async fn run(connect: &ConnectArgs, args: &ProbeArgs) -> Result<u8> {
    zk_common::cli::refuse_zookeeper_tree(&connect.connect, &args.path)?;
    let (_, chroot) = split_connect_string(&connect.connect)?;
    let chroot = chroot.unwrap_or_default();
    // The survey finds the members the connect string does not name.
    let survey_timeout = args.probe_timeout.min(Duration::from_secs(2));
    let survey = ensemble::survey(connect, &args.survey, survey_timeout).await?;
    let addresses: Vec<String> = survey.reports.iter().map(|r| r.address.clone()).collect();

    let mut set = JoinSet::new();
    for (index, address) in addresses.iter().enumerate() {
        let mut server_args = connect.clone();
        server_args.connect = format!("{address}{chroot}");
        server_args.connect_timeout = connect.connect_timeout.min(args.probe_timeout);
        let (address, path, count, timeout) = (
            address.clone(),
            args.path.clone(),
            args.count,
            args.probe_timeout,
        );
        set.spawn(async move {
            let node = format!("{path}/probe-{}-{index}", std::process::id());
            let result =
                match tokio::time::timeout(timeout, smoke(&server_args, &path, &node, count)).await
                {
                    Ok(Ok(passed)) => Ok(passed),
                    Ok(Err(err)) => Err((format!("{address}: {err:#}"), exit::code_for(&err))),
                    Err(_) => Err((
                        format!(
                            "{address}: did not pass within {}",
                            humantime::format_duration(timeout)
                        ),
                        exit::UNAVAILABLE,
                    )),
                };
            (index, Outcome { address, result })
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(pair) => outcomes.push(pair),
            Err(err) => tracing::error!("a probe task failed: {err}"),
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();

    let visibility = visibility(&outcomes, &args.path, connect).await;
    let servers: Vec<Value> = outcomes
        .iter()
        .map(|o| outcome_json(o, args.count))
        .collect();
    let passed = outcomes.iter().filter(|o| o.result.is_ok()).count();
    // An ACL that refuses the probe is a permission problem, whether or
    // not the servers are up: say 77, not "unavailable".
    let refused = outcomes
        .iter()
        .any(|o| matches!(&o.result, Err((_, code)) if *code == exit::PERMISSION));
    let visible = visibility
        .get("ok")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ok = passed == outcomes.len() && visible;
    let outcomes_codes: Vec<u8> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|(_, code)| *code))
        .collect();

    let mut created: Vec<String> = Vec::new();
    let mut clients = Vec::new();
    for outcome in outcomes {
        if let Ok(passed) = outcome.result {
            created.extend(passed.created.iter().cloned());
            clients.push(passed.client);
        }
    }
    // Deepest first, so each is empty by the time it is deleted.
    created.sort_by_key(|path| std::cmp::Reverse(path.matches('/').count()));
    created.dedup();
    if let Some(client) = clients.first() {
        for path in &created {
            // Only our own, now empty, nodes go; NotEmpty means someone
            // else uses them too.
            match client.delete(path, None).await {
                Ok(()) | Err(ZkError::NoNode | ZkError::NotEmpty) => {}
                Err(err) => tracing::warn!("removing {path}: {err}"),
            }
        }
    }
    let mut closing = JoinSet::new();
    for client in clients {
        closing.spawn(zk_common::connect::close(client));
    }
    while closing.join_next().await.is_some() {}

    let doc = json!({
        "time": output::now_rfc3339(),
        "ok": ok,
        "path": args.path,
        "count": args.count,
        "servers": servers,
        "visibility": visibility,
    });
    output::document(&doc)?;
    if ok {
        return Ok(exit::OK);
    }
    let failures: Vec<String> = doc["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["error"].as_str().map(str::to_string))
        .collect();
    let mut cause = failures.join("; ");
    if !visible && passed > 0 {
        if !cause.is_empty() {
            cause.push_str("; ");
        }
        cause.push_str("a write was not visible through every server after sync");
    }
    eprintln!("zk-ensemble: probe failed: {cause}");
    // A parent no server lets us write below (an ephemeral node) is the
    // operator's PATH, not an outage.
    let misused = outcomes_codes.contains(&exit::USAGE);
    Ok(if refused {
        exit::PERMISSION
    } else if misused {
        exit::USAGE
    } else if passed == 0 {
        exit::UNAVAILABLE
    } else {
        exit::CONDITION_FALSE
    })
}

async fn smoke(args: &ConnectArgs, parent: &str, node: &str, count: u32) -> Result<Passed> {
    let started = Instant::now();
    let client = zk_common::connect::connect(args).await?;
    let connect_ms = millis(started.elapsed());
    let session_id = format!("{:#x}", client.session_id().0);
    let created = ensure_parent(&client, parent, args).await?;
    let ephemeral = CreateMode::Ephemeral.with_acls(args.acls());
    let mut latencies: [Vec<Duration>; 4] = Default::default();
    let mut timed = |op: usize, since: Instant| latencies[op].push(since.elapsed());
    for i in 0..count {
        let data = format!("zk-ensemble probe {i}");
        let t = Instant::now();
        client
            .create(node, data.as_bytes(), &ephemeral)
            .await
            .with_context(|| format!("create {node}"))?;
        timed(0, t);
        let t = Instant::now();
        let (read, _) = client
            .get_data(node)
            .await
            .with_context(|| format!("read {node}"))?;
        timed(1, t);
        if read != data.as_bytes() {
            anyhow::bail!("read {node}: got other data than was written");
        }
        let t = Instant::now();
        client
            .set_data(node, b"updated", None)
            .await
            .with_context(|| format!("update {node}"))?;
        timed(2, t);
        let t = Instant::now();
        client
            .delete(node, None)
            .await
            .with_context(|| format!("delete {node}"))?;
        timed(3, t);
    }
    Ok(Passed {
        client,
        session_id,
        connect_ms,
        created,
        latencies,
    })
}

/// Creates the probe's parent and its missing ancestors and returns those
/// this call created: the probe removes them when done, so `--path /a/b/p`
/// leaves no `/a/b` behind. Bottom up, as `mkdir` does: an ancestor that
/// exists is never created again, so an ACL above it that refuses us
/// CREATE does not matter.
async fn ensure_parent(client: &Client, parent: &str, args: &ConnectArgs) -> Result<Vec<String>> {
    let persistent = CreateMode::Persistent.with_acls(args.acls());
    let mut created = Vec::new();
    // Deepest first: the paths whose parent was missing.
    let mut missing: Vec<&str> = Vec::new();
    let mut path = parent;
    loop {
        match client.create(path, b"", &persistent).await {
            Ok(_) => {
                created.push(path.to_string());
                break;
            }
            Err(ZkError::NodeExists) => break,
            Err(ZkError::NoNode) => match path.rsplit_once('/') {
                Some((up, _)) if !up.is_empty() => {
                    missing.push(path);
                    path = up;
                }
                _ => return Err(ZkError::NoNode).with_context(|| format!("create {path}")),
            },
            Err(err) => return Err(err).with_context(|| format!("create {path}")),
        }
    }
    for path in missing.into_iter().rev() {
        match client.create(path, b"", &persistent).await {
            Ok(_) => created.push(path.to_string()),
            Err(ZkError::NodeExists) => {}
            Err(err) => return Err(err).with_context(|| format!("create {path}")),
        }
    }
    Ok(created)
}

/// Writes through the first server that passed and reads back through
/// every other one after `sync`.
async fn visibility(outcomes: &[Outcome], parent: &str, connect: &ConnectArgs) -> Value {
    let passed: Vec<(&str, &Passed)> = outcomes
        .iter()
        .filter_map(|o| Some((o.address.as_str(), o.result.as_ref().ok()?)))
        .collect();
    let Some(((writer_address, writer), readers)) = passed.split_first().map(|(w, r)| (*w, r))
    else {
        return json!({"ok": false, "written_through": null, "visible_on": [], "not_visible_on": [],
                      "error": "no server passed, so nothing could be written"});
    };
    let node = format!("{parent}/visibility-{}", std::process::id());
    let token = format!("{}-{}", std::process::id(), output::now_rfc3339());
    let ephemeral = CreateMode::Ephemeral.with_acls(connect.acls());
    if let Err(err) = writer
        .client
        .create(&node, token.as_bytes(), &ephemeral)
        .await
    {
        return json!({"ok": false, "written_through": writer_address, "visible_on": [], "not_visible_on": [],
                      "error": format!("{writer_address}: create {node}: {err}")});
    }
    let mut visible_on = vec![Value::from(writer_address)];
    let mut not_visible_on = Vec::new();
    for (address, reader) in readers {
        let read = async {
            reader.client.sync(&node).await?;
            reader.client.get_data(&node).await
        };
        match read.await {
            Ok((data, _)) if data == token.as_bytes() => visible_on.push((*address).into()),
            Ok(_) => not_visible_on
                .push(json!({"address": address, "error": "read other data than was written"})),
            Err(err) => not_visible_on
                .push(json!({"address": address, "error": format!("sync and read {node}: {err}")})),
        }
    }
    if let Err(err) = writer.client.delete(&node, None).await {
        tracing::warn!("deleting {node}: {err} (ephemeral: it goes with the session)");
    }
    json!({
        "ok": not_visible_on.is_empty(),
        "written_through": writer_address,
        "visible_on": visible_on,
        "not_visible_on": not_visible_on,
    })
}

fn outcome_json(outcome: &Outcome, count: u32) -> Value {
    match &outcome.result {
        Ok(passed) => {
            let mut latency = serde_json::Map::new();
            for (name, samples) in OPERATIONS.iter().zip(&passed.latencies) {
                latency.insert((*name).into(), percentiles(samples));
            }
            json!({
                "address": outcome.address,
                "ok": true,
                "error": null,
                "session_id": passed.session_id,
                "connect_ms": passed.connect_ms,
                "operations": count * 4,
                "latency_ms": latency,
            })
        }
        Err((error, _)) => json!({"address": outcome.address, "ok": false, "error": error}),
    }
}

/// p50, p90, p99 and max of `samples`, in ms (nearest-rank percentiles).
fn percentiles(samples: &[Duration]) -> Value {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = |p: f64| -> Value {
        if sorted.is_empty() {
            return Value::Null;
        }
        let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        millis(sorted[index]).into()
    };
    json!({"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": rank(1.0)})
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(&samples);
        assert_eq!(
            p,
            json!({"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0})
        );
        let one = percentiles(&[Duration::from_micros(1500)]);
        assert_eq!(one, json!({"p50": 1.5, "p90": 1.5, "p99": 1.5, "max": 1.5}));
    }
}
