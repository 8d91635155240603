//! Helpers the zk-ensemble test files share.
#![allow(dead_code)]

use serde_json::Value;
use zk_testkit::Tool;

pub fn ensemble() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-ensemble"))
}

/// The (code, server) pairs of a status document's warnings, in its order.
pub fn codes(doc: &Value) -> Vec<(String, Option<String>)> {
    doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap().to_string(),
                w["server"].as_str().map(str::to_string),
            )
        })
        .collect()
}
