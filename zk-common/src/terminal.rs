//! The controlling terminal, handed to the command's process group while it
//! runs, as a shell hands it to a foreground job: an interactive command
//! (`zk-lock /l -- psql`) reads the terminal instead of being stopped by
//! SIGTTIN, and Ctrl-C and Ctrl-Z reach it. Taken back when it ends.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::unistd::{getpgrp, tcgetpgrp, tcsetpgrp, Pid};

pub struct Terminal {
    tty: File,
}

impl Terminal {
    /// The controlling terminal, if this process has one. From then on
    /// SIGTTOU is ignored: while the command holds the terminal we are in
    /// the background, and a write to stderr (under `stty tostop`) or
    /// taking the terminal back must never stop us: a stopped tool cannot
    /// stop a command that lost what it owned. Children get the default
    /// back before they run (`unix::die_with_parent`).
    pub fn open() -> Option<Terminal> {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOCTTY)
            .open("/dev/tty")
            .ok()?;
        crate::unix::ignore_sigttou();
        Some(Terminal { tty })
    }

    /// Whether our own process group is in the foreground: only then is
    /// the terminal ours to hand on.
    pub fn is_ours(&self) -> bool {
        tcgetpgrp(&self.tty).is_ok_and(|group| group == getpgrp())
    }

    pub fn raw_fd(&self) -> RawFd {
        self.tty.as_raw_fd()
    }

    /// Puts `group` in the foreground.
    pub fn give(&self, group: Pid) {
        if let Err(err) = tcsetpgrp(&self.tty, group) {
            tracing::debug!("cannot give the terminal to process group {group}: {err}");
        }
    }

    /// Takes the terminal back from `group` if it still holds it (a shell
    /// that took it meanwhile keeps it).
    pub fn take_back_from(&self, group: Pid) {
        if tcgetpgrp(&self.tty).is_ok_and(|holder| holder == group) {
            self.give(getpgrp());
        }
    }
}
