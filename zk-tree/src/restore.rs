//! `zk-tree restore`: a dump back into ZooKeeper.
//!
//! The whole dump is read and checked before anything is sent, the target
//! is read next, and only then is anything written: a bad line or a node
//! that differs (without `--overwrite`) leaves the target untouched. Writes
//! go in `multi` batches in path order, so parents precede children.

use std::collections::HashSet;
use std::io::{IsTerminal, Read};

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use zookeeper_client::{Acl, Acls, Client, CreateMode, Error as ZkError, MultiWriteError};

use zk_common::cli::ConnectArgs;
use zk_common::exit::{self, Failure};
use zk_common::{connect, output};

use crate::cli::RestoreArgs;
use crate::render;
use crate::walk::path_order;

/// A `multi` carries at most this many bytes of data and paths, well under
/// the server's default 1 MiB `jute.maxbuffer` (a bigger request makes the
/// server drop the connection rather than refuse it).
const BATCH_BYTES: usize = 768 * 1024;
/// ...and at most this many operations.
const BATCH_OPS: usize = 1000;
/// The largest dump we read: a bound on memory, far above any real tree.
const MAX_INPUT: u64 = 4 << 30;
/// How many differing paths the report names.
const NAMED: usize = 100;

/// One node of the dump.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    path: String,
    data: Vec<u8>,
    /// `None` when the dump gave none: the node gets `--acl`'s.
    acl: Option<Vec<Acl>>,
    ephemeral: bool,
}

/// What the target holds where an entry goes.
enum Found {
    Missing,
    Same,
    Differs { data: bool, acl: bool },
}

pub async fn run(connect_args: &ConnectArgs, args: &RestoreArgs) -> Result<u8> {
    let text = read_input(args)?;
    let mut entries = parse(&text)?;
    let ephemerals = entries.iter().filter(|e| e.ephemeral).count();
    if !args.include_ephemeral {
        entries.retain(|e| !e.ephemeral);
    }
    let chrooted = matches!(
        connect::split_connect_string(&connect_args.connect),
        Ok((_, Some(_)))
    );
    for entry in &entries {
        zk_common::cli::refuse_zookeeper_tree(&connect_args.connect, &entry.path)?;
        let in_zookeeper_tree = entry.path == "/zookeeper" || entry.path.starts_with("/zookeeper/");
        if in_zookeeper_tree && !chrooted {
            return Err(Failure::usage(format!(
                "{} is in ZooKeeper's own tree; restore it under a chroot (--zk HOST/CHROOT)",
                entry.path
            ))
            .into());
        }
    }
    let (client, chroot_missing) = connect_creating_chroot(connect_args, args.dry_run).await?;
    let result = restore(&client, connect_args, args, &entries, chroot_missing).await;
    connect::close(client).await;
    let mut report = result?;
    report["skipped_ephemeral"] = json!(if args.include_ephemeral {
        0
    } else {
        ephemerals
    });
    output::document(&report)?;
    Ok(exit::OK)
}

fn read_input(args: &RestoreArgs) -> Result<Vec<u8>, Failure> {
    let mut text = Vec::new();
    let read = match &args.file {
        Some(file) => std::fs::File::open(file)
            .and_then(|f| f.take(MAX_INPUT).read_to_end(&mut text))
            .map_err(|err| format!("reading {}: {err}", file.display())),
        None if std::io::stdin().is_terminal() => Err(
            "restore reads the dump from FILE or stdin, which is a terminal; \
             give a file or pipe zk-tree dump in"
                .to_string(),
        ),
        None => std::io::stdin()
            .lock()
            .take(MAX_INPUT)
            .read_to_end(&mut text)
            .map_err(|err| format!("reading the dump from stdin: {err}")),
    };
    read.map_err(Failure::usage)?;
    Ok(text)
}

/// Every line checked before anything is sent; sorted parents first.
fn parse(text: &[u8]) -> Result<Vec<Entry>, Failure> {
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    for (number, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bad = |reason: String| Failure::usage(format!("dump line {}: {reason}", number + 1));
        let value: Value =
            serde_json::from_slice(line).map_err(|err| bad(format!("not JSON: {err}")))?;
        let entry = entry(&value).map_err(bad)?;
        if !seen.insert(entry.path.clone()) {
            return Err(bad(format!("{} appears twice", entry.path)));
        }
        entries.push(entry);
    }
    entries.sort_by(|a, b| path_order(&a.path, &b.path));
    Ok(entries)
}

fn entry(value: &Value) -> Result<Entry, String> {
    let path = value["path"].as_str().ok_or("no string \"path\"")?;
    let path = zk_common::path::validate(path)?;
    let data = match (&value["data"], &value["data_base64"]) {
        (Value::String(text), Value::Null) => text.as_bytes().to_vec(),
        (Value::Null, Value::String(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|err| format!("{path}: data_base64 is not base64: {err}"))?,
        (Value::Null, Value::Null) => Vec::new(),
        _ => {
            return Err(format!(
                "{path}: give data as a string or data_base64, not both and nothing else"
            ))
        }
    };
    if data.len() > crate::data::MAX_DATA {
        return Err(format!(
            "{path}: {} bytes of data is more than ZooKeeper's default jute.maxbuffer takes",
            data.len()
        ));
    }
    let acl = match &value["acl"] {
        Value::Null => None,
        acl => Some(render::parse_acl(acl).map_err(|err| format!("{path}: {err}"))?),
    };
    let ephemeral = !value["ephemeral_owner"].is_null();
    Ok(Entry {
        path,
        data,
        acl,
        ephemeral,
    })
}

/// A session whose root is the chroot of `--zk`, created first if missing
/// (unless this is a dry run); the flag says it was missing.
async fn connect_creating_chroot(
    connect_args: &ConnectArgs,
    dry_run: bool,
) -> Result<(Client, bool)> {
    let (_, chroot) = connect::split_connect_string(&connect_args.connect)?;
    let Some(chroot) = chroot else {
        return Ok((connect::connect(connect_args).await?, false));
    };
    let mut root_args = connect_args.clone();
    root_args.connect = connect_args
        .connect
        .strip_suffix(chroot.as_str())
        .unwrap_or(&connect_args.connect)
        .to_string();
    let client = connect::connect(&root_args).await?;
    let exists = client
        .check_stat(&chroot)
        .await
        .with_context(|| format!("looking up the chroot {chroot}"))?
        .is_some();
    if !exists && !dry_run {
        let options = CreateMode::Persistent.with_acls(connect_args.acls());
        client
            .mkdir(&chroot, &options)
            .await
            .with_context(|| format!("creating the chroot {chroot}"))?;
        tracing::info!("created the chroot {chroot}");
    }
    if !exists && dry_run {
        // Nothing below a missing chroot exists: report it all as missing
        // without a session rooted there.
        return Ok((client, true));
    }
    match client.chroot(chroot.as_str()) {
        Ok(client) => Ok((client, !exists)),
        Err(_) => Err(Failure::usage(format!("bad chroot {chroot}")).into()),
    }
}

async fn restore(
    client: &Client,
    connect_args: &ConnectArgs,
    args: &RestoreArgs,
    entries: &[Entry],
    chroot_missing: bool,
) -> Result<Value> {
    let found = if chroot_missing && args.dry_run {
        entries.iter().map(|_| Found::Missing).collect()
    } else {
        look_up(client, entries).await?
    };
    let in_dump: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let parents = if chroot_missing && args.dry_run {
        outside_parents(entries, &in_dump)
    } else {
        missing_outside_parents(client, entries, &in_dump).await?
    };
    let mut differing = Vec::new();
    let (mut create, mut unchanged) = (Vec::new(), 0usize);
    for (entry, found) in entries.iter().zip(&found) {
        match found {
            Found::Missing => create.push(entry),
            Found::Same => unchanged += 1,
            Found::Differs { data, acl } => differing.push((entry, *data, *acl)),
        }
    }
    let named: Vec<&str> = differing
        .iter()
        .take(NAMED)
        .map(|(e, ..)| e.path.as_str())
        .collect();
    let mut report = json!({
        "dry_run": args.dry_run,
        "nodes": entries.len(),
        "parents_created": parents.len(),
        "created": create.len(),
        "updated": if args.overwrite { differing.len() } else { 0 },
        "unchanged": unchanged,
        "differing": named,
    });
    if !differing.is_empty() && !args.overwrite {
        if args.dry_run {
            report["updated"] = json!(0);
            output::document(&report)?;
        }
        return Err(Failure::new(
            exit::CONDITION_FALSE,
            format!(
                "{} node(s) exist with other data or ACL (first: {}); nothing written; \
                 --overwrite replaces them",
                differing.len(),
                differing[0].0.path
            ),
        )
        .into());
    }
    if args.dry_run {
        return Ok(report);
    }
    let default_acl = connect_args.acls();
    let mut ops: Vec<Op> = parents
        .iter()
        .map(|path| Op::Create {
            path,
            data: &[],
            acl: None,
        })
        .collect();
    for entry in &create {
        ops.push(Op::Create {
            path: &entry.path,
            data: &entry.data,
            acl: entry.acl.as_deref(),
        });
    }
    for (entry, data, _) in &differing {
        if *data {
            ops.push(Op::Set {
                path: &entry.path,
                data: &entry.data,
            });
        }
    }
    // Creates in path order first, so every parent exists before a child.
    ops.sort_by(|a, b| path_order(a.path(), b.path()));
    write_batches(client, &ops, &default_acl).await?;
    for (entry, _, acl) in &differing {
        if let (true, Some(new_acl)) = (*acl, &entry.acl) {
            client
                .set_acl(&entry.path, new_acl, None)
                .await
                .with_context(|| format!("setting the ACL of {}", entry.path))?;
        }
    }
    Ok(report)
}

/// One write of the restore.
enum Op<'a> {
    Create {
        path: &'a str,
        data: &'a [u8],
        acl: Option<&'a [Acl]>,
    },
    Set {
        path: &'a str,
        data: &'a [u8],
    },
}

impl Op<'_> {
    fn path(&self) -> &str {
        match self {
            Op::Create { path, .. } | Op::Set { path, .. } => path,
        }
    }

    fn size(&self) -> usize {
        match self {
            Op::Create { path, data, acl } => {
                path.len() + data.len() + acl.map_or(64, |a| a.len() * 64) + 32
            }
            Op::Set { path, data } => path.len() + data.len() + 32,
        }
    }
}

async fn write_batches(client: &Client, ops: &[Op<'_>], default_acl: &Acls<'_>) -> Result<()> {
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < ops.len()
            && (end == start || (bytes + ops[end].size() <= BATCH_BYTES && end - start < BATCH_OPS))
        {
            bytes += ops[end].size();
            end += 1;
        }
        let batch = &ops[start..end];
        let mut multi = client.new_multi_writer();
        for op in batch {
            match op {
                Op::Create { path, data, acl } => {
                    let acls = acl.map(Acls::new).unwrap_or(*default_acl);
                    multi.add_create(path, data, &CreateMode::Persistent.with_acls(acls))?;
                }
                Op::Set { path, data } => multi.add_set_data(path, data, None)?,
            }
        }
        match multi.commit().await {
            Ok(_) => {}
            Err(MultiWriteError::OperationFailed { index, source }) => {
                let path = batch.get(index).map_or("?", |op| op.path());
                if source == ZkError::InvalidAcl {
                    // The dump's input, not our bug: an `auth` entry without
                    // --auth, a digest id that is not user:hash, a bad address.
                    return Err(Failure::usage(format!(
                        "the server refuses the ACL the dump gives {path} (scheme auth \
                         needs --auth; digest ids are user:base64-hash; ip needs an \
                         address or CIDR); nothing of its batch of {} written",
                        batch.len()
                    ))
                    .into());
                }
                let hint = match source {
                    ZkError::NodeExists => {
                        "; another client created it during the restore (run it again: \
                         what exists and matches is skipped)"
                    }
                    ZkError::NoAuth => {
                        "; the parent's ACL (or the node's) does not let this identity \
                         write it: restore with --auth of an identity it names"
                    }
                    _ => "",
                };
                return Err(anyhow::Error::new(source).context(format!(
                    "writing {path} (batch of {} nodes not written{hint})",
                    batch.len()
                )));
            }
            Err(MultiWriteError::RequestFailed { source }) => {
                return Err(anyhow::Error::new(source).context(format!(
                    "writing a batch of {} nodes from {}",
                    batch.len(),
                    batch[0].path()
                )))
            }
        }
        tracing::debug!("wrote {} node(s) from {}", batch.len(), batch[0].path());
        start = end;
    }
    Ok(())
}

/// What the target holds at every entry's path: all requests sent, then
/// the answers collected.
async fn look_up(client: &Client, entries: &[Entry]) -> Result<Vec<Found>> {
    let mut found = Vec::with_capacity(entries.len());
    for window in entries.chunks(512) {
        let pending: Vec<_> = window
            .iter()
            .map(|e| (e, client.get_data(&e.path), client.get_acl(&e.path)))
            .collect();
        for (entry, data, acl) in pending {
            let data = data.await;
            let acl = acl.await;
            found.push(match (data, acl) {
                (Err(ZkError::NoNode), _) | (_, Err(ZkError::NoNode)) => Found::Missing,
                (Ok((data, _)), Ok((acl, _))) => {
                    let data_differs = data != entry.data;
                    let acl_differs = entry.acl.as_ref().is_some_and(|want| *want != acl);
                    if data_differs || acl_differs {
                        Found::Differs {
                            data: data_differs,
                            acl: acl_differs,
                        }
                    } else {
                        Found::Same
                    }
                }
                (Err(err), _) | (_, Err(err)) => {
                    return Err(anyhow::Error::new(err)
                        .context(format!("reading {} in the target", entry.path)))
                }
            });
        }
    }
    Ok(found)
}

/// The ancestors of the dump's top nodes that the dump does not hold,
/// outermost first.
fn outside_parents(entries: &[Entry], in_dump: &HashSet<&str>) -> Vec<String> {
    let mut parents: Vec<String> = Vec::new();
    for entry in entries {
        let mut path = entry.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if parent.is_empty() || in_dump.contains(parent) {
                break;
            }
            if !parents.iter().any(|p| p == parent) {
                parents.push(parent.to_string());
            }
            path = parent;
        }
    }
    parents.sort_by(|a, b| path_order(a, b));
    parents
}

/// [`outside_parents`] that do not exist in the target.
async fn missing_outside_parents(
    client: &Client,
    entries: &[Entry],
    in_dump: &HashSet<&str>,
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for parent in outside_parents(entries, in_dump) {
        let exists = client
            .check_stat(&parent)
            .await
            .with_context(|| format!("looking up {parent} in the target"))?;
        if exists.is_none() {
            missing.push(parent);
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_parses_parents_first_and_bad_lines_are_named() {
        let text = br#"{"path":"/a/b","data_base64":"/wA="}

{"path":"/a","data":"x","acl":[{"scheme":"world","id":"anyone","perms":"r"}],"ephemeral_owner":null}
{"path":"/a/c","data":"","ephemeral_owner":"0x1"}
"#;
        let entries = parse(text).unwrap();
        let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/a", "/a/b", "/a/c"]);
        assert_eq!(entries[1].data, [0xff, 0x00]);
        assert!(entries[2].ephemeral && !entries[0].ephemeral);
        assert!(entries[1].acl.is_none() && entries[0].acl.is_some());

        for (bad, reason) in [
            (&b"{\"path\":\"/a\"}\nnot json\n"[..], "line 2: not JSON"),
            (br#"{"path":"a"}"#, "line 1"),
            (
                br#"{"path":"/a","data":"x","data_base64":"eA=="}"#,
                "not both",
            ),
            (br#"{"path":"/a","data_base64":"!!"}"#, "not base64"),
            (br#"{"path":"/a","acl":[]}"#, "empty"),
            (b"{\"path\":\"/a\"}\n{\"path\":\"/a\"}", "twice"),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code, exit::USAGE);
            assert!(err.message.contains(reason), "{}: {}", reason, err.message);
        }
    }

    #[test]
    fn outside_parents_are_the_missing_links_only() {
        let entries =
            parse(b"{\"path\":\"/x/y/z\"}\n{\"path\":\"/x/y/z/w\"}\n{\"path\":\"/x/q\"}").unwrap();
        let in_dump = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(outside_parents(&entries, &in_dump), ["/x", "/x/y"]);
    }
}
