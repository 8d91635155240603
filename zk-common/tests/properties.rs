//! Property tests of the parsers every hostile input meets first: connect
//! strings, durations, paths, node data, queue node names. None may panic,
//! and what they accept must mean what it says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use proptest::prelude::*;
use zk_common::cli::{parse_duration, parse_interval, MAX_DURATION, MIN_INTERVAL};
use zk_common::connect::split_connect_string;
use zk_common::path::{join, validate};
use zk_common::queue::parse;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    }
}

/// A host as people write them: names, IPv4, bracketed IPv6.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[::1]".to_string()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn connect_strings_never_panic(s in "\\PC{0,80}") {
        let _ = split_connect_string(&s);
    }

    #[test]
    fn connect_strings_with_bytes_of_every_kind_never_panic(s in ".{0,80}") {
        let _ = split_connect_string(&s);
    }

    #[test]
    fn well_formed_connect_strings_split_into_servers_and_chroot(
        servers in prop::collection::vec((host(), any::<u16>()), 1..6),
        chroot in prop::option::of("(/[a-z0-9_.-]{1,8}){1,3}"),
    ) {
        // "." and ".." components are refused; keep those out of the oracle.
        let chroot = chroot.filter(|c| c.split('/').all(|p| p != "." && p != ".."));
        let list: Vec<String> = servers.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        let connect = format!("{}{}", list.join(","), chroot.clone().unwrap_or_default());
        let (got_servers, got_chroot) = split_connect_string(&connect).unwrap();
        prop_assert_eq!(got_servers, list.join(","));
        prop_assert_eq!(got_chroot, chroot);
    }

    #[test]
    fn durations_never_panic_and_stay_within_bounds(s in "\\PC{0,40}") {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d <= MAX_DURATION);
        }
        if let Ok(d) = parse_interval(&s) {
            prop_assert!((MIN_INTERVAL..=MAX_DURATION).contains(&d));
        }
    }

    #[test]
    fn numbers_with_units_mean_what_they_say(n in 0u64..1_000_000, unit in 0usize..4) {
        let (suffix, millis) = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)][unit];
        let text = format!("{n}{suffix}");
        let wanted = Duration::from_millis(n * millis);
        match parse_duration(&text) {
            Ok(d) => prop_assert_eq!(d, wanted),
            Err(err) => {
                prop_assert!(wanted > MAX_DURATION, "{} refused: {}", text, err);
                prop_assert!(err.contains("too long"), "{}", err);
            }
        }
    }

    #[test]
    fn absurd_durations_are_refused_not_overflowed(n in any::<u64>(), unit in "(ns|us|ms|s|m|h|d|w|M|y)") {
        let _ = parse_duration(&format!("{n}{unit}"));
        let _ = parse_duration(&format!("{n}{unit} {n}{unit}"));
    }

    #[test]
    fn paths_never_panic_and_accepted_ones_are_absolute_and_clean(s in "\\PC{0,60}") {
        if let Ok(p) = validate(&s) {
            prop_assert_eq!(&p, &s);
            prop_assert!(p.starts_with('/'));
            prop_assert!(p == "/" || !p.ends_with('/'));
            prop_assert!(!p.contains("//"));
            prop_assert!(p.split('/').all(|c| c != "." && c != ".."));
        }
    }

    #[test]
    fn valid_paths_joined_with_a_valid_name_stay_valid(
        parent in "/|(/[a-z0-9é_-]{1,6}){1,4}",
        name in "[a-z0-9é_-]{1,10}",
    ) {
        let joined = join(&parent, &name);
        prop_assert!(validate(&joined).is_ok(), "{}", joined);
        let tail = format!("/{}", name);
        prop_assert!(joined.ends_with(&tail));
    }

    #[test]
    fn queue_names_of_any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let name = String::from_utf8_lossy(&bytes);
        if let Some((_, sequence)) = parse(&name) {
            prop_assert!(sequence >= 0);
            prop_assert!(name.is_char_boundary(name.len() - 10));
        }
    }

    #[test]
    fn node_data_of_any_bytes_is_kept(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut record = serde_json::Map::new();
        zk_common::node::insert_data(&mut record, &bytes);
        if let Some(b64) = record.get("data_base64") {
            prop_assert!(std::str::from_utf8(&bytes).is_err());
            prop_assert!(b64.is_string());
        } else if let Some(serde_json::Value::String(text)) = record.get("data") {
            // Either plain text, or JSON that would have lost something.
            prop_assert_eq!(text.as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn json_numbers_come_out_digit_for_digit(
        int in "-?(0|[1-9][0-9]{0,40})",
        frac in prop::option::of("[0-9]{1,30}"),
        exp in prop::option::of("[eE][+-]?[0-9]{1,4}"),
    ) {
        let mantissa = format!("{int}{}", frac.map(|f| format!(".{f}")).unwrap_or_default());
        let text = format!("{mantissa}{}", exp.clone().unwrap_or_default());
        let mut record = serde_json::Map::new();
        zk_common::node::insert_data(&mut record, text.as_bytes());
        // Every digit stays; the exponent is spelled e+N / e-N.
        let exponent = exp.map(|e| {
            let digits = e[1..].trim_start_matches(['+', '-']);
            let sign = if e[1..].starts_with('-') { '-' } else { '+' };
            format!("e{sign}{digits}")
        });
        let wanted = format!("{mantissa}{}", exponent.unwrap_or_default());
        prop_assert_eq!(serde_json::to_string(&record["data"]).unwrap(), wanted);
    }
}
