//! The nemesis must be able to fail: with a contender that "owns" /n/lock
//! without taking the lock, a short run has to exit 1 and name it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use zk_testkit::{exclusive, require_zookeeper};

#[test]
fn nemesis_exits_1_when_a_contender_ignores_the_lock() {
    require_zookeeper!();
    // It starts and kills servers of its own.
    let _one_at_a_time = exclusive();
    let out = Command::new(env!("CARGO_BIN_EXE_zk-nemesis"))
        .args(["--seconds", "5", "--seed", "7", "--bogus"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ok"], false);
    let caught = summary["overlaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["a"]["contender"] == "bogus" || o["b"]["contender"] == "bogus");
    assert!(caught, "no overlap with the bogus contender: {summary:#}");
    if let Some(dir) = summary["work_dir"].as_str() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
