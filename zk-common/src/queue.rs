//! The queue behind locks and elections: ephemeral sequential nodes in one
//! directory, laid out as Apache Curator lays them out, so Java services
//! using Curator and our tools share one queue.
//!
//! - `InterProcessMutex`, `LeaderSelector`: `_c_<uuid>-lock-<seq>`
//! - `InterProcessReadWriteLock`: `_c_<uuid>-__READ__<seq>`, `_c_<uuid>-__WRIT__<seq>`
//! - `LeaderLatch`: `_c_<uuid>-latch-<seq>`
//!
//! The `_c_<uuid>` prefix is Curator's "protection": if the connection
//! breaks while the create is in flight, the node can be found again by its
//! uuid instead of being left behind. Order is the sequence number, so the
//! queue is fair. A mutex, writer, reader or candidate watches only the one
//! node that must go before it can proceed (no herd effect). A semaphore
//! waiter must notice when any of the holders ahead of it leaves, which no
//! single node watch can tell, so it watches the directory's children, as
//! Curator's `InterProcessSemaphoreV2` does.

use anyhow::{Context, Result};
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError};

use crate::exit::is_transient;
use crate::path::join;

/// Who may proceed, given the queue before us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The first in the queue (a mutex, a leader).
    First,
    /// The first N (a semaphore).
    FirstN(usize),
    /// A reader: when no writer (or mutex holder) is before us.
    Reader,
}

pub const MUTEX: &str = "lock-";
pub const LATCH: &str = "latch-";
pub const READ: &str = "__READ__";
pub const WRITE: &str = "__WRIT__";

/// One queue: a directory, the node name, and the rule.
#[derive(Debug, Clone)]
pub struct Queue {
    pub dir: String,
    name: &'static str,
    rule: Rule,
    uuid: String,
}

/// Our place in the queue.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// Full path of our node.
    pub node: String,
    /// The node's czxid: strictly increasing from one owner to the next.
    pub token: i64,
}

/// The result of asking whether it is our turn.
pub enum Turn {
    Ours,
    /// Not yet; this node must go first.
    After(String),
}

/// One participant, as listed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub sequence: i64,
    pub is_writer: bool,
}

impl Queue {
    pub fn new(dir: &str, name: &'static str, rule: Rule) -> Queue {
        Queue {
            dir: dir.into(),
            name,
            rule,
            uuid: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The names that take part in this queue. Locks form one queue over
    /// mutex, read and write nodes, so every zk-lock on a path excludes
    /// every other whichever layout each chose; elections are latches.
    fn participates(&self, child: &str) -> bool {
        match self.name {
            LATCH => child.contains(LATCH),
            _ => child.contains(MUTEX) || child.contains(READ) || child.contains(WRITE),
        }
    }

    /// Creates our node (and the directory, as container nodes the server
    /// removes once empty, as Curator does).
    pub async fn join(&self, client: &Client, data: &[u8], acls: Acls<'_>) -> Result<Ticket> {
        let prefix = format!(
            "{}/_c_{}-{}",
            self.dir.trim_end_matches('/'),
            self.uuid,
            self.name
        );
        let ephemeral = CreateMode::EphemeralSequential.with_acls(acls);
        loop {
            match client.create(&prefix, data, &ephemeral).await {
                Ok((stat, sequence)) => {
                    return Ok(Ticket {
                        node: format!("{prefix}{sequence}"),
                        token: stat.czxid,
                    })
                }
                Err(ZkError::NoNode) => self.make_dir(client, acls).await?,
                Err(err) if is_transient(&err) => {
                    // Did the create reach the server before the connection broke?
                    if let Some(ticket) = self.find_ours(client).await? {
                        return Ok(ticket);
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("joining the queue at {}", self.dir))
                }
            }
        }
    }

    async fn make_dir(&self, client: &Client, acls: Acls<'_>) -> Result<()> {
        let container = CreateMode::Container.with_acls(acls);
        loop {
            match client.mkdir(&self.dir, &container).await {
                Ok(()) | Err(ZkError::NodeExists) => return Ok(()),
                Err(err) if is_transient(&err) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(err) => return Err(err).with_context(|| format!("creating {}", self.dir)),
            }
        }
    }

    async fn find_ours(&self, client: &Client) -> Result<Option<Ticket>> {
        let mine = format!("_c_{}-", self.uuid);
        let children = retry(|| client.list_children(&self.dir))
            .await
            .with_context(|| format!("listing {}", self.dir))?;
        let Some(name) = children.into_iter().find(|c| c.starts_with(&mine)) else {
            return Ok(None);
        };
        let node = join(&self.dir, &name);
        match retry(|| client.check_stat(&node)).await? {
            Some(stat) => Ok(Some(Ticket {
                node,
                token: stat.czxid,
            })),
            None => Ok(None),
        }
    }

    /// The participants in queue order.
    pub async fn entries(&self, client: &Client) -> Result<Vec<Entry>> {
        let children = retry(|| client.list_children(&self.dir))
            .await
            .with_context(|| format!("listing {}", self.dir))?;
        Ok(sorted_entries(
            children.into_iter().filter(|c| self.participates(c)),
        ))
    }

    /// Whether `ticket` may proceed now, and if not, which node to wait for.
    pub async fn turn(&self, client: &Client, ticket: &Ticket) -> Result<Turn> {
        let entries = self.entries(client).await?;
        self.turn_among(&entries, ticket)
    }

    fn turn_among(&self, entries: &[Entry], ticket: &Ticket) -> Result<Turn> {
        let ours = ticket.node.rsplit('/').next().unwrap_or_default();
        let Some(index) = entries.iter().position(|e| e.name == ours) else {
            anyhow::bail!(crate::exit::Failure::new(
                crate::exit::OWNERSHIP_LOST,
                format!("our queue node {} vanished while waiting", ticket.node)
            ));
        };
        let blocker = match self.rule {
            Rule::First => index.checked_sub(1),
            Rule::FirstN(n) => index.checked_sub(n),
            Rule::Reader => entries[..index].iter().position(|e| e.is_writer),
        };
        Ok(match blocker {
            None => Turn::Ours,
            Some(i) => Turn::After(join(&self.dir, &entries[i].name)),
        })
    }

    /// Waits until `ticket` may proceed. Cancel it to give up; the caller
    /// then closes the session, which removes the node.
    pub async fn wait_turn(&self, client: &Client, ticket: &Ticket) -> Result<()> {
        loop {
            let watched = if let Rule::FirstN(_) = self.rule {
                match client.get_and_watch_children(&self.dir).await {
                    Ok((children, _, watcher)) => {
                        let entries =
                            sorted_entries(children.into_iter().filter(|c| self.participates(c)));
                        match self.turn_among(&entries, ticket)? {
                            Turn::Ours => return Ok(()),
                            Turn::After(_) => Ok(Some(watcher)),
                        }
                    }
                    Err(err) => Err(err),
                }
            } else {
                let Turn::After(blocker) = self.turn(client, ticket).await? else {
                    return Ok(());
                };
                tracing::debug!("waiting for {blocker}");
                client
                    .check_and_watch_stat(&blocker)
                    .await
                    .map(|(stat, watcher)| stat.map(|_| watcher))
            };
            match watched {
                Ok(None) => continue,
                Ok(Some(watcher)) => {
                    let event = watcher.changed().await;
                    if event.session_state.is_terminated() {
                        anyhow::bail!(crate::exit::Failure::unavailable(format!(
                            "ZooKeeper session ended while waiting at {} ({:?})",
                            self.dir, event.session_state
                        )));
                    }
                }
                Err(err) if is_transient(&err) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(err) => return Err(err).with_context(|| format!("waiting at {}", self.dir)),
            }
        }
    }
}

/// Participants sorted by their sequence number (the last 10 digits), which
/// the server assigns in creation order whatever the name before it.
pub fn sorted_entries(names: impl Iterator<Item = String>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = names
        .filter_map(|name| {
            let digits = name.len().checked_sub(10).map(|i| &name[i..])?;
            let sequence = digits.parse::<i64>().ok()?;
            Some(Entry {
                is_writer: name.contains(WRITE) || name.contains(MUTEX),
                sequence,
                name,
            })
        })
        .collect();
    entries.sort_by_key(|e| e.sequence);
    entries
}

/// Retries a read on a broken connection; the session's own timeout bounds
/// how long that can go on.
async fn retry<T, F, Fut>(mut op: F) -> Result<T, ZkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ZkError>>,
{
    loop {
        match op().await {
            Err(err) if is_transient(&err) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_sort_by_sequence_whatever_the_prefix() {
        let names = [
            "_c_b-__WRIT__0000000003",
            "_c_z-__READ__0000000001",
            "_c_c-lock-0000000004",
            "_c_a-__READ__0000000002",
            "junk",
        ];
        let entries = sorted_entries(names.iter().map(|s| s.to_string()));
        let order: Vec<_> = entries.iter().map(|e| e.sequence).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        let writers: Vec<_> = entries.iter().map(|e| e.is_writer).collect();
        assert_eq!(writers, [false, false, true, true]);
    }
}
