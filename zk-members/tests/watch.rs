//! `zk-members watch` against real servers, including one killed and
//! restarted under it and its own session expiring.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use zk_testkit::{exclusive, four_letter, require_zookeeper, shared, Ensemble, Running, Tool, Zk};
use zookeeper_client::CreateMode;

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

fn ids(line: &Value) -> BTreeSet<String> {
    line["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Reads lines until one has exactly `want` as members; checks on the way
/// that every line's joined/left agree with the line before.
fn read_until(watch: &Running, previous: &mut BTreeSet<String>, want: &BTreeSet<String>) -> Value {
    loop {
        let line = watch.next_json(Duration::from_secs(30));
        let now = ids(&line);
        let joined: BTreeSet<_> = now.difference(previous).cloned().collect();
        let left: BTreeSet<_> = previous.difference(&now).cloned().collect();
        assert_eq!(strings(&line["joined"]), joined, "{line}");
        assert_eq!(strings(&line["left"]), left, "{line}");
        *previous = now;
        if previous == want {
            return line;
        }
    }
}

#[test]
fn reports_a_snapshot_then_joins_leaves_and_updates() {
    require_zookeeper!();
    let connect = shared().chroot("watch-basic");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    zk.create("/g/a", b"1", CreateMode::Ephemeral).unwrap();
    let watch = members()
        .zk(&connect)
        .spawn(&["watch", "/g", "--debounce", "0s"]);

    let first = watch.next_json(Duration::from_secs(20));
    assert_eq!(first["event"], "snapshot");
    assert_eq!(first["path"], "/g");
    assert_eq!(strings(&first["joined"]), BTreeSet::from(["a".to_string()]));
    assert!(first["session_id"].as_str().unwrap().starts_with("0x"));
    assert!(first["time"].as_str().unwrap().ends_with('Z'));

    zk.create("/g/b", b"2", CreateMode::Ephemeral).unwrap();
    let line = watch.next_json(Duration::from_secs(20));
    assert_eq!(line["event"], "changed");
    assert_eq!(line["joined"], serde_json::json!(["b"]));
    assert_eq!(line["left"], serde_json::json!([]));
    assert_eq!(line["members"][1]["data"], 2);

    zk.block_on(zk.client().set_data("/g/a", b"{\"up\":true}", None))
        .unwrap();
    let line = watch.next_json(Duration::from_secs(20));
    assert_eq!(line["updated"], serde_json::json!(["a"]));
    assert_eq!(line["members"][0]["data"]["up"], true);

    zk.delete("/g/a").unwrap();
    let line = watch.next_json(Duration::from_secs(20));
    assert_eq!(line["left"], serde_json::json!(["a"]));
    assert_eq!(ids(&line), BTreeSet::from(["b".to_string()]));
}

#[test]
fn exec_gets_each_snapshot_on_stdin_and_output_is_replaced_atomically() {
    require_zookeeper!();
    let connect = shared().chroot("watch-exec");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("handler.log");
    let handler = format!("cat >> {}; echo >> {}", log.display(), log.display());
    let exec =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--exec", &handler, "--debounce", "0s"]);
    let out_file = dir.path().join("peers.json");
    let file =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--output", out_file.to_str().unwrap()]);

    assert_eq!(exec.next_json(Duration::from_secs(20))["event"], "snapshot");
    zk.create("/g/x", b"{\"port\":1}", CreateMode::Ephemeral)
        .unwrap();
    assert_eq!(
        exec.next_json(Duration::from_secs(20))["joined"],
        serde_json::json!(["x"])
    );

    // The handler ran once per line, in order, with the members array.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let runs: Vec<Value> = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let runs: Vec<Value> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if runs.len() >= 2 || std::time::Instant::now() > deadline {
            break runs;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0], serde_json::json!([]));
    assert_eq!(runs[1][0]["id"], "x");
    assert_eq!(runs[1][0]["data"]["port"], 1);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // Not there yet is fine; there and not JSON is a torn read.
        let read = std::fs::read_to_string(&out_file).ok().map(|t| {
            serde_json::from_str::<Value>(&t)
                .unwrap_or_else(|e| panic!("a torn read of --output ({e}): {t:?}"))
        });
        if read.as_ref().and_then(|v| v[0]["id"].as_str()) == Some("x") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "output file never showed x: {read:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        file.next_line(Duration::from_millis(100)),
        None,
        "--output must keep stdout empty"
    );
}

/// `--output` is replaced in one rename: a reader polling the file while
/// it is rewritten, again and again, never sees part of a document. The
/// document is large (16 members of 60 kB each, about 1 MB) so that a
/// rewrite in place (truncate, then write) would be caught half-way.
#[test]
fn a_reader_polling_the_output_file_never_sees_half_a_document() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    require_zookeeper!();
    let connect = shared().chroot("watch-output-torn");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let pad = format!("{{\"pad\":\"{}\"}}", "x".repeat(60_000));
    for i in 0..16 {
        zk.create(&format!("/g/m{i}"), pad.as_bytes(), CreateMode::Persistent)
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("peers.json");
    let _watch = members().zk(&connect).spawn(&[
        "watch",
        "/g",
        "--output",
        out.to_str().unwrap(),
        "--debounce",
        "0s",
    ]);

    // The reader: every read of the file, once it exists, must parse.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, out) = (stop.clone(), out.clone());
        std::thread::spawn(move || {
            let (mut versions, mut last, mut torn) = (0, Vec::new(), Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let bytes = match std::fs::read(&out) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("reading {}: {e}", out.display()),
                };
                if serde_json::from_slice::<Value>(&bytes).is_err() {
                    torn.push(bytes.len());
                } else if bytes != last {
                    versions += 1;
                    last = bytes;
                }
            }
            (versions, torn)
        })
    };

    // The writer: one member comes and goes, and each change is waited for
    // in the file, so every one of them is a rewrite.
    let members_in_file = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let doc = std::fs::read(&out)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
            if doc.as_ref().and_then(Value::as_array).map(Vec::len) == Some(n) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the file never listed {n} members"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    members_in_file(16);
    let rounds = 20;
    for round in 0..rounds {
        let churn = format!("{{\"round\":{round}}}");
        zk.create("/g/churn", churn.as_bytes(), CreateMode::Persistent)
            .unwrap();
        members_in_file(17);
        zk.delete("/g/churn").unwrap();
        members_in_file(16);
    }
    stop.store(true, Ordering::SeqCst);
    let (versions, torn) = reader.join().unwrap();
    eprintln!("the reader saw {versions} versions of the file");
    assert!(
        torn.is_empty(),
        "{} reads saw part of a document ({} to {} bytes)",
        torn.len(),
        torn.iter().min().unwrap(),
        torn.iter().max().unwrap()
    );
    assert!(
        versions > rounds,
        "the reader saw only {versions} of the {} versions written: it did not read while they were written",
        2 * rounds + 1
    );
}

#[test]
fn starts_a_new_session_and_a_fresh_snapshot_after_expiry() {
    require_zookeeper!();
    let connect = shared().chroot("watch-expiry");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let watch = members()
        .zk(&connect)
        .spawn(&["--session-timeout", "1s", "watch", "/g"]);
    let first = watch.next_json(Duration::from_secs(20));
    assert_eq!(first["event"], "snapshot");

    // Frozen past its session timeout, the watcher's session expires on
    // the server; the group changes meanwhile.
    zk_testkit::pause(watch.pid());
    let session = first["session_id"].as_str().unwrap().to_string();
    let gone = std::time::Instant::now() + Duration::from_secs(30);
    while zk_testkit::session_is_live(shared().connect_string(), &session) {
        assert!(
            std::time::Instant::now() < gone,
            "session {session} never expired"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    zk.create("/g/while-frozen", b"", CreateMode::Persistent)
        .unwrap();
    zk_testkit::resume(watch.pid());

    let fresh = watch.next_json(Duration::from_secs(30));
    assert_eq!(fresh["event"], "snapshot", "{fresh}");
    assert_ne!(fresh["session_id"], first["session_id"]);
    assert_eq!(ids(&fresh), BTreeSet::from(["while-frozen".to_string()]));
}

/// 50 members join and leave while the server the watcher is connected to
/// is killed and restarted; the last line must equal the real membership.
#[test]
fn fault_watch_rides_through_a_server_restart_with_members_churning() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    let zk = Zk::connect(&ensemble.connect_string()).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let watch =
        members()
            .zk(&ensemble.connect_string())
            .spawn(&["watch", "/g", "--debounce", "20ms"]);
    let first = watch.next_json(Duration::from_secs(20));
    let session = first["session_id"].as_str().unwrap().to_string();
    let victim = (0..ensemble.len())
        .find(|&i| {
            four_letter(&ensemble.address(i), "cons")
                .unwrap_or_default()
                .contains(&format!("sid={session}"))
        })
        .expect("the watcher's server");

    let mut previous = BTreeSet::new();
    for i in 0..50 {
        if i == 20 {
            ensemble.kill(victim);
        }
        if i == 35 {
            ensemble.restart(victim).unwrap();
        }
        retry(|| {
            ignore(
                zk.create(&format!("/g/m{i:02}"), b"", CreateMode::Persistent),
                "node already exists",
            )
        });
        if i % 3 == 0 {
            retry(|| ignore(zk.delete(&format!("/g/m{i:02}")), "node not exists"));
        }
    }
    let real: BTreeSet<String> = zk.children("/g").unwrap().into_iter().collect();
    assert_eq!(real.len(), 50 - 17);
    read_until(&watch, &mut previous, &real);
    // And nothing after it contradicts ZooKeeper.
    while let Some(line) = watch.next_line(Duration::from_secs(2)) {
        let line: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            ids(&line),
            real,
            "a later line disagrees with ZooKeeper: {line}"
        );
    }
}

/// Every server down for longer than the session timeout: the watcher's
/// session is gone, and the watcher outlives the outage as the README
/// says: it warns that the session expired, keeps retrying (every
/// --connect-timeout), prints nothing on stdout meanwhile, and once a
/// quorum is back opens a new session, prints a fresh `snapshot` and goes
/// on reporting changes, as the same process.
#[test]
fn fault_watch_rides_through_a_whole_ensemble_outage() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    let connect = ensemble.connect_string();
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    zk.create("/g/a", b"", CreateMode::Persistent).unwrap();
    drop(zk);
    let mut watch = members().zk(&connect).spawn(&[
        "--session-timeout",
        "2s",
        "--connect-timeout",
        "1s",
        "watch",
        "/g",
        "--debounce",
        "0s",
    ]);
    let first = watch.next_json(Duration::from_secs(20));
    assert_eq!(first["event"], "snapshot");
    assert_eq!(ids(&first), BTreeSet::from(["a".to_string()]));

    let down = std::time::Instant::now();
    for i in 0..ensemble.len() {
        ensemble.kill(i);
    }
    // Its client gives the session up once no server answered for the
    // session timeout; then every connection attempt fails, and is retried.
    watch.wait_stderr("expired; opening a new one", Duration::from_secs(30));
    for _ in 0..2 {
        watch.wait_stderr("retrying", Duration::from_secs(30));
    }
    assert!(
        down.elapsed() > Duration::from_secs(2),
        "down for less than the session timeout"
    );
    assert_eq!(
        watch.child.try_wait().unwrap(),
        None,
        "the watcher must outlive the outage"
    );
    assert_eq!(
        watch.next_line(Duration::ZERO),
        None,
        "nothing to report while no server answers"
    );

    ensemble.restart_all().unwrap();
    let fresh = watch.next_json(Duration::from_secs(60));
    assert_eq!(fresh["event"], "snapshot", "{fresh}");
    assert_ne!(fresh["session_id"], first["session_id"]);
    assert_eq!(ids(&fresh), BTreeSet::from(["a".to_string()]));

    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g/b", b"", CreateMode::Ephemeral).unwrap();
    let line = watch.next_json(Duration::from_secs(30));
    assert_eq!(line["event"], "changed", "{line}");
    assert_eq!(line["joined"], serde_json::json!(["b"]));
    assert_eq!(line["session_id"], fresh["session_id"]);
    zk.delete("/g/a").unwrap();
    let line = watch.next_json(Duration::from_secs(30));
    assert_eq!(line["left"], serde_json::json!(["a"]), "{line}");
    assert_eq!(ids(&line), BTreeSet::from(["b".to_string()]));
    assert_eq!(watch.child.try_wait().unwrap(), None);
}

fn ignore(result: anyhow::Result<impl Sized>, benign: &str) -> anyhow::Result<()> {
    match result {
        Ok(_) => Ok(()),
        // A retried request may have succeeded before the connection broke.
        Err(err) if format!("{err:#}").contains(benign) => Ok(()),
        Err(err) => Err(err),
    }
}

fn retry(mut op: impl FnMut() -> anyhow::Result<()>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match op() {
            Ok(()) => return,
            Err(err) if std::time::Instant::now() < deadline => {
                eprintln!("retrying after: {err:#}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("gave up: {err:#}"),
        }
    }
}

/// `zk-members watch | head -1`: once the reader has gone, the watch ends
/// (exit 0, as after a closed pipe) without waiting for the next change,
/// which may be hours away.
#[test]
fn a_watch_whose_reader_left_ends_without_waiting_for_a_change() {
    require_zookeeper!();
    let connect = shared().chroot("watch-reader-gone");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let script = format!(
        "{} --zk {connect} watch /g | head -1; echo \"watch exited ${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_zk-members")
    );
    let mut pipeline = std::process::Command::new("bash")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = zk_testkit::wait_child(&mut pipeline, Duration::from_secs(20));
    assert!(status.success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut pipeline.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.contains("\"snapshot\""), "{out}");
    assert!(out.contains("watch exited 0"), "{out}");
}

/// `--settle MIN:MAX`: a burst becomes one line once it is quiet for MIN;
/// changes that never stop are still reported, by MAX after the first.
#[test]
fn settle_waits_for_quiet_but_never_past_its_max() {
    const T: Duration = Duration::from_secs(20);
    require_zookeeper!();
    let connect = shared().chroot("watch-settle");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    let watch = members()
        .zk(&connect)
        .spawn(&["watch", "/g", "--settle", "1s:2s"]);
    assert_eq!(watch.next_json(T)["event"], "snapshot");
    for i in 0..5 {
        zk.create(&format!("/g/burst-{i}"), b"", CreateMode::Ephemeral)
            .unwrap();
    }
    let burst = watch.next_json(T);
    assert_eq!(
        strings(&burst["joined"]).len(),
        5,
        "one line for the burst: {burst}"
    );

    // A change every 200 ms for 8 s: never 1 s of quiet.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (connect, done) = (connect.clone(), done.clone());
        std::thread::spawn(move || {
            let zk = Zk::connect(&connect).unwrap();
            for i in 0..40 {
                zk.create(&format!("/g/churn-{i}"), b"", CreateMode::Ephemeral)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(200));
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let during = watch.next_json(T);
    assert!(
        !done.load(std::sync::atomic::Ordering::SeqCst),
        "no line until the churn stopped: MAX was not honoured"
    );
    assert_eq!(during["event"], "changed");
    churn.join().unwrap();
}
