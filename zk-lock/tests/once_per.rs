//! `--once-per`: at most one run per period across hosts, by ZooKeeper's
//! clock. What ran is judged by the commands' own records (a line each run
//! appends), and times by the records' ctime on the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::lock;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use zk_common::output::millis_rfc3339;
use zk_testkit::{require_zookeeper, shared, Ensemble, Running, Zk};

const T: Duration = Duration::from_secs(20);

/// The job: appends its id and the time by its own clock, then works for
/// `seconds`.
fn job(id: &str, log: &Path, seconds: &str) -> String {
    format!(
        "echo \"{id} $(date +%s)\" >> {}; sleep {seconds}",
        log.display()
    )
}

fn ran_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("event").is_some())
        .collect()
}

fn skipped(stderr: &str) -> Option<Value> {
    events(stderr).into_iter().find(|e| e["event"] == "skipped")
}

/// zk-lock with `--once-per PERIOD` under `--id ID`, the job's id in its
/// environment, events on stderr.
fn once(connect: &str, id: &str, period: &str, log: &Path, seconds: &str) -> Command {
    let mut cmd = lock().zk(connect).command(&[
        "--id",
        id,
        "--events",
        "-",
        "--once-per",
        period,
        "/l",
        "-c",
        &job(id, log, seconds),
    ]);
    cmd.stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (i32, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("exited, not killed"), stderr)
}

/// The ctimes (ZooKeeper's clock) of the run records that ran a command.
fn run_starts(zk: &Zk) -> Vec<i64> {
    let mut names = zk.children("/l.runs").unwrap();
    names.sort();
    names
        .iter()
        .filter_map(|name| {
            let (data, stat) = zk.get(&format!("/l.runs/{name}")).ok()?;
            let record: Value = serde_json::from_slice(&data).ok()?;
            (record["state"] != "deciding").then_some(stat.ctime)
        })
        .collect()
}

fn wall_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Sleeps until this host's clock (the test servers' clock too) passes
/// `millis`.
fn sleep_until(millis: i64) {
    let left = millis - wall_millis();
    if left > 0 {
        std::thread::sleep(Duration::from_millis(left as u64));
    }
}

#[test]
fn three_hosts_fired_seconds_apart_run_the_job_once() {
    require_zookeeper!();
    let connect = shared().chroot("once-three");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    // Cron on three hosts, fired 0, 0.5 and 3 s apart: the first runs a
    // 1-second job, the second waits for the lock and skips, the third
    // finds the lock free and skips.
    let hosts: Vec<_> = [("a", 0), ("b", 500), ("c", 3000)]
        .into_iter()
        .map(|(id, delay)| {
            let cmd = once(&connect, id, "1h", &log, "1");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay));
                run(cmd)
            })
        })
        .collect();
    let results: Vec<(i32, String)> = hosts.into_iter().map(|h| h.join().unwrap()).collect();

    let ran = ran_lines(&log);
    assert_eq!(ran.len(), 1, "the job ran more than once: {ran:?}");
    let runner = ran[0].split(' ').next().unwrap().to_owned();
    for (code, stderr) in &results {
        assert_eq!(*code, 0, "{stderr}");
    }
    let skips: Vec<Value> = results.iter().filter_map(|(_, e)| skipped(e)).collect();
    assert_eq!(skips.len(), 2, "{results:?}");
    for skip in &skips {
        assert_eq!(skip["last_run"]["id"], runner.as_str(), "{skip}");
        assert_eq!(skip["period"], "1h");
        assert!(
            skip["last_run"]["state"] == "exited" || skip["last_run"]["state"] == "running",
            "{skip}"
        );
    }
    // The records live beside the lock, never in the directory Curator and
    // kazoo read; and the queue is empty again.
    let zk = Zk::connect(&connect).unwrap();
    assert_eq!(run_starts(&zk).len(), 1);
    assert!(zk.children("/l").map(|c| c.is_empty()).unwrap_or(true));
}

#[test]
fn the_period_boundary_is_honoured_by_zookeepers_clock() {
    require_zookeeper!();
    let connect = shared().chroot("once-boundary");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let zk = Zk::connect(&connect).unwrap();

    assert_eq!(run(once(&connect, "first", "3s", &log, "0")).0, 0);
    let started = run_starts(&zk)[0];

    let (code, stderr) = run(once(&connect, "early", "3s", &log, "0"));
    assert_eq!(code, 0, "{stderr}");
    let skip = skipped(&stderr).expect("a skipped event");
    assert_eq!(skip["last_run"]["id"], "first");
    assert_eq!(skip["last_run"]["state"], "exited");
    assert_eq!(skip["last_run"]["exit"], 0);
    assert_eq!(skip["last_run"]["started"], millis_rfc3339(started));
    assert_eq!(skip["next_run_after"], millis_rfc3339(started + 3000));
    assert!(
        stderr.contains("zk-lock: skipped: /l ran within the last 3s"),
        "{stderr}"
    );
    // --skip-exit-code tells a skip from a run; -q silences the line.
    let mut told = once(&connect, "told", "3s", &log, "0");
    told.args(["--skip-exit-code", "3", "-q"]);
    let (code, stderr) = run(told);
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains("zk-lock: skipped"), "{stderr}");
    assert_eq!(ran_lines(&log).len(), 1);

    sleep_until(started + 3000 + 200);
    let (code, stderr) = run(once(&connect, "after", "3s", &log, "0"));
    assert_eq!(code, 0, "{stderr}");
    assert!(skipped(&stderr).is_none(), "{stderr}");
    let ran = ran_lines(&log);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran[1].starts_with("after "), "{ran:?}");
    let starts = run_starts(&zk);
    assert!(starts[1] - starts[0] >= 3000, "{starts:?}");
}

/// Runs zk-lock under `faketime`, this host's clock moved by `offset`
/// (its monotonic clock left alone, as on a host whose wall clock is off).
fn skewed(connect: &str, id: &str, offset: &str, log: &Path) -> Command {
    let plain = once(connect, id, "3s", log, "0");
    let mut cmd = Command::new("faketime");
    cmd.arg("-f").arg(offset).arg(plain.get_program());
    cmd.args(plain.get_args());
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn a_hosts_clock_changes_nothing() {
    require_zookeeper!();
    if Command::new("faketime").arg("-h").output().is_err() {
        panic!("faketime is not installed: scripts/zookeeper.sh install adds it");
    }
    let connect = shared().chroot("once-faketime");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let zk = Zk::connect(&connect).unwrap();

    assert_eq!(run(once(&connect, "true", "3s", &log, "0")).0, 0);
    let started = run_starts(&zk)[0];
    // Two hours ahead, a host-clock period would have passed long ago.
    let (code, stderr) = run(skewed(&connect, "ahead", "+2h", &log));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(skipped(&stderr).expect("skipped")["last_run"]["id"], "true");

    // An hour behind, a host-clock period would not pass for an hour.
    sleep_until(started + 3000 + 200);
    let (code, stderr) = run(skewed(&connect, "behind", "-1h", &log));
    assert_eq!(code, 0, "{stderr}");
    assert!(skipped(&stderr).is_none(), "{stderr}");
    let ran = ran_lines(&log);
    assert_eq!(ran.len(), 2, "{ran:?}");
    // The job ran under the skewed clock: faketime reached the process.
    let seen: i64 = ran[1].split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        wall_millis() / 1000 - seen > 3000,
        "the job's clock was not an hour behind: {ran:?}"
    );
}

#[test]
fn a_run_that_died_counts_from_its_start() {
    require_zookeeper!();
    let connect = shared().chroot("once-died");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let pid_file = dir.path().join("pid");
    let tool = lock().env("ZK_SESSION_TIMEOUT", "4s");
    let mut crashed: Running = tool.zk(&connect).spawn(&[
        "--id",
        "crashed",
        "--once-per",
        "1h",
        "/l",
        "-c",
        &format!(
            "{}; echo $$ > {}; exec sleep 60",
            job("crashed", &log, "0"),
            pid_file.display()
        ),
    ]);
    let command_pid: i32 = zk_testkit::wait_for_file(&pid_file, T)
        .trim()
        .parse()
        .unwrap();
    // The host dies: the tool and its command, with no chance to record an end.
    let _ = kill(Pid::from_raw(crashed.child.id() as i32), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(command_pid), Signal::SIGKILL);
    let _ = crashed.child.wait();

    // The next waits out the dead session's lock node, then skips.
    let (code, stderr) = run(once(&connect, "next", "1h", &log, "0"));
    assert_eq!(code, 0, "{stderr}");
    let skip = skipped(&stderr).expect("skipped");
    assert_eq!(skip["last_run"]["id"], "crashed");
    assert_eq!(skip["last_run"]["state"], "running");
    assert_eq!(skip["last_run"]["ended"], Value::Null);
    assert_eq!(ran_lines(&log).len(), 1);
}

#[test]
fn a_leader_change_between_runs_changes_nothing() {
    require_zookeeper!();
    let mut ensemble = Ensemble::start(3).unwrap();
    ensemble.wait_quorum(T).unwrap();
    let connect = ensemble.connect_string();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let zk = Zk::connect(&connect).unwrap();

    assert_eq!(run(once(&connect, "before", "4s", &log, "0")).0, 0);
    let started = run_starts(&zk)[0];
    let leader = ensemble.leader().expect("a leader");
    ensemble.kill(leader);
    ensemble.wait_quorum(T).unwrap();
    assert_ne!(ensemble.leader(), Some(leader));

    let (code, stderr) = run(once(&connect, "during", "4s", &log, "0"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        skipped(&stderr).expect("skipped")["last_run"]["id"],
        "before"
    );

    sleep_until(started + 4000 + 200);
    let (code, stderr) = run(once(&connect, "after", "4s", &log, "0"));
    assert_eq!(code, 0, "{stderr}");
    assert!(skipped(&stderr).is_none(), "{stderr}");
    assert_eq!(ran_lines(&log).len(), 2);
}

#[test]
fn once_per_needs_an_exclusive_lock_and_a_period() {
    require_zookeeper!();
    let connect = shared().chroot("once-usage");
    for args in [
        &["--once-per", "1h", "--shared", "/l", "--", "true"][..],
        &["--once-per", "1h", "--max-holders", "2", "/l", "--", "true"],
        &["--once-per", "0s", "/l", "--", "true"],
        &["--skip-exit-code", "3", "/l", "--", "true"],
    ] {
        let ran = lock().zk(&connect).run(args);
        assert_eq!(ran.code(), 2, "{args:?}: {}", ran.stderr());
        assert_eq!(ran.stderr().lines().count(), 1, "{}", ran.stderr());
    }
    let zk = Zk::connect(&connect).unwrap();
    assert!(!zk.exists("/l.runs").unwrap());
}
