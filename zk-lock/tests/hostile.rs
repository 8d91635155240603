//! Foreign and hostile nodes in the lock directory, and recipes that must
//! not share one: nobody panics, junk is ignored with one warning, and a
//! semaphore never runs alongside a mutex on the same path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{lock, wait_for_queue};
use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Zk};
use zookeeper_client::CreateMode;

const T: Duration = Duration::from_secs(20);

/// Names that are not participants: multi-byte characters where the byte
/// arithmetic of a naive parser lands mid-character, digits that are not
/// the sequence, plain junk.
const JUNK: [&str; 5] = [
    "lock-é123456789",
    "_c_x-lock-é123456789",
    "lock-12345678901",
    "_c_x-lock-000000001a",
    "junk",
];

fn plant_junk(connect: &str) -> Zk {
    let zk = Zk::connect(connect).unwrap();
    zk.create_all("/l").unwrap();
    for name in JUNK {
        zk.create(&format!("/l/{name}"), b"x", CreateMode::Persistent)
            .unwrap();
    }
    zk
}

fn warnings_naming(stderr: &str, name: &str) -> usize {
    stderr.lines().filter(|l| l.contains(name)).count()
}

#[test]
fn junk_in_the_lock_directory_is_ignored_with_one_warning() {
    require_zookeeper!();
    let connect = shared().chroot("lock-junk");
    let zk = plant_junk(&connect);

    let mut holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let mut waiter = lock()
        .zk(&connect)
        .spawn(&["--timeout", "20s", "/l", "--", "true"]);
    let queue = wait_for_queue(&connect, "/l", 2);
    assert_eq!(queue[0]["state"], "holding");
    assert_eq!(queue[1]["state"], "waiting");

    let holders = lock().zk(&connect).run(&["holders", "/l"]);
    assert_eq!(holders.code(), 0, "{}", holders.stderr());
    assert_eq!(
        warnings_naming(&holders.stderr(), "lock-é123456789"),
        1,
        "one warning per listing: {}",
        holders.stderr()
    );

    holder.close_stdin();
    assert_eq!(holder.wait(T).code(), Some(0));
    assert_eq!(waiter.wait(T).code(), Some(0), "the waiter got the lock");
    for (who, stderr) in [
        ("holder", holder.stderr_so_far()),
        ("waiter", waiter.stderr_so_far()),
    ] {
        assert_eq!(
            warnings_naming(&stderr, "lock-é123456789"),
            1,
            "{who} warns once: {stderr}"
        );
    }
    let mut left = zk.children("/l").unwrap();
    let mut junk: Vec<String> = JUNK.iter().map(|s| s.to_string()).collect();
    left.sort();
    junk.sort();
    assert_eq!(left, junk, "no node of ours left behind");
}

#[test]
fn a_foreign_participant_first_in_line_holds_the_lock() {
    require_zookeeper!();
    let connect = shared().chroot("lock-foreign-holder");
    let zk = plant_junk(&connect);
    // Curator's mutex accepts nodes without the _c_ prefix; sequence 0 sorts first.
    zk.create("/l/lock-0000000000", b"", CreateMode::Persistent)
        .unwrap();
    let busy = lock().zk(&connect).run(&["-n", "/l", "--", "true"]);
    assert_eq!(busy.code(), 75, "{}", busy.stderr());
    assert!(
        busy.stderr().contains("lock-0000000000"),
        "{}",
        busy.stderr()
    );
    let holders = wait_for_queue(&connect, "/l", 1);
    assert_eq!(holders[0]["node"], "/l/lock-0000000000");
    assert_eq!(holders[0]["state"], "holding");
}

#[test]
fn nonblock_names_the_holder_not_the_waiter_ahead_of_us() {
    require_zookeeper!();
    let connect = shared().chroot("lock-nonblock-holder");
    let holder = lock().zk(&connect).spawn(&["--id", "the-holder", "/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let _waiter = lock().zk(&connect).spawn(&["--id", "the-waiter", "/l"]);
    wait_for_queue(&connect, "/l", 2);

    let busy = lock().zk(&connect).run(&["-n", "/l", "--", "true"]);
    assert_eq!(busy.code(), 75, "{}", busy.stderr());
    assert!(
        busy.stderr().contains("held by the-holder (host "),
        "names the holder: {}",
        busy.stderr()
    );
    assert!(
        !busy.stderr().contains("the-waiter"),
        "not the waiter: {}",
        busy.stderr()
    );
}

/// The first holds `path`; the second must refuse with exit 2 and leave
/// only the first's node, naming what the path is in use as and what it
/// was asked to take it as.
fn refuses_to_mix(first: &[&str], second: &[&str], first_kind: &str, in_use_as: &str, asked: &str) {
    let connect = shared().chroot("lock-mix");
    let mut holder = lock().zk(&connect).spawn(&[first, &["/l"]].concat());
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let mixed = lock()
        .zk(&connect)
        .run(&[second, &["--timeout", "3s", "/l", "--", "true"]].concat());
    assert_eq!(
        mixed.code(),
        2,
        "{first:?} then {second:?}: {}",
        mixed.stderr()
    );
    let stderr = mixed.stderr();
    let message: Vec<&str> = stderr.lines().collect();
    assert_eq!(message.len(), 1, "one line: {}", mixed.stderr());
    assert!(message[0].contains("/l"), "{}", message[0]);
    assert!(
        message[0].contains(&format!("is in use as {in_use_as} ("))
            && message[0].ends_with(&format!("refusing to take it as {asked}")),
        "{}",
        message[0]
    );
    let holders = wait_for_queue(&connect, "/l", 1);
    assert_eq!(holders[0]["kind"], first_kind);
    assert_eq!(holders[0]["state"], "holding");
    holder.close_stdin();
    assert_eq!(holder.wait(T).code(), Some(0));
}

#[test]
fn a_mutex_refuses_a_path_held_as_a_semaphore() {
    require_zookeeper!();
    let sem3 = ["--max-holders", "3"];
    let first = (&sem3[..], "semaphore", "a semaphore of 3");
    refuses_to_mix(first.0, &[], first.1, first.2, "an exclusive lock");
    refuses_to_mix(
        first.0,
        &["--shared"],
        first.1,
        first.2,
        "a shared (read) lock",
    );
    refuses_to_mix(
        first.0,
        &["--layout", "rw"],
        first.1,
        first.2,
        "an exclusive (write) lock",
    );
}

#[test]
fn a_semaphore_refuses_a_path_held_as_a_mutex_or_another_size() {
    require_zookeeper!();
    let sem3 = ["--max-holders", "3"];
    let asked = "a semaphore of 3";
    refuses_to_mix(&[], &sem3, "exclusive", "an exclusive lock", asked);
    refuses_to_mix(&["--shared"], &sem3, "read", "a shared (read) lock", asked);
    refuses_to_mix(
        &["--layout", "rw"],
        &sem3,
        "write",
        "an exclusive (write) lock",
        asked,
    );
    refuses_to_mix(
        &["--max-holders", "2"],
        &sem3,
        "semaphore",
        "a semaphore of 2",
        asked,
    );
}

#[test]
fn semaphore_holders_of_one_size_share() {
    require_zookeeper!();
    let connect = shared().chroot("lock-semaphore");
    let a = lock().zk(&connect).spawn(&["--max-holders", "2", "/l"]);
    assert_eq!(a.next_json(T)["event"], "acquired");
    let b = lock()
        .zk(&connect)
        .run(&["--max-holders", "2", "-n", "/l", "--", "true"]);
    assert_eq!(b.code(), 0, "{}", b.stderr());
    let holders = wait_for_queue(&connect, "/l", 1);
    assert_eq!(holders[0]["kind"], "semaphore");
}

/// A participant's data is whatever its creator wrote: a node queued behind
/// the holder that claims a semaphore of 1000 in its data is still a
/// waiter, as every contender sees it (the size is in `-sem<N>-` names).
#[test]
fn holders_does_not_trust_max_holders_in_node_data() {
    require_zookeeper!();
    let connect = shared().chroot("lock-planted-max-holders");
    let mut holder = lock().zk(&connect).spawn(&["/l"]);
    assert_eq!(holder.next_json(T)["event"], "acquired");
    let zk = Zk::connect(&connect).unwrap();
    zk.create(
        "/l/_c_planted-lock-",
        br#"{"id": "planted", "max_holders": 1000}"#,
        CreateMode::EphemeralSequential,
    )
    .unwrap();

    let holders = wait_for_queue(&connect, "/l", 2);
    assert_eq!(holders[0]["state"], "holding", "{holders}");
    assert_eq!(holders[1]["id"], "planted", "{holders}");
    assert_eq!(holders[1]["state"], "waiting", "{holders}");
    // The operator's own flag still says how many may hold.
    let told = lock()
        .zk(&connect)
        .run(&["holders", "--max-holders", "2", "/l"])
        .json();
    assert_eq!(told[1]["state"], "holding", "{told}");

    holder.close_stdin();
    assert_eq!(holder.wait(T).code(), Some(0));
}

/// A holder whose node we may not read is listed with `"id": null` and its
/// error; the rest of the queue is still shown (it used to fail whole, 77).
#[test]
fn holders_lists_an_unreadable_holder_with_its_error() {
    require_zookeeper!();
    let connect = shared().chroot("lock-unreadable-holder");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/l").unwrap();
    let admin_only = [zookeeper_client::Acl::new(
        zookeeper_client::Permission::ADMIN,
        zookeeper_client::AuthId::new("world", "anyone"),
    )];
    zk.create_with(
        "/l/_c_x-lock-0000000000",
        b"{\"id\":\"hidden\"}",
        &CreateMode::Persistent.with_acls(zookeeper_client::Acls::new(&admin_only)),
    )
    .unwrap();
    let waiter = lock().zk(&connect).spawn(&["--id", "w", "/l"]);
    let queue = wait_for_queue(&connect, "/l", 2);
    let shown: Vec<_> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["id"].clone(), h["state"].clone(), h.get("error").cloned()))
        .collect();
    assert_eq!(
        shown,
        [
            (Value::Null, "holding".into(), Some("not authorized".into())),
            ("w".into(), "waiting".into(), None)
        ],
        "{queue}"
    );
    drop(waiter);
}
