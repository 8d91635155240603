//! Ownership of a node (a lock, a leadership), and the lease that bounds how
//! long our command may keep running without proof that ZooKeeper's leader
//! still keeps our session alive.
//!
//! # Who decides expiry
//! Only the leader expires sessions: at `τ + T` or later, where τ is the
//! last time the leader *touched* our session and T the negotiated timeout
//! (its expiry buckets round up). The server we talk to touches nothing on
//! the leader by itself: a follower records our activity and reports it in
//! its reply to the leader's next ping, and the leader pings followers every
//! tickTime/2. A follower cut off from the leader keeps answering our pings,
//! so the client library sees a healthy connection while the leader expires
//! us. Our own connection's health therefore proves nothing; only traffic
//! that went through the leader does.
//!
//! # The lease
//! Every `confirm_every` we send a *write only a quorum can commit*: a
//! `multi` holding one version check of our node, which changes nothing but
//! goes through the leader's proposal path like any write (it gets a zxid
//! and is logged and acknowledged by a quorum before anyone answers it).
//! On the same connection a read of our node follows it. Both succeed and
//! the node is still ours: call the write's send time S *confirmed*.
//!
//! Why a write and not a `sync`: `sync` is no quorum operation. The leader
//! answers it as soon as no proposal is outstanding, and a leader whose
//! followers have left it serves on until `syncLimit` ticks without their
//! acks run out, while the others elect a new leader that expires us T
//! after its start (ZOOKEEPER-1675). A holder talking to that deposed
//! leader saw its syncs succeed for 9 s and overlapped the next owner for
//! over 5 s; its writes failed from the first moment. A write's reply
//! proves what a sync's cannot, in two cases:
//!
//! - **The leader L that committed it still leads.** The write reached L
//!   through the server we talk to, so that server was following L at S or
//!   later, and the follower argument below bounds when L last touched us.
//! - **A newer leader L' exists.** L' was established by a quorum that had
//!   left L, and any two quorums share a server, which acknowledges no
//!   proposal of L after it joined L'; so L committed our write before L'
//!   took office. A new leader re-tracks every session from its own start:
//!   it expires none before its start + T, later than S + T. Neither L'
//!   nor any later leader can end our session sooner than the bound below.
//!
//! The bound, when L still leads:
//!
//! - the follower's link to the leader carried our write after S and the
//!   commit back, so its last ping reply that reached the leader was sent
//!   no earlier than S - tickTime/2;
//! - that reply reported every message of ours the follower had seen, and
//!   we send at least every T/5 (the client library pings after 3 idle
//!   ticks of T/20, checked once a tick; our rounds are more frequent), so
//!   τ >= S - tickTime/2 - T/5 - P, where P is the longest time this
//!   process was stalled (stopped, starved) during the session timeout
//!   before S, when nothing was sent: [`watch_stalls`] measures it, and a
//!   confirmation counts P less (a waiter frozen and woken just as its
//!   turn comes cannot start on the strength of one fresh round);
//! - ZooKeeper negotiates T >= 2 tickTime (its default minSessionTimeout),
//!   so tickTime/2 <= T/4 and τ >= S - 9/20 T;
//! - the read after the write sees the state the write was committed in or
//!   a newer one, so the session had not been closed by then (closing it
//!   deletes the node, and a closed session's touches would not count).
//!
//! So no leader can expire us before `S - P + 11/20 T`, and another
//! owner cannot exist before then. The command must be dead by that instant:
//!
//! ```text
//! SIGTERM at S - P + grace, SIGKILL kill_after later, where
//! grace  = 11/20 T - margin - kill_after
//! margin = max(100 ms, T / 10)   (clock rates, scheduling, the last round trip)
//! ```
//!
//! Directly connected to the leader the bound only gets looser (the leader
//! touches us on receipt). A confirmation is sought every `grace / 2`, so a
//! round trip may take up to `grace / 2` before the command is stopped; with
//! the defaults (T = 10 s, kill-after 2 s) grace is 2.5 s and one write plus
//! one read go out every 1.25 s, replacing the library's idle pings.
//!
//! # T can shrink
//! A reconnect renegotiates T against the new server's
//! `maxSessionTimeout`, and that server's touches carry the new T to the
//! leader. So T is read again from the client (which reports the latest
//! negotiated value; see `vendor/zookeeper-client/PATCHED.md`) before
//! every deadline is computed, and the window shrinks with it: a smaller T'
//! applies to confirmations sent before the reconnect too, since the
//! revalidation that set T' reached the leader after them (a round in
//! flight across a reconnect fails with its connection). A T' that leaves
//! no window at all ends ownership at once. A larger T' is ignored.
//!
//! # The price
//! Liveness, never safety: every holder commits one empty transaction per
//! `confirm_every` (a log append and an fsync on a quorum, shared by group
//! commit with other writes), and a round waits behind the leader's pending
//! proposals, so a leader whose disk stalls for longer than the grace makes
//! owners give up although their sessions live.
//!
//! The same bound covers the client library's disconnect report D (it
//! declares a connection dead after 2/5 T of silence, checked every T/20, so
//! the server last heard from us after D - 9/20 T): the last confirmation
//! always precedes D. And it covers a frozen process (SIGSTOP, a paused VM):
//! on waking, the deadline has passed and fires before anything else.
//! What it cannot cover is the time this process is frozen while the
//! command runs on: see [`crate::watchdog`] for that.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use zookeeper_client::{
    Client, EventType, MultiWriteError, OneshotWatcher, SessionState, WatchedEvent,
};

use crate::exit::Failure;
use crate::watchdog::Watchdog;

/// The arithmetic above, for one negotiated session timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeWindow {
    pub session_timeout: Duration,
    pub kill_after: Duration,
    pub margin: Duration,
    /// How long after the last confirming write was sent (or after a
    /// reported disconnect) the command may keep running.
    pub grace: Duration,
}

impl SafeWindow {
    /// Fits `kill_after` into the window of `session_timeout` (the
    /// negotiated one). Shrinks `kill_after` to half of what is available
    /// (with a warning) when it does not fit; refuses when nothing does.
    pub fn new(session_timeout: Duration, kill_after: Duration) -> Result<SafeWindow, Failure> {
        let margin = (session_timeout / 10).max(Duration::from_millis(100));
        let unseen = session_timeout * 9 / 20;
        let available = session_timeout
            .saturating_sub(unseen)
            .saturating_sub(margin);
        if available < Duration::from_millis(100) {
            return Err(Failure::usage(format!(
                "session timeout {} leaves no safe window to stop the command in; ask for a longer --session-timeout",
                humantime::format_duration(session_timeout)
            )));
        }
        let mut kill_after = kill_after;
        if kill_after >= available {
            let shrunk = available / 2;
            tracing::warn!(
                "--kill-after {} does not fit the safe window of a {} session; using {}",
                humantime::format_duration(kill_after),
                humantime::format_duration(session_timeout),
                humantime::format_duration(shrunk)
            );
            kill_after = shrunk;
        }
        Ok(SafeWindow {
            session_timeout,
            kill_after,
            margin,
            grace: available - kill_after,
        })
    }

    /// How often the lease is confirmed through the leader: half the grace,
    /// so one slow round trip does not stop the command.
    pub fn confirm_every(&self) -> Duration {
        self.grace / 2
    }

    /// This window for the session timeout the client reports now: the
    /// same when it has not shrunk; refitted (the kill-after shrinking too
    /// if need be) when a reconnect renegotiated it lower; lost when the
    /// new timeout leaves no window at all.
    pub fn refit(&self, negotiated: Duration) -> Result<SafeWindow, Lost> {
        if negotiated >= self.session_timeout {
            return Ok(*self);
        }
        let refitted =
            SafeWindow::new(negotiated, self.kill_after).map_err(|_| Lost::Renegotiated {
                from: self.session_timeout,
                to: negotiated,
            })?;
        tracing::warn!(
            "the session timeout was renegotiated from {} to {} on reconnect; the command is now stopped {} \
             after the last confirmation (kill-after {}, margin {})",
            humantime::format_duration(self.session_timeout),
            humantime::format_duration(negotiated),
            humantime::format_duration(refitted.grace),
            humantime::format_duration(refitted.kill_after),
            humantime::format_duration(refitted.margin),
        );
        Ok(refitted)
    }
}

/// Why ownership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// No confirmation through the leader for the whole grace: the leader
    /// may expire us (a follower cut off from it, a frozen process).
    Unconfirmed(Duration),
    /// This process was stopped (SIGTSTP) for longer than the lease allows.
    Stalled(Duration),
    /// The session expired or was closed.
    SessionEnded(SessionState),
    /// Someone deleted our node.
    NodeDeleted,
    /// Someone asked us to let go: `__REVOKE__` written to our node, as
    /// Curator's `Revoker` does (`zk-lock break`, `zk-elect resign`).
    Revoked,
    /// The lease ran out while the client was disconnected: how long it had
    /// been disconnected, and how long since the last confirmation.
    Disconnected {
        disconnected: Duration,
        unconfirmed: Duration,
    },
    /// A reconnect renegotiated the session timeout too low for any safe
    /// window.
    Renegotiated { from: Duration, to: Duration },
    /// ZooKeeper refused a confirmation round outright (not a lost
    /// connection): the error it gave.
    Refused(String),
}

impl Lost {
    pub fn reason(&self) -> String {
        // Whole milliseconds: "905ms", not "905ms 622us 324ns".
        let human = |d: &Duration| {
            let millis = Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX));
            humantime::format_duration(millis).to_string()
        };
        match self {
            Lost::SessionEnded(state) => format!("session ended ({state:?})"),
            Lost::NodeDeleted => "the owning node was deleted".into(),
            Lost::Revoked => "revoked: asked to let go (__REVOKE__ written to our node)".into(),
            Lost::Unconfirmed(d) => format!(
                "ZooKeeper's leader has not confirmed our session for {} (the safe window)",
                human(d)
            ),
            Lost::Stalled(d) => format!(
                "this process was stopped for {}, longer than the safe window allows",
                human(d)
            ),
            Lost::Disconnected {
                disconnected,
                unconfirmed,
            } => format!(
                "disconnected from ZooKeeper for {}; the leader has not confirmed our session for {} (the safe window)",
                human(disconnected),
                human(unconfirmed)
            ),
            Lost::Refused(err) => format!("ZooKeeper refused to confirm our ownership: {err}"),
            Lost::Renegotiated { from, to } => format!(
                "the session timeout was renegotiated from {} to {} on reconnect, too short for a safe window",
                human(from),
                human(to)
            ),
        }
    }
}

/// The lease's deadline, shared between the watch and whoever must decide
/// outside it (job control: may a stopped command be resumed?).
#[derive(Debug, Clone)]
pub struct LeaseClock {
    terms: Arc<Mutex<Terms>>,
    watchdog: Arc<Mutex<Option<Watchdog>>>,
}

#[derive(Debug, Clone, Copy)]
struct Terms {
    /// The anchor: the send time of the best confirmation, less the stalls
    /// before it.
    confirmed: Instant,
    /// Shrinks when a reconnect renegotiates the session timeout lower.
    window: SafeWindow,
}

impl LeaseClock {
    fn new(sent: Instant, window: SafeWindow) -> LeaseClock {
        LeaseClock {
            terms: Arc::new(Mutex::new(Terms {
                confirmed: anchor(sent, window.session_timeout),
                window,
            })),
            watchdog: Arc::default(),
        }
    }

    fn terms(&self) -> Terms {
        *self.terms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The window in force now.
    pub fn window(&self) -> SafeWindow {
        self.terms().window
    }

    /// How long a stopped command gets between SIGTERM and SIGKILL now.
    pub fn kill_after(&self) -> Duration {
        self.window().kill_after
    }

    /// Fits the window to the session timeout the client reports now (see
    /// [`SafeWindow::refit`]); a shorter deadline reaches the watchdog too.
    pub fn refit(&self, negotiated: Duration) -> Result<(), Lost> {
        let window = self.window();
        let refitted = window.refit(negotiated)?;
        if refitted != window {
            self.terms.lock().unwrap_or_else(|p| p.into_inner()).window = refitted;
            self.feed_watchdog();
        }
        Ok(())
    }

    /// `Some` when the lease has run out: for a last look right before a
    /// command starts, when the watch over the lease may not have run.
    pub fn lapsed(&self) -> Option<Lost> {
        self.expired()
            .then(|| Lost::Unconfirmed(self.last_confirmed().elapsed()))
    }

    /// Hands the lease to a dead-man's switch too: from now on it kills the
    /// command when we would have, even if we cannot.
    pub fn guard_with(&self, watchdog: Watchdog) {
        *self.watchdog.lock().unwrap_or_else(|p| p.into_inner()) = Some(watchdog);
        self.feed_watchdog();
    }

    /// The command has been reaped; the switch may go.
    pub fn disarm(&self) {
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(watchdog) = watchdog {
            watchdog.disarm();
        }
    }

    /// When the command must have been sent SIGTERM.
    pub fn deadline(&self) -> Instant {
        let terms = self.terms();
        terms.confirmed + terms.window.grace
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    fn last_confirmed(&self) -> Instant {
        self.terms().confirmed
    }

    /// Only ever moves forward: rounds may complete out of order.
    fn confirm(&self, sent: Instant) {
        {
            let mut terms = self.terms.lock().unwrap_or_else(|p| p.into_inner());
            let anchor = anchor(sent, terms.window.session_timeout);
            terms.confirmed = terms.confirmed.max(anchor);
        }
        self.feed_watchdog();
    }

    /// Tells the watchdog, if any, when to kill: SIGKILL's instant.
    fn feed_watchdog(&self) {
        let kill_at = self.deadline() + self.kill_after();
        if let Some(watchdog) = self
            .watchdog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            watchdog.feed(kill_at);
        }
    }
}

/// What a confirmation sent at `sent` is worth: `sent` less the longest
/// stall of this process in the session timeout before it (see the module
/// comment).
fn anchor(sent: Instant, session_timeout: Duration) -> Instant {
    let since = sent.checked_sub(session_timeout).unwrap_or(sent);
    sent.checked_sub(longest_stall_since(since)).unwrap_or(sent)
}

/// Stalls of this process (end, length), newest last: what
/// [`watch_stalls`] saw.
static STALLS: Mutex<Vec<(Instant, Duration)>> = Mutex::new(Vec::new());

/// Starts watching for stalls of this process (SIGSTOP, a paused VM, a
/// starved runtime): a tick every T/40 that arrives late records the
/// lateness. Call it right after connecting, before queueing, so a stall
/// while waiting is seen. Idempotent.
pub fn watch_stalls(window: &SafeWindow) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let period = (window.session_timeout / 40).max(Duration::from_millis(10));
    STARTED.call_once(|| {
        tokio::spawn(async move {
            let mut expected = Instant::now() + period;
            loop {
                tokio::time::sleep_until(expected).await;
                let now = Instant::now();
                let late = now.saturating_duration_since(expected);
                if late > period {
                    record_stall(now, late + period);
                }
                expected = now + period;
            }
        });
    });
}

fn record_stall(at: Instant, length: Duration) {
    tracing::debug!(
        "this process was stalled for {}",
        humantime::format_duration(length)
    );
    let mut stalls = STALLS.lock().unwrap_or_else(|p| p.into_inner());
    if stalls.len() >= 64 {
        stalls.remove(0);
    }
    stalls.push((at, length));
}

/// The longest stall that ended after `since`.
fn longest_stall_since(since: Instant) -> Duration {
    let stalls = STALLS.lock().unwrap_or_else(|p| p.into_inner());
    stalls
        .iter()
        .filter(|(end, _)| *end > since)
        .map(|(_, length)| *length)
        .max()
        .unwrap_or_default()
}

/// What one confirmation round found.
enum Round {
    /// A quorum committed our write sent at this instant, and the node is
    /// ours; with the node watch when one was asked for.
    Confirmed(Instant, Option<OneshotWatcher>),
    /// No answer this time (connection loss); the deadline decides.
    Unanswered,
    Lost(Lost),
}

/// One round: a `multi` of one version check of our node, which only a
/// quorum can commit, then a read of our node on the same connection
/// (requests of one session are answered in order, so the read sees the
/// state the write was committed in, or a newer one).
async fn confirm_round(client: Client, node: String, want_watch: bool) -> Round {
    let session = client.session_id().0;
    let sent = Instant::now();
    // Both requests are queued before either is awaited: one round trip.
    let mut writer = client.new_multi_writer();
    if let Err(err) = writer.add_check_version(&node, -1) {
        // Our own node's path, valid when we created it: not reachable.
        tracing::debug!("cannot check {node}: {err}");
        return Round::Unanswered;
    }
    let committed = async {
        match writer.commit().await {
            Ok(_) => Ok(true),
            // The check of a missing node fails; the node is gone.
            Err(MultiWriteError::OperationFailed {
                source: zookeeper_client::Error::NoNode,
                ..
            }) => Ok(false),
            Err(MultiWriteError::OperationFailed { source, .. })
            | Err(MultiWriteError::RequestFailed { source }) => Err(source),
        }
    };
    let (committed, stat) = if want_watch {
        let check = client.check_and_watch_stat(&node);
        let (committed, checked) = tokio::join!(committed, check);
        (
            committed,
            checked.map(|(stat, watcher)| (stat, Some(watcher))),
        )
    } else {
        let check = client.check_stat(&node);
        let (committed, checked) = tokio::join!(committed, check);
        (committed, checked.map(|stat| (stat, None)))
    };
    match (committed, stat) {
        (Ok(true), Ok((Some(stat), watcher))) if stat.ephemeral_owner == session => {
            // Someone wrote our node, and as many bytes as `__REVOKE__`:
            // read it (rarely, so a holder of a megabyte pays nothing).
            if crate::revoke::may_be_revoked(&stat) {
                if let Ok((data, _)) = client.get_data(&node).await {
                    if crate::revoke::is_revoked(&data) {
                        return Round::Lost(Lost::Revoked);
                    }
                }
            }
            Round::Confirmed(sent, watcher)
        }
        (Ok(_), Ok(_)) => Round::Lost(Lost::NodeDeleted),
        // A read-only server refuses the write: it cannot confirm, and the
        // deadline decides.
        (Err(err), _) | (_, Err(err))
            if crate::exit::is_transient(&err) || err == zookeeper_client::Error::NotReadOnly =>
        {
            Round::Unanswered
        }
        // Anything else ends ownership: the session's end when the client
        // has seen it, else the server's refusal (no permission left on our
        // node, say), named as such.
        (Err(err), _) | (_, Err(err)) => Round::Lost(match client.state() {
            state if state.is_terminated() => Lost::SessionEnded(state),
            _ => Lost::Refused(err.to_string()),
        }),
    }
}

/// Confirms the lease once, before a command starts: a waiter granted its
/// turn by a server cut off from the leader must not start at all. Gives up
/// (as lost) when no confirmation arrives within the grace.
pub async fn confirm_first(
    client: &Client,
    node: &str,
    window: SafeWindow,
) -> Result<LeaseClock, Lost> {
    // The window was fitted when we connected; a reconnect while we
    // waited for our turn may have shrunk the session since.
    let window = window.refit(client.session_timeout())?;
    let started = Instant::now();
    let give_up = started + window.grace;
    loop {
        let round = confirm_round(client.clone(), node.to_string(), false);
        match tokio::time::timeout_at(give_up, round).await {
            Ok(Round::Confirmed(sent, _)) => {
                let lease = LeaseClock::new(sent, window);
                lease.refit(client.session_timeout())?;
                return Ok(lease);
            }
            Ok(Round::Lost(lost)) => return Err(lost),
            Ok(Round::Unanswered) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => return Err(Lost::Unconfirmed(window.grace)),
        }
        if Instant::now() >= give_up {
            return Err(Lost::Unconfirmed(window.grace));
        }
    }
}

/// Watches ownership of one node until it is lost. Every await that can
/// block on ZooKeeper is a branch of one `select!` next to the deadline, so
/// nothing can keep the deadline from firing.
pub struct Ownership {
    client: Client,
    node: String,
    lease: LeaseClock,
    rounds: JoinSet<Round>,
    node_watch: Option<NodeWatch>,
    disconnected_at: Option<Instant>,
}

impl Ownership {
    pub fn new(client: &Client, node: &str, lease: LeaseClock) -> Ownership {
        Ownership {
            client: client.clone(),
            node: node.to_string(),
            lease,
            rounds: JoinSet::new(),
            node_watch: None,
            disconnected_at: None,
        }
    }

    /// The lease's clock, for decisions taken outside the watch.
    pub fn clock(&self) -> LeaseClock {
        self.lease.clone()
    }

    /// Resolves when ownership is lost. Cancel-safe: drop it to stop
    /// watching (pending rounds are aborted).
    pub async fn lost(&mut self) -> Lost {
        let mut state = self.client.state_watcher();
        match state.state() {
            SessionState::Disconnected => self.disconnected_at = Some(Instant::now()),
            terminal if terminal.is_terminated() => return Lost::SessionEnded(terminal),
            _ => {}
        }
        let mut every = self.lease.window().confirm_every();
        let mut cadence = cadence(every);
        loop {
            // Before any deadline is computed: a reconnect may have shrunk
            // the session (the client updates the timeout before it
            // announces the reconnect, which wakes this loop).
            if let Err(lost) = self.lease.refit(self.client.session_timeout()) {
                return lost;
            }
            if self.lease.window().confirm_every() != every {
                every = self.lease.window().confirm_every();
                cadence = self::cadence(every);
            }
            let deadline = self.deadline();
            tokio::select! {
                biased;
                // First, so a process waking from a freeze stops the command
                // before a stale answer is looked at.
                () = tokio::time::sleep_until(deadline) => return self.expired(),
                Some(round) = self.rounds.join_next() => {
                    if let Some(lost) = self.settle(round) {
                        return lost;
                    }
                }
                event = node_event(&mut self.node_watch) => {
                    if let Some(lost) = self.on_node_event(event) {
                        return lost;
                    }
                }
                new_state = state.changed() => {
                    if let Some(lost) = self.on_state(new_state) {
                        return lost;
                    }
                }
                _ = cadence.tick() => self.start_round(),
            }
        }
    }

    /// The lease's deadline. A confirmation that counts was sent before the
    /// disconnect that follows it, so `at + grace` does not come sooner: the
    /// disconnect bound is a second line, the lease the first.
    fn deadline(&self) -> Instant {
        let confirmed = self.lease.deadline();
        match self.disconnected_at {
            Some(at) => confirmed.min(at + self.lease.window().grace),
            None => confirmed,
        }
    }

    /// The reason says whether we were disconnected when time ran out: it
    /// tells an operator where to look (our network, or the server we talk
    /// to cut off from its leader).
    fn expired(&self) -> Lost {
        let unconfirmed = Instant::now() - self.lease.last_confirmed();
        match self.disconnected_at {
            Some(at) => Lost::Disconnected {
                disconnected: at.elapsed(),
                unconfirmed,
            },
            None => Lost::Unconfirmed(unconfirmed),
        }
    }

    fn start_round(&mut self) {
        // A server that swallows our requests must not make them pile up.
        if self.rounds.len() >= 4 {
            return;
        }
        let want_watch = self.node_watch.is_none();
        let round = confirm_round(self.client.clone(), self.node.clone(), want_watch);
        self.rounds.spawn(round);
    }

    fn settle(&mut self, round: Result<Round, tokio::task::JoinError>) -> Option<Lost> {
        match round {
            Ok(Round::Confirmed(sent, watcher)) => {
                self.lease.confirm(sent);
                if self.node_watch.is_none() {
                    self.node_watch = watcher.map(|w| Box::pin(w.changed()) as NodeWatch);
                }
                None
            }
            Ok(Round::Unanswered) => None,
            Ok(Round::Lost(lost)) => Some(lost),
            Err(err) => {
                tracing::debug!("confirmation round ended: {err}");
                None
            }
        }
    }

    fn on_node_event(&mut self, event: WatchedEvent) -> Option<Lost> {
        // A fired watch is spent: the next round sets a new one.
        self.node_watch = None;
        match event.event_type {
            EventType::NodeDeleted => Some(Lost::NodeDeleted),
            EventType::Session if event.session_state.is_terminated() => {
                Some(Lost::SessionEnded(event.session_state))
            }
            _ => {
                self.start_round();
                None
            }
        }
    }

    fn on_state(&mut self, new_state: SessionState) -> Option<Lost> {
        match new_state {
            SessionState::Disconnected => {
                let at = Instant::now();
                self.disconnected_at = Some(at);
                let left = self.deadline().saturating_duration_since(at);
                let window = self.lease.window();
                tracing::warn!(
                    "disconnected from ZooKeeper; stopping the command in {} unless the leader confirms our session \
                     (safe window: session {}, kill-after {}, margin {})",
                    humantime::format_duration(left),
                    humantime::format_duration(window.session_timeout),
                    humantime::format_duration(window.kill_after),
                    humantime::format_duration(window.margin),
                );
                None
            }
            // A read-only server is cut off from the quorum: it keeps
            // nothing alive, and only a confirmation moves the deadline.
            SessionState::ConnectedReadOnly => None,
            SessionState::SyncConnected => {
                if self.disconnected_at.take().is_some() {
                    tracing::info!("reconnected; confirming {} through a quorum", self.node);
                }
                self.start_round();
                None
            }
            terminal => Some(Lost::SessionEnded(terminal)),
        }
    }
}

/// Ticks every `every`; a late tick is not made up for.
fn cadence(every: Duration) -> tokio::time::Interval {
    let mut cadence = tokio::time::interval(every);
    cadence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    cadence
}

/// A node watch waiting for its event; kept across loop turns, since
/// dropping a watcher removes it.
type NodeWatch = Pin<Box<dyn Future<Output = WatchedEvent> + Send>>;

/// The next event of the node watch, if one is set; never resolves without.
/// The caller clears the spent watch.
async fn node_event(watch: &mut Option<NodeWatch>) -> WatchedEvent {
    match watch.as_mut() {
        Some(watch) => watch.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Confirms once, then watches: the usual way to own a node.
pub async fn own(client: &Client, node: &str, window: SafeWindow) -> Result<Ownership, Lost> {
    let lease = confirm_first(client, node, window).await?;
    let window = lease.window();
    tracing::info!(
        "holding {node}: the command is stopped {} after the last confirmation by a ZooKeeper quorum \
         (session {}, kill-after {}, margin {}; confirmed every {})",
        humantime::format_duration(window.grace),
        humantime::format_duration(window.session_timeout),
        humantime::format_duration(window.kill_after),
        humantime::format_duration(window.margin),
        humantime::format_duration(window.confirm_every()),
    );
    Ok(Ownership::new(client, node, lease))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_window_leaves_margin_before_the_earliest_expiry() {
        let window = SafeWindow::new(Duration::from_secs(10), Duration::from_secs(2)).unwrap();
        assert_eq!(window.margin, Duration::from_secs(1));
        assert_eq!(window.kill_after, Duration::from_secs(2));
        assert_eq!(window.grace, Duration::from_millis(2500));
        assert_eq!(window.confirm_every(), Duration::from_millis(1250));
        // Earliest expiry after a confirmation sent at S is S + 11/20 T.
        let earliest_expiry = Duration::from_secs(10) * 11 / 20;
        assert_eq!(
            window.grace + window.kill_after + window.margin,
            earliest_expiry
        );
    }

    #[test]
    fn kill_after_is_shrunk_to_fit_a_short_session() {
        let window = SafeWindow::new(Duration::from_secs(1), Duration::from_secs(2)).unwrap();
        assert_eq!(window.margin, Duration::from_millis(100));
        assert_eq!(window.kill_after, Duration::from_millis(225));
        assert_eq!(window.grace, Duration::from_millis(225));
    }

    #[test]
    fn no_window_is_refused() {
        let err = SafeWindow::new(Duration::from_millis(300), Duration::from_secs(2)).unwrap_err();
        assert_eq!(err.code, crate::exit::USAGE);
        assert!(err.message.contains("--session-timeout"));
    }

    #[test]
    fn a_window_shrinks_with_a_renegotiated_session_and_never_grows() {
        let window = SafeWindow::new(Duration::from_secs(10), Duration::from_secs(2)).unwrap();
        assert_eq!(window.refit(Duration::from_secs(20)).unwrap(), window);
        assert_eq!(window.refit(Duration::from_secs(10)).unwrap(), window);
        let shrunk = window.refit(Duration::from_secs(2)).unwrap();
        assert_eq!(shrunk.session_timeout, Duration::from_secs(2));
        assert_eq!(shrunk.margin, Duration::from_millis(200));
        // 2 s kill-after no longer fits the 900 ms available: half of it.
        assert_eq!(shrunk.kill_after, Duration::from_millis(450));
        assert_eq!(shrunk.grace, Duration::from_millis(450));
        let lost = window.refit(Duration::from_millis(300)).unwrap_err();
        assert_eq!(
            lost,
            Lost::Renegotiated {
                from: Duration::from_secs(10),
                to: Duration::from_millis(300)
            }
        );
        assert_eq!(
            lost.reason(),
            "the session timeout was renegotiated from 10s to 300ms on reconnect, too short for a safe window"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_refitted_lease_runs_out_sooner_and_a_lapsed_one_says_so() {
        let _turn = STALL_TESTS.lock().await;
        STALLS.lock().unwrap().clear();
        let start = Instant::now();
        let roomy = SafeWindow::new(Duration::from_secs(10), Duration::from_secs(2)).unwrap();
        let clock = LeaseClock::new(start, roomy);
        assert_eq!(clock.deadline(), start + Duration::from_millis(2500));
        assert!(clock.lapsed().is_none());
        clock.refit(Duration::from_secs(2)).unwrap();
        assert_eq!(clock.deadline(), start + Duration::from_millis(450));
        assert_eq!(clock.kill_after(), Duration::from_millis(450));
        // A later, larger timeout does not undo the shrink.
        clock.refit(Duration::from_secs(10)).unwrap();
        assert_eq!(clock.deadline(), start + Duration::from_millis(450));

        let stale = LeaseClock::new(start - Duration::from_secs(5), roomy);
        match stale.lapsed() {
            Some(Lost::Unconfirmed(for_how_long)) => {
                assert!(for_how_long >= Duration::from_secs(5), "{for_how_long:?}")
            }
            other => panic!("a lease confirmed 5 s ago with a 2.5 s grace: {other:?}"),
        }
    }

    fn window(grace: Duration) -> SafeWindow {
        SafeWindow {
            session_timeout: grace * 4,
            kill_after: grace,
            margin: grace,
            grace,
        }
    }

    /// Stalls are recorded process-wide: tests that record or count them
    /// take turns.
    static STALL_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test(flavor = "current_thread")]
    async fn the_lease_only_moves_forward_and_counts_stalls_against_it() {
        let _turn = STALL_TESTS.lock().await;
        STALLS.lock().unwrap().clear();
        let start = Instant::now();
        let clock = LeaseClock::new(start, window(Duration::from_millis(100)));
        clock.confirm(start + Duration::from_millis(50));
        clock.confirm(start + Duration::from_millis(10));
        assert_eq!(clock.deadline(), start + Duration::from_millis(150));

        // A stall before a confirmation shortens what it is worth.
        let later = start + Duration::from_millis(300);
        record_stall(later - Duration::from_millis(20), Duration::from_millis(70));
        clock.confirm(later);
        assert_eq!(
            clock.deadline(),
            later - Duration::from_millis(70) + Duration::from_millis(100)
        );
        // One the whole session timeout (400 ms) ago no longer counts.
        let much_later = later + Duration::from_millis(500);
        clock.confirm(much_later);
        assert_eq!(clock.deadline(), much_later + Duration::from_millis(100));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_process_stall_is_recorded() {
        let _turn = STALL_TESTS.lock().await;
        STALLS.lock().unwrap().clear();
        let window =
            SafeWindow::new(Duration::from_millis(800), Duration::from_millis(50)).unwrap();
        watch_stalls(&window);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let before = Instant::now();
        // Blocks the only runtime thread, as SIGSTOP would.
        std::thread::sleep(Duration::from_millis(150));
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The whole block at least: the stall is measured from the tick
        // before it, which came before the block began. (A shorter record
        // would make a confirmation after a freeze worth too much.)
        assert!(
            longest_stall_since(before) >= Duration::from_millis(150),
            "{:?}",
            longest_stall_since(before)
        );
    }

    /// Set for the probe below when [`an_idle_process_records_no_stall`]
    /// runs it.
    const IDLE_PROBE: &str = "ZK_LEASE_IDLE_STALL_PROBE";

    /// Real time, not paused: under paused time every tick is exactly on
    /// time, and a watcher that expects its first tick one period in the
    /// past would see it late by exactly one period, which is no stall.
    /// Run by [`an_idle_process_records_no_stall`] in a process of its own,
    /// because `watch_stalls` starts once per process, on the runtime of
    /// its first caller (in this binary possibly an earlier test's, since
    /// dropped); without that process's variable it does nothing.
    #[tokio::test(flavor = "current_thread")]
    #[ignore = "run in a fresh process by an_idle_process_records_no_stall"]
    async fn idle_process_probe() {
        if std::env::var_os(IDLE_PROBE).is_none() {
            eprintln!("{IDLE_PROBE} not set: nothing to probe");
            return;
        }
        let start = Instant::now();
        // A tick every T/40 = 200 ms: only a tick later than that is a
        // stall, which an idle runtime does not see on a loaded machine.
        let window = SafeWindow::new(Duration::from_secs(8), Duration::from_secs(1)).unwrap();
        watch_stalls(&window);
        // Five ticks and a half.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            longest_stall_since(start),
            Duration::ZERO,
            "an idle process recorded a stall: every confirmation would be worth less"
        );
    }

    #[test]
    fn an_idle_process_records_no_stall() {
        let probe = "lease::tests::idle_process_probe";
        let ran = std::process::Command::new(std::env::current_exe().unwrap())
            .args([probe, "--exact", "--ignored", "--nocapture"])
            .env(IDLE_PROBE, "1")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&ran.stdout);
        let err = String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "{out}{err}");
        // It ran, rather than being filtered away.
        assert!(out.contains(&format!("test {probe} ... ok")), "{out}{err}");
    }

    #[test]
    fn reasons_name_the_cause_in_whole_milliseconds() {
        let odd = Duration::from_nanos(905_622_324);
        assert_eq!(
            Lost::Unconfirmed(odd).reason(),
            "ZooKeeper's leader has not confirmed our session for 905ms (the safe window)"
        );
        assert_eq!(
            Lost::Disconnected {
                disconnected: Duration::from_millis(1_200),
                unconfirmed: odd,
            }
            .reason(),
            "disconnected from ZooKeeper for 1s 200ms; the leader has not confirmed our session \
             for 905ms (the safe window)"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lease_not_confirmed_within_the_grace_has_expired() {
        let _turn = STALL_TESTS.lock().await;
        STALLS.lock().unwrap().clear();
        let fresh = LeaseClock::new(Instant::now(), window(Duration::from_secs(3600)));
        assert!(!fresh.expired());
        let two_seconds_ago = Instant::now() - Duration::from_secs(2);
        let stale = LeaseClock::new(two_seconds_ago, window(Duration::from_secs(1)));
        assert!(stale.expired());
    }
}
