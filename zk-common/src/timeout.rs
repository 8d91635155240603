//! `--timeout`: the one way a tool gives up waiting.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// When a wait gives up, fixed when the wait begins, so a loop that makes
/// a new future each turn keeps the first deadline.
#[derive(Debug, Clone, Copy)]
pub struct GiveUp {
    at: Option<Instant>,
    after: Duration,
}

/// A `--timeout` that ran out; displays as a person writes it ("5s").
#[derive(Debug, Clone, Copy)]
pub struct TimedOut(Duration);

impl GiveUp {
    /// `timeout` from now; never without one.
    pub fn after(timeout: Option<Duration>) -> GiveUp {
        GiveUp {
            at: timeout.map(|t| Instant::now() + t),
            after: timeout.unwrap_or_default(),
        }
    }

    /// Resolves when the time is up (never without a timeout): the
    /// `--timeout` branch of a `select!` that waits for something else.
    ///
    /// # Cancellation safety
    /// Cancel-safe: the deadline lives in the `GiveUp`, so a new call in
    /// the next turn of a loop resolves at the same instant.
    pub async fn reached(self) -> TimedOut {
        match self.at {
            Some(at) => {
                tokio::time::sleep_until(at).await;
                TimedOut(self.after)
            }
            None => std::future::pending().await,
        }
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_timeout_from_when_the_wait_began() {
        let give_up = GiveUp::after(Some(Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let started = Instant::now();
        let timed_out = give_up.reached().await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(timed_out.to_string(), "5s");
    }

    #[tokio::test(start_paused = true)]
    async fn never_gives_up_without_a_timeout() {
        let never = GiveUp::after(None).reached();
        let waited = tokio::time::timeout(Duration::from_secs(86_400), never).await;
        assert!(waited.is_err());
    }
}
