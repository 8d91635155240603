//! Ownership of a node (a lock, a leadership), and the safe window that
//! bounds how long a disconnected owner may keep its command running.
//!
//! The server may expire our session one session timeout T after it last
//! heard from us, and another contender may own the resource right after.
//! zookeeper-client 0.11 (src/session/mod.rs) ticks every T/20, pings after
//! 3 idle ticks and declares the connection dead when nothing was received
//! for 8 ticks (2/5 T), checked once per tick. So when it reports a
//! disconnect at time D, the server last heard from us no earlier than
//! D - 2/5 T - T/20, and cannot expire the session before
//! D + 11/20 T. The command must be dead before that instant:
//!
//! ```text
//! stop at D + grace, where grace = 11/20 T - margin - kill_after
//! margin = max(100 ms, T / 10)   (clock drift, scheduling, round trips)
//! ```
//!
//! SIGTERM goes out at D + grace, SIGKILL kill_after later, which leaves
//! `margin` before the earliest expiry. Reconnecting within `grace` keeps
//! the command running.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client::{Client, EventType, SessionState};

use crate::exit::Failure;

/// The arithmetic above, for one negotiated session timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeWindow {
    pub session_timeout: Duration,
    pub kill_after: Duration,
    pub margin: Duration,
    /// How long after a reported disconnect the command may keep running.
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
}

/// Why ownership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// This process was stopped or starved for longer than the grace (a
    /// SIGSTOP, a VM pause): the server may have expired us meanwhile.
    Stalled(Duration),
    /// The session expired or was closed.
    SessionEnded(SessionState),
    /// Someone deleted our node.
    NodeDeleted,
    /// Disconnected for longer than the safe window's grace.
    Disconnected(Duration),
}

impl Lost {
    pub fn reason(&self) -> String {
        match self {
            Lost::SessionEnded(state) => format!("session ended ({state:?})"),
            Lost::NodeDeleted => "the owning node was deleted".into(),
            Lost::Stalled(d) => format!(
                "this process was paused for {}, longer than the safe window allows",
                humantime::format_duration(*d)
            ),
            Lost::Disconnected(d) => {
                format!(
                    "disconnected from ZooKeeper for {} (the safe window)",
                    humantime::format_duration(*d)
                )
            }
        }
    }
}

/// Resolves when ownership of `node` is lost. Cancel it (drop it) to stop
/// watching. After every reconnect the node is checked again on the server
/// rather than trusting the watch.
pub async fn watch_ownership(client: &Client, node: &str, window: SafeWindow) -> Lost {
    let mut state = client.state_watcher();
    let session = client.session_id().0;
    // A disconnect before we started watching counts from now: the caller
    // has just had an answer from the server (the lock was granted).
    let mut deadline: Option<Instant> = match state.state() {
        SessionState::Disconnected => Some(Instant::now() + window.grace),
        terminal if terminal.is_terminated() => return Lost::SessionEnded(terminal),
        _ => None,
    };
    loop {
        let watcher = match client.check_and_watch_stat(node).await {
            Ok((Some(stat), watcher)) if stat.ephemeral_owner == session => Some(watcher),
            Ok(_) => return Lost::NodeDeleted,
            Err(err) if crate::exit::is_transient(&err) => None,
            Err(_) => return Lost::SessionEnded(client.state()),
        };
        let node_event = async {
            match watcher {
                Some(watcher) => Some(watcher.changed().await),
                None => std::future::pending().await,
            }
        };
        tokio::pin!(node_event);
        // Wait for something that calls for checking the node again.
        loop {
            tokio::select! {
                // The client library measures silence by its own clock of
                // replies; a process frozen past the safe window (SIGSTOP, a
                // paused VM) would only learn of it after reconnecting. A
                // tick that comes far too late tells us at once.
                stalled = stall(window) => return Lost::Stalled(stalled),
                event = &mut node_event => match event {
                    Some(event) if event.event_type == EventType::NodeDeleted => return Lost::NodeDeleted,
                    Some(event) if event.event_type == EventType::Session && event.session_state.is_terminated() => {
                        return Lost::SessionEnded(event.session_state);
                    }
                    _ => break,
                },
                new_state = state.changed() => match new_state {
                    SessionState::Disconnected => {
                        tracing::warn!(
                            "disconnected from ZooKeeper; stopping the command in {} unless reconnected \
                             (safe window: session {}, kill-after {}, margin {})",
                            humantime::format_duration(window.grace),
                            humantime::format_duration(window.session_timeout),
                            humantime::format_duration(window.kill_after),
                            humantime::format_duration(window.margin),
                        );
                        deadline = Some(Instant::now() + window.grace);
                    }
                    // A read-only server is cut off from the quorum: it does
                    // not keep our session alive, so the clock runs on.
                    SessionState::ConnectedReadOnly => {}
                    SessionState::SyncConnected => {
                        if deadline.take().is_some() {
                            tracing::info!("reconnected within the safe window; checking {node} again");
                        }
                        break;
                    }
                    terminal => return Lost::SessionEnded(terminal),
                },
                _ = sleep_until(deadline) => return Lost::Disconnected(window.grace),
            }
        }
    }
}

/// Resolves with the stall when a tick every T/20 arrives more than the
/// grace late.
async fn stall(window: SafeWindow) -> Duration {
    let period = (window.session_timeout / 20).max(Duration::from_millis(10));
    let mut expected = Instant::now() + period;
    loop {
        tokio::time::sleep_until(expected).await;
        let late = Instant::now().saturating_duration_since(expected);
        if late >= window.grace {
            return late;
        }
        expected = Instant::now() + period;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
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
        // Earliest expiry after a disconnect reported at D is D + 11/20 T.
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

    fn short_window() -> SafeWindow {
        SafeWindow {
            session_timeout: Duration::from_millis(400),
            kill_after: Duration::from_millis(50),
            margin: Duration::from_millis(100),
            grace: Duration::from_millis(60),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tick_that_comes_far_too_late_is_a_stall() {
        let stalled = tokio::select! {
            stalled = stall(short_window()) => Some(stalled),
            () = async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                // Blocks the only runtime thread, as SIGSTOP would.
                std::thread::sleep(Duration::from_millis(200));
                std::future::pending::<()>().await
            } => None,
        };
        assert!(
            stalled.is_some_and(|d| d >= Duration::from_millis(60)),
            "{stalled:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn ticks_on_time_are_no_stall() {
        let outcome = tokio::time::timeout(Duration::from_millis(300), stall(short_window())).await;
        assert!(
            outcome.is_err(),
            "a stall was reported without one: {outcome:?}"
        );
    }

    #[test]
    fn no_window_is_refused() {
        let err = SafeWindow::new(Duration::from_millis(300), Duration::from_secs(2)).unwrap_err();
        assert_eq!(err.code, crate::exit::USAGE);
        assert!(err.message.contains("--session-timeout"));
    }
}
