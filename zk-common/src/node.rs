//! How a znode is rendered in JSON, the same way in every tool.

use base64::Engine as _;
use serde_json::{Map, Value};
use zookeeper_client::Stat;

use crate::output::millis_rfc3339;

/// Adds the node's data to `record`: as JSON when it parses as JSON, as a
/// string when it is UTF-8, else base64 under `data_base64`. Empty data is
/// `null` (as is the JSON text `null`: `data_length` tells them apart).
///
/// JSON is output exactly as stored: numbers keep every digit (serde_json's
/// `arbitrary_precision`; only an exponent is spelled `e+N`/`e-N`), and an object with a duplicated key, which a
/// parser would collapse to its last value, is given as the text itself.
pub fn insert_data(record: &mut Map<String, Value>, bytes: &[u8]) {
    if bytes.is_empty() {
        record.insert("data".into(), Value::Null);
    } else if let (Ok(json), Ok(_)) = (
        serde_json::from_slice::<Value>(bytes),
        serde_json::from_slice::<NoDuplicateKeys>(bytes),
    ) {
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

/// Deserializes any JSON and fails on an object that names a key twice
/// (the error names the key).
pub(crate) struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON without duplicate keys")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} is given twice"
                )));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

/// A session id as the hex string every tool prints (`"0x1000a2b3c4d0005"`).
pub fn session_hex(session_id: i64) -> String {
    format!("{:#x}", session_id)
}

/// The record of one child node: `id`, `path`, `data`/`data_base64`,
/// `ephemeral_owner` (null if persistent), `created`, `czxid`, `version`,
/// `data_length` (bytes).
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
    record.insert("data_length".into(), stat.data_length.into());
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
    fn json_data_comes_out_exactly_as_stored() {
        for exact in [
            "123456789012345678901234567890",
            "18446744073709551616",
            "1e-400",
            "-0",
            "0.1000000000000000055511151231257827",
            r#"{"n":123456789012345678901234567890,"f":1.5e+999}"#,
        ] {
            let data = data_of(exact.as_bytes())["data"].clone();
            assert!(!data.is_string(), "{exact} stays JSON");
            assert_eq!(serde_json::to_string(&data).unwrap(), exact);
        }
    }

    #[test]
    fn duplicate_keys_are_kept_as_the_text_itself() {
        let text = r#"{"a":1,"a":2}"#;
        assert_eq!(data_of(text.as_bytes())["data"], json!(text));
        let nested = r#"[{"b":{"c":1,"c":1}}]"#;
        assert_eq!(data_of(nested.as_bytes())["data"], json!(nested));
        assert_eq!(
            data_of(br#"{"a":1,"b":2}"#)["data"],
            json!({"a": 1, "b": 2})
        );
    }

    #[test]
    fn session_ids_are_hex() {
        assert_eq!(session_hex(0x1000a2b3c4d0005), "0x1000a2b3c4d0005");
    }
}
