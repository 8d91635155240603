//! A candidate: wait for health, join, wait to be elected, fence, lead
//! (run the command, or just hold on), and resign or lose leadership.

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use zk_common::timeout::GiveUp;
use zookeeper_client::{Client, CreateMode, Error as ZkError};

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use zk_common::cli::CommonArgs;

use zk_common::lease::{self, LeaseClock, Lost, SafeWindow};
use zk_common::output::{event, EventSink};
use zk_common::owner::command_env;
use zk_common::probe::Prober;
use zk_common::progress::Waiting;
use zk_common::queue::{Dialect, Queue, RejoinAsKazoo, Ticket};
use zk_common::sdnotify::{notify, NotifyState};
use zk_common::supervisor::{CommandSpec, Event, KillGroupOnDrop, Supervisor};
use zk_common::{connect, exit, node, Failure};

use crate::cli::{CandidateArgs, Layout};
use crate::ready::{self, ReadyFile};

/// How one candidacy ended.
enum Outcome {
    /// Exit with this status.
    Exit(u8),
    /// Queue again (lost with --rejoin, or unhealthy before being elected).
    Rejoin,
}

struct Candidate<'a> {
    common: &'a CommonArgs,
    args: &'a CandidateArgs,
    path: String,
    id: String,
    spec: Option<CommandSpec>,
    events: EventSink,
    prober: Option<Prober>,
    /// Runs the leader's command, or with --warm the command that runs on
    /// every candidate (never both: a warm command is told it leads).
    supervisor: Supervisor,
}

pub async fn run(common: &CommonArgs, args: &CandidateArgs) -> Result<u8> {
    let spec = args.wrap.resolved_spec()?;
    if let Some(file) = &args.ready_file {
        ready::clear_stale(file)?;
    }
    if let Some(path) = &args.path {
        zk_common::cli::refuse_zookeeper_tree(&common.connect.connect, path)?;
    }
    let events = args.wrap.event_sink()?;
    let id = args.id.clone().unwrap_or_else(default_id);
    let mut candidate = Candidate {
        common,
        args,
        // clap requires PATH unless a subcommand is given.
        path: args
            .path
            .clone()
            .ok_or_else(|| Failure::usage("the election's PATH is required"))?,
        id,
        spec,
        events,
        prober: args.probe.any().then(|| Prober::new(&args.probe)),
        supervisor: Supervisor::install()?,
    };
    loop {
        // A warm command runs on every candidate; after a loss it was
        // stopped, and a rejoining candidate starts it again.
        if let (true, Some(spec)) = (args.warm, &candidate.spec) {
            if !candidate.supervisor.is_running() {
                let env = [("ZK_CONNECT", common.connect.connect.clone())];
                candidate.supervisor.start(spec, &env)?;
            }
        }
        if let Some(code) = candidate.wait_until_healthy().await {
            return Ok(candidate.finish(code).await);
        }
        let client = match candidate.connect().await {
            Ok(Ok(client)) => client,
            Ok(Err(code)) => return Ok(candidate.finish(code).await),
            Err(err) => {
                candidate.finish(0).await;
                return Err(err);
            }
        };
        let outcome = candidate.stand(&client).await;
        // Closing the session removes our node at once: the resignation.
        connect::close(client).await;
        match outcome {
            Ok(Outcome::Exit(code)) => return Ok(candidate.finish(code).await),
            Ok(Outcome::Rejoin) => {
                candidate.emit(event("rejoining"));
                continue;
            }
            Err(err) => {
                candidate.finish(0).await;
                return Err(err);
            }
        }
    }
}

/// What `systemctl status` shows (STATUS=), and READY=1 once we stand, for
/// a `Type=notify` unit; nothing without `$NOTIFY_SOCKET`.
fn tell_systemd(path: &str, e: &Map<String, Value>) {
    let reason = e.get("reason").and_then(Value::as_str).unwrap_or_default();
    let status = match e.get("event").and_then(Value::as_str) {
        Some("candidate") => format!("standby: waiting to lead {path}"),
        Some("elected") => format!("leader of {path} (token {})", e["token"]),
        Some("lost") => format!("standby: lost leadership of {path}: {reason}"),
        Some("unhealthy") => format!("standby: unhealthy, not standing at {path}: {reason}"),
        Some("resigned") => format!("resigned from {path}"),
        _ => return,
    };
    // One line: a reason may quote anyone's text.
    let status: String = status
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

fn default_id() -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{host}:{}", std::process::id())
}

impl Candidate<'_> {
    fn emit(&mut self, mut e: Map<String, Value>) {
        e.insert("path".into(), self.path.clone().into());
        e.insert("id".into(), self.id.clone().into());
        tell_systemd(&self.path, &e);
        self.events.emit(e);
    }

    /// Stops a warm command still running; the exit status, 74 if our own
    /// output was lost.
    async fn finish(&mut self, code: u8) -> u8 {
        self.supervisor.stop(self.args.kill_after).await;
        self.events.status(code)
    }

    /// Connects; `Err(status)` when told to stop (or the warm command
    /// exits) first: a stop signal must not wait out --connect-timeout.
    async fn connect(&mut self) -> Result<Result<Client, u8>> {
        let common = self.common;
        let connecting = connect::connect(&common.connect);
        tokio::pin!(connecting);
        loop {
            tokio::select! {
                client = &mut connecting => return Ok(Ok(client?)),
                event = self.supervisor.next() => {
                    if let Some(code) = while_waiting(&mut self.supervisor, event).await {
                        return Ok(Err(code));
                    }
                }
            }
        }
    }

    /// Probes until healthy. `Some(status)` when told to stop meanwhile.
    async fn wait_until_healthy(&mut self) -> Option<u8> {
        if self.prober.as_ref()?.healthy() {
            return None;
        }
        let _spinner = Waiting::start(
            format!("waiting for health before joining {}", self.path),
            self.common.log.quiet,
        );
        loop {
            let prober = self.prober.as_mut()?;
            let event = tokio::select! {
                change = prober.next_change(|_| {}) => {
                    if change.healthy {
                        tracing::info!("healthy ({})", change.round.reason);
                        return None;
                    }
                    continue;
                }
                event = self.supervisor.next() => event,
            };
            if let Some(code) = while_waiting(&mut self.supervisor, event).await {
                return Some(code);
            }
        }
    }

    /// One candidacy on one session.
    async fn stand(&mut self, client: &Client) -> Result<Outcome> {
        let window = SafeWindow::new(client.session_timeout(), self.args.kill_after)?;
        lease::watch_stalls(&window);
        let mut queue = match self.args.layout {
            Some(Layout::Kazoo) => Queue::election(&self.path, Dialect::Kazoo),
            Some(Layout::Latch) => Queue::election(&self.path, Dialect::Curator),
            None => Queue::election(&self.path, Dialect::Curator).detecting(),
        };
        let ticket = loop {
            let ticket = queue
                .join(client, self.id.as_bytes(), self.common.connect.acls())
                .await?;
            let mut joined = event("candidate");
            joined.insert("node".into(), ticket.node.clone().into());
            self.emit(joined);
            match self.await_election(client, &queue, &ticket).await {
                // Left to detection, kazoo's candidates make us stand again
                // in their layout: neither layout sees the other's nodes.
                Err(err) if err.is::<RejoinAsKazoo>() => {
                    tracing::info!(
                        "{} holds kazoo's candidates: standing in kazoo's layout",
                        self.path
                    );
                    queue.leave(client, &ticket).await?;
                    queue = queue.in_kazoo_layout();
                }
                Err(err) => return Err(err),
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) => break ticket,
            }
        };

        let session_id = node::session_hex(client.session_id().0);
        let env = command_env(&self.common.connect.connect, &ticket, &session_id);
        // Elected by the server we talk to; only the leader can say our
        // session still lives (that server may be cut off from it).
        let ownership = match lease::own(client, &ticket.node, window).await {
            Ok(ownership) => ownership,
            Err(lost) => return Ok(self.lost(&lost.reason(), &env).await),
        };
        let clock = ownership.clock();
        let mut ownership = ownership;
        let lost = ownership.lost();
        tokio::pin!(lost);
        // Fencing, the breadcrumb and the hook all run under the lease: a
        // partition during a slow hook must not start the command late.
        let took_office = tokio::select! {
            biased;
            lost = &mut lost => Err(lost),
            took = self.take_office(client, &ticket, &session_id, &env) => Ok(took),
        };
        match took_office {
            Err(lost) => {
                self.stop_command(clock.kill_after()).await;
                return Ok(self.lost(&lost.reason(), &env).await);
            }
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => {}
        }
        let record = json!({
            "path": self.path,
            "id": self.id,
            "node": ticket.node,
            "token": ticket.token,
            "session_id": session_id,
        });
        let end = self.lead(lost, &clock, &env, &record).await?;
        match end {
            Leadership::Resigned(code) => {
                if self.args.fence.is_some() {
                    self.remove_breadcrumb(client, &ticket).await;
                }
                let mut resigned = event("resigned");
                resigned.insert("node".into(), ticket.node.clone().into());
                resigned.insert("token".into(), ticket.token.into());
                self.emit(resigned);
                self.demoted(&env).await;
                Ok(Outcome::Exit(code))
            }
            Leadership::Lost(reason) => Ok(self.lost(&reason, &env).await),
        }
    }

    /// Waits to be elected. `Some` when the candidacy ends first (a
    /// timeout is an error).
    async fn await_election(
        &mut self,
        client: &Client,
        queue: &Queue,
        ticket: &Ticket,
    ) -> Result<Option<Outcome>> {
        let _spinner = Waiting::start(
            format!("waiting to lead {}", self.path),
            self.common.log.quiet,
        );
        let give_up = GiveUp::after(self.args.timeout);
        let elected = queue.wait_turn(client, ticket);
        tokio::pin!(elected);
        let unhealthy = {
            let unhealthy = next_unhealthy(&mut self.prober);
            tokio::pin!(unhealthy);
            loop {
                tokio::select! {
                    elected = &mut elected => return elected.map(|()| None),
                    timeout = give_up.reached() => {
                        return Err(Failure::not_acquired(format!("not elected at {} within {timeout}", self.path)).into());
                    }
                    event = self.supervisor.next() => {
                        if let Some(code) = while_waiting(&mut self.supervisor, event).await {
                            return Ok(Some(Outcome::Exit(code)));
                        }
                    }
                    reason = &mut unhealthy => break reason,
                }
            }
        };
        self.event_with_reason("unhealthy", &unhealthy);
        Ok(Some(Outcome::Rejoin))
    }

    /// Fences the previous leader, leaves our breadcrumb, announces, runs
    /// `--on-elected`. `Some` when we must resign instead of leading.
    async fn take_office(
        &mut self,
        client: &Client,
        ticket: &Ticket,
        session_id: &str,
        env: &[(&str, String)],
    ) -> Option<Outcome> {
        if let Some(fence) = &self.args.fence {
            match self.fence(client, fence).await {
                Ok(()) => {}
                Err(Fence::Failed(reason)) => {
                    self.event_with_reason("fence_failed", &reason);
                    eprintln!(
                        "zk-elect: resigning from {}: fencing the previous leader failed: {reason}",
                        self.path
                    );
                    return Some(Outcome::Exit(exit::CONDITION_FALSE));
                }
                // Not ours to overwrite, nor to fence anyone by.
                Err(Fence::Foreign(reason)) => {
                    self.event_with_reason("fence_failed", &reason);
                    eprintln!("zk-elect: resigning from {}: {reason}", self.path);
                    return Some(Outcome::Exit(exit::USAGE));
                }
            }
            // The breadcrumb only serves fencing; without --fence it would
            // cost two writes on every handover for nobody to read.
            self.write_breadcrumb(client, ticket, session_id).await;
        }
        tracing::info!(
            "elected at {} as {} (fencing token {})",
            self.path,
            ticket.node,
            ticket.token
        );
        let mut elected = event("elected");
        elected.insert("node".into(), ticket.node.clone().into());
        elected.insert("token".into(), ticket.token.into());
        elected.insert("session_id".into(), session_id.into());
        self.emit(elected);
        if let Some(hook) = &self.args.on_elected {
            run_hook("--on-elected", hook, env).await;
        }
        if let (true, Some(signal)) = (self.args.warm, self.args.signal_elected) {
            self.supervisor.forward(signal);
        }
        None
    }

    /// Leadership is gone: say so, run the demotion hooks, rejoin or exit.
    async fn lost(&mut self, reason: &str, env: &[(&str, String)]) -> Outcome {
        eprintln!("zk-elect: lost leadership of {}: {reason}", self.path);
        let revoked = reason == Lost::Revoked.reason();
        self.event_with_reason(if revoked { "revoked" } else { "lost" }, reason);
        self.demoted(env).await;
        if self.args.rejoin {
            Outcome::Rejoin
        } else {
            Outcome::Exit(exit::OWNERSHIP_LOST)
        }
    }

    /// Leadership is lost: the command must not outlive the lease. A warm
    /// command, told it leads, is told it no longer does and is stopped
    /// like a leader's command, to start again on rejoin.
    async fn stop_command(&mut self, kill_after: Duration) {
        if let (true, Some(signal)) = (self.args.warm, self.args.signal_demoted) {
            self.supervisor.forward(signal);
        }
        self.supervisor.stop(kill_after).await;
    }

    fn event_with_reason(&mut self, name: &str, reason: &str) {
        let mut e = event(name);
        e.insert("reason".into(), reason.into());
        self.emit(e);
    }

    async fn demoted(&mut self, env: &[(&str, String)]) {
        if let (true, Some(signal)) = (self.args.warm, self.args.signal_demoted) {
            self.supervisor.forward(signal);
        }
        if let Some(hook) = &self.args.on_demoted {
            run_hook("--on-demoted", hook, env).await;
        }
    }

    /// Leads until the command exits, we are told to stop, ownership is
    /// lost or the health check fails.
    async fn lead(
        &mut self,
        lost: Pin<&mut impl Future<Output = Lost>>,
        clock: &LeaseClock,
        env: &[(&str, String)],
        record: &Value,
    ) -> Result<Leadership> {
        // Fencing, the breadcrumb and the hook ran under the lease, but its
        // watch may not have been polled since: a lapsed lease starts nothing.
        if let Some(lost) = clock.lapsed() {
            self.stop_command(clock.kill_after()).await;
            return Ok(Leadership::Lost(lost.reason()));
        }
        if let (Some(spec), false) = (&self.spec, self.args.warm) {
            self.supervisor.start(spec, env)?;
        }
        if self.args.watchdog {
            self.supervisor.guard(clock)?;
        }
        let led = self.lead_until_done(lost, clock, record).await;
        clock.disarm();
        led
    }

    async fn lead_until_done(
        &mut self,
        mut lost: Pin<&mut impl Future<Output = Lost>>,
        clock: &LeaseClock,
        record: &Value,
    ) -> Result<Leadership> {
        let holds_stdin = self.spec.is_none();
        // Present while we lead: dropped (removed) before the command is
        // stopped, and while job control has us stopped.
        let ready_file = |at: &str| {
            let mut record = record.clone();
            record["since"] = at.into();
            self.args
                .ready_file
                .as_deref()
                .and_then(|file| ReadyFile::create(file, &record))
        };
        let elected_at = zk_common::output::now_rfc3339();
        let mut ready = ready_file(&elected_at);
        let reason = {
            let unhealthy = next_unhealthy(&mut self.prober);
            tokio::pin!(unhealthy);
            let stdin_closed = async {
                if holds_stdin {
                    zk_common::owner::stdin_closed().await
                } else {
                    std::future::pending().await
                }
            };
            tokio::pin!(stdin_closed);
            loop {
                tokio::select! {
                    biased;
                    lost = lost.as_mut() => break lost.reason(),
                    event = self.supervisor.next() => match event {
                        Event::Exited(code) => return Ok(Leadership::Resigned(code)),
                        Event::Signal(signal) => {
                            if !self.supervisor.forward(signal) {
                                return Ok(Leadership::Resigned(exit::OK));
                            }
                            tracing::info!("forwarded {signal} to the command");
                        }
                        Event::Suspend => {
                            let was_ready = ready.take().is_some();
                            if let Some(stalled) = self.supervisor.suspend(Some(clock)) {
                                // Killed while stopped; only reaped here.
                                self.supervisor.wait().await;
                                return Ok(Leadership::Lost(stalled.reason()));
                            }
                            if was_ready {
                                ready = ready_file(&elected_at);
                            }
                        }
                    },
                    () = &mut stdin_closed => return Ok(Leadership::Resigned(exit::OK)),
                    reason = &mut unhealthy => break format!("health check failing: {reason}"),
                }
            }
        };
        drop(ready);
        self.stop_command(clock.kill_after()).await;
        Ok(Leadership::Lost(reason))
    }

    /// Where the last leader left its mark (as ZKFC's ActiveBreadCrumb): a
    /// persistent node beside the candidates, deleted on a clean resignation.
    /// Beside the election directory, not in it: Curator's
    /// `LeaderLatch.getParticipants()` lists every child as a participant.
    fn breadcrumb(&self) -> String {
        format!("{}.leader-breadcrumb", self.path.trim_end_matches('/'))
    }

    async fn fence(&self, client: &Client, fence: &str) -> Result<(), Fence> {
        let previous = match client.get_data(&self.breadcrumb()).await {
            Ok((data, _)) => serde_json::from_slice::<Value>(&data).unwrap_or(Value::Null),
            Err(ZkError::NoNode) => return Ok(()),
            Err(err) => {
                return Err(Fence::Failed(format!(
                    "reading {}: {err}",
                    self.breadcrumb()
                )))
            }
        };
        // What we write names the leader's node; anything else is some
        // other program's node that happens to have the name.
        if !previous["node"].is_string() {
            return Err(Fence::Foreign(format!(
                "{} is not a breadcrumb zk-elect wrote (no \"node\" in its JSON); \
                 remove it or choose another election path",
                self.breadcrumb()
            )));
        }
        let text = |key: &str| match &previous[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        tracing::warn!(
            "the previous leader {} did not resign cleanly; fencing it",
            text("id").escape_debug()
        );
        let mut cmd = tokio::process::Command::new("sh");
        zk_common::supervisor::scrub_inherited(cmd.as_std_mut());
        let status = cmd
            .arg("-c")
            .arg(fence)
            .env("ZK_PREV_LEADER_ID", text("id"))
            .env("ZK_PREV_LEADER_TOKEN", text("token"))
            .env("ZK_PREV_LEADER_NODE", text("node"))
            .env("ZK_PREV_LEADER_SESSION_ID", text("session_id"))
            .stdin(std::process::Stdio::null())
            .status()
            .await
            .map_err(|err| Fence::Failed(format!("cannot run --fence: {err}")))?;
        if status.success() {
            Ok(())
        } else {
            Err(Fence::Failed(format!("--fence exited with {status}")))
        }
    }

    async fn write_breadcrumb(&self, client: &Client, ticket: &Ticket, session_id: &str) {
        let data = json!({"id": self.id, "node": ticket.node, "token": ticket.token, "session_id": session_id});
        let bytes = serde_json::to_vec(&data).unwrap_or_default();
        let path = self.breadcrumb();
        let written = match client.set_data(&path, &bytes, None).await {
            Err(ZkError::NoNode) => client
                .create(
                    &path,
                    &bytes,
                    &CreateMode::Persistent.with_acls(self.common.connect.acls()),
                )
                .await
                .map(|_| ())
                .context("creating the breadcrumb"),
            other => other.map(|_| ()).context("writing the breadcrumb"),
        };
        if let Err(err) = written {
            tracing::warn!("{path}: {err:#}");
        }
    }

    async fn remove_breadcrumb(&self, client: &Client, ticket: &Ticket) {
        let path = self.breadcrumb();
        let Ok((data, stat)) = client.get_data(&path).await else {
            return;
        };
        let ours = serde_json::from_slice::<Value>(&data)
            .ok()
            .is_some_and(|v| v["node"] == ticket.node.as_str());
        if ours {
            let _ = client.delete(&path, Some(stat.version)).await;
        }
    }
}

/// What a wait for health or election does with the supervisor's event:
/// `Some(status)` when the candidacy ends. Nothing is owned yet, so Ctrl-Z
/// just stops a warm command with us.
async fn while_waiting(supervisor: &mut Supervisor, event: Event) -> Option<u8> {
    match event {
        Event::Exited(code) => Some(code),
        Event::Signal(signal) => Some(supervisor.pass_on(signal).await),
        Event::Suspend => {
            supervisor.suspend(None);
            None
        }
    }
}

/// Why the previous leader could not be fenced.
enum Fence {
    /// The fence command failed or the breadcrumb could not be read.
    Failed(String),
    /// The node at the breadcrumb's name is not one we wrote.
    Foreign(String),
}

enum Leadership {
    /// The command exited, or we were told to stop: a clean resignation.
    Resigned(u8),
    Lost(String),
}

/// Resolves with the failing round's reason when health is lost; never
/// without probes.
async fn next_unhealthy(prober: &mut Option<Prober>) -> String {
    let Some(prober) = prober.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(prober.interval()).await;
        let change = prober.next_change(|_| {}).await;
        if !change.healthy {
            return change.round.reason;
        }
    }
}

/// Runs a transition hook to completion; a failing hook is logged, as
/// keepalived does with its notify scripts.
async fn run_hook(flag: &str, hook: &str, env: &[(&str, String)]) {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(hook)
        .stdin(std::process::Stdio::null())
        .stdout(std::io::stderr())
        .process_group(0)
        .kill_on_drop(true);
    zk_common::supervisor::scrub_inherited(cmd.as_std_mut());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => return tracing::warn!("cannot run {flag} hook: {err}"),
    };
    // Dropped when leadership is lost mid-hook, or when done: the hook's
    // whole group goes (empty by then, unless the hook left something).
    let _group = KillGroupOnDrop(child.id());
    match child.wait().await {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("{flag} hook exited with {status}"),
        Err(err) => tracing::warn!("waiting for the {flag} hook: {err}"),
    }
}
