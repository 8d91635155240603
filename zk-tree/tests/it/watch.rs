//! `zk-tree watch`: every state of one node, and a handler given its data.

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared, wait_until, Zk};
use zookeeper_client::CreateMode;

use crate::tree;

const LINE: Duration = Duration::from_secs(20);

#[test]
fn reports_creation_changes_and_deletion_and_feeds_the_handler_raw_data() {
    require_zookeeper!();
    let connect = shared().chroot("tree-watch");
    let zk = Zk::connect(&connect).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let handler = format!(
        "cat > '{0}.tmp'; echo \" $ZK_TREE_NODE $ZK_TREE_EXISTS ${{ZK_TREE_VERSION:-none}}\" >> '{0}.tmp'; mv '{0}.tmp' '{0}'",
        seen.display()
    );
    let mut watch = tree(&connect).spawn(&["watch", "/cfg", "--exec", &handler]);

    let first = watch.next_json(LINE);
    assert_eq!(first["event"], "snapshot");
    assert_eq!(first["exists"], false);
    assert!(first["data"].is_null() && first["version"].is_null());
    wait_until("the handler to see no node", LINE, || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == " /cfg 0 none\n")
    });

    zk.create("/cfg", br#"{"port": 80}"#, CreateMode::Persistent)
        .unwrap();
    let created = watch.next_json(LINE);
    assert_eq!(created["event"], "changed");
    assert_eq!(created["exists"], true);
    assert_eq!(created["data"]["port"], 80);
    assert_eq!(created["version"], 0);

    zk.block_on(zk.client().set_data("/cfg", &[0xff, 0x01], None))
        .unwrap();
    let changed = watch.next_json(LINE);
    assert_eq!(changed["event"], "changed");
    assert_eq!(changed["version"], 1);
    assert_eq!(changed["data_base64"], "/wE=");
    wait_until("the handler to get the raw bytes", LINE, || {
        std::fs::read(&seen).is_ok_and(|s| s == b"\xff\x01 /cfg 1 1\n")
    });

    zk.delete("/cfg").unwrap();
    let deleted = watch.next_json(LINE);
    assert_eq!(deleted["event"], "deleted");
    assert_eq!(deleted["exists"], false);
    wait_until("the handler to see the node gone", LINE, || {
        std::fs::read_to_string(&seen).is_ok_and(|s| s == " /cfg 0 none\n")
    });

    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(LINE).code(), Some(143));
}

#[test]
fn a_burst_of_writes_ends_on_the_last_value() {
    require_zookeeper!();
    let connect = shared().chroot("tree-watch-burst");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/n", b"0", CreateMode::Persistent).unwrap();
    let mut watch = tree(&connect).spawn(&["watch", "/n"]);
    assert_eq!(watch.next_json(LINE)["data"], 0);
    for i in 1..=50 {
        zk.block_on(zk.client().set_data("/n", i.to_string().as_bytes(), None))
            .unwrap();
    }
    let mut last = serde_json::Value::Null;
    while last["data"] != 50 {
        last = watch.next_json(LINE);
        assert_eq!(last["event"], "changed");
    }
    assert_eq!(last["version"], 50);
    watch.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(watch.wait(LINE).code(), Some(130));
}

/// Frozen past its session timeout, the watch's session expires while the
/// node changes: a new session reads it again and the change is reported.
#[test]
fn a_change_made_while_the_session_expired_is_reported_by_the_next_session() {
    require_zookeeper!();
    let connect = shared().chroot("tree-watch-expiry");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/n", b"before", CreateMode::Persistent).unwrap();
    let mut watch = tree(&connect).spawn(&["--session-timeout", "1s", "watch", "/n"]);
    let first = watch.next_json(LINE);
    assert_eq!(first["data"], "before");
    let session = first["session_id"].as_str().unwrap().to_string();

    zk_testkit::pause(watch.pid());
    wait_until("the frozen watch's session to expire", LINE, || {
        !zk_testkit::session_is_live(shared().connect_string(), &session)
    });
    zk.block_on(zk.client().set_data("/n", b"while frozen", None))
        .unwrap();
    zk_testkit::resume(watch.pid());

    let next = watch.next_json(LINE);
    assert_eq!(next["event"], "changed", "{next}");
    assert_eq!(next["data"], "while frozen");
    assert_ne!(next["session_id"], first["session_id"]);
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(LINE).code(), Some(143));
}

/// The server the watch is connected to is killed; the node changes while
/// the watch reconnects to another: the re-registered watch reports it.
#[test]
fn fault_a_change_during_a_server_restart_is_reported() {
    require_zookeeper!();
    let _one_at_a_time = zk_testkit::exclusive();
    let mut ensemble = zk_testkit::Ensemble::start(3).unwrap();
    let zk = Zk::connect(&ensemble.connect_string()).unwrap();
    zk.create("/n", b"0", CreateMode::Persistent).unwrap();
    let mut watch = tree(&ensemble.connect_string()).spawn(&["watch", "/n"]);
    let first = watch.next_json(LINE);
    let session = first["session_id"].as_str().unwrap().to_string();
    let victim = (0..ensemble.len())
        .find(|&i| {
            zk_testkit::four_letter(&ensemble.address(i), "cons")
                .unwrap_or_default()
                .contains(&format!("sid={session}"))
        })
        .expect("the server the watch is connected to");
    ensemble.kill(victim);
    zk.block_on(zk.client().set_data("/n", b"1", None)).unwrap();
    let next = watch.next_json(LINE);
    assert_eq!(
        (next["event"].clone(), next["data"].clone()),
        ("changed".into(), 1.into())
    );
    assert_eq!(
        next["session_id"], first["session_id"],
        "the same session, reconnected"
    );
    ensemble.restart(victim).unwrap();
    zk.block_on(zk.client().set_data("/n", b"2", None)).unwrap();
    assert_eq!(watch.next_json(LINE)["data"], 2);
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(LINE).code(), Some(143));
}
