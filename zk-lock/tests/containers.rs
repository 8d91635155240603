//! The lock's directory is made of container nodes, as Curator's is: the
//! server removes it once its last holder has left, so locks taken once
//! leave nothing behind, and never touches a persistent node the user
//! made. A private server checks its containers every 200 ms instead of
//! every minute (`znode.container.checkIntervalMs`, a system property).
//!
//! A client cannot see a node's kind: ZooKeeper reports a container's
//! ephemeralOwner (`0x8000000000000000` inside the server) as 0, like a
//! persistent node's (`DataNode.getClientEphemeralOwner`). The server's
//! transaction log says which request made it: `createContainer` or
//! `create`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod common;

use common::lock;
use zk_testkit::{require_zookeeper, wait_for_file, wait_until, Ensemble, Zk};
use zookeeper_client::CreateMode;

const T: Duration = Duration::from_secs(30);

#[test]
fn the_lock_directory_is_a_container_the_server_reaps_and_a_users_parent_stays() {
    require_zookeeper!();
    let server = Ensemble::start_with(1, &["-Dznode.container.checkIntervalMs=200"]).unwrap();
    let connect = server.connect_string();
    let zk = Zk::connect(&connect).unwrap();
    let made = |path: &str| -> Vec<String> {
        let log = server.transactions(0).unwrap();
        let made: Vec<String> = log
            .lines()
            .filter(|line| line.contains(&format!(" {path},")))
            .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("create")))
            .map(str::to_string)
            .collect();
        assert!(!made.is_empty(), "no create of {path} in the log:\n{log}");
        made
    };
    // The user's own nodes: a parent, and a lock directory made by hand.
    zk.create("/app", b"", CreateMode::Persistent).unwrap();
    zk.create("/app/mine", b"", CreateMode::Persistent).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (held, release) = (dir.path().join("held"), dir.path().join("release"));
    let mut holder = lock().zk(&connect).spawn(&[
        "/app/jobs/nightly",
        "-c",
        &format!(
            "echo > {}; while [ ! -e {} ]; do sleep 0.05; done",
            held.display(),
            release.display()
        ),
    ]);
    wait_for_file(&held, T);
    // Both missing levels were made, as containers; the user's parent is
    // left as it was.
    assert_eq!(made("/app/jobs/nightly"), ["createContainer"]);
    assert_eq!(made("/app/jobs"), ["createContainer"]);
    assert!(!made("/app").contains(&"createContainer".to_string()));

    // A lock in the user's own directory comes and goes meanwhile.
    let ran = lock().zk(&connect).run(&["/app/mine", "-c", "true"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert!(zk.children("/app/mine").unwrap().is_empty());

    std::fs::write(&release, "").unwrap();
    assert_eq!(holder.wait(T).code(), Some(0));
    // The server reaps the emptied directory, then its emptied parent
    // container, one check after the other.
    wait_until("the server reaps the lock's directories", T, || {
        !zk.exists("/app/jobs").unwrap()
    });
    // By now the container manager has looked at /app/mine (emptied
    // before /app/jobs/nightly) at least twice.
    assert!(
        zk.exists("/app/mine").unwrap(),
        "the user's lock directory was deleted"
    );
    assert!(!made("/app/mine").contains(&"createContainer".to_string()));
    assert!(zk.exists("/app").unwrap(), "the user's parent was deleted");
}
