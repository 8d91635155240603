//! zk-elect against real ZooKeeper: at most one leader's command at any
//! moment while leaders are killed, Curator interop, and the views.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use zk_testkit::{
    assert_no_overlap, exclusion_prefix, kazoo_worker, require_zookeeper, shared,
    spawn_tied_to_test_process, wait_child, wait_until, JavaClient, LineReader, Running, Tool,
};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

/// A leader's command that stamps "ID TOKEN NANOS" into LOG every 10 ms,
/// from one clock (date on this machine), until it is killed. It holds a
/// flock beside LOG while it lives, and a command that finds it held writes
/// OVERLAP to LOG's directory: an overlap of any length is recorded.
fn stamping(log: &Path) -> String {
    let dir = log.parent().unwrap();
    format!(
        "{}while :; do echo \"$ZK_ID $ZK_FENCING_TOKEN $(date +%s%N)\" >> {}; sleep 0.01; done",
        exclusion_prefix(&dir.join("flock"), &dir.join("OVERLAP")),
        log.display()
    )
}

fn leader_id(connect: &str, path: &str) -> Option<String> {
    let ran = elect().zk(connect).run(&["leader", path]);
    (ran.code() == 0).then(|| ran.json()["id"].as_str().unwrap().to_string())
}

fn wait_for_leader(connect: &str, path: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + T;
    loop {
        if let Some(id) = leader_id(connect, path) {
            if Some(id.as_str()) != not {
                return id;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader at {path} within {T:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (token, first stamp, last stamp) per leadership, in order of tokens.
fn intervals(log: &Path) -> Vec<(i64, u128, u128)> {
    let mut by_token: std::collections::BTreeMap<i64, (u128, u128)> = Default::default();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 3 {
            continue; // a line cut short by SIGKILL
        }
        let (token, at): (i64, u128) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
        let entry = by_token.entry(token).or_insert((at, at));
        entry.0 = entry.0.min(at);
        entry.1 = entry.1.max(at);
    }
    by_token
        .into_iter()
        .map(|(token, (first, last))| (token, first, last))
        .collect()
}

/// A 4 s session: short enough for SIGKILL rounds, long enough that a busy
/// CI machine does not stall a leader past its safe window (0.9 s here).
fn spawn_candidate(connect: &str, path: &str, id: &str, log: &Path) -> Running {
    elect().zk(connect).env("ZK_ID", id).spawn(&[
        "--session-timeout",
        "4s",
        "--id",
        id,
        path,
        "-c",
        &stamping(log),
    ])
}

#[test]
fn ten_leader_kills_never_give_two_leaders_at_once() {
    require_zookeeper!();
    let connect = shared().chroot("elect-invariant");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut candidates: Vec<(String, Running)> = (0..3)
        .map(|i| {
            (
                format!("c{i}"),
                spawn_candidate(&connect, "/e", &format!("c{i}"), &log),
            )
        })
        .collect();
    let mut leader = wait_for_leader(&connect, "/e", None);
    let mut leaders = vec![leader.clone()];
    for round in 0..10 {
        // The current leader's command has started stamping before we kill it.
        let deadline = Instant::now() + T;
        while intervals(&log).len() < round + 1 {
            assert!(
                Instant::now() < deadline,
                "round {round}: leader {leader}'s command never ran"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let index = candidates.iter().position(|(id, _)| *id == leader).unwrap();
        let (_, mut process) = candidates.remove(index);
        let signal = if round % 2 == 0 {
            Signal::SIGTERM
        } else {
            Signal::SIGKILL
        };
        process.signal(signal);
        process.wait(T);
        let fresh = format!("c{}", round + 3);
        candidates.push((fresh.clone(), spawn_candidate(&connect, "/e", &fresh, &log)));
        leader = wait_for_leader(&connect, "/e", Some(&leader));
        leaders.push(leader.clone());
    }
    let deadline = Instant::now() + T;
    while intervals(&log).len() < 11 {
        assert!(
            Instant::now() < deadline,
            "the last leader's command never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(candidates);
    assert_no_overlap(dir.path(), &format!("leaders: {leaders:?}"));
    let intervals = intervals(&log);
    assert_eq!(
        intervals.len(),
        11,
        "every round elected a new leader: {leaders:?}"
    );
    for pair in intervals.windows(2) {
        let ((token_a, _, last_a), (token_b, first_b, _)) = (pair[0], pair[1]);
        assert!(token_a < token_b, "tokens increase");
        assert!(
            last_a < first_b,
            "leader {token_a} still ran at {last_a} after leader {token_b} began at {first_b}"
        );
    }
}

#[test]
fn curator_leader_latch_and_zk_elect_share_one_election() {
    require_zookeeper!();
    let connect = shared().chroot("elect-curator");
    let java = JavaClient::compile("CuratorLatch").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let log_s = log.to_str().unwrap();

    // zk-elect leads first; Curator must see it as the leader.
    let mut ours = elect().zk(&connect).spawn(&["--id", "zk-1", "/e"]);
    assert_eq!(ours.next_json(T)["event"], "candidate");
    assert_eq!(ours.next_json(T)["event"], "elected");
    let mut latch = java.command(&[&connect, "/e", "java-1", "300", log_s]);
    let mut latch = latch.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let java_out = LineReader::new(latch.stdout.take().unwrap());
    let line = java_out.next_line(Duration::from_secs(60));
    assert_eq!(
        line.trim(),
        "SEES zk-1",
        "Curator must report zk-elect's candidate as leader"
    );

    // zk-elect resigns; the latch leads, and zk-elect reports it.
    ours.close_stdin();
    assert_eq!(ours.next_json(T)["event"], "resigned");
    assert_eq!(java_out.next_line(T).trim(), "LEADER java-1");
    let seen = wait_for_leader(&connect, "/e", Some("zk-1"));
    assert_eq!(seen, "java-1");
    assert!(wait_child(&mut latch, T).success());

    // Mixed churn: two latches and two zk-elect candidates, each leading
    // once; their intervals never overlap.
    // Every leader's command takes the mark directory while it leads; one
    // that finds it taken records OVERLAP, so an overlap of any length
    // shows, whatever the clocks say.
    let mark = dir.path().join("mark");
    let mark_s = mark.to_str().unwrap();
    let latches: Vec<_> = (2..4)
        .map(|i| {
            java.command(&[&connect, "/e", &format!("java-{i}"), "200", log_s, mark_s])
                .spawn()
                .unwrap()
        })
        .collect();
    let stamp = format!(
        "mkdir {mark_s} 2>/dev/null || echo OVERLAP $ZK_ID >> {log_s}; \
         echo \"enter $ZK_ID $(date +%s%N)\" >> {log_s}; sleep 0.2; \
         echo \"exit $ZK_ID $(date +%s%N)\" >> {log_s}; rmdir {mark_s}"
    );
    let ours: Vec<_> = (2..4)
        .map(|i| {
            let id = format!("zk-{i}");
            elect()
                .zk(&connect)
                .env("ZK_ID", &id)
                .spawn(&["--id", &id, "/e", "-c", &stamp])
        })
        .collect();
    for mut latch in latches {
        assert!(wait_child(&mut latch, Duration::from_secs(60)).success());
    }
    for mut candidate in ours {
        assert_eq!(candidate.wait(T).code(), Some(0));
    }
    let mut spans: Vec<(u128, u128, String)> = Vec::new();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("OVERLAP"), "two leaders at once:\n{text}");
    let mut open: std::collections::HashMap<String, u128> = Default::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let at: u128 = parts[2].parse().unwrap();
        match parts[0] {
            "enter" => {
                open.insert(parts[1].to_string(), at);
            }
            _ => spans.push((open.remove(parts[1]).unwrap(), at, parts[1].to_string())),
        }
    }
    spans.sort();
    assert_eq!(spans.len(), 5, "{text}");
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 < pair[1].0,
            "{} and {} led at once:\n{text}",
            pair[0].2,
            pair[1].2
        );
    }
}

#[test]
fn views_show_leader_candidates_and_changes() {
    require_zookeeper!();
    let connect = shared().chroot("elect-views");
    let missing = elect().zk(&connect).run(&["leader", "/nobody"]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stdout().is_empty());
    assert!(
        missing.stderr().contains("nobody leads /nobody"),
        "{}",
        missing.stderr()
    );
    assert_eq!(
        elect().zk(&connect).run(&["candidates", "/nobody"]).json(),
        serde_json::json!([])
    );
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["leader", "--wait", "--timeout", "300ms", "/nobody"])
            .code(),
        75
    );

    let watch = elect().zk(&connect).spawn(&["watch", "/e"]);
    let first = watch.next_json(T);
    assert_eq!(first["event"], "leader");
    assert_eq!(first["leader"], Value::Null);

    let waiter = elect().zk(&connect).spawn(&["leader", "--wait", "/e"]);
    let mut a = elect()
        .zk(&connect)
        .spawn(&["--id", r#"{"host":"10.0.0.1","port":8080}"#, "/e"]);
    let elected = a.next_json(T);
    let elected = if elected["event"] == "candidate" {
        a.next_json(T)
    } else {
        elected
    };
    assert_eq!(elected["event"], "elected");
    let b = elect().zk(&connect).spawn(&["--id", "b", "/e"]);
    assert_eq!(b.next_json(T)["event"], "candidate");

    let waited = waiter.next_json(T);
    assert_eq!(
        waited["id"]["port"], 8080,
        "a JSON id shows up parsed: {waited}"
    );
    let leader = elect().zk(&connect).run(&["leader", "/e"]).json();
    assert_eq!(leader["id"]["host"], "10.0.0.1");
    assert_eq!(leader["token"], elected["token"]);
    assert_eq!(leader["node"], elected["node"]);
    assert!(leader["since"].as_str().unwrap().ends_with('Z'));
    let candidates = elect().zk(&connect).run(&["candidates", "/e"]).json();
    let ids: Vec<_> = candidates
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids[1], "b");
    assert_eq!(candidates[0]["leader"], true);
    assert_eq!(candidates[1]["leader"], false);
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["leader", "--is", "b", "/e"])
            .code(),
        1
    );

    let changed = watch.next_json(T);
    assert_eq!(changed["event"], "changed");
    assert_eq!(changed["leader"]["id"]["port"], 8080);
    a.close_stdin();
    let changed = watch.next_json(T);
    assert_eq!(changed["leader"]["id"], "b");
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["leader", "--is", "b", "/e"])
            .code(),
        0
    );
}

#[test]
fn command_status_signals_and_bad_input() {
    require_zookeeper!();
    let connect = shared().chroot("elect-exits");
    assert_eq!(elect().zk(&connect).run(&["/e", "-c", "exit 3"]).code(), 3);
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["/e", "--", "no-such-command-zk"])
            .code(),
        127
    );
    let env =
        elect()
            .zk(&connect)
            .run(&["/e", "-c", "echo $ZK_NODE $ZK_FENCING_TOKEN $ZK_SESSION_ID"]);
    let parts: Vec<String> = env.stdout().split_whitespace().map(String::from).collect();
    assert!(
        parts[0].starts_with("/e/_c_") && parts[0].contains("-latch-"),
        "{parts:?}"
    );
    assert!(parts[1].parse::<i64>().unwrap() > 0 && parts[2].starts_with("0x"));

    let holder = elect().zk(&connect).spawn(&["/e"]);
    assert_eq!(holder.next_json(T)["event"], "candidate");
    assert_eq!(holder.next_json(T)["event"], "elected");
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["--timeout", "300ms", "/e", "--", "true"])
            .code(),
        75
    );
    holder.signal(Signal::SIGTERM);
    assert_eq!(holder.next_json(T)["event"], "resigned");

    for (args, needle) in [
        (&["e", "--", "true"][..], "relative"),
        (&["/e/", "--", "true"][..], "ends with '/'"),
        (&["--warm", "/e"][..], "-c <STRING>|CMD"),
        (&["--interval", "x", "/e"][..], "--interval"),
        (&["--http", "ftp://x/", "/e"][..], "http[s]://"),
        (&["--tcp", "nohost", "/e"][..], "HOST:PORT"),
        (&["--rise", "0", "/e"][..], "--rise"),
        (&["leader", "/e", "--is", ""][..], "empty ID"),
    ] {
        let ran = elect().zk(&connect).run(args);
        assert_eq!(ran.code(), 2, "{args:?}: {}", ran.stderr());
        assert!(ran.stderr().contains(needle), "{args:?}: {}", ran.stderr());
        assert_eq!(
            ran.stderr().lines().count(),
            1,
            "{args:?}: {}",
            ran.stderr()
        );
    }
}

/// A command that cannot run is refused before anything waits for
/// ZooKeeper: 127 or 126 at once, even with ZooKeeper unreachable.
/// A stop signal is obeyed while ZooKeeper does not answer, not after
/// --connect-timeout (it used to exit 69 once the connect timed out); a
/// warm command gets the signal and its status is ours.
#[test]
fn a_stop_signal_while_connecting_exits_at_once() {
    require_zookeeper!();
    let (_connect, proxy, through_proxy) = shared().chroot_via_proxy("elect-signal-connecting");
    proxy.blackhole();
    for warm in [false, true] {
        let mut args = vec!["--connect-timeout", "120s", "/e"];
        if warm {
            args.extend([
                "--warm",
                "--",
                "sh",
                "-c",
                "trap 'exit 7' TERM; while :; do sleep 0.1; done",
            ]);
        }
        let mut process = elect().zk(&through_proxy).spawn(&args);
        wait_until("zk-elect is connecting", T, || proxy.open_connections() > 0);
        process.signal(Signal::SIGTERM);
        let expected = if warm { 7 } else { 143 };
        assert_eq!(
            process.wait(T).code(),
            Some(expected),
            "warm: {warm}: {}",
            process.stderr_so_far()
        );
        wait_until("its connection closed", T, || proxy.open_connections() == 0);
    }
}

#[test]
fn a_missing_or_unexecutable_command_fails_before_connecting() {
    for (command, code) in [("/nonexistent", 127), ("/etc/passwd", 126)] {
        for warm in [false, true] {
            let mut args = vec!["--connect-timeout", "30s", "/e", "--", command];
            if warm {
                args.insert(0, "--warm");
            }
            let ran = elect().zk("127.0.0.1:1").run(&args);
            assert_eq!(ran.code(), code, "{args:?}: {}", ran.stderr());
            assert!(ran.elapsed < Duration::from_secs(10), "{args:?} waited");
            assert!(ran.stderr().contains(command), "{}", ran.stderr());
        }
    }
}

/// `leader --timeout` without `--wait` bounds the read itself (exit 75),
/// instead of being refused.
#[test]
fn leader_timeout_without_wait_bounds_the_read() {
    let ran = elect().zk("127.0.0.1:1").run(&[
        "--connect-timeout",
        "30s",
        "leader",
        "/e",
        "--timeout",
        "1s",
    ]);
    assert_eq!(ran.code(), 75, "{}", ran.stderr());
    assert!(ran.elapsed < Duration::from_secs(10), "{:?}", ran.elapsed);
    assert!(ran.stderr().contains("/e"), "{}", ran.stderr());
}

/// Without --id a candidate is HOST:PID, as --help says, so `leader --is`
/// can name a process on a host.
#[test]
fn the_default_id_is_host_and_pid() {
    require_zookeeper!();
    let connect = shared().chroot("elect-default-id");
    let mut a = elect().zk(&connect).spawn(&["/e"]);
    let mut event = a.next_json(T);
    if event["event"] == "candidate" {
        event = a.next_json(T);
    }
    assert_eq!(event["event"], "elected", "{event}");
    let host = nix::unistd::gethostname().unwrap();
    let expected = format!("{}:{}", host.to_string_lossy(), a.pid());
    let leader = elect().zk(&connect).run(&["leader", "/e"]).json();
    assert_eq!(leader["id"], expected.as_str(), "{leader}");
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["leader", "--is", &expected, "/e"])
            .code(),
        0
    );
    a.close_stdin();
    assert_eq!(a.wait(T).code(), Some(0));
}

/// kazoo's `Election` and zk-elect share one election: each lists the
/// other as a candidate, a zk-elect left to detect the layout stands in
/// kazoo's, one told `--layout latch` refuses, and leadership passes from
/// kazoo's leader to ours only after kazoo's command stopped, as both
/// commands recorded.
#[test]
fn kazoo_election_and_zk_elect_share_one_election() {
    require_zookeeper!();
    let connect = shared().chroot("elect-kazoo");
    let dir = tempfile::tempdir().unwrap();
    let (release, theirs, ours_log) = (
        dir.path().join("release"),
        dir.path().join("kazoo.beats"),
        dir.path().join("zk.beats"),
    );
    let prefix = exclusion_prefix(&dir.path().join("flock"), &dir.path().join("OVERLAP"));
    // It also ends once the test's directory is gone, so a failed test
    // leaves no loop behind.
    let kazoo_command = format!(
        "{prefix}while [ ! -e '{}' ] && [ -d '{}' ]; do date +%s%N >> '{}'; sleep 0.02; done",
        release.display(),
        dir.path().display(),
        theirs.display()
    );
    let mut kazoo = spawn_tied_to_test_process({
        let mut cmd = kazoo_worker(&[&connect, "/e", "election", "1", "kazoo-1", &kazoo_command]);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        cmd
    })
    .unwrap();
    let kazoo_out = LineReader::new(kazoo.stdout.take().unwrap());
    assert_eq!(kazoo_out.next_line(Duration::from_secs(60)).trim(), "ready");
    writeln!(kazoo.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(wait_for_leader(&connect, "/e", None), "kazoo-1");
    let is = elect()
        .zk(&connect)
        .run(&["leader", "--is", "kazoo-1", "/e"]);
    assert_eq!(is.code(), 0, "{}", is.stderr());

    let refused = elect()
        .zk(&connect)
        .run(&["--layout", "latch", "--id", "zk-2", "/e", "--", "true"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("give --layout kazoo"),
        "{}",
        refused.stderr()
    );

    let ours_command = format!(
        "{prefix}while :; do date +%s%N >> '{}'; sleep 0.02; done",
        ours_log.display()
    );
    let mut ours = elect()
        .zk(&connect)
        .spawn(&["--id", "zk-1", "/e", "-c", &ours_command]);
    wait_until("zk-elect standing beside kazoo", T, || {
        elect()
            .zk(&connect)
            .run(&["candidates", "/e"])
            .json()
            .as_array()
            .map(Vec::len)
            == Some(2)
    });
    let candidates = elect().zk(&connect).run(&["candidates", "/e"]).json();
    let shown: Vec<(&str, bool)> = candidates
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["leader"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, [("kazoo-1", true), ("zk-1", false)]);
    let node = candidates[1]["node"].as_str().unwrap();
    assert!(
        node.contains("__lock__"),
        "zk-elect stood in kazoo's layout: {node}"
    );
    let seen = kazoo_worker(&[&connect, "/e", "election", "0", "viewer", "true"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&seen.stdout).to_string();
    assert!(
        seen.contains("kazoo-1") && seen.contains("zk-1"),
        "kazoo saw {seen}"
    );

    std::fs::write(&release, "").unwrap();
    assert!(wait_child(&mut kazoo, T).success());
    assert_eq!(wait_for_leader(&connect, "/e", Some("kazoo-1")), "zk-1");
    zk_testkit::wait_for_file(&ours_log, T);
    ours.signal(Signal::SIGTERM);
    ours.wait(T);
    zk_testkit::assert_handed_over(&theirs, &ours_log, &ours.stderr_so_far());
}

/// `--ready-file` is present exactly while its candidate leads: a stale one
/// is cleared at start, a standby has none, it goes on resignation and on
/// loss (before the exit), and a bad one is refused before connecting.
/// systemd hears the same through STATUS= lines.
#[test]
fn the_ready_file_and_systemd_status_follow_leadership() {
    require_zookeeper!();
    let connect = shared().chroot("elect-ready");
    let dir = tempfile::tempdir().unwrap();
    let (a_ready, b_ready) = (dir.path().join("a.ready"), dir.path().join("b.ready"));
    let mut notify = zk_testkit::NotifySocket::bind();
    let notify_path = notify.path().to_str().unwrap().to_string();
    let candidate = |id: &str, file: &Path| {
        elect()
            .zk(&connect)
            .env("NOTIFY_SOCKET", &notify_path)
            .spawn(&["--id", id, "--ready-file", file.to_str().unwrap(), "/e"])
    };
    let mut a = candidate("a", &a_ready);
    assert_eq!(a.next_json(T)["event"], "candidate");
    let elected = a.next_json(T);
    assert_eq!(elected["event"], "elected");
    let record: Value = serde_json::from_str(&zk_testkit::wait_for_file(&a_ready, T)).unwrap();
    assert_eq!(
        (&record["id"], &record["token"]),
        (&"a".into(), &elected["token"])
    );
    notify.wait_for(
        &format!("STATUS=leader of /e (token {})", elected["token"]),
        T,
    );

    std::fs::write(&b_ready, "stale, from a crashed run").unwrap();
    let mut b = candidate("b", &b_ready);
    assert_eq!(b.next_json(T)["event"], "candidate");
    assert!(
        !b_ready.exists(),
        "a standby's stale ready file must be gone"
    );
    notify.wait_for("STATUS=standby: waiting to lead /e", T);

    a.close_stdin();
    assert_eq!(a.next_json(T)["event"], "resigned");
    assert_eq!(a.wait(T).code(), Some(0));
    assert!(!a_ready.exists(), "resigned, yet ready");
    let elected = b.next_json(T);
    assert_eq!(elected["event"], "elected");
    zk_testkit::wait_for_file(&b_ready, T);

    // Someone deletes b's node: b loses leadership and its file.
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    zk.delete(elected["node"].as_str().unwrap()).unwrap();
    assert_eq!(b.next_json(T)["event"], "lost");
    assert_eq!(b.wait(T).code(), Some(79));
    assert!(!b_ready.exists(), "lost, yet ready");

    for bad in [dir.path().join("missing/x.ready"), dir.path().to_path_buf()] {
        let refused = elect().zk("127.0.0.1:1").run(&[
            "--ready-file",
            bad.to_str().unwrap(),
            "/e",
            "--",
            "true",
        ]);
        assert_eq!(refused.code(), 2, "{}", refused.stderr());
        assert!(
            refused.stderr().contains("--ready-file"),
            "{}",
            refused.stderr()
        );
    }
}

/// With no command the events are zk-elect's output: lost to `/dev/full`,
/// the run exits 74, not 0.
#[test]
fn lost_output_without_a_command_exits_74() {
    require_zookeeper!();
    let connect = shared().chroot("elect-dev-full");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = elect()
        .zk(&connect)
        .command(&["/e"])
        .stdin(std::process::Stdio::null())
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
}
