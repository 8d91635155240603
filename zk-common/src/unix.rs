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
