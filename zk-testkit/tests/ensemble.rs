//! The test kit itself, against real servers: if these fail, every other
//! ZooKeeper test is meaningless.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

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

#[test]
fn fault_an_isolated_follower_misses_writes_stops_serving_and_heals() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let mut ensemble = Ensemble::start_partitionable(3).unwrap();
    let leader = ensemble.leader().expect("a leader");
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let other = (0..3).find(|&i| i != leader && i != follower).unwrap();
    let majority = format!("{},{}", ensemble.address(leader), ensemble.address(other));
    let on_follower = Zk::connect(&ensemble.address(follower)).unwrap();
    let on_majority = Zk::connect(&majority).unwrap();
    on_majority
        .create("/before", b"", CreateMode::Persistent)
        .unwrap();
    on_follower
        .block_on(on_follower.client().sync("/"))
        .unwrap();
    assert!(on_follower.exists("/before").unwrap());

    ensemble.isolate(follower).unwrap();
    on_majority
        .create("/during", b"", CreateMode::Persistent)
        .unwrap();
    assert_eq!(
        ensemble.leader(),
        Some(leader),
        "the majority keeps its leader"
    );
    // Still serving from its own state, the follower never sees the write.
    assert_eq!(ensemble.mode(follower).as_deref(), Some("follower"));
    assert!(!on_follower.exists("/during").unwrap());
    // After syncLimit (10 s) it gives up on the leader and, with no peer to
    // elect, stops serving.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ensemble.mode(follower).as_deref() == Some("follower") {
        assert!(
            Instant::now() < deadline,
            "the isolated follower never noticed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ensemble.mode(follower).as_deref(),
        Some("unknown"),
        "an isolated server must not rejoin or lead on its own"
    );
    on_majority
        .create("/majority-alone", b"", CreateMode::Persistent)
        .unwrap();

    ensemble.heal(follower).unwrap();
    ensemble
        .wait_serving(follower, Duration::from_secs(60))
        .unwrap();
    assert_eq!(ensemble.mode(follower).as_deref(), Some("follower"));
    let healed = Zk::connect(&ensemble.address(follower)).unwrap();
    assert!(healed.exists("/during").unwrap());
    assert!(healed.exists("/majority-alone").unwrap());
}
