//! Stop signals, as a future a tool can `select!` on while it waits.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when SIGINT, SIGTERM or SIGHUP arrives, with the exit status a
/// shell expects for it (128 + N: 130, 143, 129).
pub async fn stop_requested() -> u8 {
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        // Without handlers the default action (death by signal) still
        // applies, which is the same outcome for the caller's shell.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 128 + 2,
        _ = term.recv() => 128 + 15,
        _ = hup.recv() => 128 + 1,
    }
}
