//! `get` and `set`: bytes, compare-and-set, writes fenced by a lock node.

use std::time::Duration;

use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::{Acls, CreateMode};

use crate::{code, run_with_stdin, stderr, tree};

#[test]
fn binary_data_and_a_one_megabyte_value_come_back_byte_for_byte() {
    require_zookeeper!();
    let connect = shared().chroot("tree-bytes");
    let zk = Zk::connect(&connect).unwrap();
    let binary: Vec<u8> = (0..=255u8).chain([0, 0, b'\n', 0xff]).collect();
    let set = run_with_stdin(&tree(&connect), &["set", "/a/b/bin", "--create"], &binary);
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    let report: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(report["created"], true);
    assert_eq!(report["bytes"], binary.len());
    assert_eq!(
        zk.get("/a/b/bin").unwrap().0,
        binary,
        "what ZooKeeper holds"
    );
    // Parents were made persistent and empty.
    assert_eq!(zk.get("/a").unwrap().1.ephemeral_owner, 0);

    let got = tree(&connect).run(&["get", "/a/b/bin"]);
    assert_eq!(got.code(), 0, "{}", got.stderr());
    assert_eq!(
        got.output.stdout, binary,
        "get is binary-safe, no newline added"
    );

    let json = tree(&connect).run(&["get", "--json", "/a/b/bin"]).json();
    assert_eq!(json["path"], "/a/b/bin");
    assert!(json["data_base64"].is_string(), "{json}");
    assert_eq!(json["stat"]["version"], 0);
    assert_eq!(json["stat"]["data_length"], binary.len());

    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let set = run_with_stdin(&tree(&connect), &["set", "/big", "--create"], &big);
    assert_eq!(code(&set), 0, "{}", stderr(&set));
    assert_eq!(tree(&connect).run(&["get", "/big"]).output.stdout, big);

    // More than a request may carry is refused before anything is sent.
    let too_big = vec![b'x'; 1 << 20];
    let set = run_with_stdin(&tree(&connect), &["set", "/too-big", "--create"], &too_big);
    assert_eq!(code(&set), 2, "{}", stderr(&set));
    assert!(stderr(&set).contains("jute.maxbuffer"), "{}", stderr(&set));
    assert!(!zk.exists("/too-big").unwrap(), "no stray node");
}

#[test]
fn compare_and_set_loses_a_race_with_exit_1_and_writes_nothing() {
    require_zookeeper!();
    let connect = shared().chroot("tree-cas");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/n", b"v0", CreateMode::Persistent).unwrap();
    let first = run_with_stdin(&tree(&connect), &["set", "/n", "--version", "0"], b"v1");
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["created"], false);

    let late = run_with_stdin(&tree(&connect), &["set", "/n", "--version", "0"], b"late");
    assert_eq!(code(&late), 1, "{}", stderr(&late));
    assert!(
        stderr(&late).contains("at version 1, not 0"),
        "{}",
        stderr(&late)
    );
    assert_eq!(zk.get("/n").unwrap().0, b"v1");
}

#[test]
fn a_missing_node_is_exit_1_for_get_and_set_without_create() {
    require_zookeeper!();
    let connect = shared().chroot("tree-missing");
    let zk = Zk::connect(&connect).unwrap();
    let got = tree(&connect).run(&["get", "/nope"]);
    assert_eq!(got.code(), 1);
    assert!(
        got.stderr().contains("/nope does not exist"),
        "{}",
        got.stderr()
    );
    let set = run_with_stdin(&tree(&connect), &["set", "/nope/deeper"], b"x");
    assert_eq!(code(&set), 1, "{}", stderr(&set));
    assert!(stderr(&set).contains("--create"), "{}", stderr(&set));
    assert!(!zk.exists("/nope").unwrap(), "no stray parent");
}

#[test]
fn a_write_fenced_by_a_lock_node_lands_only_while_the_node_exists() {
    require_zookeeper!();
    let connect = shared().chroot("tree-fenced");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/cfg", b"old", CreateMode::Persistent).unwrap();

    // Inside zk-lock, its own node fences the write.
    let lock = Tool::new(&crate::sibling("zk-lock")).zk(&connect);
    let script = format!(
        "printf held | '{}' --zk '{connect}' set /cfg --while-exists \"$ZK_NODE\"",
        crate::BIN
    );
    let held = lock.run(&["/locks/cfg", "-c", &script]);
    assert_eq!(held.code(), 0, "{}", held.stderr());
    assert_eq!(zk.get("/cfg").unwrap().0, b"held");

    // A holder whose lock node is gone (its session expired, or the lock
    // was broken) cannot write, however late its write arrives.
    let other = Zk::connect(&connect).unwrap();
    zk.create_all("/locks/cfg").unwrap();
    let node = "/locks/cfg/_c_dead-lock-0000000099";
    other.create(node, b"", CreateMode::Ephemeral).unwrap();
    drop(other);
    zk_testkit::wait_until(
        "the dead holder's node to go",
        Duration::from_secs(20),
        || !zk.exists(node).unwrap(),
    );
    let late = run_with_stdin(
        &tree(&connect),
        &[
            "set",
            "/cfg",
            "--while-exists",
            node,
            "--while-exists",
            "/cfg",
        ],
        b"stale",
    );
    assert_eq!(code(&late), 79, "{}", stderr(&late));
    assert!(stderr(&late).contains(node), "{}", stderr(&late));
    assert_eq!(zk.get("/cfg").unwrap().0, b"held", "nothing written");

    // --create under a gone lock creates neither the node nor its parents.
    let late = run_with_stdin(
        &tree(&connect),
        &["set", "/new/cfg", "--create", "--while-exists", node],
        b"stale",
    );
    assert_eq!(code(&late), 79, "{}", stderr(&late));
    assert!(!zk.exists("/new").unwrap(), "no stray parent");
}

#[test]
fn a_node_the_acl_hides_is_exit_77_naming_it() {
    require_zookeeper!();
    let connect = shared().chroot("tree-noauth");
    let owner = Zk::connect_with(&connect, Some(("digest", "owner:secret"))).unwrap();
    owner
        .create_with(
            "/secret",
            b"s3cr3t",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .unwrap();
    let got = tree(&connect).run(&["get", "/secret"]);
    assert_eq!(got.code(), 77, "{}", got.stderr());
    assert!(got.stderr().contains("/secret"), "{}", got.stderr());
    assert!(got.output.stdout.is_empty());
    let set = run_with_stdin(&tree(&connect), &["set", "/secret"], b"x");
    assert_eq!(code(&set), 77, "{}", stderr(&set));
    assert!(stderr(&set).contains("/secret"), "{}", stderr(&set));

    let allowed = tree(&connect)
        .env("ZK_AUTH", "digest:owner:secret")
        .run(&["get", "/secret"]);
    assert_eq!(allowed.code(), 0, "{}", allowed.stderr());
    assert_eq!(allowed.output.stdout, b"s3cr3t");
    assert!(
        !allowed.stderr().contains("secret:"),
        "no credential echoed"
    );
}
