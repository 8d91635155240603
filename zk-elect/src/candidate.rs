//! A candidate: wait for health, join, wait to be elected, fence, lead
//! (run the command, or just hold on), and resign or lose leadership.

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
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
use zk_common::queue::{Queue, Rule, Ticket, LATCH};
use zk_common::signals::{Forwarded, JobControl};
use zk_common::supervisor::{self, wait_if_any, CommandSpec, Supervised};
use zk_common::{connect, exit, node, Failure};

use crate::cli::CandidateArgs;

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
    signals: Forwarded,
    /// With --warm, the command that runs on every candidate.
    warm: Option<Supervised>,
}

pub async fn run(common: &CommonArgs, args: &CandidateArgs) -> Result<u8> {
    let spec = args.wrap.resolved_spec()?;
    let events = args.wrap.event_sink()?;
    let id = args.id.clone().unwrap_or_else(default_id);
    let mut candidate = Candidate {
        common,
        args,
        path: args.path.clone().unwrap_or_default(),
        id,
        spec,
        events,
        prober: args.probe.any().then(|| Prober::new(&args.probe)),
        signals: Forwarded::install()?,
        warm: None,
    };
    loop {
        // A warm command runs on every candidate; after a loss it was
        // stopped, and a rejoining candidate starts it again.
        if let (true, None, Some(spec)) = (args.warm, &candidate.warm, &candidate.spec) {
            let env = [("ZK_CONNECT", common.connect.connect.clone())];
            candidate.warm = Some(supervisor::spawn(spec, &env)?);
        }
        if let Some(code) = candidate.wait_until_healthy().await {
            return Ok(candidate.finish(code).await);
        }
        let client = connect::connect(&common.connect).await?;
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
        self.events.emit(e);
    }

    /// Stops a warm command still running; its status if it had exited.
    async fn finish(&mut self, code: u8) -> u8 {
        match self.warm.as_mut() {
            Some(warm) => {
                warm.stop(self.args.kill_after).await;
                code
            }
            None => code,
        }
    }

    /// Probes until healthy. `Some(status)` when told to stop meanwhile.
    async fn wait_until_healthy(&mut self) -> Option<u8> {
        let prober = self.prober.as_mut()?;
        if prober.healthy() {
            return None;
        }
        let _spinner = Waiting::start(
            format!("waiting for health before joining {}", self.path),
            self.common.log.quiet,
        );
        loop {
            tokio::select! {
                change = prober.next_change(|_| {}) => {
                    if change.healthy {
                        tracing::info!("healthy ({})", change.round.reason);
                        return None;
                    }
                }
                signal = self.signals.recv() => return Some(128 + signal as u8),
                code = wait_if_any(&mut self.warm) => return Some(code),
            }
        }
    }

    /// One candidacy on one session.
    async fn stand(&mut self, client: &Client) -> Result<Outcome> {
        let window = SafeWindow::new(client.session_timeout(), self.args.kill_after)?;
        lease::watch_stalls(&window);
        let queue = Queue::new(&self.path, LATCH, Rule::First);
        let ticket = queue
            .join(client, self.id.as_bytes(), self.common.connect.acls())
            .await?;
        let mut joined = event("candidate");
        joined.insert("node".into(), ticket.node.clone().into());
        self.emit(joined);

        if let Some(outcome) = self.await_election(client, &queue, &ticket).await? {
            return Ok(outcome);
        }

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
                self.stop_warm(clock.kill_after()).await;
                return Ok(self.lost(&lost.reason(), &env).await);
            }
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => {}
        }
        let end = self.lead(lost, &clock, &env).await?;
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
        let deadline = zk_common::progress::sleep_or_forever(self.args.timeout);
        let unhealthy = next_unhealthy(&mut self.prober);
        tokio::select! {
            elected = queue.wait_turn(client, ticket) => elected.map(|()| None),
            () = deadline => {
                let timeout = humantime::format_duration(self.args.timeout.unwrap_or_default());
                Err(Failure::not_acquired(format!("not elected at {} within {timeout}", self.path)).into())
            }
            signal = self.signals.recv() => {
                Ok(Some(Outcome::Exit(match self.warm.as_mut() {
                    Some(warm) => { warm.signal(signal); warm.wait().await }
                    None => 128 + signal as u8,
                })))
            }
            reason = unhealthy => {
                self.event_with_reason("unhealthy", &reason);
                Ok(Some(Outcome::Rejoin))
            }
            code = wait_if_any(&mut self.warm) => Ok(Some(Outcome::Exit(code))),
        }
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
            if let Err(reason) = self.fence(client, fence).await {
                self.event_with_reason("fence_failed", &reason);
                eprintln!(
                    "zk-elect: resigning from {}: fencing the previous leader failed: {reason}",
                    self.path
                );
                return Some(Outcome::Exit(exit::CONDITION_FALSE));
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
        if let (Some(warm), Some(signal)) = (self.warm.as_ref(), self.args.signal_elected) {
            warm.signal(signal);
        }
        None
    }

    /// Leadership is gone: say so, run the demotion hooks, rejoin or exit.
    async fn lost(&mut self, reason: &str, env: &[(&str, String)]) -> Outcome {
        eprintln!("zk-elect: lost leadership of {}: {reason}", self.path);
        self.event_with_reason("lost", reason);
        self.demoted(env).await;
        if self.args.rejoin {
            Outcome::Rejoin
        } else {
            Outcome::Exit(exit::OWNERSHIP_LOST)
        }
    }

    /// A warm command told it leads must not outlive the lease either: it
    /// is stopped like a leader's command, and started again on rejoin.
    async fn stop_warm(&mut self, kill_after: Duration) {
        stop_warm(&mut self.warm, self.args.signal_demoted, kill_after).await;
    }

    fn event_with_reason(&mut self, name: &str, reason: &str) {
        let mut e = event(name);
        e.insert("reason".into(), reason.into());
        self.emit(e);
    }

    async fn demoted(&mut self, env: &[(&str, String)]) {
        if let (Some(warm), Some(signal)) = (self.warm.as_ref(), self.args.signal_demoted) {
            warm.signal(signal);
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
    ) -> Result<Leadership> {
        // Fencing, the breadcrumb and the hook ran under the lease, but its
        // watch may not have been polled since: a lapsed lease starts nothing.
        if let Some(lost) = clock.lapsed() {
            self.stop_warm(clock.kill_after()).await;
            return Ok(Leadership::Lost(lost.reason()));
        }
        let mut command = match (&self.spec, self.args.warm) {
            (Some(spec), false) => Some(supervisor::spawn(spec, env)?),
            _ => None,
        };
        let mut job_control = JobControl::install()?;
        if self.args.watchdog {
            if let Some(child) = command.as_ref().or(self.warm.as_ref()) {
                zk_common::owner::guard(clock, child)?;
            }
        }
        let led = self
            .lead_until_done(lost, clock, &mut command, &mut job_control)
            .await;
        clock.disarm();
        led
    }

    async fn lead_until_done(
        &mut self,
        mut lost: Pin<&mut impl Future<Output = Lost>>,
        clock: &LeaseClock,
        command: &mut Option<Supervised>,
        job_control: &mut JobControl,
    ) -> Result<Leadership> {
        let unhealthy = next_unhealthy(&mut self.prober);
        tokio::pin!(unhealthy);
        let holds_stdin = self.spec.is_none();
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
                lost = lost.as_mut() => {
                    if let Some(child) = command.as_mut() {
                        child.stop(clock.kill_after()).await;
                    }
                    stop_warm(&mut self.warm, self.args.signal_demoted, clock.kill_after()).await;
                    return Ok(Leadership::Lost(lost.reason()));
                }
                code = wait_if_any(command) => return Ok(Leadership::Resigned(code)),
                code = wait_if_any(&mut self.warm) => return Ok(Leadership::Resigned(code)),
                () = &mut stdin_closed => return Ok(Leadership::Resigned(exit::OK)),
                signal = self.signals.recv() => {
                    match (command.as_ref(), self.warm.as_ref()) {
                        (Some(child), _) | (None, Some(child)) => {
                            tracing::info!("forwarding {signal} to the command");
                            child.signal(signal);
                        }
                        (None, None) => return Ok(Leadership::Resigned(exit::OK)),
                    }
                }
                () = job_control.stop_requested() => {
                    let running = command.as_ref().or(self.warm.as_ref());
                    let stalled = match running {
                        Some(child) => zk_common::owner::suspend(child, clock),
                        None => {
                            let stopped_at = tokio::time::Instant::now();
                            zk_common::signals::stop_self();
                            clock.expired().then_some(Lost::Stalled(stopped_at.elapsed()))
                        }
                    };
                    if let Some(stalled) = stalled {
                        if let Some(child) = command.as_mut() {
                            child.wait().await;
                        }
                        stop_warm(&mut self.warm, self.args.signal_demoted, clock.kill_after()).await;
                        return Ok(Leadership::Lost(stalled.reason()));
                    }
                }
                reason = &mut unhealthy => {
                    if let Some(child) = command.as_mut() {
                        child.stop(clock.kill_after()).await;
                    }
                    stop_warm(&mut self.warm, self.args.signal_demoted, clock.kill_after()).await;
                    return Ok(Leadership::Lost(format!("health check failing: {reason}")));
                }
            }
        }
    }

    /// Where the last leader left its mark (as ZKFC's ActiveBreadCrumb): a
    /// persistent node beside the candidates, deleted on a clean resignation.
    /// Beside the election directory, not in it: Curator's
    /// `LeaderLatch.getParticipants()` lists every child as a participant.
    fn breadcrumb(&self) -> String {
        format!("{}.leader-breadcrumb", self.path.trim_end_matches('/'))
    }

    async fn fence(&self, client: &Client, fence: &str) -> Result<(), String> {
        let previous = match client.get_data(&self.breadcrumb()).await {
            Ok((data, _)) => serde_json::from_slice::<Value>(&data).unwrap_or(Value::Null),
            Err(ZkError::NoNode) => return Ok(()),
            Err(err) => return Err(format!("reading {}: {err}", self.breadcrumb())),
        };
        let text = |key: &str| match &previous[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        tracing::warn!(
            "the previous leader {} did not resign cleanly; fencing it",
            text("id")
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
            .map_err(|err| format!("cannot run --fence: {err}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("--fence exited with {status}"))
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

/// See [`Candidate::stop_warm`]; a function of the fields it needs, so it
/// can run while the prober is borrowed.
async fn stop_warm(
    warm: &mut Option<Supervised>,
    signal_demoted: Option<nix::sys::signal::Signal>,
    kill_after: Duration,
) {
    if let Some(mut warm) = warm.take() {
        if let Some(signal) = signal_demoted {
            warm.signal(signal);
        }
        warm.stop(kill_after).await;
    }
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
    // Dropped when leadership is lost mid-hook: the hook's whole group goes.
    let _group = KillGroupOnDrop(child.id());
    match child.wait().await {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("{flag} hook exited with {status}"),
        Err(err) => tracing::warn!("waiting for the {flag} hook: {err}"),
    }
}

/// SIGKILL to a hook's process group when its run is abandoned (or done:
/// the group is then empty, unless the hook left something behind).
struct KillGroupOnDrop(Option<u32>);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}
