//! `zk-members watch`: JSON Lines of the group, `--exec` handlers and
//! `--output` files.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde_json::{Map, Value};

use zk_common::cli::ConnectArgs;
use zk_common::exit::WriteError;
use zk_common::handler::{Handler, Input};
use zk_common::output;

use crate::cli::WatchArgs;
use zk_common::follow::Follow;

pub async fn run(connect_args: &ConnectArgs, args: &WatchArgs) -> Result<u8> {
    // With no --output our lines are the product: once their reader is gone
    // (`| head -1`) there is nothing left to do, as after EPIPE.
    let reader_gone = async {
        if args.output.is_some() {
            std::future::pending::<()>().await;
        }
        output::stdout_reader_gone().await;
    };
    tokio::select! {
        result = follow(connect_args, args) => result,
        code = zk_common::signals::stop_requested() => Ok(code),
        () = reader_gone => {
            tracing::debug!("stdout's reader is gone; stopping the watch");
            Ok(zk_common::exit::OK)
        }
    }
}

async fn follow(connect_args: &ConnectArgs, args: &WatchArgs) -> Result<u8> {
    let mut group = Follow::new(connect_args, &args.path, args.recursive, args.debounce);
    if let Some((quiet, max)) = args.settle {
        group = group.settling(quiet, max);
    }
    let mut last: Option<Vec<Value>> = None;
    // Whether a snapshot has gone out (not held back): the first that does
    // is a `snapshot`, whatever was held back before it.
    let mut reported = false;
    // Runs beside the watch: a slow or hung handler never holds back the
    // next line, and the handler is handed the latest members when it is
    // free again. Dropped with this future, it kills a handler still running.
    let handler = args
        .exec
        .as_ref()
        .map(|command| Handler::start(command, args.exec_timeout));
    loop {
        let snapshot = group.next().await?;
        let members = snapshot.members.unwrap_or_default();
        if !snapshot.fresh_session && last.as_ref() == Some(&members) {
            continue;
        }
        let held_back = args
            .min_members
            .is_some_and(|min| members.len() < min as usize);
        let event = if held_back {
            "held_back"
        } else if !reported || snapshot.fresh_session {
            "snapshot"
        } else {
            "changed"
        };
        let mut line = output::event(event);
        line.insert("path".into(), args.path.clone().into());
        line.insert("session_id".into(), snapshot.session_id.into());
        let previous = last.as_deref().unwrap_or(&[]);
        diff(previous, &members, &mut line);
        let members_json = Value::Array(members);
        line.insert("members".into(), members_json.clone());
        if held_back {
            line.insert("min_members".into(), args.min_members.into());
            tracing::warn!(
                "{} has {} member(s), fewer than --min-members {}: held back{}",
                args.path,
                members_json.as_array().map_or(0, Vec::len),
                args.min_members.unwrap_or_default(),
                if args.output.is_some() {
                    "; --output keeps the last good list"
                } else {
                    ""
                }
            );
        }
        match &args.output {
            Some(_) if held_back => {}
            Some(file) => write_atomically(file, &members_json)?,
            None => output::line(&Value::Object(line))?,
        }
        if let (Some(handler), false) = (&handler, held_back) {
            let mut stdin = serde_json::to_vec(&members_json).unwrap_or_default();
            stdin.push(b'\n');
            handler.offer(Input {
                stdin,
                env: vec![("ZK_MEMBERS_PATH".into(), args.path.clone())],
            });
        }
        reported |= !held_back;
        last = match members_json {
            Value::Array(members) => Some(members),
            _ => None,
        };
    }
}

/// Adds `joined`, `left` and `updated` (ids whose record changed) to `line`.
fn diff(before: &[Value], after: &[Value], line: &mut Map<String, Value>) {
    let index = |members: &[Value]| -> BTreeMap<String, Value> {
        members
            .iter()
            .filter_map(|m| Some((m["id"].as_str()?.to_string(), m.clone())))
            .collect()
    };
    let (old, new) = (index(before), index(after));
    let in_order = |members: &[Value], keep: &dyn Fn(&str) -> bool| -> Vec<Value> {
        members
            .iter()
            .filter_map(|m| m["id"].as_str())
            .filter(|id| keep(id))
            .map(Value::from)
            .collect()
    };
    line.insert(
        "joined".into(),
        in_order(after, &|id| !old.contains_key(id)).into(),
    );
    line.insert(
        "left".into(),
        in_order(before, &|id| !new.contains_key(id)).into(),
    );
    line.insert(
        "updated".into(),
        in_order(after, &|id| {
            old.get(id).is_some_and(|m| Some(m) != new.get(id))
        })
        .into(),
    );
}

/// Replaces `file` in one rename, so a reader never sees half a snapshot.
fn write_atomically(file: &Path, members: &Value) -> Result<()> {
    let failed = |err: std::io::Error| WriteError::new(format!("--output {}", file.display()), err);
    let mut bytes = serde_json::to_vec_pretty(members)
        .map_err(std::io::Error::from)
        .map_err(failed)?;
    bytes.push(b'\n');
    zk_common::atomic_file::replace(file, &bytes).map_err(|err| failed(err.source))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn diff_reports_joined_left_and_updated_in_order() {
        let before = vec![
            json!({"id": "a", "version": 0}),
            json!({"id": "b", "version": 0}),
        ];
        let after = vec![
            json!({"id": "b", "version": 1}),
            json!({"id": "c", "version": 0}),
        ];
        let mut line = Map::new();
        diff(&before, &after, &mut line);
        assert_eq!(line["joined"], json!(["c"]));
        assert_eq!(line["left"], json!(["a"]));
        assert_eq!(line["updated"], json!(["b"]));
    }

    #[test]
    fn output_keeps_the_mode_and_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("peers.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_atomically(&link, &json!([{"id": "a"}])).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
        assert_eq!(read, json!([{"id": "a"}]));
    }

    #[test]
    fn output_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("peers.json");
        write_atomically(&file, &json!([{"id": "a"}])).unwrap();
        write_atomically(&file, &json!([])).unwrap();
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(read, json!([]));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
    }
}
