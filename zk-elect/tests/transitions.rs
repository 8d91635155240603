//! Hooks, warm standby signals and fencing, against a real ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{require_zookeeper, shared, wait_for_file, Tool};

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(30);

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

#[test]
fn warm_standby_gets_signals_instead_of_a_restart() {
    require_zookeeper!();
    let connect = shared().chroot("elect-warm");
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a"), dir.path().join("b"));
    // A replica that records promotions (USR1) and demotions (USR2).
    let replica = |log: &std::path::Path| {
        format!(
            "echo started >> {l}; trap 'echo promoted >> {l}' USR1; trap 'echo demoted >> {l}' USR2; \
             while :; do sleep 0.02; done",
            l = log.display()
        )
    };
    let warm = [
        "--warm",
        "--signal-elected",
        "USR1",
        "--signal-demoted",
        "USR2",
        "/e",
        "-c",
    ];
    let mut a = elect().zk(&connect).spawn(
        &[
            &["--id", "a"][..],
            &warm[..],
            &[replica(&log_a).as_str()][..],
        ]
        .concat(),
    );
    assert_eq!(wait_for_file(&log_a, T).lines().last(), Some("started"));
    let deadline = std::time::Instant::now() + T;
    while !std::fs::read_to_string(&log_a)
        .unwrap()
        .contains("promoted")
    {
        assert!(std::time::Instant::now() < deadline, "a was never promoted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = elect().zk(&connect).spawn(
        &[
            &["--id", "b"][..],
            &warm[..],
            &[replica(&log_b).as_str()][..],
        ]
        .concat(),
    );
    // b's replica runs warm, not promoted, while a leads.
    assert_eq!(wait_for_file(&log_b, T).trim(), "started");
    a.signal(Signal::SIGTERM);
    a.wait(T);
    let deadline = std::time::Instant::now() + T;
    while !std::fs::read_to_string(&log_b)
        .unwrap()
        .contains("promoted")
    {
        assert!(std::time::Instant::now() < deadline, "b was never promoted");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(b);
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

    let failing = elect()
        .zk(&connect)
        .run(&["--fence", "exit 1", "/e", "--", "true"]);
    assert_eq!(failing.code(), 1, "{}", failing.stderr());
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
