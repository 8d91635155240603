//! Reading a subtree with many requests in flight.
//!
//! ZooKeeper answers the requests of one session in order, and the client
//! sends each request when it is made, so issuing a whole level of a tree
//! before awaiting any answer costs one round trip per level (per window),
//! not one per node. A node deleted between its parent's listing and its
//! own read is skipped: a walk of a live tree is not a snapshot.

use anyhow::{Context, Result};
use zookeeper_client::{Acl, Client, Error as ZkError, Stat};

/// At most this many nodes' requests are in flight at once: enough to fill
/// the pipe, few enough to keep the server's queue for this client short.
const WINDOW: usize = 512;

/// What to read of each node besides its stat and children.
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    pub data: bool,
    pub acl: bool,
    /// Report a node whose children or ACL we may not read (an audit goes
    /// on past it) instead of failing with 77.
    pub tolerate_no_auth: bool,
}

/// One node as read.
#[derive(Debug)]
pub struct Visit {
    pub path: String,
    /// Levels below the walk's root (the root is 0).
    pub depth: u32,
    pub stat: Stat,
    pub data: Vec<u8>,
    pub acl: Vec<Acl>,
    pub children: Vec<String>,
    /// With `tolerate_no_auth`: what the ACL kept from us.
    pub children_unreadable: bool,
    pub acl_unreadable: bool,
}

/// Reads `root` and everything below it, level by level: parents always come
/// before their children. `Ok(None)` when `root` does not exist. With
/// `skip_zookeeper_tree`, `/zookeeper` (the server's own quota and config
/// nodes) is not entered.
pub async fn walk(
    client: &Client,
    root: &str,
    want: Want,
    skip_zookeeper_tree: bool,
) -> Result<Option<Vec<Visit>>> {
    let mut visits = Vec::new();
    let mut level = vec![root.to_string()];
    let mut depth = 0;
    while !level.is_empty() {
        let mut next = Vec::new();
        for window in level.chunks(WINDOW) {
            for visit in read_window(client, window, want, depth).await? {
                for child in &visit.children {
                    let path = zk_common::path::join(&visit.path, child);
                    if skip_zookeeper_tree && path == "/zookeeper" {
                        continue;
                    }
                    next.push(path);
                }
                visits.push(visit);
            }
        }
        if depth == 0 && visits.is_empty() {
            return Ok(None);
        }
        level = next;
        depth += 1;
    }
    Ok(Some(visits))
}

/// Sends every request of `paths`, then collects the answers in order.
async fn read_window(
    client: &Client,
    paths: &[String],
    want: Want,
    depth: u32,
) -> Result<Vec<Visit>> {
    let pending: Vec<_> = paths
        .iter()
        .map(|path| {
            let children = client.get_children(path);
            let data = want.data.then(|| client.get_data(path));
            let acl = want.acl.then(|| client.get_acl(path));
            (path, children, data, acl)
        })
        .collect();
    let mut visits = Vec::with_capacity(pending.len());
    for (path, children, data, acl) in pending {
        let reading = |what: &str| format!("reading the {what} of {path}");
        let (mut children_unreadable, mut acl_unreadable) = (false, false);
        let (mut children, mut stat) = match children.await {
            Err(ZkError::NoNode) => continue,
            Err(ZkError::NoAuth) if want.tolerate_no_auth => {
                children_unreadable = true;
                match client.check_stat(path).await {
                    Ok(Some(stat)) => (Vec::new(), stat),
                    Ok(None) => continue,
                    Err(err) => return Err(anyhow::Error::new(err).context(reading("stat"))),
                }
            }
            other => other.with_context(|| reading("children"))?,
        };
        children.sort();
        let data = match data {
            None => Vec::new(),
            Some(data) => match data.await {
                Err(ZkError::NoNode) => continue,
                other => {
                    // The data read's stat goes with the data.
                    let (data, data_stat) = other.with_context(|| reading("data"))?;
                    stat = data_stat;
                    data
                }
            },
        };
        let acl = match acl {
            None => Vec::new(),
            Some(acl) => match acl.await {
                Err(ZkError::NoNode) => continue,
                Err(ZkError::NoAuth) if want.tolerate_no_auth => {
                    acl_unreadable = true;
                    Vec::new()
                }
                other => other.with_context(|| reading("ACL"))?.0,
            },
        };
        visits.push(Visit {
            path: path.clone(),
            depth,
            stat,
            data,
            acl,
            children,
            children_unreadable,
            acl_unreadable,
        });
    }
    Ok(visits)
}

/// The order of a dump: by path components, so every parent precedes its
/// children (`/a` < `/a/b` < `/a-b`) and two dumps of one tree line up.
pub fn path_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// Whether a walk from `root` over `connect` would enter ZooKeeper's own
/// tree: only from `/` without a chroot (under a chroot, `/zookeeper` is an
/// ordinary node of the user's).
pub fn skips_zookeeper_tree(connect: &str, root: &str) -> bool {
    root == "/"
        && matches!(
            zk_common::connect::split_connect_string(connect),
            Ok((_, None))
        )
}
