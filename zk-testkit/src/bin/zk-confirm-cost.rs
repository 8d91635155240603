//! zk-confirm-cost: what one lease confirmation round costs, for each way
//! it could be made (issue 18): a `sync`, a `multi` holding one version
//! check (what the lease sends), and a version-checked `set_data` of the
//! node's own data. Each round is the operation followed, pipelined on the
//! same connection, by a read of the node, as `zk-common/src/lease.rs` does.
//!
//!   zk-confirm-cost CONNECT [ROUNDS]
//!
//! Prints one line per way: round-trip median and p90, transactions the
//! leader proposed and fsyncs the servers made per round (from `mntr`), and
//! watch events a waiter watching the node (as Curator's lock waiters do,
//! with getData) received per round. Benchmark only: scripts/bench-lease.sh
//! runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use zk_testkit::four_letter;
use zookeeper_client::{Acls, Client, CreateMode, EventType};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(connect) = args.first() else {
        eprintln!("usage: zk-confirm-cost CONNECT [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.get(1).map_or(300, |r| r.parse().expect("ROUNDS"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(connect, rounds));
}

/// The counters of every server in `connect` that `mntr` reports, summed:
/// (proposals, fsyncs).
fn counters(servers: &[String]) -> (u64, u64) {
    let mut total = (0, 0);
    for server in servers {
        let Ok(text) = four_letter(server, "mntr") else {
            continue;
        };
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let value: u64 = value.parse().unwrap_or(0);
            match key {
                "zk_proposal_count" => total.0 += value,
                "zk_cnt_fsynctime" => total.1 += value,
                _ => {}
            }
        }
    }
    total
}

async fn run(connect: &str, rounds: usize) {
    let servers: Vec<String> = connect
        .split('/')
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let client = Client::connect(connect).await.expect("connect");
    let waiter = Client::connect(connect).await.expect("connect the waiter");
    let _ = client
        .create(
            "/bench",
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await;
    let node = "/bench/confirm-cost";
    let data = br#"{"host":"bench","pid":1,"id":"bench:1","command":"sleep"}"#;
    let (stat, _) = client
        .create(
            node,
            data,
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create the node");
    let mut version = stat.version;
    println!("{rounds} rounds each against {connect}");
    for way in ["sync", "multi-check", "set_data"] {
        // A waiter watching the node as Curator's waiters do (getData),
        // re-arming after every event.
        let events = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let watching = {
            let (waiter, events) = (waiter.clone(), events.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((_, _, watch)) = waiter.get_and_watch_data(node).await else {
                        return;
                    };
                    let event = watch.changed().await;
                    if event.event_type == EventType::NodeDataChanged {
                        events.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    } else {
                        return;
                    }
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = counters(&servers);
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            match way {
                "sync" => {
                    let sync = client.sync(node);
                    let read = client.check_stat(node);
                    let (synced, read) = tokio::join!(sync, read);
                    synced.expect("sync");
                    read.expect("read");
                }
                "multi-check" => {
                    let mut writer = client.new_multi_writer();
                    writer.add_check_version(node, -1).unwrap();
                    let commit = writer.commit();
                    let read = client.check_stat(node);
                    let (committed, read) = tokio::join!(commit, read);
                    committed.expect("multi");
                    read.expect("read");
                }
                _ => {
                    let set = client.set_data(node, data, Some(version));
                    let read = client.check_stat(node);
                    let (set, read) = tokio::join!(set, read);
                    version = set.expect("set_data").version;
                    read.expect("read");
                }
            }
            times.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = counters(&servers);
        watching.abort();
        times.sort();
        let per_round = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / rounds as f64;
        println!(
            "{way:<12} median {:>6.2} ms  p90 {:>6.2} ms  proposals/round {:.2}  fsyncs/round (all servers) {:.2}  waiter watch events/round {:.2}",
            times[rounds / 2].as_secs_f64() * 1e3,
            times[rounds * 9 / 10].as_secs_f64() * 1e3,
            per_round(after.0, before.0),
            per_round(after.1, before.1),
            events.load(std::sync::atomic::Ordering::SeqCst) as f64 / rounds as f64,
        );
    }
    let _ = client.delete(node, None).await;
}
