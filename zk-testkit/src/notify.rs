//! The receiving end of systemd's notify protocol, owned by a test: a unix
//! datagram socket to name in `NOTIFY_SOCKET`. It stands in for the service
//! manager, not for ZooKeeper.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One datagram as received: when, and its `KEY=VALUE` lines.
#[derive(Clone, Debug)]
pub struct Notification {
    pub at: Instant,
    pub text: String,
}

impl Notification {
    /// Whether one of its lines is exactly `line` (e.g. `READY=1`).
    pub fn has(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }

    /// The value of `KEY=` (e.g. `STATUS`), if present.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

/// A bound notify socket in a directory of its own, removed on drop.
#[derive(Debug)]
pub struct NotifySocket {
    dir: PathBuf,
    path: PathBuf,
    socket: UnixDatagram,
    /// Everything received so far, in order.
    pub received: Vec<Notification>,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zk-testkit-notify-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the notify socket's directory");
        let path = dir.join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket {
            dir,
            path,
            socket,
            received: Vec::new(),
        }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next datagram within `timeout`, also kept in `received`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Notification> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("set a read timeout");
        let mut buf = vec![0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        let notification = Notification {
            at: Instant::now(),
            text: String::from_utf8_lossy(&buf[..n]).into_owned(),
        };
        self.received.push(notification.clone());
        Some(notification)
    }

    /// Receives until a datagram has the line `line`; panics naming what
    /// came instead if none did within `timeout`.
    pub fn wait_for(&mut self, line: &str, timeout: Duration) -> Notification {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(n) if n.has(line) => return n,
                Some(_) => {}
                None => break,
            }
        }
        panic!(
            "no {line:?} on the notify socket within {timeout:?}; received: {:?}",
            self.received.iter().map(|n| &n.text).collect::<Vec<_>>()
        );
    }

    /// Receives everything that comes for `period`.
    pub fn collect_for(&mut self, period: Duration) -> Vec<Notification> {
        let deadline = Instant::now() + period;
        let mut got = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some(n) = self.recv(left) {
                got.push(n);
            }
        }
        got
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
