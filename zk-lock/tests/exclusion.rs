//! The invariant that matters most: never two holders at once. Real
//! ensemble, real processes, and real Curator contending on the same path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{lock, wait_for_queue, wait_for_queue_to_shrink};
use zk_testkit::{
    assert_handed_over, assert_no_overlap, heartbeat_command, heartbeats, kazoo_worker,
    overlaps_beside, require_zookeeper, shared, spawn_tied_to_test_process, wait_child, wait_until,
    JavaClient, LineReader, Zk,
};

/// The critical section: an existing MARK means someone else is inside.
fn critical_section(mark: &Path, log: &Path) -> String {
    format!(
        "mkdir {m} 2>/dev/null || echo OVERLAP >> {l}; echo \"zk-lock $ZK_FENCING_TOKEN\" >> {l}; sleep 0.01; rmdir {m}",
        m = mark.display(),
        l = log.display()
    )
}

fn run_workers(
    connect: &str,
    path: &str,
    workers: usize,
    iterations: usize,
    script: &str,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..workers)
        .map(|_| {
            let (connect, path, script) =
                (connect.to_string(), path.to_string(), script.to_string());
            std::thread::spawn(move || {
                for _ in 0..iterations {
                    let ran = lock().zk(&connect).run(&[&path, "-c", &script]);
                    assert_eq!(ran.code(), 0, "{}", ran.stderr());
                }
            })
        })
        .collect()
}

/// Curator workers, started and connected, waiting for [`go`].
fn curator_workers(java: &JavaClient, args: &[&str], count: usize) -> Vec<std::process::Child> {
    let mut workers: Vec<_> = (0..count)
        .map(|_| {
            java.command(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for worker in &mut workers {
        let ready = LineReader::new(worker.stdout.take().unwrap());
        assert_eq!(
            ready.next_line(Duration::from_secs(60)).trim(),
            "READY",
            "a Curator worker failed to connect"
        );
    }
    workers
}

/// Lets the Curator workers start iterating.
fn go(workers: &mut [std::process::Child]) {
    for worker in workers {
        writeln!(worker.stdin.as_mut().unwrap(), "go").unwrap();
    }
}

/// How often the critical section changed hands between Curator and us:
/// a test whose sides never contended would see at most one change.
fn handovers(log: &str) -> usize {
    let sides: Vec<bool> = log
        .lines()
        .filter(|l| !l.starts_with("OVERLAP"))
        .map(|l| l == "curator")
        .collect();
    sides.windows(2).filter(|w| w[0] != w[1]).count()
}

fn tokens(log: &str) -> Vec<i64> {
    log.lines()
        .filter_map(|l| l.strip_prefix("zk-lock "))
        .map(|t| t.parse().unwrap())
        .collect()
}

#[test]
fn four_processes_twenty_iterations_never_overlap_and_tokens_increase() {
    require_zookeeper!();
    let connect = shared().chroot("lock-exclusion");
    let dir = tempfile::tempdir().unwrap();
    let (mark, log) = (dir.path().join("mark"), dir.path().join("log"));
    for worker in run_workers(&connect, "/locks/x", 4, 20, &critical_section(&mark, &log)) {
        worker.join().unwrap();
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("OVERLAP"), "two holders at once:\n{log}");
    let tokens = tokens(&log);
    assert_eq!(tokens.len(), 80, "every iteration ran");
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "fencing tokens must increase in entry order: {tokens:?}"
    );
}

#[test]
fn curator_mutex_and_zk_lock_exclude_each_other() {
    require_zookeeper!();
    let connect = shared().chroot("lock-curator");
    let java = JavaClient::compile("CuratorLockWorker").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mark, log) = (dir.path().join("mark"), dir.path().join("log"));
    let (mark_s, log_s) = (mark.to_str().unwrap(), log.to_str().unwrap());
    let mut java_workers = curator_workers(&java, &[&connect, "/locks/x", "20", mark_s, log_s], 2);
    go(&mut java_workers);
    for worker in run_workers(&connect, "/locks/x", 4, 20, &critical_section(&mark, &log)) {
        worker.join().unwrap();
    }
    for mut worker in java_workers {
        assert!(wait_child(&mut worker, Duration::from_secs(120)).success());
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("OVERLAP"), "two holders at once:\n{log}");
    assert_eq!(tokens(&log).len(), 80);
    assert_eq!(
        log.lines().filter(|l| *l == "curator").count(),
        40,
        "every Curator iteration ran"
    );
    assert!(
        handovers(&log) >= 2,
        "Curator and zk-lock never contended:\n{log}"
    );
}

#[test]
fn curator_read_write_lock_writers_and_rw_layout_exclude_each_other() {
    require_zookeeper!();
    let connect = shared().chroot("lock-curator-rw");
    let java = JavaClient::compile("CuratorLockWorker").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mark, log) = (dir.path().join("mark"), dir.path().join("log"));
    let (mark_s, log_s) = (mark.to_str().unwrap(), log.to_str().unwrap());
    let mut java_workers = curator_workers(
        &java,
        &[&connect, "/locks/rw", "20", mark_s, log_s, "rw"],
        1,
    );
    go(&mut java_workers);
    let script = critical_section(&mark, &log);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (connect, script) = (connect.clone(), script.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let ran =
                        lock()
                            .zk(&connect)
                            .run(&["--layout", "rw", "/locks/rw", "-c", &script]);
                    assert_eq!(ran.code(), 0, "{}", ran.stderr());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    for mut worker in java_workers {
        assert!(wait_child(&mut worker, Duration::from_secs(120)).success());
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("OVERLAP"), "two writers at once:\n{log}");
    assert_eq!(tokens(&log).len(), 20);
    assert_eq!(log.lines().filter(|l| *l == "curator").count(), 20);
    assert!(
        handovers(&log) >= 2,
        "Curator and zk-lock never contended:\n{log}"
    );
}

#[test]
fn readers_share_writers_exclude() {
    require_zookeeper!();
    let connect = shared().chroot("lock-shared");
    let t = Duration::from_secs(20);
    let mut reader_a = lock().zk(&connect).spawn(&["--shared", "/locks/s"]);
    assert_eq!(reader_a.next_json(t)["event"], "acquired");
    let mut reader_b = lock().zk(&connect).spawn(&["--shared", "/locks/s"]);
    assert_eq!(
        reader_b.next_json(t)["event"],
        "acquired",
        "a second reader must share"
    );

    let busy = lock().zk(&connect).run(&["-n", "/locks/s", "--", "true"]);
    assert_eq!(
        busy.code(),
        75,
        "a writer must not enter while readers hold: {}",
        busy.stderr()
    );

    let mut writer = lock().zk(&connect).spawn(&["/locks/s"]);
    // Judged once the writer is queued, not after a guess at how long
    // queueing takes.
    wait_for_queue(&connect, "/locks/s", 3);
    assert_eq!(
        writer.next_line(Duration::from_millis(500)),
        None,
        "writer entered while readers hold"
    );
    let late_reader = lock().zk(&connect).spawn(&["--shared", "/locks/s"]);
    wait_for_queue(&connect, "/locks/s", 4);
    assert_eq!(
        late_reader.next_line(Duration::from_millis(300)),
        None,
        "a reader queued behind a writer must wait"
    );
    reader_a.close_stdin();
    reader_b.close_stdin();
    assert_eq!(writer.next_json(t)["event"], "acquired");
    assert_eq!(
        late_reader.next_line(Duration::from_millis(300)),
        None,
        "reader entered while the writer holds"
    );
    writer.close_stdin();
    assert_eq!(late_reader.next_json(t)["event"], "acquired");
}

#[test]
fn concurrent_readers_and_writers_see_each_others_marks_never() {
    require_zookeeper!();
    let connect = shared().chroot("lock-mixed");
    let dir = tempfile::tempdir().unwrap();
    let (readers, writer, log) = (
        dir.path().join("readers"),
        dir.path().join("writer"),
        dir.path().join("log"),
    );
    std::fs::create_dir(&readers).unwrap();
    // Each side sets its own mark before it looks for the other's, at entry
    // and again before leaving: if two sections overlap at all, one of them
    // sees the other's mark (readers: a file each in READERS; a writer: the
    // directory WRITER, which a second writer cannot create).
    let (r, w, l) = (readers.display(), writer.display(), log.display());
    let reader = format!(
        "touch {r}/$$; [ -d {w} ] && echo OVERLAP reader saw a writer >> {l}; sleep 0.02; \
         [ -d {w} ] && echo OVERLAP reader saw a writer >> {l}; echo reader >> {l}; rm {r}/$$"
    );
    let writer = format!(
        "mkdir {w} 2>/dev/null || echo OVERLAP writer saw a writer >> {l}; \
         [ -n \"$(ls {r})\" ] && echo OVERLAP writer saw a reader >> {l}; sleep 0.01; \
         [ -n \"$(ls {r})\" ] && echo OVERLAP writer saw a reader >> {l}; echo writer >> {l}; rmdir {w}"
    );
    let workers: Vec<_> = [(true, &reader); 3]
        .into_iter()
        .chain([(false, &writer); 2])
        .map(|(shared, script)| {
            let (connect, script) = (connect.clone(), script.clone());
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let mut args = vec!["/locks/mixed", "-c", &script];
                    if shared {
                        args.insert(0, "--shared");
                    }
                    let ran = lock().zk(&connect).run(&args);
                    assert_eq!(ran.code(), 0, "{}", ran.stderr());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("OVERLAP"), "a writer overlapped:\n{log}");
    let sides: Vec<&str> = log.lines().collect();
    assert_eq!(sides.iter().filter(|s| **s == "reader").count(), 30);
    assert_eq!(sides.iter().filter(|s| **s == "writer").count(), 20);
    assert!(
        sides.windows(2).filter(|p| p[0] != p[1]).count() >= 2,
        "readers and writers never contended:\n{log}"
    );
}

#[test]
fn max_holders_two_never_lets_a_third_in() {
    require_zookeeper!();
    let connect = shared().chroot("lock-semaphore");
    let dir = tempfile::tempdir().unwrap();
    let (slots, log) = (dir.path(), dir.path().join("log"));
    // Two slots: with at most two holders one is always free.
    let script = format!(
        "if mkdir {s}/slot1 2>/dev/null; then m=slot1; elif mkdir {s}/slot2 2>/dev/null; then m=slot2; \
         else echo OVERFLOW >> {l}; exit 0; fi; echo in >> {l}; sleep 0.02; rmdir {s}/$m",
        s = slots.display(),
        l = log.display()
    );
    let workers: Vec<_> = (0..5)
        .map(|_| {
            let (connect, script) = (connect.clone(), script.clone());
            std::thread::spawn(move || {
                for _ in 0..8 {
                    let ran = lock().zk(&connect).run(&[
                        "--max-holders",
                        "2",
                        "/locks/sem",
                        "-c",
                        &script,
                    ]);
                    assert_eq!(ran.code(), 0, "{}", ran.stderr());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("OVERFLOW"), "a third holder got in:\n{log}");
    assert_eq!(log.lines().filter(|l| *l == "in").count(), 40);

    // And explicitly: two hold, the third is refused, then admitted.
    let t = Duration::from_secs(20);
    let mut a = lock()
        .zk(&connect)
        .spawn(&["--max-holders", "2", "/locks/sem2"]);
    let b = lock()
        .zk(&connect)
        .spawn(&["--max-holders", "2", "/locks/sem2"]);
    assert_eq!(a.next_json(t)["event"], "acquired");
    assert_eq!(b.next_json(t)["event"], "acquired");
    assert_eq!(
        lock()
            .zk(&connect)
            .run(&["-n", "--max-holders", "2", "/locks/sem2", "--", "true"])
            .code(),
        75
    );
    let c = lock()
        .zk(&connect)
        .spawn(&["--max-holders", "2", "/locks/sem2"]);
    wait_for_queue(&connect, "/locks/sem2", 3);
    assert_eq!(c.next_line(Duration::from_millis(500)), None);
    // Whichever of the two holders leaves, the waiter must notice.
    a.close_stdin();
    assert_eq!(c.next_json(t)["event"], "acquired");
    let holders = lock().zk(&connect).run(&["holders", "/locks/sem2"]).json();
    let states: Vec<_> = holders
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["holding", "holding"], "{holders}");
    // Each holder's data tells an operator the size it was started with.
    for h in holders.as_array().unwrap() {
        assert_eq!(h["data"]["max_holders"], 2, "{holders}");
    }
}

#[test]
fn max_holders_one_is_the_plain_exclusive_lock() {
    require_zookeeper!();
    let connect = shared().chroot("lock-max-holders-one");
    let mut holder = lock()
        .zk(&connect)
        .spawn(&["--max-holders", "1", "/locks/one"]);
    let t = Duration::from_secs(30);
    assert_eq!(holder.next_json(t)["event"], "acquired");
    let holders = lock().zk(&connect).run(&["holders", "/locks/one"]).json();
    let only = &holders[0];
    assert_eq!(only["kind"], "exclusive", "{holders}");
    // A semaphore's node names its size (`-sem1-`); a mutex's does not.
    assert!(
        !only["node"].as_str().unwrap().contains("-sem"),
        "{holders}"
    );
    assert!(only["data"].get("max_holders").is_none(), "{holders}");
    holder.close_stdin();
    assert_eq!(holder.wait(t).code(), Some(0));
}

/// A command that leaves a job running in its process group (`cmd &
/// exit 0`) still holds the lock, as under flock(1), until the job ends:
/// the next holder's command must not start beside it.
#[test]
fn a_job_the_command_left_running_keeps_the_lock_until_it_ends() {
    require_zookeeper!();
    let connect = shared().chroot("lock-background-job");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let script = |name: &str, file: &Path| {
        let script = dir.path().join(name);
        std::fs::write(&script, heartbeat_command(file)).unwrap();
        script.display().to_string()
    };
    let (beat_a, beat_b) = (script("beat-a.sh", &a), script("beat-b.sh", &b));
    // The job beats for 2 s after the command itself has exited 0.
    let mut first = lock().zk(&connect).spawn(&[
        "/l",
        "-c",
        &format!("(sh {beat_a} & beating=$!; sleep 2; kill $beating) & exit 0"),
    ]);
    wait_until("a's background job beats", Duration::from_secs(30), || {
        !heartbeats(&a).is_empty()
    });
    let mut second = lock().zk(&connect).spawn(&[
        "/l",
        "-c",
        &format!("sh {beat_b} & beating=$!; sleep 0.5; kill $beating"),
    ]);
    assert_eq!(first.wait(Duration::from_secs(30)).code(), Some(0));
    assert_eq!(second.wait(Duration::from_secs(30)).code(), Some(0));
    assert_handed_over(&a, &b, &first.stderr_so_far());
}

/// A critical section for kazoo interop: a flock beside LOG, shared for
/// readers, exclusive for writers, and OVERLAP recorded (by the command
/// itself) when it cannot be had; then SIDE appended to LOG.
fn flocked_section(dir: &Path, side: &str, shared: bool) -> String {
    let flock = if shared {
        "flock -s -n 9"
    } else {
        "flock -n 9"
    };
    format!(
        "exec 9>>'{lock}'; {flock} || echo OVERLAP {side} $$ >> '{overlaps}'; \
         echo {side} >> '{log}'; sleep 0.02",
        lock = dir.join("section.flock").display(),
        overlaps = overlaps_beside(&dir.join("log")).display(),
        log = dir.join("log").display(),
    )
}

/// kazoo workers, connected and told to go.
fn kazoo_workers(args: &[&[&str]]) -> Vec<std::process::Child> {
    let mut workers: Vec<_> = args
        .iter()
        .map(|args| {
            spawn_tied_to_test_process({
                let mut cmd = kazoo_worker(args);
                cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
                cmd
            })
            .unwrap()
        })
        .collect();
    let mut readers = Vec::new();
    for worker in &mut workers {
        let out = LineReader::new(worker.stdout.take().unwrap());
        assert_eq!(out.next_line(Duration::from_secs(60)).trim(), "ready");
        readers.push(out);
    }
    for worker in &mut workers {
        writeln!(worker.stdin.as_mut().unwrap(), "go").unwrap();
    }
    // What each worker printed (the contenders kazoo saw) is drained by
    // the readers; keep them alive with the children.
    std::mem::forget(readers);
    workers
}

/// zk-lock threads running SECTION ITERATIONS times each with ARGS.
fn zk_lock_threads(
    connect: &str,
    args: &[&[&str]],
    iterations: usize,
) -> Vec<std::thread::JoinHandle<()>> {
    args.iter()
        .map(|args| {
            let connect = connect.to_string();
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                for _ in 0..iterations {
                    let ran = lock().zk(&connect).run(&args);
                    assert_eq!(ran.code(), 0, "{}", ran.stderr());
                }
            })
        })
        .collect()
}

fn count(log: &str, side: &str) -> usize {
    log.lines().filter(|l| *l == side).count()
}

#[test]
fn kazoo_locks_and_zk_lock_in_kazoo_layout_exclude_each_other() {
    require_zookeeper!();
    let connect = shared().chroot("lock-kazoo");
    let dir = tempfile::tempdir().unwrap();
    let kazoo = flocked_section(dir.path(), "kazoo", false);
    let ours = flocked_section(dir.path(), "zk", false);
    let python = kazoo_workers(&[
        &[&connect, "/locks/k", "lock", "15", "kazoo-1", &kazoo],
        &[&connect, "/locks/k", "write", "15", "kazoo-2", &kazoo],
    ]);
    let zk_args: &[&str] = &["--layout", "kazoo", "--id", "zk", "/locks/k", "-c", &ours];
    for thread in zk_lock_threads(&connect, &[zk_args, zk_args], 15) {
        thread.join().unwrap();
    }
    for mut worker in python {
        assert!(wait_child(&mut worker, Duration::from_secs(120)).success());
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_no_overlap(dir.path(), &log);
    assert_eq!((count(&log, "kazoo"), count(&log, "zk")), (30, 30), "{log}");
    let sides: Vec<&str> = log.lines().collect();
    let handovers = sides.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(handovers >= 2, "kazoo and zk-lock never contended:\n{log}");
}

#[test]
fn kazoo_read_write_locks_and_zk_lock_readers_and_writers_exclude_correctly() {
    require_zookeeper!();
    let connect = shared().chroot("lock-kazoo-rw");
    let dir = tempfile::tempdir().unwrap();
    let (kazoo_w, kazoo_r) = (
        flocked_section(dir.path(), "kazoo-w", false),
        flocked_section(dir.path(), "kazoo-r", true),
    );
    let (zk_w, zk_r) = (
        flocked_section(dir.path(), "zk-w", false),
        flocked_section(dir.path(), "zk-r", true),
    );
    let python = kazoo_workers(&[
        &[&connect, "/locks/rw", "write", "10", "kazoo-w", &kazoo_w],
        &[&connect, "/locks/rw", "read", "10", "kazoo-r", &kazoo_r],
    ]);
    let writer: &[&str] = &["--layout", "kazoo", "/locks/rw", "-c", &zk_w];
    let reader: &[&str] = &["--layout", "kazoo", "--shared", "/locks/rw", "-c", &zk_r];
    for thread in zk_lock_threads(&connect, &[writer, reader, reader], 10) {
        thread.join().unwrap();
    }
    for mut worker in python {
        assert!(wait_child(&mut worker, Duration::from_secs(120)).success());
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert_no_overlap(dir.path(), &log);
    let counts = ["kazoo-w", "kazoo-r", "zk-w", "zk-r"].map(|side| count(&log, side));
    assert_eq!(counts, [10, 10, 10, 20], "{log}");
}

/// While a kazoo Lock holds: a zk-lock left to detect its layout queues in
/// kazoo's and finds the lock busy; one told `--layout mutex` refuses (2)
/// and says which flag to use; `holders` shows the kazoo holder and kazoo
/// sees ours; no node of ours is left behind.
#[test]
fn a_kazoo_holder_is_detected_shown_and_never_ignored() {
    require_zookeeper!();
    let connect = shared().chroot("lock-kazoo-detect");
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let hold = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    let mut python = kazoo_workers(&[&[&connect, "/locks/d", "lock", "1", "kazoo-1", &hold]]);
    let holders = wait_for_queue(&connect, "/locks/d", 1);
    let holder = &holders[0];
    assert_eq!(
        (&holder["id"], &holder["state"], &holder["layout"]),
        (&"kazoo-1".into(), &"holding".into(), &"kazoo".into()),
        "{holders}"
    );
    let kazoo_node = holder["node"].as_str().unwrap().to_string();
    assert!(kazoo_node.contains("__lock__"), "{kazoo_node}");

    let busy = lock().zk(&connect).run(&["-n", "/locks/d", "--", "true"]);
    assert_eq!(busy.code(), 75, "{}", busy.stderr());
    assert!(
        busy.stderr().contains("held by kazoo-1 since"),
        "{}",
        busy.stderr()
    );
    let refused = lock()
        .zk(&connect)
        .run(&["--layout", "mutex", "-n", "/locks/d", "--", "true"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("give --layout kazoo"),
        "{}",
        refused.stderr()
    );
    assert_eq!(refused.stderr().lines().count(), 1, "{}", refused.stderr());

    // A waiter in kazoo's layout is a contender kazoo itself lists.
    let mut waiter = lock()
        .zk(&connect)
        .spawn(&["--id", "zk-waiter", "/locks/d", "--", "true"]);
    wait_for_queue(&connect, "/locks/d", 2);
    let seen = kazoo_worker(&[&connect, "/locks/d", "lock", "0", "viewer", "true"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&seen.stdout).to_string();
    assert!(
        seen.contains("kazoo-1") && seen.contains("zk-waiter"),
        "kazoo saw {seen}"
    );

    std::fs::write(&release, "").unwrap();
    assert_eq!(waiter.wait(Duration::from_secs(30)).code(), Some(0));
    assert!(wait_child(&mut python[0], Duration::from_secs(30)).success());
    wait_for_queue_to_shrink(&connect, "/locks/d", 0);
}

/// A node of a recipe we know but cannot queue beside (ZooKeeper's own
/// WriteLock here) makes zk-lock refuse, not ignore it, and leave nothing.
#[test]
fn another_recipes_contender_is_refused_not_ignored() {
    require_zookeeper!();
    let connect = shared().chroot("lock-stranger");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/locks/s").unwrap();
    let stranger = "x-72057594037927936-0000000000";
    zk.create(
        &format!("/locks/s/{stranger}"),
        b"",
        zookeeper_client::CreateMode::Persistent,
    )
    .unwrap();
    let refused = lock().zk(&connect).run(&["-n", "/locks/s", "--", "true"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("ZooKeeper's WriteLock") && refused.stderr().contains(stranger),
        "{}",
        refused.stderr()
    );
    assert_eq!(zk.children("/locks/s").unwrap(), [stranger]);
}
