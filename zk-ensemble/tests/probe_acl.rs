//! `zk-ensemble probe` with `--auth digest:... --acl creator`: every node it
//! creates carries exactly the creator ACL, and it leaves none behind,
//! with or without a credential. Against the shared ensemble, in a chroot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::ensemble;
use zk_testkit::{process_state, require_zookeeper, shared, Zk};
use zookeeper_client::{Acls, CreateMode};

/// A node's ACL as `(scheme, id, permissions)`.
type Acl = Vec<(String, String, String)>;

/// The ACL of `path`, or `None` when it does not exist (the probe's nodes
/// come and go while it runs).
fn acl_if_there(zk: &Zk, path: &str) -> Option<Acl> {
    zk.acl(path).ok()
}

fn is_creator_acl(acl: &[(String, String, String)]) -> bool {
    matches!(
        acl,
        [(scheme, id, all), (world, anyone, read)]
            if scheme == "digest" && id.starts_with("owner:") && all == "ALL"
                && world == "world" && anyone == "anyone" && read == "READ"
    )
}

#[test]
fn probe_with_acl_creator_creates_its_nodes_with_the_creator_acl_and_leaves_none() {
    require_zookeeper!();
    let connect = shared().chroot("ensemble-probe-acl");
    let watcher = Zk::connect(&connect).unwrap();
    // Many rounds, so that its short-lived nodes are there to be seen.
    let mut probe = ensemble().zk(&connect).spawn(&[
        "--auth",
        "digest:owner:secret",
        "--acl",
        "creator",
        "probe",
        "--path",
        "/a/b/probe",
        "--count",
        "300",
        "--probe-timeout",
        "120s",
    ]);
    // Every node seen while the probe runs, with its ACL.
    let mut seen: Vec<(String, Acl)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut probe_node_seen = false;
    let pid = i32::try_from(probe.pid()).unwrap();
    let parents = ["/a", "/a/b", "/a/b/probe"];
    // Until a probe node and every parent were seen: they appear one after
    // another while this polls, and a probe node may be seen first.
    let all_seen = |seen: &[(String, Acl)], probe_node_seen: bool| {
        probe_node_seen && parents.iter().all(|p| seen.iter().any(|(s, _)| s == p))
    };
    while !all_seen(&seen, probe_node_seen) && Instant::now() < deadline {
        if matches!(process_state(pid), None | Some('Z')) {
            break;
        }
        for path in parents {
            if let Some(acl) = acl_if_there(&watcher, path) {
                seen.push((path.to_string(), acl));
            }
        }
        for child in watcher.children("/a/b/probe").unwrap_or_default() {
            let path = format!("/a/b/probe/{child}");
            if let Some(acl) = acl_if_there(&watcher, &path) {
                seen.push((path, acl));
                probe_node_seen = true;
            }
        }
    }
    let status = probe.wait(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{}", probe.stderr_so_far());
    assert!(probe_node_seen, "no probe node was ever seen: {seen:?}");
    for path in parents {
        assert!(
            seen.iter().any(|(p, _)| p == path),
            "{path} was never seen: {seen:?}"
        );
    }
    for (path, acl) in &seen {
        assert!(is_creator_acl(acl), "{path}: {acl:?}");
    }
    // The parent and the ancestors it created are gone with the probe.
    assert_eq!(watcher.children("/").unwrap(), Vec::<String>::new());

    // Without a credential: the world's ACL, and again nothing left behind;
    // a parent that was there before is kept.
    watcher.create_all("/kept").unwrap();
    let ran = ensemble()
        .zk(&connect)
        .run(&["probe", "--path", "/kept/x/probe", "--count", "2"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(watcher.children("/").unwrap(), ["kept"]);
    assert_eq!(watcher.children("/kept").unwrap(), Vec::<String>::new());

    // An existing parent under a node that refuses us everything: it is
    // used as it is, not created again (which that node would refuse).
    let alice = Zk::connect_with(&connect, Some(("digest", "alice:secret"))).unwrap();
    alice
        .create_with(
            "/private",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .unwrap();
    alice
        .create_with(
            "/private/open",
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .unwrap();
    let ran =
        ensemble()
            .zk(&connect)
            .run(&["probe", "--path", "/private/open/probe", "--count", "2"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(alice.children("/private").unwrap(), ["open"]);
    assert_eq!(
        alice.children("/private/open").unwrap(),
        Vec::<String>::new()
    );
}
