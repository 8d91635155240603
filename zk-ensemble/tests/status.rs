//! `zk-ensemble` against a healthy, shared 3-server ensemble: the status
//! document, check, the Nagios and Prometheus formats, wait, watch, probe,
//! and servers that do not answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::ensemble;
use serde_json::Value;
use zk_testkit::{require_zookeeper, shared};

/// The shared ensemble's servers, without a chroot.
fn servers() -> String {
    shared().connect_string().to_string()
}

#[test]
fn status_of_three_servers_is_healthy_with_one_leader() {
    require_zookeeper!();
    let connect = servers();
    let ran = ensemble().zk(&connect).run(&["status"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    let e = &doc["ensemble"];
    assert_eq!(e["servers"], 3);
    assert_eq!(e["up"], 3);
    assert_eq!(e["voters"], 3);
    assert_eq!(e["quorum_size"], 2);
    assert_eq!(e["has_quorum"], true);
    assert_eq!(e["leaders"], 1);
    // Other tests write to this ensemble meanwhile: a follower may be a few
    // transactions behind at the instant it is asked, never a thousand.
    assert!(e["max_zxid_lag"].as_u64().unwrap() < 1000, "{e}");
    // The shared ensemble is busy with other tests, on a loaded machine: a
    // moment's queue or lag may be warned about, nothing else.
    let load_only = [
        "outstanding_requests",
        "follower_not_synced",
        "high_latency",
    ];
    let warnings: Vec<&Value> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| !load_only.contains(&w["code"].as_str().unwrap()))
        .collect();
    assert!(warnings.is_empty(), "{doc:#}");
    let leader = e["leader"].as_str().unwrap();
    assert!(
        connect.split(',').any(|s| s == leader),
        "{leader} not in {connect}"
    );

    let list = doc["servers"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    let modes: Vec<&str> = list.iter().map(|s| s["mode"].as_str().unwrap()).collect();
    assert_eq!(
        modes.iter().filter(|m| **m == "leader").count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| **m == "follower").count(),
        2,
        "{modes:?}"
    );
    let mut ids: Vec<u64> = list
        .iter()
        .map(|s| s["server_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3]);
    for server in list {
        assert_eq!(server["reachable"], true);
        assert_eq!(server["error"], Value::Null);
        assert!(
            server["version"].as_str().unwrap().starts_with("3."),
            "{server}"
        );
        assert!(server["zxid"]["epoch"].as_u64().unwrap() >= 1);
        assert!(server["zxid"]["hex"].as_str().unwrap().starts_with("0x"));
        for key in [
            "outstanding_requests",
            "znode_count",
            "watch_count",
            "ephemerals_count",
            "alive_connections",
            "approximate_data_size",
        ] {
            assert!(server[key].is_u64(), "{key} missing: {server}");
        }
        assert!(server["latency_ms"]["avg"].is_number());
        assert!(server["file_descriptors"]["open"].as_u64().unwrap() > 0);
        assert!(server["file_descriptors"]["max"].as_u64().unwrap() > 0);
        // Every word is whitelisted here: each figure comes from its word.
        assert_eq!(server["sources"]["watch_count"], "mntr");
        assert_eq!(server["sources"]["zxid"], "srvr");
        assert_eq!(server["sources"]["server_id"], "conf");
        assert_eq!(server["sources"]["read_only"], "isro");
        assert!(server["mntr"]["znode_count"].is_u64(), "full mntr map");
        if server["mode"] == "leader" {
            assert_eq!(server["followers"], 2);
            assert_eq!(server["synced_followers"], 2);
        } else {
            assert!(server.get("followers").is_none());
        }
    }
}

#[test]
fn one_server_in_the_connect_string_discovers_the_others() {
    require_zookeeper!();
    let connect = servers();
    let first = connect.split(',').next().unwrap();
    let doc = ensemble().zk(first).run(&["status"]).json();
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert_eq!(doc["ensemble"]["servers"], 3);
    assert_eq!(
        doc["ensemble"]["membership_source"],
        format!("conf of {first}")
    );
    let discovered: Vec<bool> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["discovered"].as_bool().unwrap())
        .collect();
    assert_eq!(discovered, [false, true, true]);

    let ran = ensemble().zk(first).run(&["status", "--no-discover"]);
    let doc = ran.json();
    assert_eq!(doc["ensemble"]["servers"], 1);
    // One of three voters probed: the voters still come from the
    // configuration. A serving follower proves a quorum; a leader alone
    // does not show that its followers are there.
    assert_eq!(doc["ensemble"]["voters"], 3);
    let follower = doc["servers"][0]["mode"] == "follower";
    assert_eq!(doc["ensemble"]["has_quorum"], follower, "{doc:#}");
}

#[test]
fn check_exits_0_with_a_one_line_verdict() {
    require_zookeeper!();
    let ran = ensemble().zk(&servers()).run(&["check"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(ran.stdout().is_empty(), "check prints nothing on stdout");
    let lines: Vec<String> = ran.stderr().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("zk-ensemble: healthy: 3/3 servers serve, leader 127.0.0.1:"),
        "{lines:?}"
    );
}

#[test]
fn nagios_line_has_state_text_and_perfdata() {
    require_zookeeper!();
    let ran = ensemble()
        .zk(&servers())
        .run(&["check", "--format", "nagios"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let out = ran.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let (text, perf) = lines[0].split_once(" | ").unwrap();
    assert!(
        text.starts_with("ZOOKEEPER OK - healthy: 3/3 servers serve"),
        "{text}"
    );
    assert!(!text.contains('|'));
    // 'label'=value[UOM];[warn];[crit];[min];[max], space separated.
    for item in perf.split(' ') {
        let (label, rest) = item.split_once('=').unwrap();
        assert!(!label.is_empty() && !label.contains(' '), "{item}");
        let fields: Vec<&str> = rest.split(';').collect();
        assert_eq!(fields.len(), 5, "{item}");
        let value = fields[0].trim_end_matches("ms");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {item}"));
    }
    assert!(perf.contains("up=3;;2:;0;3"), "{perf}");
    assert!(perf.contains("has_quorum=1;"), "{perf}");
    assert!(perf.contains("leaders=1;"), "{perf}");

    // A server list that cannot be parsed is UNKNOWN (3), not a crash.
    let ran =
        ensemble()
            .zk(&servers())
            .run(&["check", "--format", "nagios", "--admin-port", "1,2"]);
    assert_eq!(ran.code(), 3);
    assert!(
        ran.stdout()
            .starts_with("ZOOKEEPER UNKNOWN - --admin-port lists 2 ports"),
        "{}",
        ran.stdout()
    );
}

#[test]
fn prometheus_output_parses_with_a_server_label() {
    require_zookeeper!();
    let connect = servers();
    let ran = ensemble()
        .zk(&connect)
        .run(&["status", "--format", "prometheus"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let text = ran.stdout();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let gauge = |name: &str, server: Option<&str>| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("server") == server)
            .unwrap_or_else(|| panic!("no {name} for {server:?} in:\n{text}"));
        match sample.value {
            prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{name} is not a gauge: {other:?}"),
        }
    };
    assert_eq!(gauge("zookeeper_ensemble_has_quorum", None), 1.0);
    assert_eq!(gauge("zookeeper_ensemble_up", None), 3.0);
    assert_eq!(gauge("zookeeper_ensemble_leaders", None), 1.0);
    for server in connect.split(',') {
        assert_eq!(gauge("zookeeper_up", Some(server)), 1.0);
        assert!(gauge("zookeeper_znode_count", Some(server)) > 0.0);
        assert!(gauge("zookeeper_max_file_descriptors", Some(server)) > 0.0);
    }
    let healthy = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "zookeeper_ensemble_status" && s.labels.get("status") == Some("healthy")
        })
        .unwrap();
    assert_eq!(healthy.value, prometheus_parse::Value::Gauge(1.0));
    assert!(
        scrape.docs.contains_key("zookeeper_up"),
        "HELP lines parsed"
    );

    // The parser is lenient; check the grammar of every line as well.
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(kind, "gauge");
            assert!(typed.insert(name.to_string()), "{name} typed twice");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name: {line}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (key, value) = pair.split_once('=').unwrap();
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(value.starts_with('"') && value.ends_with('"'), "{line}");
            }
        }
        // Prometheus base units: seconds and bytes, never milliseconds.
        assert!(!name.ends_with("_ms"), "not a base unit: {line}");
    }
    for server in connect.split(',') {
        let avg = gauge("zookeeper_latency_avg_seconds", Some(server));
        let max = gauge("zookeeper_latency_max_seconds", Some(server));
        assert!((0.0..1.0).contains(&avg) && avg <= max, "{avg} {max}");
    }
}

/// Runs `zk-ensemble ARGS` under `umask`, which a shell sets before it
/// execs the tool: the test does not depend on the umask it inherited.
fn status_under_umask(umask: &str, args: &[&str]) -> std::process::Output {
    let tool = ensemble().zk(&servers()).command(args);
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &format!("umask {umask} && exec \"$@\""), "sh"])
        .arg(tool.get_program())
        .args(tool.get_args());
    for (key, value) in tool.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.stdin(std::process::Stdio::null()).output().unwrap()
}

#[test]
fn status_output_replaces_the_file_atomically_with_a_readable_mode() {
    use std::os::unix::fs::PermissionsExt;
    require_zookeeper!();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zookeeper.prom");
    let ran = status_under_umask(
        "022",
        &[
            "status",
            "--format",
            "prometheus",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "{stderr}");
    assert!(ran.stdout.is_empty(), "the report went to the file");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("zookeeper_ensemble_up 3"), "{text}");
    let mode = |f: &std::path::Path| {
        format!(
            "{:04o}",
            std::fs::metadata(f).unwrap().permissions().mode() & 0o777
        )
    };
    assert_eq!(
        mode(&file),
        "0644",
        "under umask 022 a collector running as another user reads it"
    );
    // A new file is 0666 less the umask, as `>` would make it: not a mode
    // of our own choosing.
    let private = dir.path().join("private.prom");
    let ran = status_under_umask("077", &["status", "--output", private.to_str().unwrap()]);
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(mode(&private), "0600", "under umask 077");
    std::fs::remove_file(&private).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ran = ensemble()
        .zk(&servers())
        .run(&["status", "--output", file.to_str().unwrap()]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(mode(&file), "0640", "an existing file keeps its mode");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["ensemble"]["up"], 3);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["zookeeper.prom"], "no temporary file left behind");

    let ran = ensemble()
        .zk(&servers())
        .run(&["status", "--output", "/nonexistent/dir/z.prom"]);
    assert_eq!(ran.code(), 74, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("/nonexistent/dir/z.prom"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn a_silent_server_costs_at_most_the_timeout_and_a_refusing_one_nothing() {
    require_zookeeper!();
    // Accepts connections (the kernel completes the handshake) and never
    // answers: a hung host.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_address = silent.local_addr().unwrap().to_string();
    let refused_address = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let connect = format!("{},{silent_address},{refused_address}", servers());
    let ran =
        ensemble()
            .zk(&connect)
            .run(&["status", "--probe-timeout", "700ms", "--admin-port", "1"]);
    assert_eq!(ran.code(), 0, "status prints a report: {}", ran.stderr());
    // Without the timeout a silent server would cost the 10 s connect
    // timeout; a bound that loose holds on any machine load.
    assert!(
        ran.elapsed < Duration::from_secs(8),
        "took {:?}",
        ran.elapsed
    );
    let doc = ran.json();
    let by_address = |a: &str| {
        doc["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["address"] == a)
            .cloned()
            .unwrap()
    };
    let silent_report = by_address(&silent_address);
    assert_eq!(silent_report["reachable"], false);
    assert_eq!(
        silent_report["error"],
        format!("{silent_address}: no answer within 700ms")
    );
    let refused_report = by_address(&refused_address);
    assert_eq!(refused_report["reachable"], false);
    assert!(
        refused_report["error"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{refused_report}"
    );
    let downs: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "server_down")
        .map(|w| w["server"].as_str().unwrap())
        .collect();
    assert_eq!(downs, [silent_address.as_str(), refused_address.as_str()]);
    // Three voters still serve and lead: only degraded.
    assert_eq!(doc["status"], "degraded");
    drop(silent);
}

#[test]
fn nothing_reachable_is_down_and_check_says_which_server() {
    require_zookeeper!();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let ran = ensemble().zk(&refused).run(&["check"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    let stderr = ran.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("zk-ensemble: down: 0/1 servers serve, no leader"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("server_down: {refused} is unreachable")),
        "{stderr}"
    );

    let ran = ensemble()
        .zk(&refused)
        .run(&["check", "--format", "nagios"]);
    assert_eq!(ran.code(), 2);
    assert!(
        ran.stdout().starts_with("ZOOKEEPER CRITICAL - down:"),
        "{}",
        ran.stdout()
    );

    let ran = ensemble().zk(&refused).run(&["wait", "--timeout", "600ms"]);
    assert_eq!(ran.code(), 75);
    assert!(
        ran.stderr()
            .contains("timed out after 600ms waiting for a healthy ensemble; last: down"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn wait_returns_at_once_for_a_healthy_ensemble() {
    require_zookeeper!();
    let ran = ensemble().zk(&servers()).run(&["wait", "--timeout", "20s"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.json()["status"], "healthy");
}

#[test]
fn watch_prints_a_status_line_per_interval() {
    require_zookeeper!();
    let mut watch = ensemble()
        .zk(&servers())
        .spawn(&["watch", "--interval", "200ms"]);
    let first = watch.next_json(Duration::from_secs(10));
    assert_eq!(first["event"], "status");
    assert_eq!(first["status"], "healthy");
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        first["servers"][0].get("mntr").is_none(),
        "no mntr without --mntr"
    );
    let second = watch.next_json(Duration::from_secs(10));
    assert_eq!(second["event"], "status", "no change, no event: {second}");
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(Duration::from_secs(5)).code(), Some(143));
}

#[test]
fn probe_passes_on_every_server_and_leaves_nothing_behind() {
    require_zookeeper!();
    let connect = shared().chroot("probe");
    let ran = ensemble().zk(&connect).run(&["probe", "--count", "5"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout(), ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["ok"], true);
    let list = doc["servers"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    for server in list {
        assert_eq!(server["ok"], true, "{server}");
        assert_eq!(server["operations"], 20);
        for op in ["create", "read", "update", "delete"] {
            let l = &server["latency_ms"][op];
            let (p50, max) = (l["p50"].as_f64().unwrap(), l["max"].as_f64().unwrap());
            assert!(p50 > 0.0 && p50 <= max, "{op}: {l}");
        }
    }
    assert_eq!(doc["visibility"]["ok"], true);
    assert_eq!(doc["visibility"]["visible_on"].as_array().unwrap().len(), 3);
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    assert!(
        !zk.exists("/zk-ensemble-probe").unwrap(),
        "the probe's parent is removed"
    );
}

#[test]
fn watch_with_mntr_carries_every_servers_mntr_map() {
    require_zookeeper!();
    let mut watch = ensemble()
        .zk(&servers())
        .spawn(&["watch", "--mntr", "--interval", "200ms"]);
    let first = watch.next_json(Duration::from_secs(10));
    assert_eq!(first["event"], "status");
    let servers = first["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3, "{first}");
    for server in servers {
        assert!(server["mntr"]["znode_count"].is_u64(), "{server}");
    }
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(Duration::from_secs(5)).code(), Some(143));
}

#[test]
fn probe_path_works_under_the_given_parent_and_leaves_it_as_it_was() {
    require_zookeeper!();
    let connect = shared().chroot("probe-path");
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    zk.create_all("/app").unwrap();
    let ran = ensemble()
        .zk(&connect)
        .run(&["probe", "--count", "2", "--path", "/app/canary"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout(), ran.stderr());
    assert_eq!(ran.json()["ok"], true);
    assert!(
        !zk.exists("/app/canary").unwrap(),
        "its own parent is removed"
    );
    assert!(zk.exists("/app").unwrap(), "what was there stays");
    assert!(
        !zk.exists("/zk-ensemble-probe").unwrap(),
        "the default path was not used"
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    // No server needed: these never get as far as probing.
    let cases: &[(&[&str], &str)] = &[
        (&["status", "--probe-timeout", "2"], "--probe-timeout"),
        // A per-server budget is --probe-timeout; --timeout is a whole wait,
        // and status does not wait.
        (&["status", "--timeout", "2s"], "--timeout"),
        (&["check", "--timeout", "2s"], "--timeout"),
        (&["status", "--admin-port", "http"], "--admin-port"),
        (
            &["--zk", "a:1,b:2", "status", "--admin-port", "1,2,3"],
            "lists 3 ports for 2 servers",
        ),
        (&["--zk", "a:port", "check"], "host[:port]"),
        (&["check", "--format", "xml"], "--format"),
        (&["check", "--max-fd-percent", "0"], "--max-fd-percent"),
        (&["probe", "--path", "relative"], "is relative"),
        (&["probe", "--count", "0"], "--count"),
        (&["watch", "--interval", "soon"], "--interval"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let ran = ensemble().env("ZK_CONNECT", "127.0.0.1:1").run(args);
        assert_eq!(ran.code(), 2, "{args:?}: {}", ran.stderr());
        let stderr = ran.stderr();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("zk-ensemble: "), "{stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: expected {needle:?} in {stderr}"
        );
        assert!(ran.stdout().is_empty(), "{args:?} printed to stdout");
    }
}

/// `sessions --owner-of`: the connection (as the server saw it) of the
/// session that owns an ephemeral node, or holds the lock a directory is
/// for; plain `sessions` lists it among all connections.
#[test]
fn sessions_name_the_connection_that_owns_a_node_or_holds_a_lock() {
    require_zookeeper!();
    let connect = shared().chroot("ensemble-sessions");
    let holder = zk_testkit::Zk::connect(&connect).unwrap();
    let session = format!("{:#x}", holder.session_id());
    holder
        .create("/eph", b"", zookeeper_client::CreateMode::Ephemeral)
        .unwrap();
    holder.create_all("/locks/backup").unwrap();
    holder
        .create(
            "/locks/backup/_c_x-lock-",
            b"10.0.0.1",
            zookeeper_client::CreateMode::EphemeralSequential,
        )
        .unwrap();
    for path in ["/eph", "/locks/backup"] {
        let ran = ensemble()
            .zk(&connect)
            .run(&["sessions", "--owner-of", path]);
        assert_eq!(ran.code(), 0, "{path}: {}", ran.stderr());
        let owner = ran.json();
        assert_eq!(owner["session_id"], session.as_str(), "{owner}");
        let connections = owner["connections"].as_array().unwrap();
        assert_eq!(connections.len(), 1, "{owner}");
        assert!(
            connections[0]["address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{owner}"
        );
    }
    let all = ensemble().zk(&connect).run(&["sessions"]).json();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|s| s["session_id"] == session.as_str()),
        "{all}"
    );
    let missing = ensemble()
        .zk(&connect)
        .run(&["sessions", "--owner-of", "/nowhere"]);
    assert_eq!(missing.code(), 1, "{}", missing.stderr());
}
