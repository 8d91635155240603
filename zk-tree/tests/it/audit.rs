//! `du` and `acl` on real nodes.

use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Zk};
use zookeeper_client::{Acl, Acls, AuthId, CreateMode, Permission};

use crate::tree;

#[test]
fn du_weighs_subtrees_largest_first_to_the_depth_asked() {
    require_zookeeper!();
    let connect = shared().chroot("tree-du");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/r", b"", CreateMode::Persistent).unwrap();
    zk.create("/r/small", b"12", CreateMode::Persistent)
        .unwrap();
    zk.create("/r/large", &[7; 5000], CreateMode::Persistent)
        .unwrap();
    zk.create("/r/large/leaf", &[1; 100], CreateMode::Ephemeral)
        .unwrap();
    let rows = tree(&connect).run(&["du", "/r", "--depth", "2"]).json();
    let summary: Vec<(&str, u64, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["bytes"].as_u64().unwrap(),
                r["nodes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("/r", 5102, 4),
            ("/r/large", 5100, 2),
            ("/r/large/leaf", 100, 1),
            ("/r/small", 2, 1)
        ]
    );
    assert_eq!(rows[1]["ephemeral_nodes"], 1);
    let missing = tree(&connect).run(&["du", "/nope"]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr().contains("/nope does not exist"));
}

#[test]
fn acl_flags_world_writable_and_single_identity_nodes() {
    require_zookeeper!();
    let connect = shared().chroot("tree-acl");
    let zk = Zk::connect_with(&connect, Some(("digest", "ops:secret"))).unwrap();
    zk.create("/a", b"", CreateMode::Persistent).unwrap();
    zk.create_with(
        "/a/owned",
        b"",
        &CreateMode::Persistent.with_acls(Acls::creator_all()),
    )
    .unwrap();
    zk.create("/a/owned/hidden", b"", CreateMode::Persistent)
        .unwrap();
    let shared_acl = [
        Acl::new(Permission::ALL, AuthId::new("auth", "")),
        Acl::new(Permission::WRITE, AuthId::new("ip", "10.0.0.1")),
    ];
    zk.create_with(
        "/a/shared",
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&shared_acl)),
    )
    .unwrap();

    // Without a credential the audit goes on past what it may not list.
    let rows = tree(&connect).run(&["acl", "/a", "--recursive"]).json();
    assert_eq!(rows.as_array().map(Vec::len), Some(3), "{rows}");
    assert_eq!(rows[1]["path"], "/a/owned");
    assert_eq!(rows[1]["children_unreadable"], true, "{rows}");
    // ZooKeeper shows an ACL only to who may read the node: null, not a guess.
    assert!(
        rows[1]["acl"].is_null() && rows[1]["world_writable"].is_null(),
        "{rows}"
    );
    let with_auth = tree(&connect)
        .env("ZK_AUTH", "digest:ops:secret")
        .run(&["acl", "/a", "--recursive"])
        .json();
    assert_eq!(with_auth.as_array().map(Vec::len), Some(4), "{with_auth}");
    assert_eq!(with_auth[2]["path"], "/a/owned/hidden");
    let flags: Vec<(&str, bool, bool)> = with_auth
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["world_writable"].as_bool().unwrap(),
                r["single_identity"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("/a", true, false),
            ("/a/owned", false, true),
            ("/a/owned/hidden", true, false),
            ("/a/shared", false, false)
        ]
    );
    let owned = &with_auth[1]["acl"][0];
    assert_eq!(owned["scheme"], "digest");
    assert!(owned["id"].as_str().unwrap().starts_with("ops:"), "{owned}");
    assert_eq!(owned["perms"], "cdrwa");

    let one = tree(&connect)
        .env("ZK_AUTH", "digest:ops:secret")
        .run(&["acl", "/a/owned"])
        .json();
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["single_identity"], Value::Bool(true));
}
