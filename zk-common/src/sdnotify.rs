//! systemd's notify protocol (`Type=notify` units): READY=1, STATUS=,
//! WATCHDOG=1 and STOPPING=1 as datagrams to `$NOTIFY_SOCKET`.
//!
//! The `sd-notify` crate names the states and reads the watchdog variables
//! (`WATCHDOG_USEC`, and `WATCHDOG_PID` must be ours); the datagram is sent
//! here because the crate connects by path only, while systemd may also
//! hand out an abstract socket (`@name`). The variables stay in our
//! environment (we notify until we exit) and are removed from every child's
//! instead: see `zk_common::supervisor::scrub_inherited`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

pub use sd_notify::NotifyState;
use tokio::time::Instant;

/// Sends `states` when systemd asked for notifications; does nothing
/// otherwise. A failed send is logged, never fatal: the service works
/// without its manager hearing about it.
pub fn notify(states: &[NotifyState]) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let message: String = states.iter().map(|s| format!("{s}\n")).collect();
    let socket = socket.to_string_lossy().into_owned();
    let sent = UnixDatagram::unbound().and_then(|sock| {
        if let Some(abstract_name) = socket.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
            sock.send_to_addr(message.as_bytes(), &addr)
        } else {
            sock.send_to(message.as_bytes(), &socket)
        }
    });
    if let Err(err) = sent {
        tracing::debug!("sd_notify to {socket}: {err}");
    }
}

/// The service manager's watchdog (`WatchdogSec=`), fed with WATCHDOG=1 at
/// half its interval, as sd_watchdog_enabled(3) advises.
#[derive(Debug)]
pub struct Watchdog {
    every: Option<Duration>,
    next: Instant,
}

impl Watchdog {
    /// From `WATCHDOG_USEC`/`WATCHDOG_PID`; a watchdog meant for another
    /// process (the PID differs) or none at all is never fed.
    pub fn from_env() -> Watchdog {
        let mut usec = 0;
        let every = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec) / 2)
            .filter(|every| !every.is_zero());
        if let Some(every) = every {
            tracing::debug!(
                "systemd watchdog: WATCHDOG=1 every {}",
                humantime::format_duration(every)
            );
        }
        Watchdog {
            every,
            next: Instant::now(),
        }
    }

    /// Feeds the watchdog if it is due.
    pub fn feed_if_due(&mut self) {
        if let Some(every) = self.every {
            if Instant::now() >= self.next {
                notify(&[NotifyState::Watchdog]);
                self.next = Instant::now() + every;
            }
        }
    }

    /// Resolves when the next WATCHDOG=1 is due; never without a watchdog.
    pub async fn due(&self) {
        match self.every {
            Some(_) => tokio::time::sleep_until(self.next).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_one_datagram_with_every_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        notify(&[NotifyState::Ready, NotifyState::Status("registered")]);
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=registered\n");
    }
}
