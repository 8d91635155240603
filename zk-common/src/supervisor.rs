//! The wrapped command: started in its own process group, tied to our life,
//! sent our signals, stopped on purpose. Modelled on coreutils `timeout`.

use std::ffi::OsString;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::exit::{self, Failure};
use crate::lease::{LeaseClock, Lost};
use crate::signals::{stop_self, Forwarded, JobControl};
use crate::terminal::Terminal;

/// The flags of a tool that wraps a command (zk-lock, zk-elect, zk-health):
/// `-c STRING` or `-- CMD ARGS...` after PATH, and `--events`.
#[derive(clap::Args, Debug, Clone)]
pub struct WrapArgs {
    /// Write events as JSON Lines to PATH (- for stderr) when a command is wrapped.
    #[arg(long, value_name = "PATH")]
    pub events: Option<String>,

    /// Run STRING with `sh -c` instead of `-- CMD ARGS...`.
    #[arg(
        short = 'c',
        value_name = "STRING",
        conflicts_with = "command",
        group = "command_given"
    )]
    pub shell: Option<String>,

    /// The command to run (exec'd directly, in its own process group).
    #[arg(last = true, value_name = "CMD", group = "command_given")]
    pub command: Vec<OsString>,
}

impl WrapArgs {
    /// The command, if one was given.
    pub fn spec(&self) -> Option<CommandSpec> {
        CommandSpec::from_args(self.shell.clone(), self.command.clone())
    }

    /// The command, checked to be one we can run: a tool must not wait for
    /// ZooKeeper, a lock or leadership only to find the command missing.
    pub fn resolved_spec(&self) -> Result<Option<CommandSpec>, Failure> {
        let spec = self.spec();
        if let Some(spec) = &spec {
            spec.resolve()?;
        }
        Ok(spec)
    }

    /// Where events go: stdout without a command, `--events` with one.
    /// A file that cannot be opened is an I/O error (74), like a failed write.
    pub fn event_sink(&self) -> Result<crate::output::EventSink, crate::exit::WriteError> {
        crate::output::EventSink::open(self.events.as_deref(), self.spec().is_some())
    }
}

/// What to run: `-- CMD ARGS...` execs directly, `-c STRING` runs `sh -c`.
#[derive(Debug, Clone)]
pub enum CommandSpec {
    Exec(Vec<OsString>),
    Shell(String),
}

impl CommandSpec {
    /// From the `-c` flag and the trailing arguments; `None` when neither.
    pub fn from_args(shell: Option<String>, exec: Vec<OsString>) -> Option<CommandSpec> {
        match (shell, exec.is_empty()) {
            (Some(script), _) => Some(CommandSpec::Shell(script)),
            (None, false) => Some(CommandSpec::Exec(exec)),
            (None, true) => None,
        }
    }

    /// Checks that the program exists and may be executed, as `execvp`
    /// would find it: 127 when it is not found, 126 when it is found but not
    /// executable (like `env` and `timeout`). `-c` runs `sh`, always there.
    pub fn resolve(&self) -> Result<(), Failure> {
        let CommandSpec::Exec(argv) = self else {
            return Ok(());
        };
        let program = std::path::Path::new(&argv[0]);
        let name = program.display();
        let not_found = || {
            Failure::new(
                exit::COMMAND_NOT_FOUND,
                format!("{name}: command not found"),
            )
        };
        let not_executable = || {
            Failure::new(
                exit::CANNOT_EXECUTE,
                format!("{name}: permission denied (not an executable file)"),
            )
        };
        if argv[0].is_empty() {
            return Err(not_found());
        }
        if argv[0].as_encoded_bytes().contains(&b'/') {
            return match executable(program) {
                Some(true) => Ok(()),
                Some(false) => Err(not_executable()),
                None => Err(not_found()),
            };
        }
        // execvp's default when PATH is unset.
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        let mut seen_unexecutable = false;
        for dir in std::env::split_paths(&path) {
            // An empty PATH entry is the current directory.
            let dir = if dir.as_os_str().is_empty() {
                ".".into()
            } else {
                dir
            };
            match executable(&dir.join(program)) {
                Some(true) => return Ok(()),
                Some(false) => seen_unexecutable = true,
                None => {}
            }
        }
        Err(if seen_unexecutable {
            not_executable()
        } else {
            not_found()
        })
    }

    /// The program alone (`sh -c` for a script): what a lock node records
    /// by default, since its data is readable cluster-wide while arguments
    /// may hold what only `ps` on this host should see.
    pub fn program(&self) -> String {
        match self {
            CommandSpec::Shell(_) => "sh -c".into(),
            CommandSpec::Exec(args) => args[0].to_string_lossy().into_owned(),
        }
    }

    /// For logs and node data: the command as a person would type it.
    pub fn display(&self) -> String {
        match self {
            CommandSpec::Shell(script) => format!("sh -c {script:?}"),
            CommandSpec::Exec(args) => args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Whether `path` is a file we may execute; `None` when nothing is there.
fn executable(path: &std::path::Path) -> Option<bool> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(metadata.is_file() && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok())
}

/// Removes our credentials from a child's environment: `--auth` and the
/// SASL login are ours, not the command's to read (or to leak in a crash
/// dump).
pub fn scrub_credentials(cmd: &mut std::process::Command) {
    for key in [
        "ZK_AUTH",
        "ZK_AUTH_FILE",
        "ZK_SASL",
        "ZK_SASL_PASSWORD",
        "ZK_SASL_PASSWORD_FILE",
    ] {
        cmd.env_remove(key);
    }
}

/// Variables systemd sets for the service's main process only: a child that
/// inherited `NOTIFY_SOCKET` could report READY=1 for us before we
/// registered, or feed our watchdog while we hang.
const SERVICE_MANAGER_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Removes from a child's environment what is ours alone: credentials and
/// the service manager's notification socket and watchdog.
pub fn scrub_inherited(cmd: &mut std::process::Command) {
    scrub_credentials(cmd);
    for key in SERVICE_MANAGER_VARS {
        cmd.env_remove(key);
    }
}

/// A running command and its process group.
pub struct Supervised {
    child: tokio::process::Child,
    group: Pid,
    name: String,
    /// The terminal it was given, to take back when it ends.
    terminal: Option<Arc<Terminal>>,
}

/// Starts `spec` with `env` added, in a new process group (so a signal to
/// the group reaches `a | b` and every grandchild), with SIGKILL as its
/// parent-death signal (so it never runs on unprotected if we are
/// SIGKILLed; grandchildren are not covered by this, only by the group
/// kill on an orderly stop). stdin, stdout and stderr are inherited. Given
/// a terminal whose foreground we hold, the command gets it (see
/// [`crate::terminal`]).
pub fn spawn(
    spec: &CommandSpec,
    env: &[(&str, String)],
    terminal: Option<&Arc<Terminal>>,
) -> Result<Supervised, Failure> {
    let (program, args): (OsString, Vec<OsString>) = match spec {
        CommandSpec::Shell(script) => ("sh".into(), vec!["-c".into(), script.into()]),
        CommandSpec::Exec(argv) => (argv[0].clone(), argv[1..].to_vec()),
    };
    let name = program.to_string_lossy().into_owned();
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args).process_group(0).kill_on_drop(false);
    scrub_inherited(cmd.as_std_mut());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let terminal = terminal.filter(|tty| tty.is_ours()).cloned();
    if let Some(tty) = &terminal {
        // Before die_with_parent, which gives the child the default SIGTTOU.
        crate::unix::take_terminal(&mut cmd, tty.raw_fd());
    }
    crate::unix::die_with_parent(&mut cmd);
    // `resolve` found the program executable, so these are mostly a script's
    // `#!` line: its interpreter missing (ENOENT) or not executable (EACCES).
    let child = cmd.spawn().map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => Failure::new(
            exit::COMMAND_NOT_FOUND,
            format!("{name}: command not found (or its #! interpreter)"),
        ),
        std::io::ErrorKind::PermissionDenied => Failure::new(
            exit::CANNOT_EXECUTE,
            format!("{name}: permission denied (a noexec mount, or its #! interpreter)"),
        ),
        _ => Failure::new(
            exit::CANNOT_EXECUTE,
            format!("{name}: cannot execute: {err}"),
        ),
    })?;
    let group = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
    Ok(Supervised {
        child,
        group,
        name,
        terminal,
    })
}

impl Supervised {
    pub fn pid(&self) -> u32 {
        self.group.as_raw() as u32
    }

    /// Sends `signal` to the whole process group.
    pub fn signal(&self, signal: Signal) {
        if let Err(err) = killpg(self.group, signal) {
            tracing::debug!("signalling process group {}: {err}", self.group);
        }
    }

    /// Waits for the command to exit, and then for the rest of its process
    /// group: a job it left running (`sleep 60 & exit 0`) still works
    /// under what we own, as under flock(1), until it ends. Returns the
    /// status a shell would report for the command (its code, or 128+N for
    /// signal N).
    ///
    /// # Cancellation safety
    /// Cancel-safe: the child keeps its status once reaped, and the group
    /// is looked at afresh each time.
    pub async fn wait(&mut self) -> u8 {
        let status = status_code(self.child.wait().await);
        self.drain_group(None).await;
        self.return_terminal();
        status
    }

    fn return_terminal(&self) {
        if let Some(tty) = &self.terminal {
            tty.take_back_from(self.group);
        }
    }

    /// Returns once no live process is left in the group (zombies do not
    /// count: whoever inherited them may reap them late). With `kill`,
    /// sends it to the group on every look, for a process forked just as
    /// the group was killed.
    async fn drain_group(&self, kill: Option<Signal>) {
        let mut said = false;
        while group_alive(self.group) {
            if let Some(signal) = kill {
                self.signal(signal);
            }
            if !said {
                tracing::info!(
                    "{} exited; waiting for the rest of its process group {}",
                    self.name,
                    self.group
                );
                said = true;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
    }

    /// Stops the command for good: SIGTERM to the group, SIGKILL to the
    /// group after `kill_after` (or as soon as the leader is gone, for any
    /// grandchild left), then reaps it.
    pub async fn stop(&mut self, kill_after: Duration) -> u8 {
        tracing::warn!(
            "stopping {} (SIGTERM, SIGKILL after {})",
            self.name,
            humantime::format_duration(kill_after)
        );
        self.signal(Signal::SIGTERM);
        let status = match tokio::time::timeout(kill_after, self.child.wait()).await {
            Ok(status) => Some(status_code(status)),
            Err(_) => None,
        };
        self.signal(Signal::SIGKILL);
        let status = match status {
            Some(status) => status,
            None => status_code(self.child.wait().await),
        };
        self.drain_group(Some(Signal::SIGKILL)).await;
        self.return_terminal();
        status
    }
}

enum Change {
    Exited(u8),
    /// Stopped by job control: see [`stopped_by_job_control`].
    Stopped,
}

/// The command's next exit, or its stop by job control; never resolves
/// without a command, so it can sit in a `select!` either way.
///
/// # Cancellation safety
/// Cancel-safe: see [`Supervised::wait`]; a SIGCHLD not yet looked at stays
/// with the signal stream, and a stop stays reported until waitid takes it.
async fn next_change(
    command: &mut Option<Supervised>,
    children: &mut tokio::signal::unix::Signal,
) -> Change {
    let Some(command) = command.as_mut() else {
        return std::future::pending().await;
    };
    let group = command.group;
    tokio::select! {
        biased;
        code = command.wait() => Change::Exited(code),
        () = async {
            while !stopped_by_job_control(group) {
                children.recv().await;
            }
        } => Change::Stopped,
    }
}

/// Whether the command (its leader, our child) was stopped by job control
/// (Ctrl-Z, or reading or writing a terminal it does not hold) since last
/// asked. A SIGSTOP from elsewhere (a debugger, a test freezing it) is not
/// job control and is left alone.
fn stopped_by_job_control(leader: Pid) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG;
    matches!(
        waitid(Id::Pid(leader), flags),
        Ok(WaitStatus::Stopped(
            _,
            Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU
        ))
    )
}

/// What the running command, or a signal sent to us, asks of the tool. The
/// tool's loop decides what each means for what it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The command exited, with the status a shell would report.
    Exited(u8),
    /// SIGINT, SIGTERM, SIGHUP or SIGQUIT arrived: pass it on
    /// ([`Supervisor::forward`]) or stop.
    Signal(Signal),
    /// Ctrl-Z (SIGTSTP): see [`Supervisor::suspend`].
    Suspend,
}

/// The one place a tool runs its command: at most one at a time (a
/// leader's, or zk-elect's warm one), in a process group of its own, with
/// our stop signals and Ctrl-Z caught from the start, so none sent right
/// after the spawn is missed.
pub struct Supervisor {
    signals: Forwarded,
    job_control: JobControl,
    command: Option<Supervised>,
    terminal: Option<Arc<Terminal>>,
    /// SIGCHLD, to notice the command stopped by Ctrl-Z while it holds the
    /// terminal (the terminal's SIGTSTP then reaches its group, not ours).
    children: tokio::signal::unix::Signal,
}

impl Supervisor {
    /// Installs the handlers; no command runs yet.
    pub fn install() -> std::io::Result<Supervisor> {
        Ok(Supervisor {
            signals: Forwarded::install()?,
            job_control: JobControl::install()?,
            command: None,
            terminal: Terminal::open().map(Arc::new),
            children: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?,
        })
    }

    /// Starts `spec` (see [`spawn`]); a command still running is a bug of
    /// the caller's, stopped rather than left unsupervised.
    pub fn start(&mut self, spec: &CommandSpec, env: &[(&str, String)]) -> Result<(), Failure> {
        let command = spawn(spec, env, self.terminal.as_ref())?;
        if let Some(orphan) = self.command.replace(command) {
            tracing::error!("a command was started while another ran; killing the first");
            orphan.signal(Signal::SIGKILL);
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.command.is_some()
    }

    /// The next event. Without a command only signals and Ctrl-Z come, so
    /// a tool that holds on without one uses the same loop. An exit comes
    /// before a signal that arrived with it, as the command's own status.
    ///
    /// # Cancellation safety
    /// Cancel-safe: an exit not yet returned stays with the child, and a
    /// signal not yet returned stays queued in its handler, for the next
    /// call.
    pub async fn next(&mut self) -> Event {
        tokio::select! {
            biased;
            change = next_change(&mut self.command, &mut self.children) => match change {
                Change::Exited(code) => {
                    self.command = None;
                    Event::Exited(code)
                }
                Change::Stopped => Event::Suspend,
            },
            signal = self.signals.recv() => Event::Signal(signal),
            () = self.job_control.stop_requested() => Event::Suspend,
        }
    }

    /// Sends `signal` to the command's process group; false without one.
    pub fn forward(&self, signal: Signal) -> bool {
        match &self.command {
            Some(command) => {
                command.signal(signal);
                true
            }
            None => false,
        }
    }

    /// Waits for the command to exit (after a signal passed on, or a kill);
    /// `None` without one.
    pub async fn wait(&mut self) -> Option<u8> {
        let mut command = self.command.take()?;
        Some(command.wait().await)
    }

    /// Passes a stop signal on and returns the command's status once it
    /// exits; without a command, the status the signal itself means.
    pub async fn pass_on(&mut self, signal: Signal) -> u8 {
        self.forward(signal);
        match self.wait().await {
            Some(code) => code,
            None => exit::signalled(signal as i32),
        }
    }

    /// Stops the command for good (see [`Supervised::stop`]); `None`
    /// without one.
    pub async fn stop(&mut self, kill_after: Duration) -> Option<u8> {
        let mut command = self.command.take()?;
        Some(command.stop(kill_after).await)
    }

    /// Starts the dead-man's switch on the running command: it is killed if
    /// the lease runs out while this process cannot act (`--watchdog`).
    pub fn guard(&self, clock: &LeaseClock) -> anyhow::Result<()> {
        let Some(command) = &self.command else {
            return Ok(());
        };
        let watchdog = crate::watchdog::Watchdog::start(command.pid())
            .map_err(|err| anyhow::anyhow!("cannot start the --watchdog guard: {err}"))?;
        clock.guard_with(watchdog);
        Ok(())
    }

    /// Ctrl-Z: stops the command's group, then ourselves (the terminal's job
    /// control does not reach a group of its own). On SIGCONT the command
    /// resumes, but under a lease only if it has not run out meanwhile;
    /// otherwise it is killed while still stopped, before it runs another
    /// instruction, and the stall is returned. The caller reaps it.
    pub fn suspend(&self, lease: Option<&LeaseClock>) -> Option<Lost> {
        self.forward(Signal::SIGSTOP);
        let stopped_at = tokio::time::Instant::now();
        // With the terminal at the command's group, a shell waiting for us
        // would not see the job stop: we stop too, and it takes the terminal.
        stop_self();
        let stopped_for = stopped_at.elapsed();
        if let Some(clock) = lease {
            if clock.expired() {
                self.forward(Signal::SIGKILL);
                return Some(Lost::Stalled(stopped_for));
            }
            tracing::info!(
                "resumed after {}; the lease still holds",
                humantime::format_duration(stopped_for)
            );
        }
        // `fg` gave the terminal to our group: hand it on before the
        // command runs again, as it was given at the start.
        if let (Some(command), Some(tty)) = (&self.command, &self.terminal) {
            if tty.is_ours() {
                tty.give(command.group);
            }
        }
        self.forward(Signal::SIGCONT);
        None
    }
}

/// SIGKILLs a process group when dropped: a hook or a check abandoned
/// mid-run takes `a | b` and its other children with it, not only its
/// shell. Built from `Child::id()` of a child started in a group of its
/// own.
pub struct KillGroupOnDrop(pub Option<u32>);

impl KillGroupOnDrop {
    /// It ran to its end: its group id may be anyone's from now on.
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = killpg(Pid::from_raw(group as i32), Signal::SIGKILL);
        }
    }
}

/// How often a group whose leader exited is looked at again.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// Whether a live (not zombie) process is in process group `group`.
fn group_alive(group: Pid) -> bool {
    match killpg(group, None) {
        Err(nix::errno::Errno::ESRCH) => false,
        // Something is there: it may only be a zombie nobody reaped yet.
        Ok(()) | Err(nix::errno::Errno::EPERM) => live_member(group),
        Err(err) => {
            tracing::debug!("looking at process group {group}: {err}");
            false
        }
    }
}

/// Scans /proc for a process of `group` that is not a zombie. Without
/// /proc, assumes one is there (the caller keeps waiting, and killpg
/// still tells when the group is really empty).
fn live_member(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat_state_and_group(&stat))
            .is_some_and(|(state, pgrp)| pgrp == group.as_raw() && !matches!(state, 'Z' | 'X'))
    })
}

/// The state and process group from a /proc/PID/stat line: the fields
/// after the command name, which may itself hold spaces and parentheses.
fn stat_state_and_group(stat: &str) -> Option<(char, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// The exit status of a finished child as a shell reports it.
pub fn status_code(status: std::io::Result<ExitStatus>) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => code as u8,
            (None, Some(signal)) => exit::signalled(signal),
            (None, None) => exit::INTERNAL,
        },
        Err(err) => {
            tracing::error!("waiting for the command: {err}");
            exit::INTERNAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(program: &str) -> CommandSpec {
        CommandSpec::Exec(vec![program.into(), "arg".into()])
    }

    fn code(spec: CommandSpec) -> Option<u8> {
        spec.resolve().err().map(|failure| failure.code)
    }

    #[test]
    fn stat_lines_give_state_and_group_whatever_the_name() {
        assert_eq!(
            stat_state_and_group("42 (sleep) S 1 40 40 0 -1"),
            Some(('S', 40))
        );
        assert_eq!(
            stat_state_and_group("42 (a) b) (c) Z 1 7 7 0"),
            Some(('Z', 7))
        );
        assert_eq!(stat_state_and_group("garbage"), None);
    }

    #[tokio::test]
    async fn wait_returns_once_the_whole_group_is_gone() {
        let spec = CommandSpec::Shell("sleep 0.3 & exit 3".into());
        let mut command = spawn(&spec, &[], None).unwrap();
        let group = command.group;
        assert_eq!(command.wait().await, 3);
        assert!(!group_alive(group), "the background job still ran");
    }

    #[test]
    fn commands_resolve_like_execvp() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let script = script.to_str().unwrap().to_string();

        assert_eq!(code(exec("sh")), None, "found on PATH");
        assert_eq!(code(exec("/bin/sh")), None);
        assert_eq!(code(CommandSpec::Shell("anything".into())), None);
        assert_eq!(code(exec("/nonexistent")), Some(exit::COMMAND_NOT_FOUND));
        assert_eq!(
            code(exec("surely-no-such-command-zk")),
            Some(exit::COMMAND_NOT_FOUND)
        );
        assert_eq!(code(exec("")), Some(exit::COMMAND_NOT_FOUND));
        assert_eq!(
            code(exec(dir.path().to_str().unwrap())),
            Some(exit::CANNOT_EXECUTE),
            "a directory"
        );
        // Mode 0644: found, not executable (unless we run as root, who may
        // execute a file only when some execute bit is set).
        assert_eq!(code(exec(&script)), Some(exit::CANNOT_EXECUTE));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(code(exec(&script)), None);
    }
}
