//! The `--exec` handler of a watch (`zk-members watch`, `zk-tree watch`):
//! one run at a time, in a task of its own, always handed the latest state
//! (changes during a run are coalesced into the next), never holding back
//! the watch itself.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::supervisor::KillGroupOnDrop;

/// What one run of the handler is given: its stdin and extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub stdin: Vec<u8>,
    pub env: Vec<(String, String)>,
}

/// A running handler loop. Dropping it aborts the task, whose run's process
/// group is killed.
pub struct Handler {
    latest: tokio::sync::watch::Sender<Option<Input>>,
    task: tokio::task::JoinHandle<()>,
}

impl Handler {
    /// Starts the loop for `command` (run with `sh -c`); a run still going
    /// after `timeout` is killed with its process group.
    pub fn start(command: &str, timeout: Duration) -> Handler {
        let (latest, mut offered) = tokio::sync::watch::channel(None::<Input>);
        let command = command.to_owned();
        let task = tokio::spawn(async move {
            while offered.changed().await.is_ok() {
                let input = offered.borrow_and_update().clone();
                if let Some(input) = input {
                    run_once(&command, &input, timeout).await;
                }
            }
        });
        Handler { latest, task }
    }

    /// Hands the handler the latest state; a run in progress finishes first.
    pub fn offer(&self, input: Input) {
        self.latest.send_replace(Some(input));
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the handler once with `input`, in a process group of its own. Its
/// stdout goes to our stderr: our stdout carries only JSON. A failing
/// handler is logged, and the watch goes on, as consul watch does; one
/// still running after `timeout` is killed (SIGTERM, then SIGKILL 2 s
/// later), so a hung one cannot hold back every later change.
async fn run_once(command: &str, input: &Input, timeout: Duration) {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .envs(input.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(std::io::stderr())
        .process_group(0);
    // Under systemd a handler that inherited NOTIFY_SOCKET or WATCHDOG_*
    // could speak for us; our credentials are ours alone too.
    crate::supervisor::scrub_inherited(cmd.as_std_mut());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            tracing::error!("cannot run --exec handler: {err}");
            return;
        }
    };
    // Killed with its whole group if the watch ends (or the task is
    // aborted) while it runs.
    let mut group = KillGroupOnDrop(child.id());
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that ignores its input closes the pipe early; fine; one
        // that never reads it is bounded by the timeout too.
        let _ = tokio::time::timeout(timeout, stdin.write_all(&input.stdin)).await;
    }
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                "--exec handler still running after {} (--exec-timeout); killing it",
                humantime::format_duration(timeout)
            );
            let leader = child.id();
            let signal_group = |signal| {
                if let Some(pid) = leader {
                    let group = nix::unistd::Pid::from_raw(pid as i32);
                    let _ = nix::sys::signal::killpg(group, signal);
                }
            };
            signal_group(nix::sys::signal::Signal::SIGTERM);
            match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    signal_group(nix::sys::signal::Signal::SIGKILL);
                    child.wait().await
                }
            }
        }
    };
    group.disarm();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!("--exec handler failed ({status})"),
        Err(err) => tracing::error!("waiting for --exec handler: {err}"),
    }
}
