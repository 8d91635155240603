//! Stop signals, as a future a tool can `select!` on while it waits.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrives, with the exit
/// status a shell expects for it (128 + N: 130, 143, 129, 131). QUIT is
/// caught like the others: its default action (death, a core) would leave
/// what we queued in ZooKeeper until the session expires.
pub async fn stop_requested() -> u8 {
    let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut quit)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::quit()),
    ) else {
        // Without handlers the default action (death by signal) still
        // applies, which is the same outcome for the caller's shell.
        return std::future::pending().await;
    };
    use nix::sys::signal::Signal as S;
    let signal = tokio::select! {
        _ = int.recv() => S::SIGINT,
        _ = term.recv() => S::SIGTERM,
        _ = hup.recv() => S::SIGHUP,
        _ = quit.recv() => S::SIGQUIT,
    };
    crate::exit::signalled(signal as i32)
}

/// The signals a wrapping tool passes on to its command's process group:
/// SIGINT, SIGTERM, SIGHUP and SIGQUIT. Create it before starting the
/// command so none is missed.
pub struct Forwarded {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Forwarded {
    pub fn install() -> std::io::Result<Forwarded> {
        Ok(Forwarded {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal as S;
        tokio::select! {
            _ = self.int.recv() => S::SIGINT,
            _ = self.term.recv() => S::SIGTERM,
            _ = self.hup.recv() => S::SIGHUP,
            _ = self.quit.recv() => S::SIGQUIT,
        }
    }
}

/// SIGTSTP (Ctrl-Z), caught so the tool can stop its command's process
/// group with itself: the command runs in a group of its own, which the
/// terminal's job control does not reach.
pub struct JobControl {
    tstp: tokio::signal::unix::Signal,
}

impl JobControl {
    pub fn install() -> std::io::Result<JobControl> {
        Ok(JobControl {
            tstp: signal(SignalKind::from_raw(nix::libc::SIGTSTP))?,
        })
    }

    /// The next Ctrl-Z.
    pub async fn stop_requested(&mut self) {
        self.tstp.recv().await;
    }
}

/// Stops this process as the default action of SIGTSTP would; returns once
/// SIGCONT resumes it.
pub fn stop_self() {
    if let Err(err) = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP) {
        tracing::warn!("cannot stop ourselves: {err}");
    }
}
