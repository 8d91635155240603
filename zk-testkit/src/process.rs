//! Child processes for tests: servers tied to the test process's life, our
//! binaries run with their output captured, SIGSTOP and SIGCONT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Spawns `cmd` so that it dies with the test process, even on SIGKILL or
/// abort, when no destructor runs.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the
/// process; test threads come and go, so every such child is forked by one
/// spawner thread that lives as long as the process.
pub fn spawn_tied_to_test_process(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("zk-testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(die_with_parent(&mut cmd).spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls
    // prctl(2), which is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            Ok(())
        })
    }
}

/// Waits until `path` holds at least one complete line (a command under
/// test wrote it with `echo`) and returns its contents.
pub fn wait_for_file(path: &std::path::Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child's output read line by line on a thread of its own, so a test
/// waits for each line with a timeout instead of hanging on a bug.
pub struct LineReader(mpsc::Receiver<String>);

impl LineReader {
    pub fn new(source: impl std::io::Read + Send + 'static) -> LineReader {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader(rx)
    }

    /// The next line; panics if none came within `timeout` or the output
    /// closed.
    pub fn next_line(&self, timeout: Duration) -> String {
        self.0
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no line within {timeout:?}: {e}"))
    }
}

/// Waits up to `timeout` for a child that is not one of our tools (a Java
/// client, say); kills it and panics if it hangs.
pub fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGSTOPs a process: it keeps its sockets open and answers nothing.
pub fn pause(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGSTOP);
}

/// SIGCONTs a process paused with [`pause`].
pub fn resume(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
}

/// One of our binaries, pointed at a ZooKeeper connect string.
#[derive(Clone, Debug)]
pub struct Tool {
    program: String,
    connect: Option<String>,
    envs: Vec<(String, String)>,
}

impl Tool {
    /// `program` is `env!("CARGO_BIN_EXE_zk-...")`.
    pub fn new(program: &str) -> Tool {
        Tool {
            program: program.into(),
            connect: None,
            envs: Vec::new(),
        }
    }

    /// Passes `--zk CONNECT` before the other arguments.
    pub fn zk(mut self, connect: &str) -> Tool {
        self.connect = Some(connect.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Tool {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        if let Some(connect) = &self.connect {
            cmd.args(["--zk", connect]);
        }
        cmd.args(args);
        // Tests must not inherit a developer's ZooKeeper settings.
        for var in [
            "ZK_CONNECT",
            "ZK_AUTH",
            "ZK_AUTH_FILE",
            "ZK_SASL",
            "ZK_SASL_PASSWORD",
            "ZK_SASL_PASSWORD_FILE",
            "ZK_TLS_CA",
            "ZK_TLS_CERT",
            "ZK_TLS_KEY",
            "ZK_SESSION_TIMEOUT",
            "ZK_CONNECT_TIMEOUT",
            "ZK_LOG",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs to completion with stdin closed and returns what it printed.
    pub fn run(&self, args: &[&str]) -> Ran {
        let started = Instant::now();
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.program));
        Ran {
            output,
            elapsed: started.elapsed(),
        }
    }

    /// Starts in the background with stdout read line by line.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", self.program));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr_lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            stderr_lines,
        }
    }
}

/// A finished run of one of our binaries.
#[derive(Debug)]
pub struct Ran {
    pub output: Output,
    pub elapsed: Duration,
}

impl Ran {
    /// The exit code; panics (with stderr) if it died of a signal.
    pub fn code(&self) -> i32 {
        self.output
            .status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal; stderr: {}", self.stderr()))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout(),
                self.stderr()
            )
        })
    }
}

/// A binary running in the background.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stderr_lines: mpsc::Receiver<String>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, or `None` if none came within `timeout` (or
    /// stdout closed).
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next stdout line parsed as JSON; panics on timeout.
    pub fn next_json(&self, timeout: Duration) -> serde_json::Value {
        let line = self.next_line(timeout).unwrap_or_else(|| {
            panic!(
                "no JSON line within {timeout:?}; stderr so far: {}",
                self.stderr_so_far()
            )
        });
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Waits until a stderr line contains `needle` (a readiness log line).
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!(
            "no stderr line with {needle:?} within {timeout:?}; saw:\n{}",
            seen.join("\n")
        );
    }

    /// Every stderr line printed so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr_lines.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Closes its stdin: a tool holding something with no command releases.
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// Waits up to `timeout` for exit; kills it and panics if it hangs.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "process {} did not exit within {timeout:?}",
                    self.child.id()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shell command (for `-c`) that appends a timestamp in nanoseconds to
/// `file` every 20 ms for as long as it runs, to judge from what commands
/// recorded whether two of them ran at once. Every heartbeat in a test
/// process comes from one clock: CLOCK_MONOTONIC (through perl), which no
/// NTP step can move, or `date +%s%N` where perl is missing. The loop ends
/// by itself once the file's directory is gone, so a failed test whose
/// tool was SIGKILLed leaves no loop behind.
pub fn heartbeat_command(file: &std::path::Path) -> String {
    static MONOTONIC: OnceLock<bool> = OnceLock::new();
    let monotonic = *MONOTONIC.get_or_init(|| {
        Command::new("perl")
            .args(["-MTime::HiRes=clock_gettime,CLOCK_MONOTONIC", "-e", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let dir = file.parent().expect("a file in a directory").display();
    let file = file.display();
    if monotonic {
        format!(
            "exec perl -MTime::HiRes=clock_gettime,sleep,CLOCK_MONOTONIC -e \
             'while (-d $ARGV[1]) {{ open(my $f, \">>\", $ARGV[0]) or exit 1; \
             printf $f \"%.0f\\n\", clock_gettime(CLOCK_MONOTONIC) * 1e9; close($f); sleep(0.02) }}' \
             '{file}' '{dir}'"
        )
    } else {
        format!("while [ -d '{dir}' ]; do date +%s%N >> '{file}'; sleep 0.02; done")
    }
}

/// A prefix for a shell command (`-c`) that makes commands exclude each other
/// by themselves: it takes an exclusive `flock` on `lock` on fd 9, which the
/// command and everything it forks keep open until the last of them exits,
/// and appends `OVERLAP <pid>` to `overlaps` if another command still holds
/// it. Unlike heartbeats this sees an overlap of any length and a child
/// that outlives its parent. The command runs on either way, so the test
/// gets to its assert instead of a timeout.
///
/// Panics if the file system holding `lock` does not honour flock between
/// processes (see [`require_flock`]): there it would record nothing.
pub fn exclusion_prefix(lock: &std::path::Path, overlaps: &std::path::Path) -> String {
    require_flock(lock.parent().unwrap_or(std::path::Path::new(".")));
    format!(
        "exec 9>>'{}'; flock -n 9 || echo OVERLAP $$ >> '{}'; ",
        lock.display(),
        overlaps.display()
    )
}

/// Where [`owner_command`] records overlaps: beside its heartbeat file.
pub fn overlaps_beside(file: &std::path::Path) -> std::path::PathBuf {
    file.parent()
        .expect("a file in a directory")
        .join("OVERLAP")
}

/// A [`heartbeat_command`] that also excludes every other `owner_command`
/// whose file lies in the same directory (see [`exclusion_prefix`]): for
/// owners that must be dead, not merely stopped, before the next starts.
pub fn owner_command(file: &std::path::Path) -> String {
    let dir = file.parent().expect("a file in a directory");
    format!(
        "{}{}",
        exclusion_prefix(&dir.join("owner.flock"), &overlaps_beside(file)),
        heartbeat_command(file)
    )
}

/// Panics if any [`owner_command`] in `dir`, or any command with an
/// [`exclusion_prefix`] writing to `dir/OVERLAP`, found another still
/// running when it began. `context` goes into the failure message. Also
/// panics if `dir`'s file system does not honour flock, where an empty
/// `OVERLAP` proves nothing.
pub fn assert_no_overlap(dir: &std::path::Path, context: &str) {
    require_flock(dir);
    let overlaps = std::fs::read_to_string(dir.join("OVERLAP")).unwrap_or_default();
    assert!(
        overlaps.is_empty(),
        "a command began while another still held the exclusion lock:\n{overlaps}{context}"
    );
}

/// Panics, loudly, unless the file system holding `dir` honours flock(2)
/// between processes. The overlap detector ([`exclusion_prefix`]) sees
/// an overlap only as a failed `flock -n`: on a file system that grants
/// every lock (some network and FUSE file systems do, or did) it would
/// record nothing and every test would pass. Probed once per file system
/// (device) and process; the verdict is cached.
pub fn require_flock(dir: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    type Probed = Mutex<std::collections::BTreeMap<u64, Result<(), String>>>;
    static PROBED: OnceLock<Probed> = OnceLock::new();
    let dev = std::fs::metadata(dir)
        .unwrap_or_else(|e| panic!("probing flock in {}: {e}", dir.display()))
        .dev();
    let verdict = PROBED
        .get_or_init(Probed::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(dev)
        .or_insert_with(|| probe_flock(dir, "flock"))
        .clone();
    if let Err(why) = verdict {
        panic!(
            "the overlap detector cannot work here: {why}; the file system of {} does not \
             honour flock between processes, so an overlap would go unrecorded",
            dir.display()
        );
    }
}

/// Takes an exclusive flock on a probe file in `dir` from this process and
/// checks that `flock_program -n` on it, from another process, fails (and
/// that it succeeds once the file is free, so the failure is the lock's).
fn probe_flock(dir: &std::path::Path, flock_program: &str) -> Result<(), String> {
    use nix::fcntl::{Flock, FlockArg};
    let probe = dir.join(format!(".flock-probe-{}", std::process::id()));
    let try_lock = || {
        Command::new(flock_program)
            .arg("-n")
            .arg(&probe)
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {flock_program}: {e}"))
    };
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&probe)
            .map_err(|e| format!("cannot create {}: {e}", probe.display()))?;
        let free = try_lock()?;
        if !free.success() {
            return Err(format!(
                "`{flock_program} -n` could not lock the free file {} ({free})",
                probe.display()
            ));
        }
        let held = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("flock(2) on {}: {e}", probe.display()))?;
        let second = try_lock()?;
        drop(held);
        if second.success() {
            return Err(format!(
                "a second `{flock_program} -n` on {} succeeded while process {} held an \
                 exclusive flock on it",
                probe.display(),
                std::process::id()
            ));
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&probe);
    result
}

/// The timestamps a [`heartbeat_command`] wrote to `file`, in order.
pub fn heartbeats(file: &std::path::Path) -> Vec<u128> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Asserts that the command that wrote heartbeats to `old` had stopped
/// before the one writing to `new` began: the handover of a lock or a
/// leadership, judged by what the commands recorded. Both must have beaten:
/// an old owner that never ran hands nothing over, and "it stopped in
/// time" would be vacuous. `old_log` (the old owner's events, say) goes
/// into the failure message.
pub fn assert_handed_over(old: &std::path::Path, new: &std::path::Path, old_log: &str) {
    assert_no_overlap(new.parent().expect("a file in a directory"), old_log);
    let last_old = heartbeats(old).into_iter().max().unwrap_or_else(|| {
        panic!(
            "the old owner's command never beat (nothing in {}), so there was no handover \
             to judge\n{old_log}",
            old.display()
        )
    });
    let first_new = heartbeats(new)
        .into_iter()
        .min()
        .expect("the new owner's command never beat");
    let gap_ms = (first_new as i128 - last_old as i128) / 1_000_000;
    eprintln!("the old owner's command last beat {gap_ms} ms before the new owner's first");
    assert!(
        last_old < first_new,
        "two owners at once for {} ms: the old owner's command beat at {last_old}, after the \
         new owner's first beat at {first_new}\n{old_log}",
        -gap_ms
    );
}

/// Polls `done` every 10 ms until it holds; panics naming `what` after
/// `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The state letter of process `pid` in /proc (R, S, D, T, Z...), `None`
/// once it is gone.
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flock_probe_passes_where_flock_works() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe_flock(dir.path(), "flock"), Ok(()));
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "the probe must leave no file behind"
        );
        require_flock(dir.path());
    }

    /// The probe's own negative control: a `flock` that grants every lock,
    /// as on a file system that ignores flock, must be caught (`true`
    /// stands in for it: it "succeeds" whatever the lock's state).
    #[test]
    fn the_flock_probe_fails_where_every_lock_is_granted() {
        let dir = tempfile::tempdir().unwrap();
        let why = probe_flock(dir.path(), "true").unwrap_err();
        assert!(why.contains("succeeded while process"), "{why}");
        // One that never grants a lock is no detector either.
        let why = probe_flock(dir.path(), "false").unwrap_err();
        assert!(why.contains("could not lock the free file"), "{why}");
    }
}
