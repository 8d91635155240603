//! `zk-ensemble`'s warnings provoked by real faults on ensembles of its own:
//! a paused leader (`no_leader`, `outstanding_requests`) and a server left
//! without a quorum (`server_not_serving`). `read_only` and `no_leader` of
//! a read-only server are in faults.rs; `follower_not_synced` cannot be
//! held still on a real ensemble and is unit-tested in src/server.rs.
//! Each test holds the testkit's exclusive lock, so they run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{codes, ensemble};
use serde_json::Value;
use zk_testkit::{exclusive, require_zookeeper, Ensemble, Zk};
use zookeeper_client::{Acls, CreateMode};

/// Runs `status` with `args` until `done` holds for its document; panics
/// with the last document after `timeout`.
fn status_until(
    connect: &str,
    args: &[&str],
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    let mut all = vec!["status"];
    all.extend_from_slice(args);
    loop {
        let ran = ensemble().zk(connect).run(&all);
        assert_eq!(ran.code(), 0, "{}", ran.stderr());
        let doc = ran.json();
        if done(&doc) {
            return doc;
        }
        assert!(Instant::now() < deadline, "never came: {doc:#}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn fault_a_paused_leader_leaves_no_leader_and_writes_outstanding_on_a_follower() {
    require_zookeeper!();
    let _lock = exclusive();
    // The followers give a silent leader syncLimit ticks (here 60 x 500 ms)
    // before they drop it and elect another: the window this test works in.
    let zk = Ensemble::start_with(3, &["syncLimit=60"]).unwrap();
    let connect = zk.connect_string();
    let leader = zk.leader().unwrap();
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let (leader_address, follower_address) = (zk.address(leader), zk.address(follower));
    let limit = ["--max-outstanding", "3", "--probe-timeout", "3s"];

    // Idle, nothing is outstanding: the warning below comes from the fault.
    let doc = status_until(&connect, &limit, Duration::from_secs(30), |d| {
        d["status"] == "healthy"
    });
    assert!(codes(&doc).is_empty(), "{doc:#}");

    // A session on the follower, opened while the leader still answered.
    let writer = Arc::new(Zk::connect(&follower_address).unwrap());
    zk.pause(leader);
    // Writes the follower must forward to the silent leader: each stays
    // outstanding until the leader answers or is given up. They are never
    // joined: they end with an error when the ensemble goes.
    for i in 0..8 {
        let writer = Arc::clone(&writer);
        std::thread::spawn(move || {
            let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
            let _ = writer.block_on(writer.client().create(
                &format!("/pending-{i}"),
                b"",
                &options,
            ));
        });
    }

    let doc = status_until(&connect, &limit, Duration::from_secs(20), |d| {
        codes(d).contains(&(
            "outstanding_requests".to_string(),
            Some(follower_address.clone()),
        ))
    });
    // Still within syncLimit: the followers follow a leader that answers
    // nobody, so no server claims leadership.
    let found = codes(&doc);
    assert!(found.contains(&("no_leader".to_string(), None)), "{doc:#}");
    assert!(
        found.contains(&("server_down".to_string(), Some(leader_address.clone()))),
        "{doc:#}"
    );
    assert_eq!(doc["status"], "down", "{doc:#}");
    assert_eq!(doc["ensemble"]["leader"], Value::Null, "{doc:#}");
    let server = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == follower_address.as_str())
        .unwrap();
    assert_eq!(server["mode"], "follower", "{server}");
    assert!(
        server["outstanding_requests"].as_u64().unwrap() > 3,
        "{server}"
    );
    let warning = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "outstanding_requests")
        .unwrap();
    assert_eq!(warning["severity"], "warning");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .ends_with("outstanding requests (limit 3)"),
        "{warning}"
    );
    let ran = ensemble().zk(&connect).run(&["check"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("no_leader: no server is leader"),
        "{}",
        ran.stderr()
    );
    zk.resume(leader);
}

#[test]
fn fault_a_server_left_without_a_quorum_is_reported_not_serving() {
    require_zookeeper!();
    let _lock = exclusive();
    let mut zk = Ensemble::start(3).unwrap();
    let connect = zk.connect_string();
    let survivor = zk.leader().unwrap();
    let dead: Vec<usize> = (0..3).filter(|&i| i != survivor).collect();
    for &i in &dead {
        zk.kill(i);
    }
    let survivor_address = zk.address(survivor);
    // Alone, the old leader stops leading and looks for peers: it answers
    // the four-letter words, but only to say it does not serve.
    let doc = status_until(&connect, &[], Duration::from_secs(60), |d| {
        d["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["address"] == survivor_address.as_str() && s["serving"] == false)
    });
    let mut expected = vec![
        ("no_server".to_string(), None),
        (
            "server_not_serving".to_string(),
            Some(survivor_address.clone()),
        ),
    ];
    expected.extend(
        dead.iter()
            .map(|&i| ("server_down".to_string(), Some(zk.address(i)))),
    );
    expected.sort();
    // None serves, so the ensemble-wide warning is no_server rather than
    // no_leader (which needs some server that serves).
    let mut found = codes(&doc);
    found.sort();
    assert_eq!(found, expected, "{doc:#}");
    assert_eq!(doc["status"], "down");
    assert_eq!(doc["ensemble"]["up"], 0);
    let server = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["address"] == survivor_address.as_str())
        .unwrap();
    assert_eq!(server["reachable"], true, "{server}");
    assert!(
        server["error"]
            .as_str()
            .unwrap()
            .ends_with("running but not serving requests (no quorum, or electing a leader)"),
        "{server}"
    );
    let ran = ensemble().zk(&connect).run(&["check"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    assert!(
        ran.stderr().contains(&format!(
            "server_not_serving: {survivor_address} runs but does not serve requests"
        )),
        "{}",
        ran.stderr()
    );
}

/// Followers that serve prove a leader holding a quorum, probed or not: two
/// followers named without their leader are degraded (`leader_not_probed`),
/// never "down, no leader".
#[test]
fn serving_followers_without_their_leader_are_not_down() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let servers = Ensemble::start(3).unwrap();
    servers.wait_quorum(Duration::from_secs(30)).unwrap();
    let leader = servers.leader().unwrap();
    let followers: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| servers.address(i))
        .collect();
    let ran =
        ensemble()
            .zk(&followers.join(","))
            .run(&["check", "--no-discover", "--format", "json"]);
    let doc = ran.json();
    let codes: Vec<String> = codes(&doc).into_iter().map(|(code, _)| code).collect();
    assert_eq!(doc["status"], "degraded", "{doc:#}");
    assert_eq!(doc["ensemble"]["has_quorum"], true, "{doc:#}");
    assert!(codes.contains(&"leader_not_probed".to_string()), "{doc:#}");
    assert!(!codes.contains(&"no_leader".to_string()), "{doc:#}");
    assert_eq!(ran.code(), 1, "{}", ran.stderr());
}

/// `check --can-stop SERVER` before each step of a rolling restart: yes for
/// a follower of a healthy ensemble (and for the leader, saying it costs an
/// election), no once another voter is down.
#[test]
fn can_stop_says_whether_the_others_keep_a_quorum() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut servers = Ensemble::start(3).unwrap();
    servers.wait_quorum(Duration::from_secs(30)).unwrap();
    let connect = servers.connect_string();
    let leader = servers.leader().unwrap();
    let followers: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    let can_stop = |server: &str| {
        ensemble()
            .zk(&connect)
            .run(&["check", "--can-stop", server, "--format", "json"])
    };

    let ran = can_stop(&servers.address(followers[0]));
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let answer = ran.json();
    assert_eq!(
        (answer["can_stop"].clone(), answer["leader"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(answer["remaining_synced_voters"], 2);
    let ran = can_stop(&servers.address(leader));
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(
        ran.json()["reason"]
            .as_str()
            .unwrap()
            .contains("costs an election"),
        "{}",
        ran.json()
    );

    servers.kill(followers[1]);
    let ran = can_stop(&servers.address(followers[0]));
    assert_eq!(ran.code(), 1, "{}", ran.stderr());
    let answer = ran.json();
    assert_eq!(answer["can_stop"], false);
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains(&servers.address(followers[1])),
        "names the server that is down: {answer}"
    );
    // The one already down may stop, of course; a stranger is a usage error.
    assert_eq!(can_stop(&servers.address(followers[1])).code(), 0);
    assert_eq!(can_stop("127.0.0.1:1").code(), 2);
}
