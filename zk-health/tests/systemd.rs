//! zk-health under systemd (`Type=notify`, `WatchdogSec=`): what it tells
//! the service manager, on a notify socket the test owns, and what it keeps
//! from the command it wraps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared, wait_for_file, NotifySocket, Running, Tool, Zk};

const T: Duration = Duration::from_secs(30);

/// Starts zk-health the way systemd does: `NOTIFY_SOCKET` set, and with a
/// watchdog `WATCHDOG_USEC` plus `WATCHDOG_PID` naming the main process
/// itself (a shell that execs keeps its pid).
fn start(notify: &NotifySocket, watchdog: Option<Duration>, args: &[&str]) -> Running {
    let mut tool = Tool::new("sh").env("NOTIFY_SOCKET", notify.path().to_str().unwrap());
    let script = match watchdog {
        Some(w) => {
            tool = tool.env("WATCHDOG_USEC", &w.as_micros().to_string());
            r#"WATCHDOG_PID=$$ exec "$0" "$@""#
        }
        None => r#"exec "$0" "$@""#,
    };
    let mut argv = vec!["-c", script, env!("CARGO_BIN_EXE_zk-health")];
    argv.extend_from_slice(args);
    tool.spawn(&argv)
}

#[test]
fn ready_and_status_on_registration_stopping_on_sigterm() {
    require_zookeeper!();
    let connect = shared().chroot("health-sd-ready");
    let mut notify = NotifySocket::bind();
    let mut process = start(&notify, None, &["--zk", &connect, "/s", "--id", "a"]);
    let ready = notify.wait_for("READY=1", T);
    assert_eq!(ready.value("STATUS"), Some("registered"), "{ready:?}");
    assert!(Zk::connect(&connect).unwrap().exists("/s/a").unwrap());

    process.signal(Signal::SIGTERM);
    notify.wait_for("STOPPING=1", T);
    assert_eq!(process.wait(T).code(), Some(0));
    let last = notify.wait_for("STATUS=deregistered: received SIGTERM", T);
    // STOPPING=1 comes first: systemd knows we are going before we go.
    let stopping = notify
        .received
        .iter()
        .position(|n| n.has("STOPPING=1"))
        .unwrap();
    let deregistered = notify
        .received
        .iter()
        .position(|n| n.text == last.text)
        .unwrap();
    assert!(stopping < deregistered, "{:?}", notify.received);
    assert!(!Zk::connect(&connect).unwrap().exists("/s/a").unwrap());
}

#[test]
fn watchdog_is_fed_at_half_its_interval_without_extra_probe_rounds() {
    require_zookeeper!();
    let connect = shared().chroot("health-sd-watchdog");
    let mut notify = NotifySocket::bind();
    // Rounds every 3 s, watchdog 1 s: it must be fed between rounds.
    let process = start(
        &notify,
        Some(Duration::from_secs(1)),
        &[
            "--zk",
            &connect,
            "/s",
            "--id",
            "a",
            "--check",
            "true",
            "--rise",
            "1",
            "--interval",
            "3s",
        ],
    );
    notify.wait_for("READY=1", T);
    let window = Duration::from_secs(6);
    let feeds: Vec<_> = notify
        .collect_for(window)
        .into_iter()
        .filter(|n| n.has("WATCHDOG=1"))
        .collect();
    // Every 500 ms: about 12 in 6 s. systemd kills us after a 1 s silence,
    // so no gap may reach it; nor may it flood the manager.
    assert!(
        feeds.len() >= 5,
        "only {} WATCHDOG=1 in {window:?}",
        feeds.len()
    );
    assert!(
        feeds.len() <= 20,
        "{} WATCHDOG=1 in {window:?}",
        feeds.len()
    );
    for pair in feeds.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap < Duration::from_secs(1), "a {gap:?} gap between feeds");
    }
    // Feeding is not probing: 6 s at --interval 3s is 2 or 3 rounds, plus the
    // first one before READY.
    let mut checks = 0;
    while let Some(line) = process.next_line(Duration::from_millis(100)) {
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        checks += usize::from(e["event"] == "check");
    }
    assert!(
        checks <= 5,
        "{checks} probe rounds in about 6 s at --interval 3s"
    );
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_fed() {
    require_zookeeper!();
    let connect = shared().chroot("health-sd-watchdog-pid");
    let mut notify = NotifySocket::bind();
    let tool = Tool::new(env!("CARGO_BIN_EXE_zk-health"))
        .zk(&connect)
        .env("NOTIFY_SOCKET", notify.path().to_str().unwrap())
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1");
    let _process = tool.spawn(&["/s", "--id", "a"]);
    notify.wait_for("READY=1", T);
    notify.collect_for(Duration::from_secs(1));
    // Everything since the start, before READY=1 too.
    let fed = notify
        .received
        .iter()
        .filter(|n| n.has("WATCHDOG=1"))
        .count();
    assert_eq!(fed, 0, "fed a watchdog that belongs to pid 1");
}

#[test]
fn the_command_and_the_probe_do_not_inherit_the_notify_socket_or_watchdog() {
    require_zookeeper!();
    let connect = shared().chroot("health-sd-env");
    // Removed on failure too.
    let dir = tempfile::tempdir().unwrap();
    let (child_env, probe_env) = (dir.path().join("child"), dir.path().join("probe"));
    let mut notify = NotifySocket::bind();
    let check = format!("env > {}.tmp && mv {0}.tmp {0}", probe_env.display());
    let command = format!(
        "env > {}.tmp && mv {0}.tmp {0}; exec sleep 60",
        child_env.display()
    );
    let mut process = start(
        &notify,
        Some(Duration::from_secs(10)),
        &[
            "--zk",
            &connect,
            "/s",
            "--id",
            "a",
            "--check",
            &check,
            "--rise",
            "1",
            "--interval",
            "200ms",
            "-c",
            &command,
        ],
    );
    notify.wait_for("READY=1", T);
    for file in [&child_env, &probe_env] {
        let env = wait_for_file(file, T);
        // The file was written by our child: it has what we add.
        assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
        for var in ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="] {
            assert!(
                !env.lines().any(|l| l.starts_with(var)),
                "{} inherited {var}:\n{env}",
                file.display()
            );
        }
    }
    assert!(wait_for_file(&child_env, T)
        .lines()
        .any(|l| l.starts_with("ZK_CONNECT=")));
    // And zk-health itself still notifies after starting them.
    process.signal(Signal::SIGTERM);
    notify.wait_for("STOPPING=1", T);
    process.wait(T);
}
