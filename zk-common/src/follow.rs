//! Following a group through time: successive snapshots that never miss a
//! change, across reconnects and session expiries.
//!
//! One persistent recursive watch (ZooKeeper 3.6+) on PATH reports every
//! create, delete and data change below it. We never trust an event's
//! content: after any event, and after every reconnect, the group is read
//! again from ZooKeeper, so the last snapshot always matches the server.
//!
//! zookeeper-client 0.11.2 does not restore persistent watches when it
//! reconnects (its `resend_watches` only ever sends the SetWatches v1
//! request, which has no persistent lists), so after every reconnect we add
//! the watch again ourselves, then read: a change in between is covered by
//! the read.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::time::Instant;
use zookeeper_client::{AddWatchMode, Client, EventType, PersistentWatcher, SessionState};

use crate::cli::ConnectArgs;
use crate::group::read_members;
use crate::{connect, Failure};

/// One reading of the group.
pub struct Snapshot {
    /// `None` when PATH does not exist.
    pub members: Option<Vec<Value>>,
    pub session_id: String,
    /// The first snapshot of a session (the very first, or after expiry).
    pub fresh_session: bool,
}

pub struct Follow<'a> {
    connect_args: &'a ConnectArgs,
    path: &'a str,
    recursive: bool,
    debounce: Duration,
    /// `--settle MIN:MAX`: wait for MIN of quiet, never longer than MAX
    /// after the first change; replaces the debounce.
    settle: Option<(Duration, Duration)>,
    session: Option<(Client, PersistentWatcher)>,
    started: bool,
}

enum Wake {
    Changed,
    Reconnected,
    Expired,
}

impl<'a> Follow<'a> {
    pub fn new(
        connect_args: &'a ConnectArgs,
        path: &'a str,
        recursive: bool,
        debounce: Duration,
    ) -> Self {
        Follow {
            connect_args,
            path,
            recursive,
            debounce,
            settle: None,
            session: None,
            started: false,
        }
    }

    /// Reads again only after `quiet` without a change, or `max` after the
    /// first change if changes keep coming (consul-template's `wait`).
    pub fn settling(mut self, quiet: Duration, max: Duration) -> Self {
        self.settle = Some((quiet, max));
        self
    }

    /// The first snapshot at once; after that, the next one after something
    /// below PATH changed or the client reconnected. A snapshot may equal
    /// the one before; callers compare.
    pub async fn next(&mut self) -> Result<Snapshot> {
        loop {
            if self.session.is_none() {
                self.open_session().await?;
                if let Some(snapshot) = self.read(true).await? {
                    return Ok(snapshot);
                }
                continue;
            }
            let wake = self.wait_for_change().await?;
            if let Wake::Reconnected = wake {
                if !self.rearm().await? {
                    continue;
                }
            }
            match wake {
                Wake::Changed | Wake::Reconnected => {
                    if let Some(snapshot) = self.read(false).await? {
                        return Ok(snapshot);
                    }
                }
                Wake::Expired => self.expire(),
            }
        }
    }

    async fn open_session(&mut self) -> Result<()> {
        loop {
            let attempt = async {
                let client = connect::connect(self.connect_args).await?;
                let watcher = client
                    .watch(self.path, AddWatchMode::PersistentRecursive)
                    .await
                    .with_context(|| format!("watching {}", self.path))?;
                anyhow::Ok((client, watcher))
            };
            match attempt.await {
                Ok(session) => {
                    self.session = Some(session);
                    self.started = true;
                    return Ok(());
                }
                // The first connection decides the exit status; once we have
                // been following, a watcher outlives ZooKeeper outages.
                Err(err)
                    if self.started && crate::exit::code_for(&err) == crate::exit::UNAVAILABLE =>
                {
                    tracing::warn!("{err:#}; retrying");
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Adds the watch again after a reconnect (see the module comment).
    /// False when the session is gone meanwhile.
    async fn rearm(&mut self) -> Result<bool> {
        loop {
            let Some((client, watcher)) = self.session.as_mut() else {
                return Ok(false);
            };
            match client
                .watch(self.path, AddWatchMode::PersistentRecursive)
                .await
            {
                Ok(fresh) => {
                    *watcher = fresh;
                    return Ok(true);
                }
                Err(err) if crate::exit::is_transient(&err) => {
                    tracing::info!("re-adding the watch on {}: {err}; trying again", self.path);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(
                    zookeeper_client::Error::SessionExpired | zookeeper_client::Error::ClientClosed,
                ) => {
                    self.expire();
                    return Ok(false);
                }
                Err(err) => return Err(err).with_context(|| format!("watching {}", self.path)),
            }
        }
    }

    fn expire(&mut self) {
        if let Some((client, _)) = self.session.take() {
            tracing::warn!("session {} expired; opening a new one", client.session_id());
        }
    }

    /// Reads the group, riding out connection loss. `None` means the
    /// session expired meanwhile (the caller opens a new one).
    async fn read(&mut self, fresh_session: bool) -> Result<Option<Snapshot>> {
        // Each failed read of a session that reconnects at once would be
        // retried at once: a request the server refuses by dropping the
        // connection (larger than its jute.maxbuffer) became ~45 reconnects
        // a second. Back off, doubling up to 5 s, and say what limit it
        // may be.
        let mut failures: u32 = 0;
        loop {
            let Some((client, watcher)) = self.session.as_mut() else {
                return Ok(None);
            };
            match read_members(client, self.path, self.recursive).await {
                Ok(members) => {
                    let session_id = crate::node::session_hex(client.session_id().0);
                    return Ok(Some(Snapshot {
                        members,
                        session_id,
                        fresh_session,
                    }));
                }
                Err(err) => match root_zookeeper_error(&err) {
                    Some(zk) if crate::exit::is_transient(zk) => {
                        failures += 1;
                        if failures == 3 {
                            tracing::warn!(
                                "reading {} broke the connection {failures} times in a row; if the \
                                 server logs a 'Len error', a request exceeds its jute.maxbuffer \
                                 (raise it with -Djute.maxbuffer=BYTES on every server)",
                                self.path
                            );
                        }
                        let backoff = Duration::from_millis(100 << failures.min(6))
                            .min(Duration::from_secs(5));
                        tracing::info!(
                            "{err:#}; reading again after reconnecting (in {backoff:?})"
                        );
                        tokio::time::sleep(backoff).await;
                        // Wait for the reconnect (or expiry) and read again.
                        let wake =
                            tokio::time::timeout(Duration::from_millis(500), watcher.changed())
                                .await;
                        if let Ok(event) = wake {
                            if event.event_type == EventType::Session
                                && event.session_state.is_terminated()
                            {
                                check_not_auth_failed(event.session_state)?;
                                self.expire();
                                return Ok(None);
                            }
                        }
                    }
                    Some(
                        zookeeper_client::Error::SessionExpired
                        | zookeeper_client::Error::ClientClosed,
                    ) => {
                        self.expire();
                        return Ok(None);
                    }
                    _ => return Err(err),
                },
            }
        }
    }

    /// Waits for the next node event or reconnect, then for `debounce` more
    /// so a burst is read once.
    async fn wait_for_change(&mut self) -> Result<Wake> {
        let Some((_, watcher)) = self.session.as_mut() else {
            return Ok(Wake::Expired);
        };
        let mut wake = loop {
            let event = watcher.changed().await;
            match classify(&event)? {
                Some(Wake::Expired) => return Ok(Wake::Expired),
                Some(wake) => break wake,
                None => continue,
            }
        };
        let first = Instant::now();
        let (quiet, last_at) = match self.settle {
            Some((quiet, max)) => (Some(quiet), first + max),
            None => (None, first + self.debounce),
        };
        let mut read_at = quiet.map_or(last_at, |quiet| (first + quiet).min(last_at));
        loop {
            tokio::select! {
                event = watcher.changed() => match classify(&event)? {
                    Some(Wake::Expired) => return Ok(Wake::Expired),
                    Some(Wake::Reconnected) => wake = Wake::Reconnected,
                    // Another change: settling starts its quiet again.
                    Some(Wake::Changed) => if let Some(quiet) = quiet {
                        read_at = (Instant::now() + quiet).min(last_at);
                    },
                    None => {}
                },
                _ = tokio::time::sleep_until(read_at) => return Ok(wake),
            }
        }
    }
}

/// Node events and reconnects mean "read again"; a disconnect means wait.
fn classify(event: &zookeeper_client::WatchedEvent) -> Result<Option<Wake>> {
    if event.event_type != EventType::Session {
        return Ok(Some(Wake::Changed));
    }
    match event.session_state {
        SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
            tracing::info!("reconnected; reading the group again");
            Ok(Some(Wake::Reconnected))
        }
        SessionState::Disconnected => {
            tracing::info!("disconnected from ZooKeeper; waiting for a reconnect");
            Ok(None)
        }
        state => {
            check_not_auth_failed(state)?;
            Ok(Some(Wake::Expired))
        }
    }
}

fn check_not_auth_failed(state: SessionState) -> Result<()> {
    if state == SessionState::AuthFailed {
        return Err(Failure::permission("ZooKeeper rejected our authentication").into());
    }
    Ok(())
}

fn root_zookeeper_error(err: &anyhow::Error) -> Option<&zookeeper_client::Error> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<zookeeper_client::Error>())
}
