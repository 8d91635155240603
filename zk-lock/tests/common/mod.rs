//! Helpers the zk-lock test files share.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;
use zk_testkit::Tool;

pub fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

/// Polls `zk-lock holders` until it lists `n` nodes.
pub fn wait_for_queue(connect: &str, path: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let holders = lock().zk(connect).run(&["holders", path]).json();
        if holders.as_array().unwrap().len() == n {
            return holders;
        }
        assert!(
            Instant::now() < deadline,
            "queue never had {n} nodes: {holders}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
