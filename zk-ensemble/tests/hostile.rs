//! What an operator gets wrong and a server refuses (issue 11): an ACL that
//! refuses the probe, one server named twice, a server at its
//! maxClientCnxns limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ensemble;
use zk_testkit::{require_zookeeper, shared, Ensemble, Zk};
use zookeeper_client::{Acls, CreateMode};

/// A probe PATH no server can write below is the operator's input (2), not
/// an outage (69): `/` itself, a path under an ephemeral node, ZooKeeper's
/// own tree reached through a chroot.
#[test]
fn a_probe_path_nobody_can_write_below_is_a_usage_error() {
    require_zookeeper!();
    let connect = shared().chroot("ensemble-probe-paths");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/eph", b"", CreateMode::Ephemeral).unwrap();
    let root = shared().connect_string().to_string();
    for (connect, path) in [
        (connect.as_str(), "/"),
        (connect.as_str(), "/eph/probe"),
        (connect.as_str(), "/zookeeper/probe"),
        (&format!("{root}/zookeeper"), "/probe"),
    ] {
        let ran = ensemble()
            .zk(connect)
            .run(&["probe", "--path", path, "--count", "1"]);
        assert_eq!(ran.code(), 2, "{connect} {path}: {}", ran.stderr());
    }
    assert!(zk.children("/eph").unwrap().is_empty());
    let own = Zk::connect(&root).unwrap();
    assert!(
        !own.exists("/zookeeper/probe").unwrap(),
        "written into /zookeeper"
    );
}

#[test]
fn a_probe_refused_by_an_acl_exits_77() {
    require_zookeeper!();
    let connect = shared().chroot("ensemble-probe-acl");
    let alice = Zk::connect_with(&connect, Some(("digest", "alice:secret"))).unwrap();
    alice
        .create_with(
            "/locked",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .unwrap();
    let ran = ensemble()
        .zk(&connect)
        .run(&["probe", "--path", "/locked/probe", "--count", "1"]);
    assert_eq!(ran.code(), 77, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("/locked/probe") && ran.stderr().contains("not authorized")
            || ran.stderr().contains("NoAuth"),
        "{}",
        ran.stderr()
    );
    assert_eq!(ran.json()["ok"], false);
    assert!(
        alice.children("/locked").unwrap().is_empty(),
        "no stray node"
    );
}

#[test]
fn one_server_named_twice_is_counted_once() {
    require_zookeeper!();
    let first = shared()
        .connect_string()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let port = first.rsplit_once(':').unwrap().1;
    for connect in [
        format!("{first},{first}"),
        format!("localhost:{port},127.0.0.1:{port}"),
    ] {
        let ran = ensemble().zk(&connect).run(&["status", "--no-discover"]);
        assert_eq!(ran.code(), 0, "{connect}: {}", ran.stderr());
        let doc = ran.json();
        assert_eq!(doc["ensemble"]["servers"], 1, "{connect}: {doc:#}");
        assert_eq!(doc["servers"].as_array().unwrap().len(), 1, "{connect}");
        assert!(
            ran.stderr().contains("the same server"),
            "{connect}: {}",
            ran.stderr()
        );
    }
}

#[test]
fn a_server_at_its_connection_limit_is_not_called_without_quorum() {
    require_zookeeper!();
    let ensemble_under_test = Ensemble::start_with(1, &["maxClientCnxns=1"]).unwrap();
    let connect = ensemble_under_test.connect_string();
    // The one connection our address may have.
    let holder = Zk::connect(&connect).unwrap();
    let admin = ensemble_under_test.admin_port(0).to_string();
    // With the AdminServer the figures still come (over HTTP), and the
    // refusal is a warning of its own; without it nothing comes, and the
    // cause is still the connection limit, not a lost quorum.
    for admin_port in [admin.as_str(), "1"] {
        // Under load the holder's connection was once seen gone (the server
        // counted one connection, ours): its session then reconnects and
        // races our probes for the one slot. Up to 3 rounds, each after the
        // holder answered, and the last one is judged: a tool that calls
        // this state "no quorum" fails every round.
        let mut round = 0;
        let (ran, doc) = loop {
            round += 1;
            holder.exists("/").unwrap();
            let ran = ensemble().zk(&connect).run(&[
                "check",
                "--format",
                "json",
                "--admin-port",
                admin_port,
            ]);
            let doc = ran.json();
            if round == 3
                || doc["servers"][0]["alive_connections"] != 1
                || doc["warnings"].to_string().contains("connections_refused")
            {
                break (ran, doc);
            }
        };
        let text = format!("{}{doc}", ran.stderr());
        assert!(
            !text.contains("no quorum") && !text.contains("no_quorum"),
            "admin port {admin_port}: {text}"
        );
        assert!(
            text.contains("maxClientCnxns"),
            "admin port {admin_port}: {text}"
        );
        // A refused connection is not a word the whitelist refused.
        assert!(
            !text.contains("not whitelisted"),
            "admin port {admin_port}: {text}"
        );
        let codes: Vec<&str> = doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"connections_refused"), "{codes:?}");
        assert_ne!(ran.code(), 0, "not healthy: {}", ran.stderr());
    }
}

/// `cons` is not whitelisted by default (3.5+): `sessions` asks the
/// AdminServer's `connections` instead.
#[test]
fn sessions_fall_back_to_the_admin_server_when_cons_is_not_whitelisted() {
    require_zookeeper!();
    let server = Ensemble::start_with(1, &["4lw.commands.whitelist=srvr"]).unwrap();
    let connect = server.connect_string();
    let client = Zk::connect(&connect).unwrap();
    let session = format!("{:#x}", client.session_id());
    let admin = server.admin_port(0).to_string();
    let ran = ensemble()
        .zk(&connect)
        .run(&["sessions", "--admin-port", &admin]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let all = ran.json();
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|s| s["session_id"] == session.as_str()),
        "{all}"
    );
    // Without the AdminServer: the warning says what to do, and nothing is listed.
    let ran = ensemble()
        .zk(&connect)
        .run(&["sessions", "--admin-port", "1"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    assert!(
        ran.stderr().contains("cons is not whitelisted"),
        "{}",
        ran.stderr()
    );
}
