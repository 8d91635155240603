//! Ctrl-Z stops the wrapped command with zk-health (it runs in a process
//! group of its own, which the terminal's job control does not reach), and
//! SIGCONT resumes both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{process_state, require_zookeeper, shared, wait_for_file, wait_until, Tool};

const T: Duration = Duration::from_secs(30);

#[test]
fn ctrl_z_stops_the_command_with_the_tool_and_sigcont_resumes_both() {
    require_zookeeper!();
    let connect = shared().chroot("health-ctrl-z");
    let dir = tempfile::tempdir().unwrap();
    let (pid_file, beats) = (dir.path().join("pid"), dir.path().join("beats"));
    let script = format!(
        "echo $$ > {}; while :; do echo . >> {}; sleep 0.02; done",
        pid_file.display(),
        beats.display()
    );
    let count = || std::fs::read_to_string(&beats).unwrap_or_default().len();
    let mut process = Tool::new(env!("CARGO_BIN_EXE_zk-health"))
        .zk(&connect)
        .spawn(&["/s", "--id", "a", "-c", &script]);
    let command: i32 = wait_for_file(&pid_file, T).trim().parse().unwrap();
    process.signal(Signal::SIGTSTP);
    // D: waiting in vfork for a child the same group stop caught.
    wait_until("the command is stopped with the tool", T, || {
        matches!(process_state(command), Some('T' | 'D'))
            && process_state(process.pid() as i32) == Some('T')
    });
    let stopped_at = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), stopped_at, "a stopped command must not run");
    process.signal(Signal::SIGCONT);
    wait_until("the command runs again", T, || count() > stopped_at);
    process.signal(Signal::SIGTERM);
    assert_eq!(process.wait(T).code(), Some(143));
}
