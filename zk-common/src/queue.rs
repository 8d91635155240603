//! The queue behind locks and elections: ephemeral sequential nodes in one
//! directory, laid out as Apache Curator lays them out, so Java services
//! using Curator and our tools share one queue.
//!
//! - `InterProcessMutex`, `LeaderSelector`: `_c_<uuid>-lock-<seq>`
//! - `InterProcessReadWriteLock`: `_c_<uuid>-__READ__<seq>`, `_c_<uuid>-__WRIT__<seq>`
//! - `LeaderLatch`: `_c_<uuid>-latch-<seq>`
//! - zk-lock's semaphore of N: `_c_<uuid>-sem<N>-lock-<seq>`, which a mutex
//!   sees as a holder ahead; a semaphore shares a directory only with
//!   semaphores of the same N (the later contender of a mix refuses)
//!
//! kazoo (Python) names its nodes differently and sees only its own:
//! `<hex32>__lock__<seq>` for `Lock`, `WriteLock` and `Election`,
//! `<hex32>__rlock__<seq>` for `ReadLock`. A queue speaks one of the two
//! dialects ([`Dialect`]); since neither dialect's contenders see the
//! other's nodes, a queue that finds the other dialect's contenders beside
//! it refuses (or, with its layout left to detection, rejoins in kazoo's).
//!
//! A child takes part if its name ends in a marker and exactly 10 ASCII
//! digits, as Curator and kazoo decide. A child of a recipe we know but do
//! not share a queue with (an election's node in a lock directory,
//! ZooKeeper's own `WriteLock`, a Solr election, a kazoo semaphore's lease)
//! makes a contender refuse: both would run. Any other child is foreign:
//! ignored, with a warning, so that no junk name stops a contender.
//!
//! The `_c_<uuid>` prefix is Curator's "protection": if the connection
//! breaks while the create is in flight, the node can be found again by its
//! uuid instead of being left behind. Order is the sequence number, so the
//! queue is fair. A mutex, writer, reader or candidate watches only the one
//! node that must go before it can proceed (no herd effect). A semaphore
//! waiter must notice when any of the holders ahead of it leaves, which no
//! single node watch can tell, so it watches the directory's children, as
//! Curator's `InterProcessSemaphoreV2` does.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use zookeeper_client::{Acls, Client, CreateMode, Error as ZkError};

use crate::exit::{self, is_transient, Failure};
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
/// kazoo's `Lock`, `WriteLock` and `Election`.
pub const KAZOO_LOCK: &str = "__lock__";
/// kazoo's `ReadLock`.
pub const KAZOO_READ: &str = "__rlock__";
/// Marks a semaphore's node, `_c_<uuid>-sem<N>-lock-<seq>`: it still ends in
/// `lock-<seq>`, so a Curator mutex sees it as a holder ahead (safe), and
/// every zk-lock can tell a semaphore of N from a mutex by the name alone.
const SEMAPHORE: &str = "sem";

/// What a participant's node name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mutex,
    Semaphore(usize),
    Read,
    Write,
    Latch,
    /// kazoo's `Lock`/`WriteLock` in a lock directory, its `Election` in an
    /// election's.
    KazooLock,
    KazooRead,
}

/// Whose node names a contender writes and reads. Curator's contenders
/// (and ours in Curator's layout) skip kazoo's nodes, and kazoo's skip
/// Curator's, so the two must never queue in one directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Curator,
    Kazoo,
}

/// What a directory's queue decides: who holds a lock, or who leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Lock,
    Election,
}

impl Kind {
    /// Whether it keeps readers out: every lock node but a reader's.
    pub fn is_writer(self) -> bool {
        !matches!(self, Kind::Read | Kind::Latch | Kind::KazooRead)
    }

    pub fn dialect(self) -> Dialect {
        match self {
            Kind::KazooLock | Kind::KazooRead => Dialect::Kazoo,
            _ => Dialect::Curator,
        }
    }

    /// Whether it contends in a queue of `family`: kazoo's `Election` is
    /// its `Lock`, so `__lock__` nodes take part in both.
    pub fn takes_part_in(self, family: Family) -> bool {
        match family {
            Family::Lock => self != Kind::Latch,
            Family::Election => matches!(self, Kind::Latch | Kind::KazooLock),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Mutex => "an exclusive lock".into(),
            Kind::Semaphore(n) => format!("a semaphore of {n}"),
            Kind::Read => "a shared (read) lock".into(),
            Kind::Write => "an exclusive (write) lock".into(),
            Kind::Latch => "an election".into(),
            Kind::KazooLock => "kazoo's layout".into(),
            Kind::KazooRead => "a shared (read) lock in kazoo's layout".into(),
        }
    }

    fn marker(self) -> &'static str {
        match self {
            Kind::Mutex | Kind::Semaphore(_) => MUTEX,
            Kind::Read => READ,
            Kind::Write => WRITE,
            Kind::Latch => LATCH,
            Kind::KazooLock => KAZOO_LOCK,
            Kind::KazooRead => KAZOO_READ,
        }
    }

    /// The same role in kazoo's layout.
    fn in_kazoo_layout(self) -> Kind {
        match self {
            Kind::Read | Kind::KazooRead => Kind::KazooRead,
            _ => Kind::KazooLock,
        }
    }
}

/// The contender another recipe's node name shows, where we know the recipe
/// but cannot queue beside it: both sides would proceed. `None` for a
/// participant of `family` and for junk.
fn stranger(name: &str, family: Family) -> Option<&'static str> {
    if let Some((kind, _)) = parse(name) {
        return match (kind.takes_part_in(family), family) {
            (true, _) => None,
            (false, Family::Lock) => {
                Some("an election's candidate (Curator's LeaderLatch, zk-elect)")
            }
            (false, Family::Election) if kind == Kind::KazooRead => Some("kazoo's ReadLock"),
            (false, Family::Election) => {
                Some("a lock's contender (Curator's InterProcessMutex or LeaderSelector, zk-lock)")
            }
        };
    }
    let split = name.len().checked_sub(10)?;
    let (head, digits) = (name.get(..split)?, name.get(split..)?);
    let sequenced = digits.bytes().all(|b| b.is_ascii_digit());
    let session = head
        .strip_prefix("x-")
        .and_then(|rest| rest.strip_suffix('-'))
        .map(|id| id.strip_prefix('-').unwrap_or(id));
    if sequenced
        && session.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("ZooKeeper's WriteLock recipe")
    } else if sequenced && head.ends_with("-n_") {
        Some("a Solr election")
    } else if name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Some("a lease of kazoo's Semaphore")
    } else {
        None
    }
}

/// Parses a child name: a participant ends with a recipe's marker and
/// exactly 10 ASCII digits (the server's sequence), whatever comes before,
/// as Curator accepts nodes without its `_c_<uuid>-` protection. Anything
/// else is foreign. Splits only before ASCII bytes, so no name can panic it.
pub fn parse(name: &str) -> Option<(Kind, i64)> {
    let split = name.len().checked_sub(10)?;
    let digits = name.get(split..)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sequence = digits.parse().ok()?;
    let head = name.get(..split)?;
    let kind = if let Some(rest) = head.strip_suffix(MUTEX) {
        semaphore_size(rest).map_or(Kind::Mutex, Kind::Semaphore)
    } else if head.ends_with(KAZOO_LOCK) {
        Kind::KazooLock
    } else if head.ends_with(KAZOO_READ) {
        Kind::KazooRead
    } else if head.ends_with(READ) {
        Kind::Read
    } else if head.ends_with(WRITE) {
        Kind::Write
    } else if head.ends_with(LATCH) {
        Kind::Latch
    } else {
        return None;
    };
    Some((kind, sequence))
}

/// N from the `sem<N>-` segment just before `lock-`, if there is one.
fn semaphore_size(head: &str) -> Option<usize> {
    let segment = head.strip_suffix('-')?.rsplit('-').next()?;
    let digits = segment.strip_prefix(SEMAPHORE)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// One queue: a directory, what our node is, and so the rule.
#[derive(Debug, Clone)]
pub struct Queue {
    pub dir: String,
    kind: Kind,
    family: Family,
    /// The layout was left to us: kazoo contenders found in the directory
    /// make us rejoin in kazoo's layout instead of refusing.
    detect: bool,
    /// Foreign nodes already warned about, so a waiter that lists the
    /// directory again and again warns once per node.
    warned: Arc<Mutex<BTreeSet<String>>>,
}

/// A contender whose layout was left to detection found only kazoo's
/// contenders beside it: it must leave and rejoin as
/// [`Queue::in_kazoo_layout`], or both would proceed.
#[derive(Debug)]
pub struct RejoinAsKazoo;

impl std::fmt::Display for RejoinAsKazoo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("kazoo's contenders are queued here; rejoining in kazoo's layout")
    }
}

impl std::error::Error for RejoinAsKazoo {}

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
    /// Not yet: `wait_for` must go first; `holder` (full path) is the first
    /// in the queue, the one holding now.
    After {
        wait_for: String,
        holder: String,
    },
}

/// One participant, as listed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub sequence: i64,
    pub kind: Kind,
}

impl Entry {
    pub fn is_writer(&self) -> bool {
        self.kind.is_writer()
    }
}

impl Queue {
    /// A lock's queue; our node is a `kind` of lock.
    pub fn lock(dir: &str, kind: Kind) -> Queue {
        Queue::new(dir, kind, Family::Lock)
    }

    /// An election's queue, in Curator's layout (`LeaderLatch`) or kazoo's
    /// (`Election`).
    pub fn election(dir: &str, dialect: Dialect) -> Queue {
        let kind = match dialect {
            Dialect::Curator => Kind::Latch,
            Dialect::Kazoo => Kind::KazooLock,
        };
        Queue::new(dir, kind, Family::Election)
    }

    fn new(dir: &str, kind: Kind, family: Family) -> Queue {
        Queue {
            dir: dir.into(),
            kind,
            family,
            detect: false,
            warned: Arc::default(),
        }
    }

    /// Leaves the layout to detection: see [`RejoinAsKazoo`].
    pub fn detecting(mut self) -> Queue {
        self.detect = true;
        self
    }

    /// The same contender in kazoo's layout.
    pub fn in_kazoo_layout(&self) -> Queue {
        Queue {
            kind: self.kind.in_kazoo_layout(),
            detect: false,
            ..self.clone()
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.kind.dialect()
    }

    fn rule(&self) -> Rule {
        match self.kind {
            Kind::Semaphore(n) => Rule::FirstN(n),
            Kind::Read | Kind::KazooRead => Rule::Reader,
            _ => Rule::First,
        }
    }

    /// Our node's name up to the sequence. Each layout carries a fresh uuid
    /// (Curator's `_c_<uuid>-` protection, kazoo's `<hex32>` prefix), by
    /// which a create whose reply was lost finds its node again.
    fn name_prefix(&self, uuid: &uuid::Uuid) -> String {
        match self.kind {
            Kind::KazooLock | Kind::KazooRead => format!("{}{}", uuid.simple(), self.kind.marker()),
            Kind::Semaphore(n) => format!("_c_{uuid}-{SEMAPHORE}{n}-{MUTEX}"),
            kind => format!("_c_{uuid}-{}", kind.marker()),
        }
    }

    /// Creates our node (and the directory, as container nodes the server
    /// removes once empty, as Curator does). A fresh uuid per join, so a
    /// join on a new session can never mistake an old session's node for
    /// its own.
    pub async fn join(&self, client: &Client, data: &[u8], acls: Acls<'_>) -> Result<Ticket> {
        let uuid = fresh_uuid()?;
        let dir = self.dir.trim_end_matches('/');
        let prefix = format!("{dir}/{}", self.name_prefix(&uuid));
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
                    if let Some(ticket) = self.find_ours(client, &uuid).await? {
                        return Ok(ticket);
                    }
                }
                // The directory's ACL (`--acl creator` of whoever made it)
                // admits only another identity: say so, not just "no auth".
                Err(ZkError::NoAuth) => {
                    return Err(Failure::permission(format!(
                        "{} belongs to another identity: its ACL does not let us queue there \
                         (it was created with --acl creator under other credentials; \
                         use the same --auth)",
                        self.dir
                    ))
                    .into())
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("joining the queue at {}", self.dir))
                }
            }
        }
    }

    /// Leaves the queue: deletes our node (gone already is fine).
    pub async fn leave(&self, client: &Client, ticket: &Ticket) -> Result<()> {
        match retry(|| client.delete(&ticket.node, None)).await {
            Ok(()) | Err(ZkError::NoNode) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("deleting {}", ticket.node)),
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

    /// Our node from a create whose reply was lost: one with our uuid that
    /// this session owns, as Curator's protected mode checks. A node with
    /// our uuid owned by another session is not ours to adopt.
    pub(crate) async fn find_ours(
        &self,
        client: &Client,
        uuid: &uuid::Uuid,
    ) -> Result<Option<Ticket>> {
        let mine = self.name_prefix(uuid);
        let children = match retry(|| client.list_children(&self.dir)).await {
            Ok(children) => children,
            // The lost create was the first in a missing directory: nothing
            // of ours can be there, and join makes the directory next.
            Err(ZkError::NoNode) => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("listing {}", self.dir)),
        };
        let session = client.session_id().0;
        for name in children {
            if !name.starts_with(&mine) || parse(&name).is_none() {
                continue;
            }
            let node = join(&self.dir, &name);
            match retry(|| client.check_stat(&node)).await? {
                Some(stat) if stat.ephemeral_owner == session => {
                    return Ok(Some(Ticket {
                        node,
                        token: stat.czxid,
                    }))
                }
                _ => tracing::debug!("{node} carries our uuid but is not this session's"),
            }
        }
        Ok(None)
    }

    /// The directory as our queue sees it.
    async fn listing(&self, client: &Client) -> Result<Listing> {
        let children = retry(|| client.list_children(&self.dir))
            .await
            .with_context(|| format!("listing {}", self.dir))?;
        Ok(self.listing_of(children))
    }

    /// Sorts `children` out; warns about foreign nodes not warned about
    /// before.
    fn listing_of(&self, children: Vec<String>) -> Listing {
        let mut listing = classify(children, self.family);
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        let mut foreign = std::mem::take(&mut listing.foreign);
        foreign.retain(|name| warned.insert(name.clone()));
        warn_foreign(&self.dir, self.family, &foreign);
        listing
    }

    /// Whether `ticket` may proceed now, and if not, which node to wait for.
    pub async fn turn(&self, client: &Client, ticket: &Ticket) -> Result<Turn> {
        let listing = self.listing(client).await?;
        self.turn_among(&listing, ticket)
    }

    fn turn_among(&self, listing: &Listing, ticket: &Ticket) -> Result<Turn> {
        let entries = &listing.entries;
        let ours = ticket.node.rsplit('/').next().unwrap_or_default();
        // Someone deleted our place (a session that ended is handled by
        // the caller before it gets here): we never owned, nothing ran.
        let Some(index) = entries.iter().position(|e| e.name == ours) else {
            anyhow::bail!(Failure::not_acquired(format!(
                "our place in the queue at {} ({}) was deleted while we waited; nothing ran",
                self.dir, ticket.node
            )));
        };
        self.refuse_strangers(listing, index)?;
        self.refuse_mixed(&entries[..index])?;
        let blocker = match self.rule() {
            Rule::First => index.checked_sub(1),
            Rule::FirstN(n) => index.checked_sub(n),
            Rule::Reader => entries[..index].iter().position(Entry::is_writer),
        };
        Ok(match blocker {
            None => Turn::Ours,
            Some(i) => Turn::After {
                wait_for: join(&self.dir, &entries[i].name),
                holder: join(&self.dir, &entries[0].name),
            },
        })
    }

    /// A contender that cannot see our node would proceed beside us, so
    /// another recipe's node, or a participant in the other dialect, makes
    /// us refuse wherever it stands in the queue, ahead or behind. With the
    /// layout left to detection, kazoo's contenders alone make us rejoin in
    /// their layout instead.
    fn refuse_strangers(&self, listing: &Listing, ours: usize) -> Result<()> {
        if let Some((name, recipe)) = listing.strangers.first() {
            anyhow::bail!(Failure::usage(format!(
                "{} holds {recipe} (\"{}\"), which does not queue with us: refusing to join \
                 beside it, since both would proceed",
                self.dir,
                name.escape_debug()
            )));
        }
        let dialect = self.dialect();
        let others = || {
            listing
                .entries
                .iter()
                .enumerate()
                .filter(move |&(i, _)| i != ours)
                .map(|(_, e)| e)
        };
        let Some(other) = others().find(|e| e.kind.dialect() != dialect) else {
            return Ok(());
        };
        if self.detect && others().all(|e| e.kind.dialect() == Dialect::Kazoo) {
            return Err(RejoinAsKazoo.into());
        }
        let (theirs, fix) = match dialect {
            Dialect::Curator => ("kazoo's", "give --layout kazoo to queue with them"),
            Dialect::Kazoo => ("Curator's", "leave out --layout kazoo to queue with them"),
        };
        anyhow::bail!(Failure::usage(format!(
            "{} holds contenders in {theirs} layout (\"{}\"), which do not see ours: \
             refusing to join beside them ({fix})",
            self.dir,
            other.name.escape_debug()
        )))
    }

    /// A semaphore counts a mutex holder as one of its N and would run
    /// beside it; a mutex would wait behind a semaphore's extra holders
    /// while they run together. So a semaphore shares a directory only with
    /// semaphores of the same size. Only nodes ahead of ours are checked:
    /// the later contender refuses, the earlier is left alone.
    fn refuse_mixed(&self, ahead: &[Entry]) -> Result<()> {
        let ours = self.kind;
        let clash = |theirs: Kind| match ours {
            Kind::Semaphore(_) => theirs != ours,
            _ => matches!(theirs, Kind::Semaphore(_)),
        };
        let Some(other) = ahead.iter().find(|e| clash(e.kind)) else {
            return Ok(());
        };
        anyhow::bail!(Failure::usage(format!(
            "{} is in use as {} ({}); refusing to take it as {}",
            self.dir,
            other.kind.describe(),
            other.name.escape_debug(),
            ours.describe()
        )))
    }

    /// Waits until `ticket` may proceed. Cancel it to give up; the caller
    /// then closes the session, which removes the node.
    pub async fn wait_turn(&self, client: &Client, ticket: &Ticket) -> Result<()> {
        loop {
            let watched = if let Rule::FirstN(_) = self.rule() {
                match client.get_and_watch_children(&self.dir).await {
                    Ok((children, _, watcher)) => {
                        match self.turn_among(&self.listing_of(children), ticket)? {
                            Turn::Ours => return Ok(()),
                            Turn::After { .. } => Ok(Some(watcher)),
                        }
                    }
                    Err(err) => Err(err),
                }
            } else {
                let Turn::After { wait_for, .. } = self.turn(client, ticket).await? else {
                    return Ok(());
                };
                tracing::debug!("waiting for {wait_for}");
                client
                    .check_and_watch_stat(&wait_for)
                    .await
                    .map(|(stat, watcher)| stat.map(|_| watcher))
            };
            match watched {
                Ok(None) => continue,
                Ok(Some(watcher)) => {
                    let event = watcher.changed().await;
                    if event.session_state.is_terminated() {
                        anyhow::bail!(Failure::unavailable(format!(
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

/// A directory's children sorted out for one family's queue.
#[derive(Debug, Default)]
struct Listing {
    /// The participants in queue order.
    entries: Vec<Entry>,
    /// Nodes of recipes we know but cannot queue beside, with the recipe.
    strangers: Vec<(String, &'static str)>,
    /// Junk: no recipe we know.
    foreign: Vec<String>,
}

/// Sorts `names` out: the participants of `family`'s queue sorted by
/// sequence (the server assigns it in creation order whatever the name
/// before it), the strangers, and the foreign rest.
fn classify(names: impl IntoIterator<Item = String>, family: Family) -> Listing {
    let mut listing = Listing::default();
    for name in names {
        match parse(&name) {
            Some((kind, sequence)) if kind.takes_part_in(family) => listing.entries.push(Entry {
                name,
                sequence,
                kind,
            }),
            _ => match stranger(&name, family) {
                Some(recipe) => listing.strangers.push((name, recipe)),
                None => listing.foreign.push(name),
            },
        }
    }
    // A foreign node can copy a sequence number; the name breaks the tie the
    // same way for every contender, whatever order the server listed them in.
    let entries = &mut listing.entries;
    entries.sort_by(|a, b| (a.sequence, &a.name).cmp(&(b.sequence, &b.name)));
    listing.strangers.sort();
    listing.foreign.sort();
    listing
}

/// One warning per listing that names the foreign nodes.
fn warn_foreign(dir: &str, family: Family, foreign: &[String]) {
    if let Some(warning) = foreign_warning(dir, family, foreign) {
        tracing::warn!("{warning}");
    }
}

/// The warning's text: the foreign names escaped (a name is anyone's
/// input), a few of them if there are many.
fn foreign_warning(dir: &str, family: Family, foreign: &[String]) -> Option<String> {
    const SHOWN: usize = 10;
    if foreign.is_empty() {
        return None;
    }
    let mut names: Vec<String> = foreign
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{}\"", n.escape_debug()))
        .collect();
    if foreign.len() > SHOWN {
        names.push(format!("and {} more", foreign.len() - SHOWN));
    }
    let what = match family {
        Family::Election => "election",
        Family::Lock => "lock",
    };
    Some(format!(
        "ignoring {} node(s) in {dir} that are not {what} participants: {}",
        foreign.len(),
        names.join(", ")
    ))
}

/// The participants of `family`'s queue among the children of `dir`, in
/// queue order, in either dialect: what the views show. Other nodes are
/// left out, with one warning naming them.
pub fn sorted_entries(
    dir: &str,
    names: impl IntoIterator<Item = String>,
    family: Family,
) -> Vec<Entry> {
    let Listing {
        entries,
        strangers,
        mut foreign,
    } = classify(names, family);
    foreign.extend(strangers.into_iter().map(|(name, _)| name));
    foreign.sort();
    warn_foreign(dir, family, &foreign);
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

/// A random (v4) uuid for a node name. A process with no randomness (a
/// static binary in a chroot without /dev) gets an OS error, not a panic.
fn fresh_uuid() -> Result<uuid::Uuid> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| {
        Failure::new(
            exit::OS_ERROR,
            format!("no random bytes for a node name: {err} (is /dev/urandom there?)"),
        )
    })?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_foreign_node_warning_names_ten_and_counts_the_rest() {
        let junk = |n: usize| (0..n).map(|i| format!("junk{i}")).collect::<Vec<_>>();
        assert_eq!(foreign_warning("/l", Family::Lock, &[]), None);
        let ten = foreign_warning("/l", Family::Lock, &junk(10)).unwrap();
        assert_eq!(
            ten,
            "ignoring 10 node(s) in /l that are not lock participants: \"junk0\", \"junk1\", \
             \"junk2\", \"junk3\", \"junk4\", \"junk5\", \"junk6\", \"junk7\", \"junk8\", \"junk9\""
        );
        let twelve = foreign_warning("/e", Family::Election, &junk(12)).unwrap();
        assert!(
            twelve.starts_with("ignoring 12 node(s) in /e that are not election participants: "),
            "{twelve}"
        );
        assert!(twelve.ends_with("\"junk9\", and 2 more"), "{twelve}");
        let odd = foreign_warning("/l", Family::Lock, &["a\nb\u{1b}[31m".into()]).unwrap();
        assert!(odd.ends_with(r#""a\nb\u{1b}[31m""#), "{odd}");
    }

    #[test]
    fn entries_sort_by_sequence_whatever_the_prefix() {
        let listed = names(&[
            "_c_b-__WRIT__0000000003",
            "_c_z-__READ__0000000001",
            "_c_c-lock-0000000004",
            "_c_a-__READ__0000000002",
            "junk",
        ]);
        let entries = sorted_entries("/l", listed, Family::Lock);
        let order: Vec<_> = entries.iter().map(|e| e.sequence).collect();
        assert_eq!(order, [1, 2, 3, 4]);
        let writers: Vec<_> = entries.iter().map(Entry::is_writer).collect();
        assert_eq!(writers, [false, false, true, true]);
    }

    #[test]
    fn a_copied_sequence_sorts_the_same_whatever_the_listing_order() {
        let a = names(&["_c_b-lock-0000000005", "lock-0000000005"]);
        let b: Vec<String> = a.iter().rev().cloned().collect();
        let order = |listed| -> Vec<String> {
            sorted_entries("/l", listed, Family::Lock)
                .into_iter()
                .map(|e| e.name)
                .collect()
        };
        assert_eq!(order(a), order(b));
    }

    #[test]
    fn participants_end_in_a_marker_and_ten_ascii_digits() {
        let uuid = "_c_8f3e2a10-7b7c-4c1e-9d7e-0123456789ab-";
        for (name, expected) in [
            (format!("{uuid}lock-0000000007"), Some((Kind::Mutex, 7))),
            // Curator's own mutex accepts unprotected nodes.
            ("lock-0000000000".into(), Some((Kind::Mutex, 0))),
            (
                format!("{uuid}sem3-lock-0000000012"),
                Some((Kind::Semaphore(3), 12)),
            ),
            (
                "sem12-lock-0000000001".into(),
                Some((Kind::Semaphore(12), 1)),
            ),
            (format!("{uuid}__READ__0000000001"), Some((Kind::Read, 1))),
            (format!("{uuid}__WRIT__0000000001"), Some((Kind::Write, 1))),
            (
                format!("{uuid}latch-9999999999"),
                Some((Kind::Latch, 9999999999)),
            ),
            // A segment that only ends in "sem<N>" is no size.
            ("xsem3-lock-0000000001".into(), Some((Kind::Mutex, 1))),
            ("sem-lock-0000000001".into(), Some((Kind::Mutex, 1))),
            ("sem0-lock-0000000001".into(), Some((Kind::Mutex, 1))),
            ("sem+3-lock-0000000001".into(), Some((Kind::Mutex, 1))),
            ("lock-é123456789".into(), None),
            ("_c_x-lock-é123456789".into(), None),
            ("_c_x-lock-é12345678".into(), None),
            ("lock-12345678901".into(), None),
            ("lock-+123456789".into(), None),
            ("lock-000000001a".into(), None),
            ("lock-١٢٣٤٥٦٧٨٩٠".into(), None),
            ("0000000001".into(), None),
            ("junk-0000000001".into(), None),
            ("lock-".into(), None),
            ("é".into(), None),
            (String::new(), None),
        ] {
            assert_eq!(parse(&name), expected, "{name:?}");
        }
    }

    #[test]
    fn a_queue_takes_its_own_family_only() {
        let listed = names(&[
            "_c_a-latch-0000000002",
            "_c_b-lock-0000000001",
            "_c_c-__READ__0000000003",
        ]);
        let latches = sorted_entries("/e", listed.clone(), Family::Election);
        assert_eq!(latches.len(), 1);
        assert_eq!(latches[0].kind, Kind::Latch);
        let locks = classify(listed, Family::Lock);
        assert_eq!(locks.entries.len(), 2);
        assert!(locks.foreign.is_empty());
        let strangers: Vec<_> = locks.strangers.iter().map(|(name, _)| name).collect();
        assert_eq!(strangers, ["_c_a-latch-0000000002"]);
    }

    fn ticket(name: &str) -> Ticket {
        Ticket {
            node: format!("/l/{name}"),
            token: 0,
        }
    }

    #[test]
    fn semaphores_and_mutexes_refuse_each_other_and_other_sizes() {
        let mutex_first = classify(
            names(&["_c_a-lock-0000000001", "_c_b-sem3-lock-0000000002"]),
            Family::Lock,
        );
        let semaphore = Queue::lock("/l", Kind::Semaphore(3));
        let refused = semaphore
            .turn_among(&mutex_first, &ticket("_c_b-sem3-lock-0000000002"))
            .err()
            .and_then(|e| e.downcast::<Failure>().ok())
            .map(|f| f.code);
        assert_eq!(refused, Some(crate::exit::USAGE));

        let semaphore_first = classify(
            names(&["_c_a-sem2-lock-0000000001", "_c_b-lock-0000000002"]),
            Family::Lock,
        );
        for queue in [
            Queue::lock("/l", Kind::Mutex),
            Queue::lock("/l", Kind::Read),
            Queue::lock("/l", Kind::Write),
            Queue::lock("/l", Kind::Semaphore(3)),
        ] {
            assert!(
                queue
                    .turn_among(&semaphore_first, &ticket("_c_b-lock-0000000002"))
                    .is_err(),
                "{queue:?}"
            );
        }
        // The earlier one is left alone; the later one refuses.
        let earlier = Queue::lock("/l", Kind::Semaphore(2));
        let turn = earlier.turn_among(&semaphore_first, &ticket("_c_a-sem2-lock-0000000001"));
        assert!(matches!(turn, Ok(Turn::Ours)));
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn kazoo_nodes_take_part_in_locks_and_its_lock_nodes_in_elections() {
        let lock = format!("{HEX}__lock__0000000003");
        let read = format!("{HEX}__rlock__0000000004");
        assert_eq!(parse(&lock), Some((Kind::KazooLock, 3)));
        assert_eq!(parse(&read), Some((Kind::KazooRead, 4)));
        let listed = names(&[&lock, &read, "_c_a-latch-0000000001"]);
        let locks = classify(listed.clone(), Family::Lock);
        let kinds: Vec<_> = locks.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::KazooLock, Kind::KazooRead]);
        assert_eq!(
            locks
                .entries
                .iter()
                .map(Entry::is_writer)
                .collect::<Vec<_>>(),
            [true, false]
        );
        let election = classify(listed, Family::Election);
        let kinds: Vec<_> = election.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Kind::Latch, Kind::KazooLock]);
        assert_eq!(election.strangers.len(), 1, "a read lock is no candidate");
    }

    #[test]
    fn other_recipes_are_strangers_and_junk_is_not() {
        for (name, family, expected) in [
            (
                "x-72057594037927936-0000000001",
                Family::Lock,
                Some("WriteLock"),
            ),
            (
                "x--72057594037927936-0000000001",
                Family::Election,
                Some("WriteLock"),
            ),
            (
                "72057594037927936-host:8983_solr-n_0000000001",
                Family::Election,
                Some("Solr"),
            ),
            (HEX, Family::Lock, Some("Semaphore")),
            ("_c_a-latch-0000000001", Family::Lock, Some("LeaderLatch")),
            (
                "_c_a-lock-0000000001",
                Family::Election,
                Some("LeaderSelector"),
            ),
            (
                "_c_a-__READ__0000000001",
                Family::Election,
                Some("InterProcessMutex"),
            ),
            ("x--0000000001", Family::Lock, None),
            ("x-12a-0000000001", Family::Lock, None),
            ("n_0000000001", Family::Lock, None),
            ("0123456789ABCDEF0123456789ABCDEF", Family::Lock, None),
            ("junk", Family::Lock, None),
            ("_c_a-lock-0000000001", Family::Lock, None),
        ] {
            let recipe = stranger(name, family);
            match expected {
                Some(word) => assert!(
                    recipe.is_some_and(|r| r.contains(word)),
                    "{name}: {recipe:?}"
                ),
                None => assert_eq!(recipe, None, "{name}"),
            }
        }
    }

    fn refusal(queue: &Queue, listed: &[&str], ours: &str) -> Option<String> {
        let listing = classify(names(listed), queue.family);
        match queue.turn_among(&listing, &ticket(ours)) {
            Ok(_) => None,
            Err(err) => Some(match err.downcast::<Failure>() {
                Ok(failure) => {
                    assert_eq!(failure.code, crate::exit::USAGE, "{}", failure.message);
                    failure.message
                }
                Err(other) => other.to_string(),
            }),
        }
    }

    #[test]
    fn a_contender_refuses_the_other_dialect_and_strangers_ahead_or_behind() {
        let kazoo = format!("{HEX}__lock__0000000002");
        let curator = Queue::lock("/l", Kind::Mutex);
        for listed in [
            [kazoo.as_str(), "_c_a-lock-0000000003"],
            ["_c_a-lock-0000000003", "_c_z-latch-0000000004"],
            ["_c_a-lock-0000000003", "x-7-0000000004"],
        ] {
            assert!(
                refusal(&curator, &listed, "_c_a-lock-0000000003").is_some(),
                "{listed:?}"
            );
        }
        let behind = format!("{HEX}__rlock__0000000009");
        let message = refusal(
            &curator,
            &["_c_a-lock-0000000003", &behind],
            "_c_a-lock-0000000003",
        );
        assert!(message.is_some_and(|m| m.contains("--layout kazoo")));

        let ours = format!("{HEX}__lock__0000000005");
        let speaking_kazoo = Queue::lock("/l", Kind::Mutex).in_kazoo_layout();
        assert_eq!(speaking_kazoo.dialect(), Dialect::Kazoo);
        assert_eq!(refusal(&speaking_kazoo, &[&kazoo, &ours], &ours), None);
        let message = refusal(&speaking_kazoo, &["_c_b-lock-0000000001", &ours], &ours);
        assert!(message.is_some_and(|m| m.contains("leave out --layout kazoo")));

        // Detection rejoins among kazoo's contenders only, never into a mix.
        let detecting = Queue::lock("/l", Kind::Mutex).detecting();
        let rejoin = refusal(
            &detecting,
            &[&kazoo, "_c_a-lock-0000000003"],
            "_c_a-lock-0000000003",
        );
        assert_eq!(rejoin.as_deref(), Some(RejoinAsKazoo.to_string().as_str()));
        let mixed = [
            kazoo.as_str(),
            "_c_a-lock-0000000003",
            "_c_b-lock-0000000004",
        ];
        let refused = refusal(&detecting, &mixed, "_c_a-lock-0000000003");
        assert!(refused.is_some_and(|m| m.contains("give --layout kazoo")));
        assert_eq!(
            refusal(
                &detecting,
                &["_c_a-lock-0000000003"],
                "_c_a-lock-0000000003"
            ),
            None
        );
    }

    #[test]
    fn a_kazoo_node_name_carries_the_uuid_as_kazoo_writes_it() {
        let uuid = uuid::Uuid::from_u128(0x0123456789abcdef0123456789abcdef);
        let election = Queue::election("/e", Dialect::Kazoo);
        assert_eq!(election.name_prefix(&uuid), format!("{HEX}__lock__"));
        let reader = Queue::lock("/l", Kind::Read).in_kazoo_layout();
        assert_eq!(reader.name_prefix(&uuid), format!("{HEX}__rlock__"));
        assert_eq!(
            Queue::lock("/l", Kind::Semaphore(3)).name_prefix(&uuid),
            "_c_01234567-89ab-cdef-0123-456789abcdef-sem3-lock-"
        );
    }

    #[test]
    fn the_holder_is_the_first_in_line_not_the_node_ahead() {
        let listed = names(&[
            "_c_a-lock-0000000001",
            "_c_b-lock-0000000002",
            "_c_c-lock-0000000003",
        ]);
        let listing = classify(listed, Family::Lock);
        let queue = Queue::lock("/l", Kind::Mutex);
        let Ok(Turn::After { wait_for, holder }) =
            queue.turn_among(&listing, &ticket("_c_c-lock-0000000003"))
        else {
            panic!("the third must wait");
        };
        assert_eq!(wait_for, "/l/_c_b-lock-0000000002");
        assert_eq!(holder, "/l/_c_a-lock-0000000001");
    }

    /// After a lost create reply, only a node this session owns is ours:
    /// one with our uuid from another session (a dead one of ours, or
    /// anyone's copy of the name) must not be adopted.
    #[test]
    fn a_lost_create_adopts_only_this_sessions_node() {
        zk_testkit::require_zookeeper!();
        let connect = zk_testkit::shared().chroot("queue-find-ours");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let ours = Client::connector().connect(&connect).await.unwrap();
            let other = Client::connector().connect(&connect).await.unwrap();
            let queue = Queue::lock("/l", Kind::Mutex);
            let acls = Acls::anyone_all();
            let first = queue.join(&ours, b"", acls).await.unwrap();
            let second = queue.join(&ours, b"", acls).await.unwrap();
            let uuid_of = |node: &str| node.get(5..41).map(str::to_string);
            assert_ne!(
                uuid_of(&first.node),
                uuid_of(&second.node),
                "a fresh uuid per join"
            );

            let uuid = uuid::Uuid::new_v4();
            let prefix = format!("/l/_c_{uuid}-lock-");
            let ephemeral = CreateMode::EphemeralSequential.with_acls(acls);
            other.create(&prefix, b"", &ephemeral).await.unwrap();
            let adopted = queue.find_ours(&ours, &uuid).await.unwrap();
            assert!(adopted.is_none(), "adopted {:?}", adopted.map(|t| t.node));

            let (_, sequence) = ours.create(&prefix, b"", &ephemeral).await.unwrap();
            let adopted = queue.find_ours(&ours, &uuid).await.unwrap();
            assert_eq!(adopted.map(|t| t.node), Some(format!("{prefix}{sequence}")));
        });
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(name in "\\PC*", tail in "[0-9é١]{0,12}") {
            let _ = parse(&name);
            let _ = parse(&format!("{name}lock-{tail}"));
            let _ = parse(&format!("{name}sem{tail}-lock-{tail}"));
            let _ = sorted_entries("/l", [name.clone(), format!("{name}{tail}")], Family::Lock);
            let _ = stranger(&name, Family::Election);
        }

        #[test]
        fn any_prefix_with_a_marker_and_ten_digits_takes_part(
            prefix in "\\PC*",
            sequence in 0i64..=9_999_999_999,
        ) {
            let name = format!("{prefix}latch-{sequence:010}");
            proptest::prop_assert_eq!(parse(&name), Some((Kind::Latch, sequence)));
        }
    }
}
