//! The only `unsafe` in zk-common: what must run between fork and exec.
#![allow(unsafe_code)]

use nix::sys::signal::Signal;
use nix::unistd::{getpid, getppid};

/// Makes the child receive SIGKILL when we die, even by SIGKILL. Linux ties
/// the parent-death signal to the forking thread; every tool forks from its
/// single runtime thread, which lives as long as the process.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    let parent = getpid();
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (prctl, getppid); it allocates
    // nothing and touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            // Every child starts with job control's default: we may ignore
            // SIGTTOU (see `terminal::Terminal::open`), and exec keeps an
            // ignored signal ignored.
            nix::libc::signal(nix::libc::SIGTTOU, nix::libc::SIG_DFL);
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            // We may have died before prctl took effect.
            if getppid() != parent {
                return Err(std::io::Error::other(
                    "parent exited before the command started",
                ));
            }
            Ok(())
        });
    }
}

/// Puts the child's process group (its own, from `process_group(0)`) in the
/// terminal's foreground before it runs, as a shell does for a foreground
/// job: had the parent done it after the spawn, a command reading the
/// terminal at once would be stopped by SIGTTIN first. The child is in the
/// background until then; SIGTTOU, ignored by the parent, is inherited
/// ignored, so tcsetpgrp does not stop it. Failing leaves the command in
/// the background, as before.
pub fn take_terminal(cmd: &mut tokio::process::Command, tty: std::os::fd::RawFd) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (getpgrp, tcsetpgrp).
    unsafe {
        cmd.pre_exec(move || {
            nix::libc::tcsetpgrp(tty, nix::libc::getpgrp());
            Ok(())
        });
    }
}

/// Ignores SIGTTOU in this process (see `terminal::Terminal::open`).
pub fn ignore_sigttou() {
    // SAFETY: SIG_IGN installs no handler; nothing of ours runs on it.
    unsafe {
        nix::libc::signal(nix::libc::SIGTTOU, nix::libc::SIG_IGN);
    }
}

/// Whether stdout was closed when the process started (`tool >&-`).
///
/// Rust's runtime reopens a closed stdout on /dev/null before `main`, and
/// then drops every write to it without an error, so a report would vanish
/// with exit 0. Only code that runs before the runtime can still see the
/// closed descriptor: a constructor, which the C runtime calls before
/// `main`, records it here.
pub static STDOUT_CLOSED_AT_START: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_closed_stdout() {
    // SAFETY: F_GETFD reads a descriptor's flags and touches no memory;
    // it fails with EBADF exactly when descriptor 1 is not open.
    let closed = unsafe { nix::libc::fcntl(1, nix::libc::F_GETFD) } == -1;
    STDOUT_CLOSED_AT_START.store(closed, std::sync::atomic::Ordering::Relaxed);
}

/// Registers [`note_closed_stdout`] as an ELF constructor. It runs on the
/// main thread before anything else of ours, allocates nothing and only
/// calls fcntl, so running before Rust's runtime is initialised is fine.
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;
