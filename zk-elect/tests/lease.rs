//! Leadership is bounded by the lease everywhere, not only while the
//! command runs: during a slow `--on-elected` hook, in `--warm` mode, and
//! across Ctrl-Z. Each test partitions or stops the leader and checks, by
//! the heartbeats the commands themselves wrote, that the old leader's
//! command was dead before the new leader's began.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared, wait_for_file, Proxy, Tool};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

fn stamps(path: &Path) -> Vec<u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn heartbeat(file: &Path) -> String {
    format!(
        "while :; do date +%s%N >> {}; sleep 0.01; done",
        file.display()
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The shared ensemble's chroot for this test, and a proxy to its first
/// server with the same chroot, for the leader we will cut off.
fn connect_via_proxy(test: &str) -> (String, Proxy, String) {
    let connect = shared().chroot(test);
    let (servers, chroot) = connect.split_at(connect.find('/').unwrap());
    let proxy = Proxy::start(servers.split(',').next().unwrap()).unwrap();
    let through_proxy = format!("{}{chroot}", proxy.address());
    (connect, proxy, through_proxy)
}

fn assert_no_overlap(old: &Path, new: &Path) {
    let last_old = stamps(old).into_iter().max().unwrap_or(0);
    let first_new = stamps(new).into_iter().min().unwrap();
    assert!(
        last_old < first_new,
        "two leaders at once: the old leader's command beat at {last_old}, after the new one's first beat at {first_new}"
    );
}

fn files(dir: &tempfile::TempDir) -> impl Fn(&str) -> PathBuf + '_ {
    |name| dir.path().join(name)
}

#[test]
fn fault_a_partition_during_the_elected_hook_never_starts_the_command_late() {
    require_zookeeper!();
    let (connect, proxy, through_proxy) = connect_via_proxy("elect-hook-partition");
    let dir = tempfile::tempdir().unwrap();
    let path = files(&dir);
    let hook = format!("echo started > {}; sleep 5", path("hook").display());
    let mut a = elect().zk(&through_proxy).spawn(&[
        "--session-timeout",
        "4s",
        "--on-elected",
        &hook,
        "/e",
        "-c",
        &heartbeat(&path("a")),
    ]);
    wait_for_file(&path("hook"), T);
    proxy.blackhole();
    let mut b = elect()
        .zk(&connect)
        .spawn(&["/e", "-c", &heartbeat(&path("b"))]);
    assert_eq!(a.wait(T).code(), Some(79), "a must give up its leadership");
    wait_until("b leads", || !stamps(&path("b")).is_empty());
    assert!(
        stamps(&path("a")).is_empty(),
        "a's command started although a lost its lease during the hook"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(stamps(&path("a")).is_empty(), "a's command started late");
    b.signal(Signal::SIGTERM);
    b.wait(T);
}

#[test]
fn fault_a_partitioned_warm_leader_stops_its_command_within_the_window() {
    require_zookeeper!();
    let (connect, proxy, through_proxy) = connect_via_proxy("elect-warm-partition");
    let dir = tempfile::tempdir().unwrap();
    let path = files(&dir);
    let mut a = elect().zk(&through_proxy).spawn(&[
        "--session-timeout",
        "4s",
        "--warm",
        "--events",
        path("events").to_str().unwrap(),
        "/e",
        "-c",
        &heartbeat(&path("a")),
    ]);
    wait_until("a leads", || {
        std::fs::read_to_string(path("events"))
            .unwrap_or_default()
            .contains("\"elected\"")
    });
    let mut b = elect()
        .zk(&connect)
        .spawn(&["/e", "-c", &heartbeat(&path("b"))]);
    proxy.blackhole();
    assert_eq!(a.wait(T).code(), Some(79));
    wait_until("b leads", || !stamps(&path("b")).is_empty());
    assert_no_overlap(&path("a"), &path("b"));
    b.signal(Signal::SIGTERM);
    b.wait(T);
}

#[test]
fn ctrl_z_of_a_leader_past_its_session_kills_its_command_on_resume() {
    require_zookeeper!();
    let connect = shared().chroot("elect-ctrl-z");
    let dir = tempfile::tempdir().unwrap();
    let path = files(&dir);
    let mut a = elect().zk(&connect).spawn(&[
        "--session-timeout",
        "2s",
        "/e",
        "-c",
        &heartbeat(&path("a")),
    ]);
    wait_until("a leads", || !stamps(&path("a")).is_empty());
    let mut b = elect()
        .zk(&connect)
        .spawn(&["/e", "-c", &heartbeat(&path("b"))]);
    a.signal(Signal::SIGTSTP);
    wait_until("b leads", || !stamps(&path("b")).is_empty());
    a.signal(Signal::SIGCONT);
    assert_eq!(a.wait(T).code(), Some(79));
    assert_no_overlap(&path("a"), &path("b"));
    b.signal(Signal::SIGTERM);
    b.wait(T);
}
