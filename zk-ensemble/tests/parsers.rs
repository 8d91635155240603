//! Property tests of what zk-ensemble reads from servers it does not
//! control: `mntr`, `srvr` and `conf` text may be anything a broken or
//! hostile server sends. No input may panic; well-formed lines parse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use zk_ensemble::server::{host_of, parse_membership};
use zk_ensemble::sources::{number_or_string, parse_mntr, parse_srvr};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mntr_of_any_text_never_panics(text in "(\\PC|\t|\n){0,300}") {
        let _ = parse_mntr(&text);
    }

    #[test]
    fn srvr_and_conf_of_any_text_never_panic(text in "(\\PC|\t|\n){0,300}", port in any::<Option<u16>>()) {
        let _ = parse_srvr(&text);
        let _ = parse_membership(&text, port, None);
        let _ = host_of(&text);
    }

    #[test]
    fn well_formed_mntr_lines_keep_key_and_value(
        lines in prop::collection::vec(("zk_[a-z_]{1,20}", prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-z0-9 .,-]{1,20}",
        ]), 0..20),
    ) {
        let text: String = lines.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        let map = parse_mntr(&text);
        for (key, value) in &lines {
            // The last line with a key wins, as in a map.
            let last = lines.iter().rev().find(|(k, _)| k == key).unwrap();
            let got = &map[&key["zk_".len()..]];
            prop_assert_eq!(got, &number_or_string(last.1.trim()), "{} {}", key, value);
        }
    }

    #[test]
    fn integers_stay_exact_and_text_stays_text(n in any::<i64>(), text in "[a-z][a-z ]{0,10}") {
        prop_assert_eq!(number_or_string(&n.to_string()), serde_json::json!(n));
        // Infinity and NaN, which JSON cannot hold, are null; other text stays.
        let expected = match text.as_str() {
            "inf" | "infinity" | "nan" => serde_json::Value::Null,
            _ => serde_json::json!(text),
        };
        prop_assert_eq!(number_or_string(&text), expected);
    }

    #[test]
    fn srvr_lines_split_at_the_first_colon_space(
        key in "[A-Za-z][A-Za-z /]{0,20}",
        value in "[A-Za-z0-9 :./-]{0,30}",
    ) {
        let map = parse_srvr(&format!("{key}: {value}\n"));
        prop_assert_eq!(map[key.trim()].as_str().unwrap(), value.trim());
    }
}
