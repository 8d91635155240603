//! `du` and `acl`: what a subtree weighs, and who may do what in it.

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use serde_json::{json, Value};
use zookeeper_client::{Acl, Permission};

use zk_common::cli::ConnectArgs;
use zk_common::exit::{self, Failure};
use zk_common::{connect, output};

use crate::cli::{AclArgs, DuArgs};
use crate::render;
use crate::walk::{self, Visit, Want};

/// Walks the subtree at `root`, reading what `want` asks.
async fn walk_subtree(connect_args: &ConnectArgs, root: &str, want: Want) -> Result<Vec<Visit>> {
    let client = connect::connect(connect_args).await?;
    let skip = walk::skips_zookeeper_tree(&connect_args.connect, root);
    let visits = walk::walk(&client, root, want, skip).await;
    connect::close(client).await;
    visits?
        .ok_or_else(|| Failure::new(exit::CONDITION_FALSE, format!("{root} does not exist")).into())
}

pub async fn du(connect_args: &ConnectArgs, args: &DuArgs) -> Result<u8> {
    // Stats come with the children listing: no data is transferred.
    let visits = walk_subtree(connect_args, &args.path, Want::default()).await?;
    output::document(&Value::Array(usage(&visits, args.depth)))?;
    Ok(exit::OK)
}

/// Totals per subtree for every node at most `depth` below the root,
/// largest first. `visits` come parents first, as [`walk::walk`] gives them.
fn usage(visits: &[Visit], depth: u32) -> Vec<Value> {
    let index: HashMap<&str, usize> = visits
        .iter()
        .enumerate()
        .map(|(i, v)| (v.path.as_str(), i))
        .collect();
    // (bytes, nodes, ephemeral nodes) of each subtree, summed children first.
    let mut totals: Vec<(u64, u64, u64)> = visits
        .iter()
        .map(|v| {
            let bytes = v.stat.data_length.max(0) as u64;
            (bytes, 1, u64::from(v.stat.ephemeral_owner != 0))
        })
        .collect();
    for (i, visit) in visits.iter().enumerate().skip(1).rev() {
        let parent = match visit.path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((parent, _)) => parent,
            None => continue,
        };
        if let Some(&p) = index.get(parent) {
            let (b, n, e) = totals[i];
            totals[p].0 += b;
            totals[p].1 += n;
            totals[p].2 += e;
        }
    }
    let mut rows: Vec<(u64, u64, &Visit, u64)> = visits
        .iter()
        .zip(&totals)
        .filter(|(v, _)| v.depth <= depth)
        .map(|(v, (b, n, e))| (*b, *n, v, *e))
        .collect();
    rows.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.path.cmp(&b.2.path))
    });
    rows.into_iter()
        .map(|(bytes, nodes, visit, ephemeral)| {
            json!({
                "path": visit.path,
                "bytes": bytes,
                "nodes": nodes,
                "ephemeral_nodes": ephemeral,
                "own_bytes": visit.stat.data_length,
                "children": visit.stat.num_children,
            })
        })
        .collect()
}

pub async fn acl(connect_args: &ConnectArgs, args: &AclArgs) -> Result<u8> {
    let visits = if args.recursive {
        let want = Want {
            data: false,
            acl: true,
            tolerate_no_auth: true,
        };
        let mut visits = walk_subtree(connect_args, &args.path, want).await?;
        visits.sort_by(|a, b| walk::path_order(&a.path, &b.path));
        visits
    } else {
        let client = connect::connect(connect_args).await?;
        let read = client.get_acl(&args.path).await;
        connect::close(client).await;
        let (acl, stat) = match read {
            Err(zookeeper_client::Error::NoNode) => {
                return Err(Failure::new(
                    exit::CONDITION_FALSE,
                    format!("{} does not exist", args.path),
                )
                .into())
            }
            other => anyhow::Context::with_context(other, || {
                format!("reading the ACL of {}", args.path)
            })?,
        };
        vec![Visit {
            path: args.path.clone(),
            depth: 0,
            stat,
            data: Vec::new(),
            acl,
            children: Vec::new(),
            children_unreadable: false,
            acl_unreadable: false,
        }]
    };
    let rows: Vec<Value> = visits
        .iter()
        .map(|visit| {
            // What the ACL hid is null, never a guess.
            let (acl, world, single) = if visit.acl_unreadable {
                (Value::Null, Value::Null, Value::Null)
            } else {
                (
                    render::acl(&visit.acl),
                    world_writable(&visit.acl).into(),
                    single_identity(&visit.acl).into(),
                )
            };
            json!({
                "path": visit.path,
                "acl": acl,
                "world_writable": world,
                "single_identity": single,
                "children_unreadable": visit.children_unreadable,
                "ephemeral_owner": render::owner(&visit.stat),
            })
        })
        .collect();
    output::document(&Value::Array(rows))?;
    Ok(exit::OK)
}

/// Anything beyond reading, for the entry's identity.
fn beyond_read(entry: &Acl) -> bool {
    let p = entry.permission();
    [
        Permission::WRITE,
        Permission::CREATE,
        Permission::DELETE,
        Permission::ADMIN,
    ]
    .iter()
    .any(|w| p.has(*w))
}

fn is_world(entry: &Acl) -> bool {
    entry.scheme() == "world" && entry.id() == "anyone"
}

/// Anyone at all may write, create, delete or change the ACL.
fn world_writable(acl: &[Acl]) -> bool {
    acl.iter().any(|e| is_world(e) && beyond_read(e))
}

/// Exactly one identity (not anyone) may do more than read: if its
/// credential is lost, nobody can change or remove the node.
fn single_identity(acl: &[Acl]) -> bool {
    let writers: BTreeSet<(&str, &str)> = acl
        .iter()
        .filter(|e| beyond_read(e))
        .map(|e| (e.scheme(), e.id()))
        .collect();
    writers.len() == 1 && !acl.iter().any(|e| is_world(e) && beyond_read(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client::{AuthId, Stat};

    fn visit(path: &str, depth: u32, bytes: i32) -> Visit {
        let mut stat = zeroed_stat();
        stat.data_length = bytes;
        Visit {
            path: path.into(),
            depth,
            stat,
            data: Vec::new(),
            acl: Vec::new(),
            children: Vec::new(),
            children_unreadable: false,
            acl_unreadable: false,
        }
    }

    /// A zeroed stat, built through the client's public fields.
    fn zeroed_stat() -> Stat {
        Stat {
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 0,
            num_children: 0,
        }
    }

    #[test]
    fn du_sums_subtrees_and_sorts_largest_first() {
        let visits = vec![
            visit("/", 0, 0),
            visit("/a", 1, 10),
            visit("/b", 1, 1),
            visit("/a/x", 2, 5),
            visit("/b/y", 2, 100),
            visit("/b/y/z", 3, 1000),
        ];
        let rows = usage(&visits, 1);
        let summary: Vec<(String, u64, u64)> = rows
            .iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["bytes"].as_u64().unwrap(),
                    r["nodes"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("/".to_string(), 1116, 6),
                ("/b".to_string(), 1101, 3),
                ("/a".to_string(), 15, 2)
            ]
        );
    }

    #[test]
    fn acl_flags() {
        let world = |p| Acl::new(p, AuthId::anyone());
        let digest = |who: &str, p| Acl::new(p, AuthId::new("digest", who));
        assert!(world_writable(&[world(Permission::ALL)]));
        assert!(!world_writable(&[world(Permission::READ)]));
        assert!(single_identity(&[
            digest("a:x", Permission::ALL),
            world(Permission::READ)
        ]));
        assert!(!single_identity(&[
            digest("a:x", Permission::ALL),
            digest("b:y", Permission::WRITE)
        ]));
        assert!(!single_identity(&[world(Permission::ALL)]));
        assert!(!single_identity(&[digest("a:x", Permission::READ)]));
    }
}
