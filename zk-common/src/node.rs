//! How a znode is rendered in JSON, the same way in every tool.

use base64::Engine as _;
use serde_json::{Map, Value};
use zookeeper_client::Stat;

use crate::output::millis_rfc3339;

/// Adds the node's data to `record`: as JSON when it parses as JSON, as a
/// string when it is UTF-8, else base64 under `data_base64`. Empty data is
/// `null`.
pub fn insert_data(record: &mut Map<String, Value>, bytes: &[u8]) {
    if bytes.is_empty() {
        record.insert("data".into(), Value::Null);
    } else if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        record.insert("data".into(), json);
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        record.insert("data".into(), text.into());
    } else {
        record.insert(
            "data_base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
        );
    }
}

/// A session id as the hex string every tool prints (`"0x1000a2b3c4d0005"`).
pub fn session_hex(session_id: i64) -> String {
    format!("{:#x}", session_id)
}

/// The record of one child node: `id`, `path`, `data`/`data_base64`,
/// `ephemeral_owner` (null if persistent), `created`, `czxid`, `version`.
pub fn record(path: &str, id: &str, data: &[u8], stat: &Stat) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("id".into(), id.into());
    record.insert("path".into(), path.into());
    insert_data(&mut record, data);
    let owner = (stat.ephemeral_owner != 0).then(|| session_hex(stat.ephemeral_owner));
    record.insert("ephemeral_owner".into(), owner.into());
    record.insert("created".into(), millis_rfc3339(stat.ctime).into());
    record.insert("czxid".into(), stat.czxid.into());
    record.insert("version".into(), stat.version.into());
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data_of(bytes: &[u8]) -> Map<String, Value> {
        let mut m = Map::new();
        insert_data(&mut m, bytes);
        m
    }

    #[test]
    fn json_utf8_binary_and_empty_data() {
        assert_eq!(data_of(br#"{"port":80}"#)["data"], json!({"port": 80}));
        assert_eq!(data_of(b"42")["data"], json!(42));
        assert_eq!(
            data_of("héllo world".as_bytes())["data"],
            json!("héllo world")
        );
        let binary = data_of(&[0xff, 0x00, 0x01]);
        assert_eq!(binary["data_base64"], json!("/wAB"));
        assert!(!binary.contains_key("data"));
        assert_eq!(data_of(b"")["data"], Value::Null);
    }

    #[test]
    fn session_ids_are_hex() {
        assert_eq!(session_hex(0x1000a2b3c4d0005), "0x1000a2b3c4d0005");
    }
}
