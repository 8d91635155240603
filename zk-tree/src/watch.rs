//! `zk-tree watch`: one node's data as JSON Lines, and an `--exec` handler.
//!
//! A one-shot data watch (or an exists watch while the node is absent) is
//! set by the same read that reports the state, so no change falls between
//! a read and its watch; the client re-registers these watches after a
//! reconnect, and the server fires them for anything missed meanwhile.
//! After a session expiry a new session reads the node again.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use zookeeper_client::{Client, Error as ZkError, OneshotWatcher, Stat};

use zk_common::cli::ConnectArgs;
use zk_common::handler::{Handler, Input};
use zk_common::{connect, exit, output};

use crate::cli::WatchArgs;

pub async fn run(connect_args: &ConnectArgs, args: &WatchArgs) -> Result<u8> {
    tokio::select! {
        result = follow(connect_args, args) => result,
        code = zk_common::signals::stop_requested() => Ok(code),
        () = output::stdout_reader_gone() => {
            tracing::debug!("stdout's reader is gone; stopping the watch");
            Ok(exit::OK)
        }
    }
}

/// What a reader is told about the node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// `None` while the node does not exist.
    node: Option<(Vec<u8>, i32, i64, i64, i64)>,
}

impl State {
    fn present(data: Vec<u8>, stat: &Stat) -> State {
        State {
            node: Some((data, stat.version, stat.czxid, stat.mzxid, stat.mtime)),
        }
    }
}

async fn follow(connect_args: &ConnectArgs, args: &WatchArgs) -> Result<u8> {
    let handler = args
        .exec
        .as_ref()
        .map(|command| Handler::start(command, args.exec_timeout));
    let mut last: Option<State> = None;
    let mut client = connect::connect(connect_args).await?;
    loop {
        let session = zk_common::node::session_hex(client.session_id().0);
        watch_session(&client, args, &session, &mut last, handler.as_ref()).await?;
        tracing::warn!(
            "session {session} expired; opening a new one and reading {} again",
            args.node
        );
        client = loop {
            match connect::connect(connect_args).await {
                Ok(client) => break client,
                Err(err) if exit::code_for(&err) == exit::UNAVAILABLE => {
                    tracing::warn!("{err:#}; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(err) => return Err(err),
            }
        };
    }
}

/// Reports the node until the session expires (`Ok`).
async fn watch_session(
    client: &Client,
    args: &WatchArgs,
    session: &str,
    last: &mut Option<State>,
    handler: Option<&Handler>,
) -> Result<()> {
    loop {
        let (state, watcher) = match read(client, &args.node).await {
            Ok(Some(read)) => read,
            // Created or deleted between our two reads: read again.
            Ok(None) => continue,
            Err(ZkError::SessionExpired) => return Ok(()),
            Err(err) if exit::is_transient(&err) => {
                tracing::debug!("reading {}: {err}; trying again", args.node);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("reading {}", args.node)))
            }
        };
        if last.as_ref() != Some(&state) {
            report(args, session, last.is_none(), &state, handler)?;
            *last = Some(state);
        }
        let event = watcher.changed().await;
        if event.session_state.is_terminated() {
            return Ok(());
        }
    }
}

/// The node's state and a watch set by the same read; `None` when the node
/// appeared or vanished between the data read and the exists read.
async fn read(client: &Client, node: &str) -> Result<Option<(State, OneshotWatcher)>, ZkError> {
    match client.get_and_watch_data(node).await {
        Ok((data, stat, watcher)) => Ok(Some((State::present(data, &stat), watcher))),
        Err(ZkError::NoNode) => match client.check_and_watch_stat(node).await? {
            (None, watcher) => Ok(Some((State { node: None }, watcher))),
            (Some(_), _) => Ok(None),
        },
        Err(err) => Err(err),
    }
}

fn report(
    args: &WatchArgs,
    session: &str,
    first: bool,
    state: &State,
    handler: Option<&Handler>,
) -> Result<()> {
    let event = match (&state.node, first) {
        (_, true) => "snapshot",
        (None, false) => "deleted",
        (Some(_), false) => "changed",
    };
    let mut line: Map<String, Value> = output::event(event);
    line.insert("path".into(), args.node.clone().into());
    line.insert("session_id".into(), session.into());
    line.insert("exists".into(), state.node.is_some().into());
    let mut env = vec![
        ("ZK_TREE_NODE".to_string(), args.node.clone()),
        (
            "ZK_TREE_EXISTS".to_string(),
            u8::from(state.node.is_some()).to_string(),
        ),
    ];
    let data = match &state.node {
        Some((data, version, _czxid, mzxid, mtime)) => {
            zk_common::node::insert_data(&mut line, data);
            line.insert("version".into(), (*version).into());
            line.insert("mzxid".into(), (*mzxid).into());
            line.insert("modified".into(), output::millis_rfc3339(*mtime).into());
            env.push(("ZK_TREE_VERSION".to_string(), version.to_string()));
            data.clone()
        }
        None => {
            line.insert("data".into(), Value::Null);
            line.insert("version".into(), Value::Null);
            line.insert("mzxid".into(), Value::Null);
            Vec::new()
        }
    };
    output::line(&Value::Object(line)).context("printing a change")?;
    if let Some(handler) = handler {
        handler.offer(Input { stdin: data, env });
    }
    Ok(())
}
