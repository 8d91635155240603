//! The registration loop: probe, decide, create or delete the ephemeral
//! node, and heal after expiry, restarts and deletions by others.

use std::future::Future;
use std::pin::Pin;
use zk_common::timeout::GiveUp;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use tokio::time::Instant;
use zookeeper_client::{
    Client, CreateMode, Error as ZkError, EventType, SessionState, WatchedEvent,
};

use nix::sys::signal::Signal;
use zk_common::output::{event, EventSink};
use zk_common::probe::{Prober, Round};
use zk_common::supervisor::{Event, Supervisor};
use zk_common::{connect, exit, node, Failure};

use crate::cli::{Cli, Format};

use zk_common::sdnotify::{notify, NotifyState, Watchdog};

type NodeEvent = Pin<Box<dyn Future<Output = WatchedEvent> + Send>>;

struct Registrar<'a> {
    cli: &'a Cli,
    node: String,
    events: EventSink,
    client: Option<Client>,
    /// The session's state changes, kept with the client so none is missed
    /// between two turns of the loop.
    state: Option<zookeeper_client::StateWatcher>,
    /// Our node exists (as far as we last heard).
    registered: bool,
    ever_registered: bool,
    /// Fires when our node, or the other session's node we wait for, changes.
    node_event: Option<NodeEvent>,
    /// The session holding our id when it is not us, so we warn once.
    blocked_by: Option<i64>,
}

pub async fn run(cli: &Cli) -> Result<u8> {
    let node = node_path(cli)?;
    zk_common::cli::refuse_zookeeper_tree(&cli.common.connect.connect, &node)?;
    let spec = cli.wrap.resolved_spec()?;
    let events = cli.wrap.event_sink()?;
    let mut supervisor = Supervisor::install()?;
    if let Some(spec) = &spec {
        supervisor.start(spec, &[("ZK_CONNECT", cli.common.connect.connect.clone())])?;
    }
    let mut prober = cli.probe.any().then(|| Prober::new(&cli.probe));
    let mut registrar = Registrar {
        cli,
        node,
        events,
        client: None,
        state: None,
        registered: false,
        ever_registered: false,
        node_event: None,
        blocked_by: None,
    };
    let give_up = GiveUp::after(cli.timeout);
    let mut last_round: Option<Round> = None;
    // Fed from this loop, so it stops being fed when the loop hangs. Not
    // only while registered: an unhealthy service or a ZooKeeper outage is
    // what zk-health is there to sit out (and register again after); a
    // restart by systemd would not help and would kill a wrapped command.
    let mut watchdog = Watchdog::from_env();
    let mut next_round = Instant::now();
    let mut round_due = true;
    let end: Result<u8> = loop {
        if round_due {
            // A round can wait on --connect-timeout or a slow check; a stop
            // signal must not wait for it.
            let round = async {
                let healthy = registrar.probe(prober.as_mut(), &mut last_round).await;
                watchdog.feed_if_due();
                registrar.reconcile(healthy, last_round.as_ref()).await
            };
            let interrupted = tokio::select! {
                biased;
                event = supervisor.next() => Some(event),
                done = round => match done {
                    Ok(()) => None,
                    Err(err) => break Err(err),
                },
            };
            if let Some(event) = interrupted {
                match on_event(&mut registrar, &mut supervisor, event).await {
                    Some(code) => break Ok(code),
                    // Resumed from Ctrl-Z: the round runs again.
                    None => continue,
                }
            }
            next_round = Instant::now() + cli.probe.interval;
        }
        watchdog.feed_if_due();

        let tick = tokio::time::sleep_until(next_round);
        let mut state = registrar.state.take();
        let state_change = async {
            match state.as_mut() {
                Some(state) => state.changed().await,
                None => std::future::pending().await,
            }
        };
        let node_event = async {
            match registrar.node_event.as_mut() {
                Some(event) => event.await,
                None => std::future::pending().await,
            }
        };
        let woke = tokio::select! {
            () = tick => None,
            // Feeding the watchdog does not start a probe round early.
            () = watchdog.due() => Some(Woke::Watchdog),
            event = node_event => Some(Woke::Node(event)),
            new_state = state_change => Some(Woke::State(new_state)),
            event = supervisor.next() => match on_event(&mut registrar, &mut supervisor, event).await {
                Some(code) => break Ok(code),
                None => None,
            },
            // --timeout bounds the first registration only.
            timeout = give_up.reached(), if !registrar.ever_registered => {
                break Err(Failure::not_acquired(format!("{} not registered within {timeout}", registrar.node)).into());
            }
        };
        // The top of the loop feeds it.
        round_due = !matches!(woke, Some(Woke::Watchdog));
        registrar.woke(woke, state).await;
    };
    // One teardown: the session closed (our node gone with it); on a
    // failure of ours, the command stopped too.
    if end.is_err() {
        notify(&[NotifyState::Stopping]);
    }
    registrar.close().await;
    if end.is_err() {
        supervisor.stop(STOP_KILL_AFTER).await;
    }
    end
}

/// What the command or a signal means for the registration: `Some(status)`
/// when zk-health ends.
async fn on_event(
    registrar: &mut Registrar<'_>,
    supervisor: &mut Supervisor,
    event: Event,
) -> Option<u8> {
    match event {
        Event::Exited(code) => {
            notify(&[NotifyState::Stopping]);
            registrar.deregister("the command exited").await;
            Some(code)
        }
        Event::Signal(signal) => Some(pass_on(registrar, supervisor, signal).await),
        // Ctrl-Z stops the command with us and SIGCONT resumes both: a
        // registration is not exclusive, so nothing is lost by a stop.
        Event::Suspend => {
            supervisor.suspend(None);
            None
        }
    }
}

enum Woke {
    Node(WatchedEvent),
    State(SessionState),
    Watchdog,
}

/// A stop signal: deregister first, drain, then pass it on to the command
/// and exit with its status (or, without one, exit as the signal says).
async fn pass_on(registrar: &mut Registrar<'_>, supervisor: &mut Supervisor, signal: Signal) -> u8 {
    notify(&[NotifyState::Stopping]);
    registrar.deregister(&format!("received {signal}")).await;
    let drain = registrar.cli.drain;
    if !supervisor.is_running() {
        return match registrar.ever_registered {
            true => exit::OK,
            false => exit::signalled(signal as i32),
        };
    }
    if !drain.is_zero() {
        tracing::info!(
            "draining for {} before passing {signal} on",
            humantime::format_duration(drain)
        );
        tokio::time::sleep(drain).await;
    }
    supervisor.pass_on(signal).await
}

impl Registrar<'_> {
    /// Handles what ended a wait; `state` is the session's state watcher,
    /// taken for the wait and kept while a session lives.
    async fn woke(&mut self, woke: Option<Woke>, state: Option<zookeeper_client::StateWatcher>) {
        if self.client.is_some() {
            self.state = state;
        }
        match woke {
            Some(Woke::Node(event)) => {
                self.node_event = None;
                self.on_node_event(event);
            }
            Some(Woke::State(new_state)) => self.on_state(new_state).await,
            Some(Woke::Watchdog) | None => {}
        }
    }

    /// One probe round (healthy without probes), reported as a `check`.
    async fn probe(&mut self, prober: Option<&mut Prober>, last_round: &mut Option<Round>) -> bool {
        let Some(prober) = prober else {
            return true;
        };
        let round = prober.round().await;
        let changed = last_round.as_ref().map(|last| last.passed) != Some(round.passed);
        if changed || self.cli.every_check {
            let mut e = event("check");
            e.insert("passed".into(), round.passed.into());
            e.insert("reason".into(), round.reason.clone().into());
            self.emit(e);
        }
        if let Some(now_healthy) = prober.record(&round) {
            tracing::info!(
                "{} ({})",
                if now_healthy { "healthy" } else { "unhealthy" },
                round.reason
            );
        }
        *last_round = Some(round);
        prober.healthy()
    }

    /// Registers when healthy and not in maintenance, deregisters
    /// otherwise. Only an error other than ZooKeeper being unreachable
    /// (which is retried on the next round) ends the run.
    async fn reconcile(&mut self, healthy: bool, last_round: Option<&Round>) -> Result<()> {
        let maintenance = self
            .cli
            .maintenance_file
            .as_ref()
            .is_some_and(|f| f.exists());
        if healthy && !maintenance {
            if let Err(err) = self.register().await {
                if exit::code_for(&err) != exit::UNAVAILABLE {
                    return Err(err);
                }
                tracing::warn!("{err:#}; retrying");
            }
        } else if self.registered {
            let reason = if maintenance {
                "maintenance file present".to_string()
            } else {
                last_round.map(|r| r.reason.clone()).unwrap_or_default()
            };
            self.deregister(&reason).await;
        }
        Ok(())
    }
}

/// How long a command stopped because zk-health itself fails gets between
/// SIGTERM and SIGKILL.
const STOP_KILL_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// PATH/ID, or PATH/SERVICE/ID for Curator x-discovery.
fn node_path(cli: &Cli) -> Result<String> {
    Ok(match cli.format {
        Format::Plain => zk_common::path::join(&cli.path, &cli.id),
        Format::Curator => {
            let (Some(service), Some(_), Some(_)) = (&cli.service, &cli.address, cli.port) else {
                return Err(Failure::usage(
                    "--format curator needs --service, --address and --port",
                )
                .into());
            };
            zk_common::path::join(&zk_common::path::join(&cli.path, service), &cli.id)
        }
    })
}

/// What the node holds: --data, or Curator's `ServiceInstance` JSON.
fn node_data(cli: &Cli) -> Vec<u8> {
    let value = match cli.format {
        Format::Plain => match &cli.data {
            Some(data) => data.clone(),
            None => return Vec::new(),
        },
        Format::Curator => json!({
            "name": cli.service,
            "id": cli.id,
            "address": cli.address,
            "port": cli.port,
            "sslPort": cli.ssl_port,
            "payload": cli.payload,
            "registrationTimeUTC": chrono_millis(),
            "serviceType": "DYNAMIC",
            "uriSpec": cli.uri_spec.as_deref().map(uri_spec),
            "enabled": true,
        }),
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

fn chrono_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Curator's `UriSpec` as it serializes: literal and `{variable}` parts.
fn uri_spec(spec: &str) -> Value {
    let mut parts = Vec::new();
    let mut rest = spec;
    while !rest.is_empty() {
        match (rest.find('{'), rest.find('}')) {
            (Some(0), Some(end)) => {
                parts.push(json!({"value": &rest[1..end], "variable": true}));
                rest = &rest[end + 1..];
            }
            (Some(start), _) => {
                parts.push(json!({"value": &rest[..start], "variable": false}));
                rest = &rest[start..];
                if !rest[1..].contains('}') {
                    parts.push(json!({"value": rest, "variable": false}));
                    break;
                }
            }
            (None, _) => {
                parts.push(json!({"value": rest, "variable": false}));
                break;
            }
        }
    }
    json!({ "parts": parts })
}

impl Registrar<'_> {
    fn emit(&mut self, mut e: Map<String, Value>) {
        e.insert("path".into(), self.node.clone().into());
        e.insert("id".into(), self.cli.id.clone().into());
        self.events.emit(e);
    }

    async fn session(&mut self) -> Result<&Client> {
        if self.client.is_none() {
            let client = connect::connect(&self.cli.common.connect).await?;
            self.state = Some(client.state_watcher());
            self.client = Some(client);
        }
        self.client.as_ref().context("no session")
    }

    /// Creates our node if it is not there; waits politely if another live
    /// session holds the id, unless --takeover.
    async fn register(&mut self) -> Result<()> {
        if self.registered || (self.blocked_by.is_some() && self.node_event.is_some()) {
            return Ok(());
        }
        let data = node_data(self.cli);
        let acls = self.cli.common.connect.acls();
        let node = self.node.clone();
        // --takeover replaces a stale node once, at start: until our first
        // registration. A registration replaced later has lost to a newer
        // instance and waits for its node to go, so two instances started
        // with --takeover for one id settle on the newer one, not flap.
        let takeover = self.cli.takeover && !self.ever_registered;
        let client = self.session().await?.clone();
        let session = client.session_id().0;
        loop {
            match client
                .create(&node, &data, &CreateMode::Ephemeral.with_acls(acls))
                .await
            {
                Ok(_) => break,
                Err(ZkError::NoNode) => {
                    let parent = node
                        .rsplit_once('/')
                        .map(|(p, _)| p)
                        .filter(|p| !p.is_empty())
                        .unwrap_or("/");
                    match client
                        .mkdir(parent, &CreateMode::Persistent.with_acls(acls))
                        .await
                    {
                        Ok(()) | Err(ZkError::NodeExists) => continue,
                        Err(err) => return Err(err).with_context(|| format!("creating {parent}")),
                    }
                }
                Err(ZkError::NodeExists) => {
                    let (stat, watcher) = match client.check_and_watch_stat(&node).await {
                        Ok((Some(stat), watcher)) => (stat, watcher),
                        Ok((None, _)) => continue,
                        Err(err) => return Err(err).with_context(|| format!("checking {node}")),
                    };
                    if stat.ephemeral_owner == session {
                        break; // our own create, retried after a lost reply
                    }
                    // A persistent node never goes by itself: waiting for
                    // it would be forever, and taking it over would delete
                    // someone's data.
                    if stat.ephemeral_owner == 0 {
                        let why = if takeover {
                            "--takeover replaces only another session's ephemeral node"
                        } else {
                            "it will not go away by itself; remove it, or register under another id"
                        };
                        return Err(Failure::usage(format!(
                            "{node} is a persistent node, not a registration; {why}"
                        ))
                        .into());
                    }
                    if takeover {
                        tracing::warn!(
                            "taking over {node} from session {}",
                            node::session_hex(stat.ephemeral_owner)
                        );
                        // Delete and create in one transaction, so no other
                        // instance can slip its own create in between and be
                        // deleted in turn. The version is all ZooKeeper can
                        // check; a node that changed since our read fails it
                        // (or is gone) and we look again.
                        let mut replace = client.new_multi_writer();
                        replace.add_delete(&node, Some(stat.version))?;
                        replace.add_create(&node, &data, &CreateMode::Ephemeral.with_acls(acls))?;
                        match replace.commit().await.map_err(ZkError::from) {
                            Ok(_) => break,
                            Err(ZkError::NoNode | ZkError::BadVersion | ZkError::NodeExists) => {
                                continue
                            }
                            Err(err) => {
                                return Err(err).with_context(|| format!("taking over {node}"))
                            }
                        }
                    }
                    if self.blocked_by != Some(stat.ephemeral_owner) {
                        eprintln!(
                            "zk-health: {node} is held by another live session {}; waiting for it to go",
                            node::session_hex(stat.ephemeral_owner)
                        );
                        self.blocked_by = Some(stat.ephemeral_owner);
                    }
                    self.node_event = Some(Box::pin(watcher.changed()));
                    return Ok(());
                }
                Err(err) => return Err(err).with_context(|| format!("registering {node}")),
            }
        }
        self.blocked_by = None;
        self.registered = true;
        let first = !self.ever_registered;
        self.ever_registered = true;
        self.watch_our_node(&client).await;
        let mut e = event("registered");
        e.insert("session_id".into(), node::session_hex(session).into());
        self.emit(e);
        let status = NotifyState::Status("registered");
        if first {
            notify(&[NotifyState::Ready, status]);
        } else {
            notify(&[status]);
        }
        Ok(())
    }

    async fn watch_our_node(&mut self, client: &Client) {
        self.node_event = match client.check_and_watch_stat(&self.node).await {
            Ok((_, watcher)) => Some(Box::pin(watcher.changed())),
            Err(err) => {
                tracing::debug!("watching {}: {err}", self.node);
                None
            }
        };
    }

    /// Takes our node away by closing our session, never by deleting the
    /// path.
    ///
    /// A delete names a path, not a node, and cannot tell ours from a
    /// successor's: `--takeover` in another instance may have replaced our
    /// node by then, and zookeeper-client keeps a request made while it is
    /// disconnected in its queue and sends it after it reconnects to the
    /// same session, seconds later. A versioned delete does not help (the
    /// successor's fresh node has version 0, as ours had), nor does reading
    /// the stat first and checking `ephemeral_owner`: our session being
    /// alive does not stop another session from deleting our node and
    /// creating its own between our read and our delete. ZooKeeper has no
    /// "delete if owned by" operation; closing the session is one: the server
    /// removes exactly the ephemeral nodes this session owns, atomically
    /// (or expires the session, with the same effect), whenever the close
    /// reaches it. We register again, later, with a new session.
    async fn deregister(&mut self, reason: &str) {
        if !self.registered {
            return;
        }
        self.registered = false;
        self.node_event = None;
        self.state = None;
        if let Some(client) = self.client.take() {
            close_and_wait(client).await;
        }
        self.emit_deregistered(reason);
    }

    fn emit_deregistered(&mut self, reason: &str) {
        let mut e = event("deregistered");
        e.insert("reason".into(), reason.into());
        self.emit(e);
        notify(&[NotifyState::Status(&format!("deregistered: {reason}"))]);
    }

    fn on_node_event(&mut self, event: WatchedEvent) {
        if event.event_type == EventType::Session && event.session_state.is_terminated() {
            self.session_ended(event.session_state);
        } else if event.event_type == EventType::NodeDeleted {
            if self.registered {
                tracing::warn!(
                    "{} was deleted by someone else; registering again",
                    self.node
                );
                self.registered = false;
                self.emit_deregistered("the node was deleted by someone else");
            } else {
                tracing::info!("{} is free now", self.node);
            }
            self.blocked_by = None;
        }
    }

    async fn on_state(&mut self, state: SessionState) {
        match state {
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                self.session_ended(state)
            }
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => {
                // Trust the server, not the last watch: is our node still there?
                if let (true, Some(client)) = (self.registered, self.client.clone()) {
                    let ours = client.session_id().0;
                    match client.check_stat(&self.node).await {
                        Ok(Some(stat)) if stat.ephemeral_owner == ours => {
                            self.watch_our_node(&client).await
                        }
                        Ok(_) => {
                            self.registered = false;
                            self.emit_deregistered("the node vanished while disconnected");
                        }
                        Err(err) => tracing::debug!("checking {}: {err}", self.node),
                    }
                }
            }
            SessionState::Disconnected => tracing::info!(
                "disconnected from ZooKeeper; the node stays until the session expires"
            ),
        }
    }

    fn session_ended(&mut self, state: SessionState) {
        if self.client.take().is_none() {
            return;
        }
        tracing::warn!("ZooKeeper session ended ({state:?}); opening a new one");
        self.state = None;
        self.node_event = None;
        self.blocked_by = None;
        if self.registered {
            self.registered = false;
            self.emit_deregistered("session expired");
        }
    }

    /// Closes the session: a registered node goes in the same step.
    async fn close(&mut self) {
        self.state = None;
        if let Some(client) = self.client.take() {
            connect::close(client).await;
        }
    }
}

/// Closes the session and waits until the client reports it ended: closed
/// by the server, or expired (the client gives up on a session 1.4 session
/// timeouts after it last heard from the server; the server has expired it
/// by then). Only then are our ephemeral nodes surely gone. While the client
/// is disconnected its `closeSession` waits in its queue for the reconnect.
async fn close_and_wait(client: Client) {
    let session = client.session_id();
    let bound = client.session_timeout() * 2;
    let mut state = client.state_watcher();
    drop(client);
    tracing::info!("closing session {session}, so the server removes our node");
    let ended = async {
        while !state.peek_state().is_terminated() {
            state.changed().await;
        }
    };
    if tokio::time::timeout(bound, ended).await.is_err() {
        tracing::warn!("closing session {session} not confirmed; the server will expire it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_specs_split_like_curator() {
        let spec = uri_spec("{scheme}://{address}:{port}/api");
        let parts: Vec<(String, bool)> = spec["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["value"].as_str().unwrap().to_string(),
                    p["variable"].as_bool().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("scheme", true),
            ("://", false),
            ("address", true),
            (":", false),
            ("port", true),
            ("/api", false),
        ];
        assert_eq!(parts, expected.map(|(v, b)| (v.to_string(), b)));
    }
}
