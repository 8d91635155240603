//! Foreign and hostile nodes in the election directory: nobody panics, junk
//! is ignored with one warning, and the election still elects; another
//! recipe's contender is refused, never ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::CreateMode;

fn elect() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-elect"))
}

const T: Duration = Duration::from_secs(20);

/// Not candidates: multi-byte characters where a naive parser's byte
/// arithmetic lands mid-character, digits that are not the sequence, junk.
const JUNK: [&str; 5] = [
    "latch-é123456789",
    "_c_x-latch-é123456789",
    "latch-12345678901",
    "_c_x-latch-000000001a",
    "junk",
];

fn warnings_naming(stderr: &str, name: &str) -> usize {
    stderr.lines().filter(|l| l.contains(name)).count()
}

#[test]
fn junk_in_the_election_directory_is_ignored_with_one_warning() {
    require_zookeeper!();
    let connect = shared().chroot("elect-junk");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/e").unwrap();
    for name in JUNK {
        zk.create(&format!("/e/{name}"), b"x", CreateMode::Persistent)
            .unwrap();
    }

    let mut first = elect().zk(&connect).spawn(&["--id", "a", "/e"]);
    assert_eq!(first.next_json(T)["event"], "candidate");
    assert_eq!(first.next_json(T)["event"], "elected");
    let mut second = elect().zk(&connect).spawn(&["--id", "b", "/e"]);
    assert_eq!(second.next_json(T)["event"], "candidate");

    let candidates = elect().zk(&connect).run(&["candidates", "/e"]);
    assert_eq!(candidates.code(), 0, "{}", candidates.stderr());
    let list = candidates.json();
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, ["a", "b"], "only candidates: {list}");
    assert_eq!(list[0]["leader"], true);
    assert_eq!(
        warnings_naming(&candidates.stderr(), "latch-é123456789"),
        1,
        "one warning per listing: {}",
        candidates.stderr()
    );
    let leader = elect().zk(&connect).run(&["leader", "/e"]);
    assert_eq!(leader.code(), 0, "{}", leader.stderr());
    assert_eq!(leader.json()["id"], "a");

    first.close_stdin();
    assert_eq!(first.next_json(T)["event"], "resigned");
    assert_eq!(first.wait(T).code(), Some(0));
    assert_eq!(second.next_json(T)["event"], "elected");
    second.close_stdin();
    assert_eq!(second.next_json(T)["event"], "resigned");
    assert_eq!(second.wait(T).code(), Some(0));
    for (who, stderr) in [
        ("first", first.stderr_so_far()),
        ("second", second.stderr_so_far()),
    ] {
        assert_eq!(
            warnings_naming(&stderr, "latch-é123456789"),
            1,
            "{who} warns once: {stderr}"
        );
    }
    let mut left = zk.children("/e").unwrap();
    let mut junk: Vec<String> = JUNK.iter().map(|s| s.to_string()).collect();
    left.sort();
    junk.sort();
    assert_eq!(left, junk, "no node of ours left behind");
}

#[test]
fn acl_creator_protects_the_candidate_and_the_parents_it_creates() {
    require_zookeeper!();
    let connect = shared().chroot("elect-acl-creator");
    let mut leader =
        elect()
            .zk(&connect)
            .spawn(&["--auth", "digest:owner:secret", "--acl", "creator", "/a/e"]);
    let candidate = leader.next_json(T);
    assert_eq!(candidate["event"], "candidate");
    assert_eq!(leader.next_json(T)["event"], "elected");
    let zk = Zk::connect(&connect).unwrap();
    for path in ["/a", "/a/e", candidate["node"].as_str().unwrap()] {
        zk.assert_creator_acl(path, "owner");
    }
    leader.close_stdin();
    assert_eq!(leader.wait(T).code(), Some(0));
}

/// A lock's contender (Curator's `InterProcessMutex` or `LeaderSelector`
/// node) in the election directory would lead beside us by its own rules:
/// zk-elect refuses with 2, names it, and leaves no candidate behind.
#[test]
fn another_recipes_contender_in_the_election_directory_is_refused() {
    require_zookeeper!();
    let connect = shared().chroot("elect-stranger");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/e").unwrap();
    let stranger = "_c_x-lock-0000000000";
    zk.create(&format!("/e/{stranger}"), b"x", CreateMode::Persistent)
        .unwrap();
    let refused = elect()
        .zk(&connect)
        .run(&["--id", "a", "--timeout", "10s", "/e", "--", "true"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains(stranger) && refused.stderr().contains("LeaderSelector"),
        "{}",
        refused.stderr()
    );
    assert_eq!(zk.children("/e").unwrap(), [stranger]);
}

/// A candidate whose node we may not read is listed with `"id": null` and
/// its error, not as `""`; `leader --is` never matches it.
#[test]
fn an_unreadable_candidate_carries_its_error() {
    require_zookeeper!();
    let connect = shared().chroot("elect-unreadable");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/e").unwrap();
    let admin_only = [zookeeper_client::Acl::new(
        zookeeper_client::Permission::ADMIN,
        zookeeper_client::AuthId::new("world", "anyone"),
    )];
    zk.create_with(
        "/e/_c_x-latch-0000000000",
        b"secret-id",
        &CreateMode::Persistent.with_acls(zookeeper_client::Acls::new(&admin_only)),
    )
    .unwrap();
    let listed = elect().zk(&connect).run(&["candidates", "/e"]);
    assert_eq!(listed.code(), 0, "{}", listed.stderr());
    let first = &listed.json()[0];
    assert_eq!(
        (&first["id"], &first["error"]),
        (&Value::Null, &"not authorized".into()),
        "{first}"
    );
    assert!(
        listed.stderr().contains("not authorized"),
        "{}",
        listed.stderr()
    );
    for is in ["secret-id", "null"] {
        let ran = elect().zk(&connect).run(&["leader", "--is", is, "/e"]);
        assert_eq!(ran.code(), 1, "--is {is}: {}", ran.stderr());
    }
}

/// Text read from ZooKeeper is anyone's input: a breadcrumb whose id holds
/// a newline and a terminal sequence must not forge a line of ours.
#[test]
fn a_planted_breadcrumb_cannot_forge_a_log_line() {
    require_zookeeper!();
    let connect = shared().chroot("elect-forged-line");
    let zk = Zk::connect(&connect).unwrap();
    let planted = serde_json::json!({
        "id": "old\nzk-elect: info: all clear\u{1b}[2J",
        "node": "/e/_c_x-latch-0000000000",
        "token": 1,
        "session_id": "0x1",
    });
    zk.create(
        "/e.leader-breadcrumb",
        planted.to_string().as_bytes(),
        CreateMode::Persistent,
    )
    .unwrap();
    let ran = elect()
        .zk(&connect)
        .run(&["--fence", "true", "/e", "--", "true"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(ran.stderr().contains("previous leader"), "{}", ran.stderr());
    for line in ran.stderr().lines() {
        assert!(
            !line.starts_with("zk-elect: info: all clear"),
            "{}",
            ran.stderr()
        );
    }
    assert!(!ran.stderr().contains('\u{1b}'), "{}", ran.stderr());
}
