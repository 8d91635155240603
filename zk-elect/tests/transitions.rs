//! Hooks, warm standby signals and fencing, against a real ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{process_state, require_zookeeper, shared, wait_until, TcpTarget, Tool};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

/// A health check that flips the candidate at its first changed result.
fn fast_check(check: &str) -> [&str; 8] {
    [
        "--check",
        check,
        "--interval",
        "50ms",
        "--rise",
        "1",
        "--fall",
        "1",
    ]
}

#[test]
fn hooks_run_on_election_and_demotion() {
    require_zookeeper!();
    let connect = shared().chroot("elect-hooks");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let on_elected = format!("echo \"elected $ZK_FENCING_TOKEN\" >> {}", log.display());
    let on_demoted = format!("echo demoted >> {}", log.display());
    let ran = elect().zk(&connect).run(&[
        "--on-elected",
        &on_elected,
        "--on-demoted",
        &on_demoted,
        "/e",
        "-c",
        &format!("echo command >> {}", log.display()),
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("elected ") && lines[0].len() > "elected ".len(),
        "{lines:?}"
    );
    assert_eq!(lines[1..], ["command", "demoted"]);
}

/// A failing hook is said on stderr, keepalived-style, and the leader goes
/// on: the command still runs.
#[test]
fn a_failing_hook_is_reported_and_leadership_goes_on() {
    require_zookeeper!();
    let connect = shared().chroot("elect-failing-hook");
    let ran = elect().zk(&connect).run(&[
        "--on-elected",
        "exit 3",
        "--on-demoted",
        "true",
        "/e",
        "-c",
        "echo the command ran",
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.stdout(), "the command ran\n");
    let stderr = ran.stderr();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("hook exited with"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", ran.stderr());
    assert!(
        warnings[0].contains("--on-elected hook exited with exit status: 3"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn warm_standby_gets_signals_and_a_lost_leader_is_demoted_before_the_next_is_promoted() {
    require_zookeeper!();
    let (connect, proxy, via_proxy) = shared().chroot_via_proxy("elect-warm");
    let dir = tempfile::tempdir().unwrap();
    let (log, hooks) = (dir.path().join("log"), dir.path().join("hooks"));
    // Both replicas record into one file, so its order is the real order:
    // promotions (USR1), demotions (USR2) and the final TERM.
    let replica = |id: &str| {
        format!(
            "echo {id} started >> {l}; trap 'echo {id} promoted >> {l}' USR1; \
             trap 'echo {id} demoted >> {l}' USR2; trap 'echo {id} stopped >> {l}; exit 0' TERM; \
             while :; do sleep 0.02; done",
            l = log.display()
        )
    };
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let warm = [
        "--warm",
        "--signal-elected",
        "USR1",
        "--signal-demoted",
        "USR2",
    ];
    // a reaches ZooKeeper through a proxy that will go silent.
    let (on_elected, on_demoted, replica_a) = (
        format!("echo elected >> {}", hooks.display()),
        format!("echo demoted >> {}", hooks.display()),
        replica("a"),
    );
    let hooks_and_command = [
        "--on-elected",
        on_elected.as_str(),
        "--on-demoted",
        on_demoted.as_str(),
        "/e",
        "-c",
        replica_a.as_str(),
    ];
    let mut a = elect().zk(&via_proxy).spawn(
        &[
            &["--session-timeout", "4s", "--id", "a"][..],
            &warm[..],
            &hooks_and_command[..],
        ]
        .concat(),
    );
    wait_until("a is promoted", T, || lines().len() == 2);
    let mut b = elect().zk(&connect).spawn(
        &[
            &["--id", "b"][..],
            &warm[..],
            &["/e", "-c", replica("b").as_str()][..],
        ]
        .concat(),
    );
    wait_until("b queues", T, || {
        elect()
            .zk(&connect)
            .run(&["candidates", "/e"])
            .json()
            .as_array()
            .map_or(0, Vec::len)
            == 2
    });
    // Queued, b's replica runs warm and is not promoted while a leads.
    assert_eq!(lines(), ["a started", "a promoted", "b started"]);

    proxy.blackhole();
    assert_eq!(
        a.wait(T).code(),
        Some(79),
        "a leader whose lease ran out exits 79"
    );
    wait_until("b is promoted", T, || lines().len() == 6);
    assert_eq!(
        lines(),
        [
            "a started",
            "a promoted",
            "b started",
            "a demoted",
            "a stopped",
            "b promoted"
        ],
        "a's replica must be told it is demoted and stopped before b's is promoted"
    );
    assert_eq!(
        std::fs::read_to_string(&hooks).unwrap(),
        "elected\ndemoted\n",
        "--on-elected and --on-demoted each ran once"
    );
    b.signal(Signal::SIGTERM);
    assert_eq!(b.wait(T).code(), Some(0), "b's replica exits 0 on TERM");
    assert_eq!(lines().last().map(String::as_str), Some("b stopped"));
}

#[test]
fn a_leader_that_vanished_is_fenced_and_a_failing_fence_resigns() {
    require_zookeeper!();
    let connect = shared().chroot("elect-fence");
    let dir = tempfile::tempdir().unwrap();
    let fenced = dir.path().join("fenced");
    // The first leader dies without resigning, leaving its breadcrumb.
    // (Leaders that fence keep the breadcrumb.)
    let mut crashed = elect().zk(&connect).spawn(&[
        "--session-timeout",
        "1s",
        "--fence",
        "true",
        "--id",
        "old",
        "/e",
    ]);
    assert_eq!(crashed.next_json(T)["event"], "candidate");
    let elected = crashed.next_json(T);
    assert_eq!(elected["event"], "elected");
    crashed.signal(Signal::SIGKILL);
    crashed.wait(T);
    // The breadcrumb lies beside the election, not in it, where Curator's
    // LeaderLatch.getParticipants() would count it as a participant.
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    assert!(zk.exists("/e.leader-breadcrumb").unwrap());
    let inside = zk.children("/e").unwrap();
    assert!(
        inside.iter().all(|c| c.contains("-latch-")),
        "only candidates belong in the election directory: {inside:?}"
    );

    let failed_events = dir.path().join("failed-events");
    let failing = elect().zk(&connect).run(&[
        "--events",
        failed_events.to_str().unwrap(),
        "--fence",
        "exit 1",
        "/e",
        "--",
        "true",
    ]);
    assert_eq!(failing.code(), 1, "{}", failing.stderr());
    let failed: Vec<serde_json::Value> = std::fs::read_to_string(&failed_events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        names(&failed),
        ["candidate", "fence_failed"],
        "a failed fence never leads: {failed:?}"
    );
    assert!(!failed[1]["reason"].as_str().unwrap().is_empty());
    assert!(
        failing
            .stderr()
            .contains("fencing the previous leader failed"),
        "{}",
        failing.stderr()
    );

    let fence = format!(
        "echo \"$ZK_PREV_LEADER_ID $ZK_PREV_LEADER_TOKEN\" > {}",
        fenced.display()
    );
    let ran = elect()
        .zk(&connect)
        .run(&["--fence", &fence, "/e", "--", "true"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(
        std::fs::read_to_string(&fenced).unwrap().trim(),
        format!("old {}", elected["token"])
    );

    // That leader resigned cleanly, so the next one has nobody to fence.
    std::fs::remove_file(&fenced).unwrap();
    assert_eq!(
        elect()
            .zk(&connect)
            .run(&["--fence", &fence, "/e", "--", "true"])
            .code(),
        0
    );
    assert!(!fenced.exists(), "fenced a leader that had resigned");
}

/// Every event of a candidate's stdout up to and including `last`.
fn events_until(process: &zk_testkit::Running, last: &str) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    loop {
        let e = process.next_json(T);
        let done = e["event"] == last;
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn names(events: &[serde_json::Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[test]
fn a_rejoining_leader_whose_node_was_deleted_says_lost_rejoining_and_leads_again() {
    require_zookeeper!();
    let connect = shared().chroot("elect-rejoin-events");
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    let mut a = elect().zk(&connect).spawn(&["--rejoin", "--id", "a", "/e"]);
    let first = events_until(&a, "elected");
    assert_eq!(names(&first), ["candidate", "elected"]);
    let node = first[1]["node"].as_str().unwrap().to_string();
    zk.delete(&node).unwrap();
    let again = events_until(&a, "elected");
    assert_eq!(
        names(&again),
        ["lost", "rejoining", "candidate", "elected"],
        "{again:?}"
    );
    assert!(
        again[0]["reason"].as_str().unwrap().contains("deleted"),
        "{}",
        again[0]
    );
    assert!(
        again[3]["token"].as_i64().unwrap() > first[1]["token"].as_i64().unwrap(),
        "the new term's fencing token must be higher"
    );
    for e in &again {
        assert_eq!(e["id"], "a");
        assert_eq!(e["path"], "/e");
    }
    a.signal(Signal::SIGTERM);
    assert_eq!(a.wait(T).code(), Some(0));
}

#[test]
fn an_unhealthy_candidate_leaves_the_queue_and_an_unhealthy_leader_steps_down() {
    require_zookeeper!();
    let connect = shared().chroot("elect-unhealthy");
    let dir = tempfile::tempdir().unwrap();
    let healthy = dir.path().join("healthy");
    std::fs::write(&healthy, "").unwrap();
    let queue_len = || {
        elect()
            .zk(&connect)
            .run(&["candidates", "/e"])
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    let mut leader = elect().zk(&connect).spawn(&["--id", "leader", "/e"]);
    assert_eq!(
        names(&events_until(&leader, "elected")),
        ["candidate", "elected"]
    );
    let check = format!("test -e {}", healthy.display());
    // A 40 s session, and 15 s to leave: only c taking its node away in
    // time passes, not the server expiring a session c never closed.
    let mut c = elect().zk(&connect).spawn(
        &[
            &["--id", "c", "--session-timeout", "40s"][..],
            &fast_check(&check),
            &["/e"],
        ]
        .concat(),
    );
    assert_eq!(c.next_json(T)["event"], "candidate");
    wait_until("c queues", T, || queue_len() == 2);

    // Unhealthy while waiting: c leaves the queue and says why.
    std::fs::remove_file(&healthy).unwrap();
    let left = events_until(&c, "rejoining");
    assert_eq!(names(&left), ["unhealthy", "rejoining"], "{left:?}");
    assert!(!left[0]["reason"].as_str().unwrap().is_empty());
    wait_until("c left the queue", Duration::from_secs(15), || {
        queue_len() == 1
    });

    // Healthy again, it queues again and leads once the leader resigns.
    std::fs::write(&healthy, "").unwrap();
    assert_eq!(c.next_json(T)["event"], "candidate");
    leader.close_stdin();
    assert_eq!(leader.wait(T).code(), Some(0));
    assert_eq!(c.next_json(T)["event"], "elected");

    // Unhealthy while leading: it steps down (exit 79 without --rejoin).
    std::fs::remove_file(&healthy).unwrap();
    let lost = c.next_json(T);
    assert_eq!(lost["event"], "lost");
    assert!(
        lost["reason"]
            .as_str()
            .unwrap()
            .contains("health check failing"),
        "{lost}"
    );
    assert_eq!(c.wait(T).code(), Some(79));
    assert_eq!(queue_len(), 0);
}

/// `--tcp`: a leader whose TCP target stops listening (connections
/// refused) fails its health check and steps down, saying which probe
/// failed: exit 79 without `--rejoin`, its node gone.
#[test]
fn a_leader_whose_tcp_target_refuses_steps_down() {
    require_zookeeper!();
    let connect = shared().chroot("elect-tcp");
    let mut target = TcpTarget::start().unwrap();
    let address = target.address();
    let queue_len = || {
        elect()
            .zk(&connect)
            .run(&["candidates", "/e"])
            .json()
            .as_array()
            .map_or(0, Vec::len)
    };
    let mut leader = elect().zk(&connect).spawn(&[
        "--id",
        "leader",
        "--tcp",
        &address,
        "--interval",
        "50ms",
        "--rise",
        "1",
        "--fall",
        "1",
        "/e",
    ]);
    assert_eq!(
        names(&events_until(&leader, "elected")),
        ["candidate", "elected"]
    );
    target.close();
    let lost = events_until(&leader, "lost");
    let reason = lost.last().unwrap()["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("health check failing: --tcp {address}: "))
            && reason.contains("refused"),
        "{lost:?}"
    );
    assert_eq!(leader.wait(T).code(), Some(79));
    assert_eq!(queue_len(), 0);
}

/// A --warm command is stopped with the leadership it was told of, not left
/// running after a lost lease: here the leader turns unhealthy, steps down
/// and, with --rejoin, starts a fresh warm command once healthy again.
#[test]
fn an_unhealthy_warm_leader_stops_its_command_and_starts_a_new_one_on_rejoin() {
    require_zookeeper!();
    let connect = shared().chroot("elect-warm-unhealthy");
    let dir = tempfile::tempdir().unwrap();
    let (healthy, pids, events) = (
        dir.path().join("healthy"),
        dir.path().join("pids"),
        dir.path().join("events"),
    );
    let events_so_far = || std::fs::read_to_string(&events).unwrap_or_default();
    std::fs::write(&healthy, "").unwrap();
    let check = format!("test -e {}", healthy.display());
    let started = || {
        std::fs::read_to_string(&pids)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse::<i32>().unwrap())
            .collect::<Vec<_>>()
    };
    let command = format!("echo $$ >> {}; exec sleep 600", pids.display());
    let mut a = elect().zk(&connect).spawn(
        &[
            &["--id", "a", "--warm", "--rejoin"][..],
            &fast_check(&check),
            &["--events", events.to_str().unwrap(), "/e", "-c", &command],
        ]
        .concat(),
    );
    wait_until("a is elected", T, || {
        events_so_far().contains(r#""event":"elected""#)
    });
    wait_until("the warm command started", T, || started().len() == 1);
    let first = started()[0];

    std::fs::remove_file(&healthy).unwrap();
    wait_until("a steps down", T, || {
        events_so_far().contains(r#""event":"lost""#)
    });
    assert!(
        events_so_far().contains("health check failing"),
        "{}",
        events_so_far()
    );
    wait_until("the lost leader's warm command is gone", T, || {
        matches!(process_state(first), None | Some('Z'))
    });
    std::fs::write(&healthy, "").unwrap();
    wait_until("a new warm command on rejoin", T, || started().len() == 2);
    a.signal(Signal::SIGTERM);
    a.wait(T);
}

/// Leadership lost while --on-elected still runs: the hook is abandoned and
/// its whole process group killed, so nothing it started in the
/// background acts on a leadership that is gone.
#[test]
fn a_hook_running_when_leadership_is_lost_is_killed_with_its_group() {
    require_zookeeper!();
    let connect = shared().chroot("elect-hook-lost");
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pid = dir.path().join("pid");
    let hook = format!("sleep 600 & echo $! > {}; wait", pid.display());
    let mut a = elect()
        .zk(&connect)
        .spawn(&["--id", "a", "--on-elected", &hook, "/e"]);
    let mut sleeper = 0;
    wait_until("the hook started its background process", T, || {
        sleeper = std::fs::read_to_string(&pid)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        sleeper > 0
    });
    let candidates = zk.children("/e").unwrap();
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    zk.delete(&format!("/e/{}", candidates[0])).unwrap();
    assert_eq!(a.wait(T).code(), Some(79), "{}", a.stderr_so_far());
    wait_until("the hook's background process is killed", T, || {
        matches!(process_state(sleeper), None | Some('Z'))
    });
}

/// Some other program's node at the breadcrumb's name is neither fenced
/// by (the fence would run with empty ZK_PREV_LEADER_*) nor overwritten
/// and later deleted: a usage error, the node left as it was.
#[test]
fn a_foreign_node_at_the_breadcrumb_is_refused_and_left_alone() {
    require_zookeeper!();
    let connect = shared().chroot("elect-foreign-breadcrumb");
    let dir = tempfile::tempdir().unwrap();
    let fenced = dir.path().join("fenced");
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    zk.create(
        "/e.leader-breadcrumb",
        b"{\"config\": 1}",
        zookeeper_client::CreateMode::Persistent,
    )
    .unwrap();
    let ran = elect().zk(&connect).run(&[
        "--fence",
        &format!("touch {}", fenced.display()),
        "/e",
        "--",
        "true",
    ]);
    assert_eq!(ran.code(), 2, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("not a breadcrumb"),
        "{}",
        ran.stderr()
    );
    assert_eq!(ran.stderr().lines().count(), 1, "{}", ran.stderr());
    assert!(!fenced.exists(), "the fence ran on a foreign node");
    assert_eq!(
        zk.get("/e.leader-breadcrumb").unwrap().0,
        b"{\"config\": 1}"
    );
}
