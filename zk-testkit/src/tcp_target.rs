//! A TCP port for `--tcp` probes to connect to: it accepts while open and
//! refuses once closed, so a test can make a probe fail and pass again.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Result;

use crate::ensemble::free_ports;

/// A loopback port that accepts every connection (and closes it at once)
/// until [`TcpTarget::close`]; then connections to it are refused, as to a
/// service that went down, until [`TcpTarget::reopen`]. The port comes from
/// outside the kernel's ephemeral range, so while it is closed no outgoing
/// connection can take it (or connect to itself through it).
pub struct TcpTarget {
    port: u16,
    serving: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl TcpTarget {
    /// Listens on a free loopback port.
    pub fn start() -> Result<TcpTarget> {
        let mut target = TcpTarget {
            port: free_ports(1)?[0],
            serving: None,
        };
        target.reopen()?;
        Ok(target)
    }

    /// `127.0.0.1:PORT`, for `--tcp`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops listening: from now on a connection is refused.
    pub fn close(&mut self) {
        if let Some((stop, thread)) = self.serving.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }

    /// Listens again, on the same port.
    pub fn reopen(&mut self) -> Result<()> {
        if self.serving.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        // Accepting keeps the backlog from filling up, which would make
        // connections time out instead of succeeding.
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((connection, _)) => drop(connection),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.serving = Some((stop, thread));
        Ok(())
    }
}

impl Drop for TcpTarget {
    fn drop(&mut self) {
        self.close();
    }
}
