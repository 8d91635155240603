//! `leader --system` and `watch --system`: other systems' leaders, read from
//! the nodes those systems write (written here byte for byte as they write
//! them), never contended in; malformed nodes are reported, not fatal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::CreateMode;

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(20);

/// What Kafka 3.x writes (`ControllerZNode.encode`, `BrokerIdZNode.encode`).
const CONTROLLER_V2: &[u8] =
    br#"{"version":2,"brokerid":3,"timestamp":"1733580000000","kraftControllerEpoch":-1}"#;
const BROKER_3: &[u8] = br#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://kafka-3:9092"],"jmx_port":-1,"port":9092,"host":"kafka-3","version":5,"timestamp":"1733580000000"}"#;

#[test]
fn kafkas_controller_epoch_broker_and_kraft_state() {
    require_zookeeper!();
    let connect = shared().chroot("elect-system-kafka");
    let zk = Zk::connect(&connect).unwrap();
    let nobody = elect().zk(&connect).run(&["leader", "--system", "kafka"]);
    assert_eq!(nobody.code(), 1, "{}", nobody.stderr());
    assert!(
        nobody.stderr().contains("nobody leads kafka"),
        "{}",
        nobody.stderr()
    );

    zk.create_all("/kafka/brokers/ids").unwrap();
    zk.create("/kafka/brokers/ids/3", BROKER_3, CreateMode::Ephemeral)
        .unwrap();
    zk.create("/kafka/controller_epoch", b"7", CreateMode::Persistent)
        .unwrap();
    zk.create("/kafka/controller", CONTROLLER_V2, CreateMode::Ephemeral)
        .unwrap();
    let ran = elect()
        .zk(&connect)
        .run(&["leader", "--system", "kafka", "/kafka"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let leader = ran.json();
    assert_eq!(leader["system"], "kafka");
    assert_eq!(leader["id"], "3");
    assert_eq!(leader["broker_id"], 3);
    assert_eq!(leader["epoch"], 7);
    assert_eq!(leader["kraft"], false);
    assert_eq!(leader["kraft_controller_epoch"], -1);
    assert_eq!(
        (&leader["host"], &leader["port"]),
        (&json!("kafka-3"), &json!(9092))
    );
    assert_eq!(leader["node"], "/kafka/controller");
    assert_eq!(leader["session_id"], format!("{:#x}", zk.session_id()));
    for (is, code) in [("3", 0), ("4", 1)] {
        let ran = elect()
            .zk(&connect)
            .run(&["leader", "--system", "kafka", "--is", is, "/kafka"]);
        assert_eq!(ran.code(), code, "--is {is}: {}", ran.stderr());
    }

    // Version 1 (before KRaft) has no kraftControllerEpoch; a migration to
    // KRaft writes one of 0 or more.
    for (data, kraft, epoch) in [
        (
            &br#"{"version":1,"brokerid":3,"timestamp":"1"}"#[..],
            false,
            Value::Null,
        ),
        (
            br#"{"version":2,"brokerid":3,"timestamp":"1","kraftControllerEpoch":5}"#,
            true,
            json!(5),
        ),
    ] {
        zk.delete("/kafka/controller").unwrap();
        zk.create("/kafka/controller", data, CreateMode::Ephemeral)
            .unwrap();
        let leader = elect()
            .zk(&connect)
            .run(&["leader", "--system", "kafka", "/kafka"])
            .json();
        assert_eq!(leader["kraft"], kraft, "{leader}");
        assert_eq!(leader["kraft_controller_epoch"], epoch, "{leader}");
    }
    // Nothing was written: we read, never contend.
    assert_eq!(zk.children("/kafka").unwrap().len(), 3);
}

#[test]
fn malformed_leader_nodes_name_the_system_and_what_is_wrong() {
    require_zookeeper!();
    let connect = shared().chroot("elect-system-malformed");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/overseer_elect").unwrap();
    zk.create_all("/C/CONTROLLER").unwrap();
    for (system, root, node, data, why) in [
        (
            "kafka",
            "/",
            "/controller",
            &br#"{"version":2,"brokerid":"#[..],
            "not JSON",
        ),
        ("kafka", "/", "/controller", br#"{"version":2}"#, "brokerid"),
        ("kafka", "/", "/controller", b"\xff\xfe", "not JSON"),
        (
            "solr",
            "/",
            "/overseer_elect/leader",
            br#"{"id":"nodash"}"#,
            "-n_",
        ),
        (
            "helix",
            "/C",
            "/C/CONTROLLER/LEADER",
            b"[]",
            "not a JSON object",
        ),
    ] {
        zk.create(node, data, CreateMode::Ephemeral).unwrap();
        let ran = elect()
            .zk(&connect)
            .run(&["leader", "--system", system, root]);
        assert_eq!(ran.code(), 0, "{system} {data:?}: {}", ran.stderr());
        let leader = ran.json();
        assert_eq!(leader["id"], Value::Null, "{leader}");
        let error = leader["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("{system} {node}: malformed")) && error.contains(why),
            "{error}"
        );
        assert_eq!(ran.stderr().lines().count(), 1, "{}", ran.stderr());
        let is = elect()
            .zk(&connect)
            .run(&["leader", "--system", system, "--is", "3", root]);
        assert_eq!(is.code(), 1, "an unreadable leader is nobody in particular");
        zk.delete(node).unwrap();
    }
    let helix = elect().zk(&connect).run(&["leader", "--system", "helix"]);
    assert_eq!(helix.code(), 2, "{}", helix.stderr());
    assert!(helix.stderr().contains("/MyCluster"), "{}", helix.stderr());
}

#[test]
fn solr_and_helix_leaders() {
    require_zookeeper!();
    let connect = shared().chroot("elect-system-solr-helix");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/solr/overseer_elect").unwrap();
    // What Solr's OverseerElectionContext writes: the election node's name.
    zk.create(
        "/solr/overseer_elect/leader",
        br#"{"id":"72057594037927936-10.0.0.5:8983_solr-n_0000000003"}"#,
        CreateMode::Ephemeral,
    )
    .unwrap();
    let solr = elect().zk(&connect).run(&[
        "leader",
        "--system",
        "solr",
        "--is",
        "10.0.0.5:8983_solr",
        "/solr",
    ]);
    assert_eq!(solr.code(), 0, "{}", solr.stderr());
    assert_eq!(solr.json()["sequence"], 3);

    zk.create_all("/MyCluster/CONTROLLER").unwrap();
    // A ZNRecord, as Helix's controller writes its LEADER node.
    zk.create(
        "/MyCluster/CONTROLLER/LEADER",
        br#"{"id":"controller_0","simpleFields":{"HELIX_VERSION":"1.0.4","LIVE_INSTANCE":"4242@ctl-host","SESSION_ID":"30000a1b2c3d0004"},"listFields":{},"mapFields":{}}"#,
        CreateMode::Ephemeral,
    )
    .unwrap();
    let helix = elect()
        .zk(&connect)
        .run(&["leader", "--system", "helix", "/MyCluster"]);
    assert_eq!(helix.code(), 0, "{}", helix.stderr());
    let leader = helix.json();
    assert_eq!(leader["id"], "controller_0");
    assert_eq!(leader["live_instance"], "4242@ctl-host");
}

#[test]
fn watch_follows_a_systems_leader_through_a_change() {
    require_zookeeper!();
    let connect = shared().chroot("elect-system-watch");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/controller", CONTROLLER_V2, CreateMode::Ephemeral)
        .unwrap();
    let watch = elect().zk(&connect).spawn(&["watch", "--system", "kafka"]);
    let first = watch.next_json(T);
    assert_eq!(
        (&first["event"], &first["leader"]["id"]),
        (&json!("leader"), &json!("3"))
    );
    zk.delete("/controller").unwrap();
    let gone = watch.next_json(T);
    assert_eq!(
        (&gone["event"], &gone["leader"]),
        (&json!("changed"), &Value::Null)
    );
    zk.create(
        "/controller",
        br#"{"version":2,"brokerid":5,"timestamp":"2","kraftControllerEpoch":-1}"#,
        CreateMode::Ephemeral,
    )
    .unwrap();
    let next = watch.next_json(T);
    assert_eq!(next["leader"]["broker_id"], 5, "{next}");
}
