//! The test kit itself, against real servers: if these fail, every other
//! ZooKeeper test is meaningless.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{exclusive, four_letter, require_zookeeper, Ensemble, Proxy, Zk};
use zookeeper_client::CreateMode;

#[test]
fn fault_ensemble_survives_losing_a_follower_and_the_leader() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let modes: Vec<_> = (0..3).map(|i| ensemble.mode(i).unwrap()).collect();
    assert_eq!(
        modes.iter().filter(|m| *m == "leader").count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| *m == "follower").count(),
        2,
        "{modes:?}"
    );

    let zk = Zk::connect(&ensemble.connect_string()).unwrap();
    zk.create("/kit", b"x", CreateMode::Persistent).unwrap();

    ensemble.kill(leader);
    assert_eq!(
        ensemble.mode(leader),
        None,
        "a killed server answers nothing"
    );
    ensemble.wait_quorum(Duration::from_secs(30)).unwrap();
    let new_leader = ensemble.leader().unwrap();
    assert_ne!(new_leader, leader);

    ensemble.restart(leader).unwrap();
    assert_eq!(ensemble.mode(leader).as_deref(), Some("follower"));
    let reread = Zk::connect(&ensemble.address(leader)).unwrap();
    assert_eq!(reread.get("/kit").unwrap().0, b"x");
}

#[test]
fn four_letter_words_are_whitelisted_and_admin_server_runs() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let ensemble = Ensemble::start(1).unwrap();
    assert_eq!(ensemble.mode(0).as_deref(), Some("standalone"));
    let mntr = four_letter(&ensemble.address(0), "mntr").unwrap();
    assert!(mntr.contains("zk_server_state\tstandalone"), "{mntr}");
    let admin = std::net::TcpStream::connect(("127.0.0.1", ensemble.admin_port(0)));
    assert!(
        admin.is_ok(),
        "admin server port {} closed",
        ensemble.admin_port(0)
    );
}

#[test]
fn proxy_forwards_cuts_and_blackholes() {
    require_zookeeper!();
    let shared = zk_testkit::shared();
    let first = shared
        .connect_string()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let proxy = Proxy::start(&first).unwrap();
    assert!(four_letter(&proxy.address(), "ruok")
        .unwrap()
        .contains("imok"));
    proxy.blackhole();
    assert!(
        four_letter(&proxy.address(), "ruok").is_err(),
        "a blackholed proxy must answer nothing"
    );
    proxy.restore();
    assert!(four_letter(&proxy.address(), "ruok")
        .unwrap()
        .contains("imok"));

    let zk = Zk::connect(&proxy.address()).unwrap();
    let mut state = zk.client().state_watcher();
    proxy.reset();
    let next =
        zk.block_on(async { tokio::time::timeout(Duration::from_secs(10), state.changed()).await });
    assert_eq!(next.unwrap(), zookeeper_client::SessionState::Disconnected);
}
