//! zk-health against real ZooKeeper: registration follows the probes, the
//! signals and the faults; Curator's ServiceDiscovery finds what we register.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use zk_testkit::{
    require_zookeeper, shared, wait_for_file, wait_until, JavaClient, Running, TcpTarget, Tool, Zk,
};

fn health() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-health"))
}

const T: Duration = Duration::from_secs(30);

/// The next event named `name`, skipping others; panics if none came
/// within `T` (other events, `check` lines, do not extend it).
fn next_event(process: &Running, name: &str) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let line = deadline
            .checked_duration_since(Instant::now())
            .and_then(|left| process.next_line(left))
            .unwrap_or_else(|| {
                panic!(
                    "no {name:?} event within {T:?}; stderr so far: {}",
                    process.stderr_so_far()
                )
            });
        let e: Value =
            serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        if e["event"] == name {
            return e;
        }
    }
}

#[test]
fn registration_follows_rise_and_fall_exactly() {
    require_zookeeper!();
    let connect = shared().chroot("health-flap");
    let dir = tempfile::tempdir().unwrap();
    // Each probe round takes the next result from the script: 1 passes.
    let script = dir.path().join("script");
    std::fs::write(&script, "1\n0\n1\n1\n0\n0\n1\n0\n0\n0\n").unwrap();
    let count = dir.path().join("count");
    let check = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ \"$(sed -n ${{n}}p {s})\" = 1 ]",
        c = count.display(),
        s = script.display()
    );
    let process = health().zk(&connect).spawn(&[
        "/services/web",
        "--id",
        "w1",
        "--check",
        &check,
        "--interval",
        "50ms",
        "--rise",
        "2",
        "--fall",
        "3",
        "--every-check",
    ]);
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e: &&String| e.starts_with("check"))
        .count()
        < 11
    {
        let e = process.next_json(T);
        seen.push(match e["event"].as_str().unwrap() {
            "check" => format!("check {}", if e["passed"] == true { 1 } else { 0 }),
            other => other.to_string(),
        });
    }
    assert_eq!(
        seen,
        [
            "check 1",
            "check 0",
            "check 1",
            "check 1",
            "registered",
            "check 0",
            "check 0",
            "check 1",
            "check 0",
            "check 0",
            "check 0",
            "deregistered",
            "check 0"
        ],
        "registration must follow --rise 2 and --fall 3 exactly"
    );
}

#[test]
fn sigterm_deregisters_before_the_drain_and_the_signal() {
    require_zookeeper!();
    let connect = shared().chroot("health-drain");
    let zk = Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (events, term) = (dir.path().join("events"), dir.path().join("term"));
    let service = format!(
        "trap 'echo TERM > {}; exit 0' TERM; while :; do sleep 0.01; done",
        term.display()
    );
    let mut process = health().zk(&connect).spawn(&[
        "/s",
        "--id",
        "a",
        "--drain",
        "2s",
        "--events",
        events.to_str().unwrap(),
        "-c",
        &service,
    ]);
    wait_for_file(&events, T);
    wait_until("registration", T, || zk.exists("/s/a").unwrap());
    process.signal(Signal::SIGTERM);
    wait_until("deregistration", T, || !zk.exists("/s/a").unwrap());
    let gone = Instant::now();
    assert!(
        !term.exists(),
        "the command got the signal before the node was gone"
    );
    wait_until("the command gets TERM", T, || term.exists());
    // A lower bound only, so a loaded machine cannot fail it: the test saw
    // the node gone late, never early, so at most the polling lag is lost.
    let drained = gone.elapsed();
    assert!(
        drained >= Duration::from_millis(1500),
        "TERM came {drained:?} after the node was gone; the drain is 2s"
    );
    assert_eq!(
        process.wait(T).code(),
        Some(0),
        "zk-health exits with the command's status"
    );
    assert_eq!(std::fs::read_to_string(&term).unwrap().trim(), "TERM");
}

#[test]
fn sigkill_leaves_the_node_until_the_session_expires() {
    require_zookeeper!();
    let connect = shared().chroot("health-sigkill");
    let zk = Zk::connect(&connect).unwrap();
    let mut process = health()
        .zk(&connect)
        .spawn(&["--session-timeout", "4s", "/s", "--id", "a"]);
    next_event(&process, "registered");
    // 4 s, not 1: on a loaded machine the check below must still come
    // before the expiry.
    process.signal(Signal::SIGKILL);
    process.wait(T);
    assert!(
        zk.exists("/s/a").unwrap(),
        "an ephemeral node outlives its process until the session expires"
    );
    wait_until("expiry", T, || !zk.exists("/s/a").unwrap());
}

#[test]
fn a_frozen_instance_registers_again_after_its_session_expired() {
    require_zookeeper!();
    let connect = shared().chroot("health-frozen");
    let zk = Zk::connect(&connect).unwrap();
    let process = health()
        .zk(&connect)
        .spawn(&["--session-timeout", "1s", "/s", "--id", "a"]);
    let first = next_event(&process, "registered");
    zk_testkit::pause(process.pid());
    wait_until("expiry of the frozen session", T, || {
        !zk.exists("/s/a").unwrap()
    });
    zk_testkit::resume(process.pid());
    let again = next_event(&process, "registered");
    assert_ne!(again["session_id"], first["session_id"]);
    // A 1 s session may expire again on a loaded machine (CI once saw the
    // node gone right after `registered`); it registers again each time.
    wait_until("registered again", T, || zk.exists("/s/a").unwrap());
}

#[test]
fn deleted_by_someone_it_registers_again() {
    require_zookeeper!();
    let connect = shared().chroot("health-deleted");
    let zk = Zk::connect(&connect).unwrap();
    let process = health().zk(&connect).spawn(&[
        "/s",
        "--id",
        "a",
        "--data",
        r#"{"port":80}"#,
        "--interval",
        "100ms",
    ]);
    next_event(&process, "registered");
    assert_eq!(
        serde_json::from_slice::<Value>(&zk.get("/s/a").unwrap().0).unwrap()["port"],
        80
    );
    zk.delete("/s/a").unwrap();
    assert_eq!(
        next_event(&process, "deregistered")["reason"],
        "the node was deleted by someone else"
    );
    next_event(&process, "registered");
    assert!(zk.exists("/s/a").unwrap());
}

#[test]
fn http_and_tcp_probes_and_the_maintenance_file() {
    require_zookeeper!();
    let connect = shared().chroot("health-http");
    let zk = Zk::connect(&connect).unwrap();
    let up = Arc::new(AtomicBool::new(true));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = up.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            let status = if serving.load(Ordering::SeqCst) {
                "200 OK"
            } else {
                "503 Unavailable"
            };
            let _ = conn
                .write_all(format!("HTTP/1.0 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let maintenance = dir.path().join("maintenance");
    let url = format!("http://127.0.0.1:{port}/health");
    // The TCP probe has a listener of its own, so that it can fail alone.
    let mut tcp = TcpTarget::start().unwrap();
    let process = health().zk(&connect).spawn(&[
        "/s",
        "--id",
        "a",
        "--http",
        &url,
        "--tcp",
        &tcp.address(),
        "--interval",
        "50ms",
        "--rise",
        "1",
        "--fall",
        "1",
        "--maintenance-file",
        maintenance.to_str().unwrap(),
    ]);
    next_event(&process, "registered");
    up.store(false, Ordering::SeqCst);
    let gone = next_event(&process, "deregistered");
    assert!(
        gone["reason"].as_str().unwrap().contains("HTTP 503"),
        "{gone}"
    );
    assert!(!zk.exists("/s/a").unwrap());
    up.store(true, Ordering::SeqCst);
    next_event(&process, "registered");
    std::fs::write(&maintenance, "").unwrap();
    assert_eq!(
        next_event(&process, "deregistered")["reason"],
        "maintenance file present"
    );
    std::fs::remove_file(&maintenance).unwrap();
    next_event(&process, "registered");

    // The TCP target goes down: connections to it are refused, the probe
    // fails, and the instance deregisters, saying which probe failed.
    tcp.close();
    let gone = next_event(&process, "deregistered");
    let reason = gone["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("--tcp {}: ", tcp.address())) && reason.contains("refused"),
        "{gone}"
    );
    assert!(!zk.exists("/s/a").unwrap());
    tcp.reopen().unwrap();
    next_event(&process, "registered");
    assert!(zk.exists("/s/a").unwrap());
}

#[test]
fn a_duplicate_id_waits_for_the_other_session_unless_takeover() {
    require_zookeeper!();
    let connect = shared().chroot("health-duplicate");
    let zk = Zk::connect(&connect).unwrap();
    let mut first = health().zk(&connect).spawn(&["/s", "--id", "a"]);
    let registered = next_event(&first, "registered");
    let second = health().zk(&connect).spawn(&["/s", "--id", "a"]);
    second.wait_stderr("held by another live session", T);
    let owner = zk.get("/s/a").unwrap().1.ephemeral_owner;
    assert_eq!(
        format!("{owner:#x}"),
        registered["session_id"].as_str().unwrap(),
        "the first keeps its node"
    );
    first.signal(Signal::SIGTERM);
    first.wait(T);
    next_event(&second, "registered");

    let third = health()
        .zk(&connect)
        .spawn(&["/s", "--id", "a", "--takeover"]);
    next_event(&third, "registered");
    assert_eq!(
        next_event(&second, "deregistered")["reason"],
        "the node was deleted by someone else"
    );
}

#[test]
fn curator_service_discovery_finds_our_instance() {
    require_zookeeper!();
    let connect = shared().chroot("health-curator");
    let java = JavaClient::compile("CuratorDiscovery").unwrap();
    let process = health().zk(&connect).spawn(&[
        "/discovery",
        "--format",
        "curator",
        "--service",
        "api",
        "--id",
        "api-1",
        "--address",
        "10.0.0.7",
        "--port",
        "9000",
        "--ssl-port",
        "9443",
        "--payload",
        r#"{"zone":"b"}"#,
        "--uri-spec",
        "{scheme}://{address}:{port}",
    ]);
    next_event(&process, "registered");
    let out = java
        .command(&[&connect, "/discovery", "query", "api"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"api-1 10.0.0.7 9000 9443 {"zone":"b"}"#
    );
}

#[test]
fn bad_input_is_a_one_line_error() {
    for (args, needle) in [
        (&["services", "--id", "a"][..], "relative"),
        (&["/s", "--id", "a/b"][..], "must not contain"),
        (&["/s", "--id", "a", "--data", "{x"][..], "not JSON"),
        (
            &["/s", "--id", "a", "--format", "curator", "--service", "x"][..],
            "--address",
        ),
        (&["/s"][..], "--id"),
        (&["/s", "--id", "a", "--interval", "5"][..], "--interval"),
        (&["/s", "--id", "a", "--interval", "0s"][..], "too short"),
        (&["/zookeeper/s", "--id", "a"][..], "ZooKeeper's own tree"),
        (&["/s", "--id", "a", "--acl", "creator"][..], "--auth"),
        (&["/s", "--id", "a", "--auth", ":hunter2"][..], "not shown"),
        (
            &["/s", "--id", "a", "--http-status", "ok"][..],
            "--http-status",
        ),
    ] {
        let ran = health().zk("127.0.0.1:1").run(args);
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

/// A command that cannot run is refused at once, before any probe or
/// connection: 127 not found, 126 not executable.
#[test]
fn a_missing_or_unexecutable_command_fails_before_connecting() {
    for (command, code) in [("/nonexistent", 127), ("/etc/passwd", 126)] {
        let ran = health().zk("127.0.0.1:1").run(&[
            "--connect-timeout",
            "30s",
            "/s",
            "--id",
            "a",
            "--",
            command,
        ]);
        assert_eq!(ran.code(), code, "{command}: {}", ran.stderr());
        assert!(ran.elapsed < Duration::from_secs(10), "{command} waited");
        assert!(ran.stderr().contains(command), "{}", ran.stderr());
    }
}

/// A stop signal is obeyed while ZooKeeper does not answer, not after
/// --connect-timeout: zk-health rides out outages, so otherwise every
/// connect attempt would hold the signal until it timed out.
#[test]
fn a_stop_signal_while_connecting_exits_at_once() {
    require_zookeeper!();
    let (_connect, proxy, through_proxy) = shared().chroot_via_proxy("health-signal-connecting");
    proxy.blackhole();
    let mut process =
        health()
            .zk(&through_proxy)
            .spawn(&["--connect-timeout", "120s", "/s", "--id", "a"]);
    wait_until("zk-health is connecting", T, || {
        proxy.open_connections() > 0
    });
    process.signal(Signal::SIGTERM);
    assert_eq!(
        process.wait(T).code(),
        Some(143),
        "{}",
        process.stderr_so_far()
    );
}

/// zk-health rides through a ZooKeeper outage (it never exits 69: the
/// service it supervises keeps running and registers once ZooKeeper is
/// back); --timeout is how to give up, with 75.
#[test]
fn unreachable_zookeeper_is_retried_until_the_timeout() {
    let ran = health().zk("127.0.0.1:1").run(&[
        "--connect-timeout",
        "300ms",
        "--interval",
        "200ms",
        "/s",
        "--id",
        "a",
        "--timeout",
        "2s",
    ]);
    assert_eq!(ran.code(), 75, "{}", ran.stderr());
    let stderr = ran.stderr();
    let retries = stderr
        .lines()
        .filter(|l| l.starts_with("zk-health: warning: ") && l.contains("retrying"))
        .count();
    assert!(retries >= 2, "retried, and said so with its name: {stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("not registered within 2s"),
        "{stderr}"
    );
}

#[test]
fn the_wrapped_commands_status_is_passed_through() {
    require_zookeeper!();
    let connect = shared().chroot("health-status");
    let ran = health()
        .zk(&connect)
        .run(&["/s", "--id", "a", "-c", "exit 3"]);
    assert_eq!(ran.code(), 3, "{}", ran.stderr());
    let ran = health()
        .zk(&connect)
        .run(&["/s", "--id", "a", "-c", "kill -USR1 $$"]);
    assert_eq!(ran.code(), 128 + 10, "died of SIGUSR1: {}", ran.stderr());
    assert!(!Zk::connect(&connect).unwrap().exists("/s/a").unwrap());
}

/// By default a `check` line comes for the first round and for each round
/// whose result differs from the one before, not for every round.
#[test]
fn check_lines_come_on_change_unless_every_check_is_asked() {
    require_zookeeper!();
    let connect = shared().chroot("health-quiet");
    let dir = tempfile::tempdir().unwrap();
    let healthy = dir.path().join("healthy");
    std::fs::write(&healthy, "").unwrap();
    let check = format!("test -e {}", healthy.display());
    let args = |every: bool| {
        let mut args = vec![
            "/services/q".to_string(),
            "--id".into(),
            if every { "every" } else { "quiet" }.into(),
            "--check".into(),
            check.clone(),
            "--interval".into(),
            "50ms".into(),
        ];
        if every {
            args.push("--every-check".into());
        }
        args
    };
    let quiet_args = args(false);
    let every_args = args(true);
    let quiet = health()
        .zk(&connect)
        .spawn(&quiet_args.iter().map(String::as_str).collect::<Vec<_>>());
    let every = health()
        .zk(&connect)
        .spawn(&every_args.iter().map(String::as_str).collect::<Vec<_>>());
    let checks = |process: &zk_testkit::Running, until: &str| -> usize {
        let mut n = 0;
        loop {
            let e = process.next_json(T);
            n += usize::from(e["event"] == "check");
            if e["event"] == until {
                return n;
            }
        }
    };
    assert_eq!(checks(&quiet, "registered"), 1);
    // Many rounds pass; the every-round one reports each, then a failure.
    let rounds = checks(&every, "registered");
    assert!(rounds >= 1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::remove_file(&healthy).unwrap();
    assert!(
        checks(&every, "deregistered") > 3,
        "every round is reported"
    );
    // The quiet one: only the change, then its deregistration.
    let mut lines = Vec::new();
    loop {
        let e = quiet.next_json(T);
        let name = e["event"].as_str().unwrap().to_string();
        lines.push(format!("{name} {}", e["passed"]));
        if name == "deregistered" {
            break;
        }
    }
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("check")).count(),
        1,
        "{lines:?}"
    );
    assert_eq!(lines[0], "check false", "{lines:?}");
}

/// `--http https://...` checks the server's certificate against the system's
/// CAs (here `SSL_CERT_FILE`): a server the CA signed passes and registers;
/// the same server judged by another CA fails, and the reason says why.
#[test]
fn an_https_probe_registers_only_a_server_whose_certificate_is_trusted() {
    require_zookeeper!();
    let connect = shared().chroot("health-https");
    let certs = tempfile::tempdir().unwrap();
    zk_testkit::certs::make_certificates(certs.path(), &[]);
    let other = tempfile::tempdir().unwrap();
    zk_testkit::certs::make_certificates(other.path(), &[]);
    let port = zk_testkit::free_ports(1).unwrap()[0];
    // openssl's test server answers any GET with `HTTP/1.0 200 ok`.
    let mut server = std::process::Command::new("openssl");
    server
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("-cert")
        .arg(certs.path().join("server.pem"))
        .arg("-key")
        .arg(certs.path().join("server.key"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut server = zk_testkit::spawn_tied_to_test_process(server).unwrap();
    wait_until("the https server listens", T, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let url = format!("https://127.0.0.1:{port}/health");
    let zk = Zk::connect(&connect).unwrap();

    let untrusted = health()
        .zk(&connect)
        .env(
            "SSL_CERT_FILE",
            other.path().join("ca.pem").to_str().unwrap(),
        )
        .spawn(&[
            "/services/s",
            "--id",
            "untrusted",
            "--http",
            &url,
            "--interval",
            "200ms",
        ]);
    let check = next_event(&untrusted, "check");
    assert_eq!(check["passed"], false, "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains("certificate"),
        "{check}"
    );
    assert!(!zk.exists("/services/s/untrusted").unwrap());

    let trusted = health()
        .zk(&connect)
        .env(
            "SSL_CERT_FILE",
            certs.path().join("ca.pem").to_str().unwrap(),
        )
        .spawn(&[
            "/services/s",
            "--id",
            "trusted",
            "--http",
            &url,
            "--interval",
            "200ms",
            "--rise",
            "1",
        ]);
    let registered = next_event(&trusted, "registered");
    assert_eq!(registered["id"], "trusted");
    assert!(zk.exists("/services/s/trusted").unwrap());
    assert!(!zk.exists("/services/s/untrusted").unwrap());

    for mut process in [untrusted, trusted] {
        process.signal(Signal::SIGTERM);
        process.wait(T);
    }
    let _ = server.kill();
    let _ = server.wait();
}
