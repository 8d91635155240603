//! `zk-members watch` as a consul-style watch handler runner, its tree
//! mode and its signals, against real ZooKeeper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, wait_until, Tool, Zk};
use zookeeper_client::CreateMode;

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

const T: Duration = Duration::from_secs(30);

#[test]
fn exec_runs_never_overlap_coalesce_and_a_failing_handler_lets_the_watch_go_on() {
    require_zookeeper!();
    let connect = shared().chroot("members-exec-runs");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mark, log, hold) = (
        dir.path().join("mark"),
        dir.path().join("log"),
        dir.path().join("hold"),
    );
    std::fs::write(&hold, "").unwrap();
    // Each run: takes MARK (a second run inside records OVERLAP), logs the
    // path it was given and how many members came on stdin, prints to its
    // stdout, waits while HOLD exists, and fails when there were none.
    let handler = format!(
        "mkdir {m} 2>/dev/null || echo OVERLAP >> {l}; n=$(grep -o '\"id\"' | wc -l); \
         echo \"run $ZK_MEMBERS_PATH $n\" >> {l}; echo handler-says-hi; \
         while [ -e {h} ]; do sleep 0.02; done; rmdir {m}; [ \"$n\" -gt 0 ]",
        m = mark.display(),
        l = log.display(),
        h = hold.display()
    );
    let watch =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--exec", &handler, "--debounce", "0s"]);
    let runs = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    assert_eq!(watch.next_json(T)["event"], "snapshot");
    wait_until("the first run starts", T, || runs().len() == 1);
    // Five joins while the first run is held: they wait for it, and the
    // handler then runs once more for all of them, not five times.
    for i in 0..5 {
        zk.create(&format!("/g/m{i}"), b"", CreateMode::Ephemeral)
            .unwrap();
    }
    std::fs::remove_file(&hold).unwrap();
    loop {
        let line: Value = watch.next_json(T);
        if line["members"].as_array().unwrap().len() == 5 {
            break;
        }
    }
    wait_until("the second run", T, || runs().len() >= 2);
    watch.wait_stderr("handler-says-hi", T);
    // Nothing changed since: no third run may come. (Waiting longer could
    // only find a bug, never fail a correct tool.)
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        runs(),
        ["run /g 0", "run /g 5"],
        "the joins during the first run, which failed, coalesce into one more"
    );
    wait_until("the last run finished", T, || !mark.exists());
    // The watch went on after the failing first run, and still does.
    zk.delete("/g/m0").unwrap();
    let next = watch.next_json(T);
    assert_eq!(next["left"], serde_json::json!(["m0"]));
    wait_until("a third run", T, || runs().len() == 3);
    assert_eq!(runs()[2], "run /g 4");
}

/// Under systemd, a handler that inherited NOTIFY_SOCKET or WATCHDOG_*
/// could report readiness or feed the watchdog for us; ZK_AUTH is ours too.
#[test]
fn exec_handler_does_not_inherit_the_service_manager_or_credentials() {
    require_zookeeper!();
    let connect = shared().chroot("members-exec-env");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    let handler = format!("env > {}.tmp && mv {0}.tmp {0}", env_file.display());
    let mut watch = members()
        .zk(&connect)
        .env("NOTIFY_SOCKET", "/nonexistent/notify")
        .env("WATCHDOG_USEC", "30000000")
        .env("WATCHDOG_PID", "1")
        .env("ZK_AUTH", "digest:someone:secret")
        .env("KEPT_FOR_THE_HANDLER", "yes")
        .spawn(&["watch", "/g", "--exec", &handler]);
    assert_eq!(watch.next_json(T)["event"], "snapshot");
    wait_until("the handler ran", T, || env_file.exists());
    let env = std::fs::read_to_string(&env_file).unwrap();
    // Its environment was written, and the rest of ours passed through.
    assert!(env.contains("KEPT_FOR_THE_HANDLER=yes"), "{env}");
    assert!(env.contains("ZK_MEMBERS_PATH=/g"), "{env}");
    for key in [
        "NOTIFY_SOCKET=",
        "WATCHDOG_USEC=",
        "WATCHDOG_PID=",
        "ZK_AUTH=",
    ] {
        assert!(
            !env.lines().any(|line| line.starts_with(key)),
            "{key} reached the handler: {env}"
        );
    }
    watch.signal(Signal::SIGTERM);
    watch.wait(T);
}

#[test]
fn watch_recursive_reports_a_change_one_level_down() {
    require_zookeeper!();
    let connect = shared().chroot("members-watch-recursive");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/s/api").unwrap();
    zk.create("/s/api/x", b"", CreateMode::Ephemeral).unwrap();
    let watch = members()
        .zk(&connect)
        .spawn(&["watch", "--recursive", "/s", "--debounce", "0s"]);
    let children = |line: &Value| -> Vec<String> {
        line["members"][0]["children"]
            .as_array()
            .unwrap_or_else(|| panic!("no children in {line}"))
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let snapshot = watch.next_json(T);
    assert_eq!(snapshot["members"][0]["id"], "api");
    assert_eq!(children(&snapshot), ["x"]);
    zk.create("/s/api/y", b"", CreateMode::Ephemeral).unwrap();
    let changed = watch.next_json(T);
    assert_eq!(changed["event"], "changed");
    let mut now = children(&changed);
    now.sort();
    assert_eq!(now, ["x", "y"], "{changed}");
}

#[test]
fn sigint_sighup_and_sigterm_end_a_watch_with_128_plus_n() {
    require_zookeeper!();
    let connect = shared().chroot("members-watch-signals");
    for (signal, code) in [
        (Signal::SIGINT, 130),
        (Signal::SIGHUP, 129),
        (Signal::SIGTERM, 143),
    ] {
        let mut watch = members().zk(&connect).spawn(&["watch", "/g"]);
        assert_eq!(watch.next_json(T)["event"], "snapshot");
        watch.signal(signal);
        assert_eq!(watch.wait(T).code(), Some(code), "{signal}");
    }
}

/// A hung handler neither holds back the next lines nor outlives the watch,
/// and `--exec-timeout` kills one so later changes get a handler again.
#[test]
fn a_hung_handler_holds_back_nothing_and_dies_with_the_watch() {
    require_zookeeper!();
    let connect = shared().chroot("members-exec-hung");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let handler = format!("echo $$ >> {}; exec sleep 600", pids.display());
    let started = || -> Vec<i32> {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    };
    let alive = |pid: i32| zk_testkit::process_state(pid).is_some_and(|state| state != 'Z');

    let mut watch =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--exec", &handler, "--debounce", "0s"]);
    assert_eq!(watch.next_json(T)["event"], "snapshot");
    wait_until("the handler hangs", T, || started().len() == 1);
    zk.create("/g/a", b"", CreateMode::Ephemeral).unwrap();
    assert_eq!(watch.next_json(T)["joined"], serde_json::json!(["a"]));
    let hung = started()[0];
    watch.signal(Signal::SIGTERM);
    assert_eq!(watch.wait(T).code(), Some(128 + 15));
    wait_until("the hung handler is gone with the watch", T, || {
        !alive(hung)
    });

    // With --exec-timeout the hung run is killed, and the next change runs
    // the handler again.
    let mut watch = members().zk(&connect).spawn(&[
        "watch",
        "/g",
        "--exec",
        &handler,
        "--exec-timeout",
        "1s",
        "--debounce",
        "0s",
    ]);
    assert_eq!(watch.next_json(T)["event"], "snapshot");
    wait_until("a second hung run", T, || started().len() == 2);
    let second = started()[1];
    wait_until("the run is killed after 1s", T, || !alive(second));
    watch.wait_stderr("--exec-timeout", T);
    zk.create("/g/b", b"", CreateMode::Ephemeral).unwrap();
    wait_until("a run for the next change", T, || started().len() == 3);
    watch.signal(Signal::SIGTERM);
    watch.wait(T);
    let third = started()[2];
    wait_until("and it dies with the watch", T, || !alive(third));
}

/// `--min-members`: a group that falls below N is held back (a `held_back`
/// line, no handler run, the --output file left as it was) until it has N
/// again.
#[test]
fn a_group_below_min_members_is_held_back_until_it_recovers() {
    require_zookeeper!();
    let connect = shared().chroot("members-min");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    for m in ["a", "b"] {
        zk.create(&format!("/g/{m}"), b"", CreateMode::Ephemeral)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (runs, file) = (dir.path().join("runs"), dir.path().join("upstreams.json"));
    let handler = format!("wc -c >> {}", runs.display());
    let count = || {
        std::fs::read_to_string(&runs)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut lines = members().zk(&connect).spawn(&[
        "watch",
        "/g",
        "--min-members",
        "2",
        "--exec",
        &handler,
        "--debounce",
        "0s",
    ]);
    assert_eq!(lines.next_json(T)["event"], "snapshot");
    wait_until("the handler ran for the snapshot", T, || count() == 1);
    let mut to_file = members().zk(&connect).spawn(&[
        "watch",
        "/g",
        "--min-members",
        "2",
        "--output",
        file.to_str().unwrap(),
        "--debounce",
        "0s",
    ]);
    wait_until("the file has two members", T, || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("\"a\"") && t.contains("\"b\""))
    });

    zk.delete("/g/b").unwrap();
    let held = lines.next_json(T);
    assert_eq!(held["event"], "held_back", "{held}");
    assert_eq!(held["min_members"], 2);
    assert_eq!(held["left"], serde_json::json!(["b"]));
    to_file.wait_stderr("held back", T);
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(
        kept.contains("\"b\""),
        "the last good list was replaced: {kept}"
    );
    assert_eq!(count(), 1, "the handler ran for a held-back group");

    zk.create("/g/c", b"", CreateMode::Ephemeral).unwrap();
    let back = lines.next_json(T);
    assert_eq!(back["event"], "changed", "{back}");
    wait_until("the handler ran again", T, || count() == 2);
    wait_until("the file has the recovered group", T, || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("\"c\""))
    });
    for watch in [&mut lines, &mut to_file] {
        watch.signal(Signal::SIGTERM);
        watch.wait(T);
    }
}
