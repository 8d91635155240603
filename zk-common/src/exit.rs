//! The exit codes every tool shares, and the one place errors become codes.
//!
//! The numbers follow sysexits(3) where one fits, so that systemd, cron and
//! shell scripts can tell "try again later" (69, 75) from "fix your input"
//! (2) and "this is a bug" (70).

use std::fmt;

/// Success, or the wrapped command exited 0.
pub const OK: u8 = 0;
/// The condition checked is false (tools that wrap no command).
pub const CONDITION_FALSE: u8 = 1;
/// Usage error: bad flag, bad path, bad duration, bad JSON.
pub const USAGE: u8 = 2;
/// ZooKeeper unreachable within `--connect-timeout`, or no quorum.
pub const UNAVAILABLE: u8 = 69;
/// Internal error: an unexpected ZooKeeper error (a bug).
pub const INTERNAL: u8 = 70;
/// OS error: the system refused what every run needs (no random bytes).
pub const OS_ERROR: u8 = 71;
/// I/O error writing our own output (stdout, `--output`, `--events`, a
/// generated file): disk full, read-only, closed stdout. A closed pipe
/// (EPIPE) is not one. 70 would blame us for the machine.
pub const IO_ERROR: u8 = 74;
/// Not acquired: `--timeout` elapsed, `--nonblock` and busy, or a wait
/// condition not met in time.
pub const NOT_ACQUIRED: u8 = 75;
/// Permission denied: authentication failed or an ACL refused.
pub const PERMISSION: u8 = 77;
/// Ownership lost while the command ran; the command was stopped.
pub const OWNERSHIP_LOST: u8 = 79;
/// The command was found but could not be executed.
pub const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub const COMMAND_NOT_FOUND: u8 = 127;

/// The status a shell reports for a process that died of signal `number`,
/// and the one we exit with when a stop signal ends us: 128 + N.
pub fn signalled(number: i32) -> u8 {
    128u8.wrapping_add(number as u8)
}

/// The exit-code table, appended to every tool's `--help`.
pub const HELP_TABLE: &str = "\
Exit status:
  0    success, or the wrapped command exited 0
  1    the condition checked is false (tools that wrap no command)
  2    usage error: bad flag, path, duration or JSON
  69   ZooKeeper unreachable within --connect-timeout, or no quorum
  70   internal error (a bug): unexpected ZooKeeper error
  71   OS error: the system refused what every run needs (no random bytes)
  74   I/O error writing our output (stdout, --output, --events): full, read-only, closed; not a closed pipe
  75   not acquired: --timeout elapsed, --nonblock and busy, or a wait not met
  77   permission denied: authentication failed or ACL refused
  79   ownership lost while the command ran; the command was stopped
  126  command found but not executable
  127  command not found
  N    a wrapped command's own status; 128+N if it died of signal N";

/// An error that knows its exit code. Anything else that reaches the top is
/// mapped by [`code_for`].
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(UNAVAILABLE, message)
    }

    pub fn not_acquired(message: impl Into<String>) -> Self {
        Self::new(NOT_ACQUIRED, message)
    }

    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(PERMISSION, message)
    }

    /// The same exit status with nothing said: what `-q` asks of an
    /// expected outcome (a busy lock, as `flock -n` is silent).
    pub fn silenced(self) -> Self {
        Self::new(self.code, String::new())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Writing our own output failed: disk full, read-only directory, closed
/// stdout. Maps to [`IO_ERROR`]; the I/O error is its source, so a broken
/// pipe is still recognised as the reader leaving.
#[derive(Debug)]
pub struct WriteError {
    /// What we were writing: `stdout`, `--output /etc/peers.json`, ...
    pub target: String,
    pub source: std::io::Error,
}

impl WriteError {
    pub fn new(target: impl Into<String>, source: std::io::Error) -> Self {
        WriteError {
            target: target.into(),
            source,
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "writing {}", self.target)
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The exit code for a ZooKeeper error that reached the top unhandled.
pub fn zookeeper_code(err: &zookeeper_client::Error) -> u8 {
    use zookeeper_client::Error as E;
    match err {
        E::NoAuth | E::AuthFailed => PERMISSION,
        E::NoHosts | E::Timeout | E::ConnectionLoss | E::SessionExpired | E::ClientClosed => {
            UNAVAILABLE
        }
        // The client reports a broken socket (reset, refused) as a custom
        // I/O error rather than ConnectionLoss.
        E::Custom(_) => UNAVAILABLE,
        // A path the user chose under an ephemeral node: their input, not
        // our bug.
        E::BadArguments(_) | E::NoChildrenForEphemerals => USAGE,
        _ => INTERNAL,
    }
}

/// Whether a request may succeed if retried on the same session: the
/// connection broke or the server was busy, but the session may live on.
pub fn is_transient(err: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as E;
    matches!(
        err,
        E::ConnectionLoss
            | E::Timeout
            | E::NoHosts
            | E::Throttled
            | E::Custom(_)
            | E::UnexpectedError(_)
    )
}

/// Maps an error to its exit code: the first [`Failure`] or ZooKeeper error
/// in its chain decides; anything else is a bug (70).
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if cause.downcast_ref::<WriteError>().is_some() {
            return IO_ERROR;
        }
        if let Some(zk) = cause.downcast_ref::<zookeeper_client::Error>() {
            return zookeeper_code(zk);
        }
    }
    INTERNAL
}

/// True when the error is a closed stdout (`zk-members watch | head -1`):
/// the reader left, which is how a pipeline ends, not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn failure_code_wins_through_context() {
        let err = anyhow::Error::new(Failure::usage("bad")).context("while parsing");
        assert_eq!(code_for(&err), USAGE);
    }

    #[test]
    fn zookeeper_errors_map_to_documented_codes() {
        let cases = [
            (zookeeper_client::Error::NoAuth, PERMISSION),
            (zookeeper_client::Error::AuthFailed, PERMISSION),
            (zookeeper_client::Error::ConnectionLoss, UNAVAILABLE),
            (zookeeper_client::Error::SessionExpired, UNAVAILABLE),
            (zookeeper_client::Error::NoHosts, UNAVAILABLE),
            (zookeeper_client::Error::NodeExists, INTERNAL),
            (zookeeper_client::Error::NoChildrenForEphemerals, USAGE),
        ];
        for (err, code) in cases {
            let wrapped = Err::<(), _>(err.clone()).context("reading /x").unwrap_err();
            assert_eq!(code_for(&wrapped), code, "{err:?}");
        }
    }

    #[test]
    fn write_errors_are_io_errors_and_a_closed_pipe_stays_recognised() {
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC
        let err = anyhow::Error::new(WriteError::new("stdout", full)).context("printing");
        assert_eq!(code_for(&err), IO_ERROR);
        assert!(format!("{err:#}").contains("writing stdout"));
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(WriteError::new(
            "stdout", pipe
        ))));
    }

    #[test]
    fn unknown_errors_are_internal() {
        assert_eq!(code_for(&anyhow::anyhow!("surprise")), INTERNAL);
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }

    #[test]
    fn help_table_lists_every_code() {
        for code in [
            OK,
            CONDITION_FALSE,
            USAGE,
            UNAVAILABLE,
            INTERNAL,
            IO_ERROR,
            NOT_ACQUIRED,
            PERMISSION,
            OWNERSHIP_LOST,
            CANNOT_EXECUTE,
            COMMAND_NOT_FOUND,
        ] {
            assert!(
                HELP_TABLE.contains(&format!("\n  {code} ")),
                "code {code} missing from help"
            );
        }
    }
}
