//! stdout is data: one JSON document for a query, JSON Lines for a stream.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::exit::WriteError;

/// Whether stdout was closed at start: then every write of our own output
/// fails (exit 74) instead of vanishing into the /dev/null Rust's runtime
/// put in its place.
fn stdout_closed() -> bool {
    crate::unix::STDOUT_CLOSED_AT_START.load(Ordering::Relaxed)
}

fn stdout_open() -> Result<(), WriteError> {
    if stdout_closed() {
        return Err(WriteError::new(
            "stdout",
            io::Error::other("stdout is closed"),
        ));
    }
    Ok(())
}

/// Writes one JSON document: pretty for a person at a terminal, compact for
/// a pipe.
pub fn document(value: &Value) -> Result<(), WriteError> {
    stdout_open()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = if stdout.is_terminal() {
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)
    } else {
        serde_json::to_writer(&mut out, value).map_err(io::Error::from)
    };
    written
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|err| WriteError::new("stdout", err))
}

/// Writes one JSON Lines record to stdout and flushes it, so `jq` and
/// `while read` see each event the moment it happens.
pub fn line(value: &Value) -> Result<(), WriteError> {
    stdout_open()?;
    write_line(&mut io::stdout().lock(), value).map_err(|err| WriteError::new("stdout", err))
}

/// Writes raw bytes (a node's data, byte for byte) to stdout and flushes.
pub fn bytes(bytes: &[u8]) -> Result<(), WriteError> {
    stdout_open()?;
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|err| WriteError::new("stdout", err))
}

/// Writes text (a Nagios line, Prometheus metrics) to stdout and flushes
/// it; `println!` would panic on a full disk.
pub fn text(text: &str) -> Result<(), WriteError> {
    stdout_open()?;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| WriteError::new("stdout", err))
}

/// Writes one compact JSON line to `out` and flushes it.
pub fn write_line(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// An event object with `event` and `time` set; the caller adds the rest.
pub fn event(name: &str) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("event".into(), name.into());
    map.insert("time".into(), now_rfc3339().into());
    map
}

/// The current time as an RFC 3339 UTC string with milliseconds.
pub fn now_rfc3339() -> String {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => millis_rfc3339(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)),
        Err(_) => String::new(),
    }
}

/// Milliseconds since the epoch (ZooKeeper's ctime/mtime) as RFC 3339 UTC,
/// e.g. `2026-11-26T04:12:46.430Z`; empty outside 1970..=9999, which
/// humantime cannot write (it would panic before 1970).
pub fn millis_rfc3339(millis: i64) -> String {
    // 10000-01-01T00:00:00Z, the first instant humantime refuses.
    const YEAR_10000_MILLIS: u64 = 253_402_300_800_000;
    match u64::try_from(millis) {
        Ok(millis) if millis < YEAR_10000_MILLIS => {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis)).to_string()
        }
        _ => String::new(),
    }
}

/// Resolves once whoever reads our stdout has gone (`zk-members watch |
/// head -1`): a long-running writer that writes only on change would
/// otherwise learn it at its next write, perhaps hours later. A pipe's
/// write end reports POLLERR when its reader closed; a file, a terminal or
/// /dev/null never does, and then this never resolves.
pub async fn stdout_reader_gone() {
    let gone = tokio::task::spawn_blocking(|| {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let stdout = std::io::stdout();
        let fd = std::os::fd::AsFd::as_fd(&stdout);
        loop {
            // No events asked: only POLLERR and POLLHUP (always reported) wake us.
            let mut fds = [PollFd::new(fd, PollFlags::empty())];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {
                    let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                    if revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                        return true;
                    }
                    // POLLNVAL: no stdout at all; nothing to wait for.
                    if revents.contains(PollFlags::POLLNVAL) {
                        return false;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
    });
    if !matches!(gone.await, Ok(true)) {
        std::future::pending::<()>().await;
    }
}

/// Where a tool's own events go. Without a wrapped command they are the
/// tool's output (stdout); with one, stdout belongs to the command, so
/// events go to `--events PATH` (`-` for stderr) or nowhere.
pub struct EventSink {
    target: Target,
    /// A write already failed and was reported: say it once, not per event.
    failed: bool,
}

enum Target {
    Stdout,
    Stderr,
    File(std::fs::File, String),
    Discard,
}

impl EventSink {
    pub fn open(events: Option<&str>, wraps_command: bool) -> Result<EventSink, WriteError> {
        let target = match events {
            Some("-") => Target::Stderr,
            Some(path) => Target::File(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|err| WriteError::new(format!("--events {path}"), err))?,
                path.to_string(),
            ),
            None if wraps_command => Target::Discard,
            None => Target::Stdout,
        };
        Ok(EventSink {
            target,
            failed: false,
        })
    }

    /// Writes one event line. A failed write does not stop the lock, or
    /// the command holding it: the events are a report, the command is the
    /// work. But it is said once on stderr, never swallowed.
    pub fn emit(&mut self, event: Map<String, Value>) {
        let value = Value::Object(event);
        let result = match &mut self.target {
            Target::Stdout => line(&value),
            Target::Stderr => write_line(&mut io::stderr().lock(), &value)
                .map_err(|err| WriteError::new("events to stderr", err)),
            Target::File(file, path) => write_line(file, &value)
                .map_err(|err| WriteError::new(format!("--events {path}"), err)),
            Target::Discard => Ok(()),
        };
        match result {
            Err(err) if err.source.kind() == io::ErrorKind::BrokenPipe => {
                // The reader left (`| head -1`): how a pipeline ends.
                tracing::debug!("{err}: {}", err.source);
            }
            Err(err) if !self.failed => {
                self.failed = true;
                tracing::error!("{err}: {}; events are being lost", err.source);
            }
            Err(_) | Ok(()) => {}
        }
    }

    /// The exit status once the run is over: a run that went well but
    /// could not write its own output (no command: the events are what it
    /// prints, to stdout) exits 74, as the README's table says. With a
    /// command the events are a report beside the command's work, whose
    /// status stands.
    pub fn status(&self, code: u8) -> u8 {
        match self.target {
            Target::Stdout if self.failed && code == crate::exit::OK => crate::exit::IO_ERROR,
            _ => code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_line_is_compact_and_newline_terminated() {
        let mut buf = Vec::new();
        write_line(&mut buf, &serde_json::json!({"a": [1, 2]})).unwrap();
        assert_eq!(buf, b"{\"a\":[1,2]}\n");
    }

    #[test]
    fn event_has_name_and_utc_time() {
        let e = event("joined");
        assert_eq!(e["event"], "joined");
        let time = e["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
    }

    #[test]
    fn millis_render_as_rfc3339() {
        assert_eq!(millis_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            millis_rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn millis_outside_what_rfc3339_can_say_are_empty_not_a_panic() {
        assert_eq!(
            millis_rfc3339(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(millis_rfc3339(253_402_300_800_000), "");
        assert_eq!(millis_rfc3339(i64::MAX), "");
        assert_eq!(millis_rfc3339(-1), "");
        assert_eq!(millis_rfc3339(i64::MIN), "");
    }
}
