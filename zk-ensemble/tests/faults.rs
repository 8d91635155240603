//! `zk-ensemble` against ensembles of its own: servers killed, the leader
//! killed, four-letter words not whitelisted, 5 and 2 servers. Each test
//! holds the testkit's exclusive lock, so they run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{codes, ensemble};
use serde_json::Value;
use zk_testkit::{exclusive, require_zookeeper, Ensemble, Running};

/// Reads lines until one has `event` == `name`; panics after `timeout`.
/// Every line read (also the ones skipped) is kept in `seen`, so a test can
/// check the whole sequence afterwards.
fn next_event_seen(watch: &Running, name: &str, timeout: Duration, seen: &mut Vec<Value>) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = watch.next_json(left);
        seen.push(line.clone());
        if line["event"] == name {
            return line;
        }
    }
}

#[test]
fn fault_killed_servers_degrade_then_take_the_quorum_and_a_new_leader_shows_up() {
    require_zookeeper!();
    let _lock = exclusive();
    let mut zk = Ensemble::start(3).unwrap();
    let connect = zk.connect_string();
    let ran = ensemble().zk(&connect).run(&["check"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());

    let watch =
        ensemble()
            .zk(&connect)
            .spawn(&["watch", "--interval", "250ms", "--probe-timeout", "1s"]);
    // Every line the watch prints, in order, for the sequence check at the end.
    let mut seen = Vec::new();
    let first = next_event_seen(&watch, "status", Duration::from_secs(10), &mut seen);
    assert_eq!(first["status"], "healthy");

    // The leader dies: a new one is elected among the two left.
    let old = zk.leader().unwrap();
    let old_address = zk.address(old);
    assert_eq!(first["ensemble"]["leader"], old_address);
    zk.kill(old);
    let ran = ensemble()
        .zk(&connect)
        .run(&["wait", "--quorum", "--timeout", "30s"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    let new_leader = doc["ensemble"]["leader"].as_str().unwrap().to_string();
    assert_ne!(new_leader, old_address);
    assert_eq!(zk.address(zk.leader().unwrap()), new_leader);

    let changed = next_event_seen(&watch, "leader_changed", Duration::from_secs(30), &mut seen);
    assert_eq!(changed["from"], old_address);
    // The first line after the old leader died may see no leader yet.
    if changed["to"].is_null() {
        let changed = next_event_seen(&watch, "leader_changed", Duration::from_secs(30), &mut seen);
        assert_eq!(changed["to"], new_leader.as_str());
    } else {
        assert_eq!(changed["to"], new_leader.as_str());
    }

    // One of three down: degraded, exit 1, the warning names it.
    let ran = ensemble().zk(&connect).run(&["check", "--format", "json"]);
    assert_eq!(ran.code(), 1, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["status"], "degraded");
    assert_eq!(doc["ensemble"]["up"], 2);
    assert_eq!(doc["ensemble"]["has_quorum"], true);
    assert_eq!(
        codes(&doc),
        [("server_down".to_string(), Some(old_address.clone()))]
    );
    let stderr = ran.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("server_down: {old_address} is unreachable")),
        "{stderr}"
    );
    let ran = ensemble()
        .zk(&connect)
        .run(&["check", "--format", "nagios"]);
    assert_eq!(ran.code(), 1);
    assert!(
        ran.stdout()
            .starts_with("ZOOKEEPER WARNING - degraded: 2/3 servers serve"),
        "{}",
        ran.stdout()
    );

    // Two of three down: no quorum, exit 69; wait gives up with 75.
    let follower = (0..3)
        .find(|&i| i != old && zk.mode(i).as_deref() == Some("follower"))
        .unwrap();
    zk.kill(follower);
    let ran = ensemble().zk(&connect).run(&["check"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    assert!(
        ran.stderr().starts_with("zk-ensemble: down:"),
        "{}",
        ran.stderr()
    );
    let doc = ensemble().zk(&connect).run(&["status"]).json();
    assert_eq!(doc["status"], "down");
    assert_eq!(doc["ensemble"]["has_quorum"], false);
    let ran = ensemble()
        .zk(&connect)
        .run(&["wait", "--quorum", "--timeout", "1s"]);
    assert_eq!(ran.code(), 75, "{}", ran.stderr());

    // Read on until the watch reports the quorum gone, then check the whole
    // sequence of status changes, including those read while waiting for
    // leader_changed: each starts where the last one ended, and healthy ->
    // degraded -> down happened in that order (an election may add a brief
    // "down" between healthy and degraded).
    let mut last = first["status"].clone();
    let mut changes: Vec<(String, String)> = Vec::new();
    let mut index = 0;
    loop {
        while index < seen.len() {
            let line = &seen[index];
            index += 1;
            if line["event"] == "status_changed" {
                assert_eq!(
                    line["from"], last,
                    "a change starts where the last ended: {line}"
                );
                last = line["to"].clone();
                changes.push((
                    line["from"].as_str().unwrap_or_default().to_string(),
                    line["to"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        if last == "down" && changes.iter().any(|(_, to)| to == "degraded") {
            break;
        }
        next_event_seen(&watch, "status_changed", Duration::from_secs(30), &mut seen);
    }
    let statuses: Vec<&str> = std::iter::once("healthy")
        .chain(changes.iter().map(|(_, to)| to.as_str()))
        .collect();
    let degraded = statuses
        .iter()
        .position(|s| *s == "degraded")
        .expect("degraded was reported");
    assert!(
        statuses[degraded..].contains(&"down"),
        "down after degraded: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&"down"), "{statuses:?}");
}

#[test]
fn fault_with_only_srvr_whitelisted_figures_come_from_the_admin_server() {
    require_zookeeper!();
    let _lock = exclusive();
    let zk = Ensemble::start_with(3, &["4lw.commands.whitelist=srvr"]).unwrap();
    let ports: Vec<String> = (0..3).map(|i| zk.admin_port(i).to_string()).collect();
    // A fresh JVM's AdminServer on a loaded machine was once slower than
    // the default 2 s: this test is about where figures come from, not speed.
    let ran = ensemble().zk(&zk.connect_string()).run(&[
        "status",
        "--admin-port",
        &ports.join(","),
        "--probe-timeout",
        "15s",
    ]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert_eq!(doc["ensemble"]["leaders"], 1);
    for server in doc["servers"].as_array().unwrap() {
        let sources = &server["sources"];
        assert_eq!(sources["zxid"], "srvr", "{sources}");
        assert_eq!(sources["watch_count"], "admin:monitor", "{sources}");
        assert_eq!(sources["mode"], "admin:monitor", "{sources}");
        assert_eq!(sources["server_id"], "admin:configuration", "{sources}");
        assert_eq!(sources["read_only"], "admin:is_read_only", "{sources}");
        assert_eq!(sources["ruok"], "admin:ruok", "{sources}");
        assert!(server["watch_count"].is_u64());
        assert!(server["file_descriptors"]["open"].is_u64());
        assert!(server["mntr"]["znode_count"].is_u64());
        assert!(server.get("notes").is_none(), "{server}");
    }

    // Without a working AdminServer the srvr figures still come, the rest
    // are unknown (null, never zero) and a notice says why.
    let ran = ensemble().zk(&zk.connect_string()).run(&[
        "status",
        "--admin-port",
        "1",
        "--probe-timeout",
        "15s",
    ]);
    let doc = ran.json();
    for server in doc["servers"].as_array().unwrap() {
        assert!(server["mode"].is_string(), "{server}");
        assert_eq!(server["sources"]["mode"], "srvr");
        assert!(server["zxid"]["hex"].is_string());
        assert_eq!(server["watch_count"], Value::Null);
        assert_eq!(server["file_descriptors"], Value::Null);
    }
    assert!(codes(&doc).iter().any(|(c, _)| c == "figures_unavailable"));
    assert_eq!(doc["status"], "healthy", "notices do not degrade: {doc:#}");

    // One server named: the rest come from its AdminServer's voting view.
    // Their own AdminServers are on other ports, so the one port given is
    // refused for them rather than lending them server 1's figures.
    let ran = ensemble().zk(&zk.address(0)).run(&[
        "status",
        "--admin-port",
        &ports[0],
        "--probe-timeout",
        "15s",
    ]);
    let doc = ran.json();
    assert_eq!(doc["ensemble"]["servers"], 3, "{doc:#}");
    assert_eq!(
        doc["ensemble"]["membership_source"],
        format!("AdminServer voting_view of {}", zk.address(0))
    );
    let list = doc["servers"].as_array().unwrap();
    assert_eq!(list[0]["server_id"], 1);
    assert_eq!(list[0]["sources"]["watch_count"], "admin:monitor");
    for server in &list[1..] {
        assert_eq!(server["watch_count"], Value::Null, "{server}");
        let notes = server["notes"].as_array().unwrap();
        assert!(
            notes[0]
                .as_str()
                .unwrap()
                .contains("belongs to the server with client port"),
            "{notes:?}"
        );
    }
}

#[test]
fn fault_five_servers_are_discovered_and_probed() {
    require_zookeeper!();
    let _lock = exclusive();
    let zk = Ensemble::start(5).unwrap();
    let ran = ensemble().zk(&zk.address(2)).run(&["status"]);
    let doc = ran.json();
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    let e = &doc["ensemble"];
    assert_eq!(
        (
            e["servers"].as_u64(),
            e["voters"].as_u64(),
            e["quorum_size"].as_u64()
        ),
        (Some(5), Some(5), Some(3))
    );
    let leader = &doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["mode"] == "leader")
        .unwrap()
        .clone();
    assert_eq!(leader["followers"], 4);
    assert_eq!(leader["synced_followers"], 4);

    let ran = ensemble()
        .zk(&zk.address(0))
        .run(&["probe", "--count", "3"]);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout(), ran.stderr());
    let doc = ran.json();
    let mut probed: Vec<String> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["ok"], true, "{s}");
            s["address"].as_str().unwrap().to_string()
        })
        .collect();
    probed.sort();
    let mut all: Vec<String> = (0..5).map(|i| zk.address(i)).collect();
    all.sort();
    assert_eq!(probed, all);
    assert_eq!(doc["visibility"]["ok"], true);
    assert_eq!(doc["visibility"]["visible_on"].as_array().unwrap().len(), 5);
}

#[test]
fn fault_probe_reports_a_dead_server_and_exits_1() {
    require_zookeeper!();
    let _lock = exclusive();
    let mut zk = Ensemble::start(3).unwrap();
    let follower = (0..3)
        .find(|&i| zk.mode(i).as_deref() == Some("follower"))
        .unwrap();
    let dead = zk.address(follower);
    zk.kill(follower);
    let ran = ensemble().zk(&zk.connect_string()).run(&[
        "probe",
        "--count",
        "2",
        "--probe-timeout",
        "2s",
    ]);
    assert_eq!(ran.code(), 1, "{}\n{}", ran.stdout(), ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["ok"], false);
    let failed: Vec<&Value> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["address"], dead.as_str());
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{dead}: ")));
    assert_eq!(doc["visibility"]["ok"], true, "the two live servers agree");
    let stderr = ran.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("zk-ensemble: probe failed: {dead}: ")),
        "{stderr}"
    );
}

#[test]
fn fault_an_even_number_of_voters_warns() {
    require_zookeeper!();
    let _lock = exclusive();
    let zk = Ensemble::start(2).unwrap();
    let ran = ensemble()
        .zk(&zk.connect_string())
        .run(&["check", "--format", "json"]);
    let doc = ran.json();
    assert_eq!(codes(&doc), [("even_voters".to_string(), None)], "{doc:#}");
    assert_eq!(doc["ensemble"]["voters"], 2);
    assert_eq!(doc["ensemble"]["quorum_size"], 2);
    // A notice, not a failure: the ensemble works, its size is a smell.
    assert_eq!(doc["status"], "healthy");
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("even_voters: 2 voting members"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn fault_a_server_cut_off_from_the_quorum_in_read_only_mode_is_warned_about() {
    require_zookeeper!();
    let _lock = exclusive();
    let mut zk = Ensemble::start_read_only_capable(3).unwrap();
    let connect = zk.connect_string();
    let survivor = zk.leader().unwrap();
    for i in (0..3).filter(|&i| i != survivor) {
        zk.kill(i);
    }
    // Alone, the old leader gives up leading and, with read-only mode
    // enabled, serves reads as a read-only server.
    let deadline = Instant::now() + Duration::from_secs(60);
    while zk.mode(survivor).as_deref() != Some("read-only") {
        assert!(
            Instant::now() < deadline,
            "never read-only: {:?}",
            zk.mode(survivor)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = ensemble().zk(&connect).run(&["status"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["status"], "down", "{doc:#}");
    assert!(
        codes(&doc).contains(&("read_only".to_string(), Some(zk.address(survivor)))),
        "{doc:#}"
    );
    // It serves, yet no server leads.
    assert_eq!(doc["ensemble"]["up"], 1, "{doc:#}");
    assert!(
        codes(&doc).contains(&("no_leader".to_string(), None)),
        "{doc:#}"
    );
}
