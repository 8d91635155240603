//! Ctrl-Z: SIGTSTP stops the tool, and the tool must stop its command with
//! it (the command runs in a process group of its own, which the
//! terminal's job control does not reach). On SIGCONT the command resumes
//! only if the lease survived the stop; otherwise it is killed while still
//! stopped. Overlap is judged by the heartbeats the commands wrote.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{
    assert_handed_over, heartbeat_command, heartbeats, owner_command, process_state,
    require_zookeeper, shared, wait_for_file, wait_until, Tool,
};

fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

const T: Duration = Duration::from_secs(30);

/// The shared heartbeat, after recording the command's pid.
fn heartbeat(file: &Path, pid: &Path) -> String {
    format!("echo $$ > {}; {}", pid.display(), heartbeat_command(file))
}

/// The same, excluding other owners by a flock (see `owner_command`): for
/// a command that must be dead, not merely stopped, before the next starts.
fn owner(file: &Path, pid: &Path) -> String {
    format!("echo $$ > {}; {}", pid.display(), owner_command(file))
}

/// Stopped, or (D) waiting in vfork for a child that the same group stop
/// caught before it could exec: a shell loop is often found so.
fn stopped(pid: i32) -> bool {
    matches!(process_state(pid), Some('T' | 'D'))
}

#[test]
fn ctrl_z_past_the_session_stops_the_command_with_the_tool_and_kills_it_on_resume() {
    require_zookeeper!();
    let connect = shared().chroot("lock-ctrl-z");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "2s",
        "/l",
        "-c",
        &heartbeat(&path("a"), &path("a.pid")),
    ]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    wait_until("the holder beats", T, || !heartbeats(&path("a")).is_empty());
    let mut contender =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &heartbeat(&path("b"), &path("b.pid"))]);

    holder.signal(Signal::SIGTSTP);
    wait_until("the command is stopped with the tool", T, || {
        stopped(command)
    });
    // The tool is stopped past its session: the contender takes over.
    wait_until("the contender beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    holder.signal(Signal::SIGCONT);
    assert_eq!(
        holder.wait(T).code(),
        Some(79),
        "resumed past its lease, the holder must report the lock lost"
    );
    assert!(
        process_state(command).is_none(),
        "the stale command must be dead, not resumed"
    );
    assert_handed_over(&path("a"), &path("b"), "");
    contender.signal(Signal::SIGTERM);
    contender.wait(T);
}

#[test]
fn a_short_ctrl_z_stops_and_resumes_the_command_with_the_tool() {
    require_zookeeper!();
    let connect = shared().chroot("lock-ctrl-z-short");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut holder =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &heartbeat(&path("a"), &path("a.pid"))]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    holder.signal(Signal::SIGTSTP);
    let tool = holder.pid() as i32;
    wait_until("the tool and the command are stopped", T, || {
        process_state(tool) == Some('T') && stopped(command)
    });
    let beats = heartbeats(&path("a")).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        heartbeats(&path("a")).len(),
        beats,
        "a stopped command must not beat"
    );
    holder.signal(Signal::SIGCONT);
    wait_until("the command beats again", T, || {
        heartbeats(&path("a")).len() > beats
    });
    holder.signal(Signal::SIGTERM);
    assert_eq!(holder.wait(T).code(), Some(143));
}

#[test]
fn with_watchdog_a_tool_frozen_alone_cannot_leave_its_command_running() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    // 4 s, not less: with a shorter session a loaded machine's stalls can
    // eat the whole safe window, and the holder rightly gives up before
    // its command starts.
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "4s",
        "--watchdog",
        "/l",
        "-c",
        &owner(&path("a"), &path("a.pid")),
    ]);
    let command: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    wait_until("the holder beats", T, || !heartbeats(&path("a")).is_empty());
    let mut contender =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &owner(&path("b"), &path("b.pid"))]);

    // SIGSTOP of the tool alone: nothing in it can act, only the guard.
    zk_testkit::pause(holder.pid());
    wait_until("the contender beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    // A zombie: killed, and not yet reaped by its frozen parent.
    assert!(
        matches!(process_state(command), None | Some('Z')),
        "the guard must have killed the frozen tool's command"
    );
    assert_handed_over(&path("a"), &path("b"), "");
    zk_testkit::resume(holder.pid());
    assert_eq!(holder.wait(T).code(), Some(79));
    contender.signal(Signal::SIGTERM);
    contender.wait(T);
}

/// SIGKILL of zk-lock: its command dies by the parent-death signal, but a
/// child the command forked into the background does not (that signal is
/// not inherited). With `--watchdog` the guard kills the command's whole
/// group, by the lease's deadline at the latest, so the background child
/// has stopped before the successor, queued on the same lock, starts:
/// judged by what the commands recorded (heartbeats and the flock, which
/// the background child holds for as long as it lives).
#[test]
fn with_watchdog_a_sigkilled_tools_background_grandchild_dies_before_the_next_owner_starts() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog-sigkill");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let background = format!(
        "( {} ) & echo $! > {}; wait",
        owner_command(&path("a")),
        path("a.pid").display()
    );
    let mut holder = lock().zk(&connect).spawn(&[
        "--session-timeout",
        "4s",
        "--watchdog",
        "/l",
        "-c",
        &background,
    ]);
    let grandchild: i32 = wait_for_file(&path("a.pid"), T).trim().parse().unwrap();
    wait_until("the background child beats", T, || {
        !heartbeats(&path("a")).is_empty()
    });
    let mut successor =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &owner(&path("b"), &path("b.pid"))]);
    wait_until("the successor waits on the lock", T, || {
        let holders = lock().zk(&connect).run(&["holders", "/l"]).json();
        holders.as_array().is_some_and(|h| h.len() == 2)
    });

    holder.signal(Signal::SIGKILL);
    holder.wait(T);
    wait_until("the successor beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    assert_handed_over(&path("a"), &path("b"), "");
    assert!(
        matches!(process_state(grandchild), None | Some('Z')),
        "the background child outlived the SIGKILLed tool's lease"
    );
    successor.signal(Signal::SIGTERM);
    successor.wait(T);
}

/// A healthy holder's confirmations keep moving the guard's deadline: its
/// command runs on well past the guard's first deadline (grace plus
/// kill-after after the first confirmation: 4.5 s with the defaults) and
/// finishes. A guard fed an earlier instant than the lease's own would
/// kill a command whose lease holds.
#[test]
fn with_watchdog_a_healthy_holders_command_runs_past_the_grace() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog-healthy");
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let ran = lock().zk(&connect).run(&[
        "--watchdog",
        "/l",
        "-c",
        &format!("sleep 7; echo finished > {}", done.display()),
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(
        std::fs::read_to_string(&done).unwrap_or_default(),
        "finished\n",
        "the command must have run to its end"
    );
}

/// The guard is armed until the command's whole group is gone, and fed
/// all the while: a job the command left running holds the lock (as under
/// flock(1)) and runs to its end, not killed by the guard once the command
/// itself was reaped. It is the witness: it says when it finished.
#[test]
fn with_watchdog_the_guard_leaves_a_reaped_commands_job_to_finish() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog-disarm");
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    let ran = lock().zk(&connect).run(&[
        "--session-timeout",
        "4s",
        "--watchdog",
        "/l",
        "-c",
        &format!(
            "(sleep 3; echo finished > {}) </dev/null >/dev/null 2>&1 & exit 0",
            done.display()
        ),
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(
        std::fs::read_to_string(&done).unwrap_or_default(),
        "finished\n",
        "the job must have run to its end, and the lock been held meanwhile"
    );
}

/// The tool's stderr is a one-page pipe nobody reads, and it logs at -vv:
/// its writes soon block the one thread that keeps its deadline, as a
/// frozen tool's would. With `--watchdog` the command still dies before a
/// successor starts (README: not guaranteed without it).
#[test]
fn with_watchdog_a_tool_blocked_on_a_full_stderr_pipe_cannot_leave_its_command_running() {
    require_zookeeper!();
    let connect = shared().chroot("lock-watchdog-stderr");
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let mut cmd = lock().zk(&connect).command(&[
        "--session-timeout",
        "4s",
        "--watchdog",
        "-vv",
        "/l",
        "-c",
        &owner(&path("a"), &path("a.pid")),
    ]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut holder = zk_testkit::spawn_tied_to_test_process(cmd).unwrap();
    let stderr = holder.stderr.take().unwrap();
    // One page: a few seconds of -vv fill it.
    nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&stderr),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096),
    )
    .unwrap();
    wait_until("the holder's command beats", T, || {
        !heartbeats(&path("a")).is_empty()
    });
    let mut successor =
        lock()
            .zk(&connect)
            .spawn(&["/l", "-c", &owner(&path("b"), &path("b.pid"))]);

    wait_until("the successor beats", T, || {
        !heartbeats(&path("b")).is_empty()
    });
    // Still blocked on its stderr: what stopped the command was the
    // watchdog, not the tool.
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the holder exited: its stderr never filled, so this test proves nothing"
    );
    assert_handed_over(&path("a"), &path("b"), "");
    drop(stderr);
    let _ = holder.kill();
    let _ = holder.wait();
    successor.signal(Signal::SIGTERM);
    successor.wait(T);
}

/// The parent of `pid`, from /proc.
fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit(')').next().unwrap();
    after_name
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_interactive_command_gets_the_terminal_and_ctrl_z_stops_it_with_the_tool() {
    require_zookeeper!();
    let connect = shared().chroot("lock-terminal");
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("command.pid");
    // `script` gives a shell a terminal, as an operator's login does. The
    // command reads a line from it, as `read`, psql or a confirmation
    // prompt does; then the shell reads the next, which needs the terminal
    // back in the shell's group.
    let inner = format!(
        "{} --zk {connect} /l -- sh -c 'echo $$ > {}; read line; echo \"got $line\"'; \
         read again; echo \"shell got $again\"",
        env!("CARGO_BIN_EXE_zk-lock"),
        pid_file.display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qfec", &inner, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut script = zk_testkit::spawn_tied_to_test_process(script).unwrap();
    let mut keys = script.stdin.take().unwrap();
    let screen = zk_testkit::LineReader::new(script.stdout.take().unwrap());
    let mut type_keys = |text: &str| {
        use std::io::Write;
        keys.write_all(text.as_bytes()).unwrap();
        keys.flush().unwrap();
    };
    let command: i32 = wait_for_file(&pid_file, T).trim().parse().unwrap();
    let tool = parent_of(command);

    // Ctrl-Z reaches the command's group, which holds the terminal; the
    // tool sees it stop and stops too, as a shell's job would.
    type_keys("\x1a");
    wait_until("the command and the tool are stopped", T, || {
        stopped(command) && stopped(tool)
    });
    // `fg`: continuing the tool continues the command.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(tool), Signal::SIGCONT).unwrap();
    wait_until("the command runs again", T, || !stopped(command));

    type_keys("hello\n");
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("got hello")) {
        seen.push(screen.next_line(T));
    }
    type_keys("world\n");
    while !seen.iter().any(|l: &String| l.contains("shell got world")) {
        seen.push(screen.next_line(T));
    }
    let status = zk_testkit::wait_child(&mut script, T);
    assert_eq!(status.code(), Some(0), "{seen:?}");
}
