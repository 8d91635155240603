//! Discovery of the members the connect string does not name, from
//! `/zookeeper/config` read through a session: the last source, used when
//! `conf` is not whitelisted and no AdminServer answers. Holds the
//! testkit's exclusive lock, as it starts an ensemble of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{codes, ensemble};
use serde_json::Value;
use zk_testkit::{exclusive, require_zookeeper, Ensemble, Zk};

/// `super:secret`, as ZooKeeper's superDigest wants it:
/// base64(sha1("super:secret")).
const SUPER_DIGEST: &str =
    "-Dzookeeper.DigestAuthenticationProvider.superDigest=super:lK75jTNcA+U9vtVEw5vB51mj/w4=";

#[test]
fn fault_one_server_named_the_others_come_from_zookeeper_config() {
    require_zookeeper!();
    let _lock = exclusive();
    // No `conf` word, and `--admin-port 1` below finds no AdminServer, so
    // `/zookeeper/config` is the only source of the membership left.
    let zk = Ensemble::start_with(
        3,
        &["4lw.commands.whitelist=srvr,mntr,isro,ruok", SUPER_DIGEST],
    )
    .unwrap();
    let first = zk.address(0);
    // The servers write their client ports into the dynamic configuration
    // (`server.N=host:peer:election:participant;host:client`).
    let config = Zk::connect(&first).unwrap();
    let (data, _) = config.get("/zookeeper/config").unwrap();
    let text = String::from_utf8(data).unwrap();
    for i in 0..3 {
        assert!(
            text.contains(&format!("server.{}=", i + 1)) && text.contains(&zk.address(i)),
            "{text}"
        );
    }

    let ran = ensemble().zk(&first).run(&["status", "--admin-port", "1"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(
        doc["ensemble"]["membership_source"],
        format!("/zookeeper/config of {first}"),
        "{doc:#}"
    );
    assert_eq!(doc["ensemble"]["servers"], 3, "{doc:#}");
    assert_eq!(doc["ensemble"]["voters"], 3, "{doc:#}");
    let servers = doc["servers"].as_array().unwrap();
    let found: Vec<(String, bool)> = servers
        .iter()
        .map(|s| {
            assert_eq!(s["serving"], true, "{s}");
            (
                s["address"].as_str().unwrap().to_string(),
                s["discovered"].as_bool().unwrap(),
            )
        })
        .collect();
    // The named server first, then the two found in the configuration.
    assert_eq!(found[0], (first.clone(), false));
    let mut others: Vec<(String, bool)> = found[1..].to_vec();
    others.sort();
    let mut expected: Vec<(String, bool)> = (1..3).map(|i| (zk.address(i), true)).collect();
    expected.sort();
    assert_eq!(others, expected, "{doc:#}");
    assert_eq!(doc["status"], "healthy", "{doc:#}");

    // --no-discover: the named server alone is probed.
    let ran = ensemble()
        .zk(&first)
        .run(&["status", "--admin-port", "1", "--no-discover"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    let servers = doc["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{doc:#}");
    assert_eq!(servers[0]["address"], first.as_str());
    assert_eq!(servers[0]["discovered"], false);
    assert_eq!(doc["ensemble"]["servers"], 1, "{doc:#}");

    // A configuration that cannot be parsed. Only ZooKeeper writes this
    // node (a reconfig, or a super user as here), but what it holds must
    // not crash the survey: no member is learned, only the named server is
    // probed, and nothing bogus is made up from the garbage.
    let admin = Zk::connect_with(&first, Some(("digest", "super:secret"))).unwrap();
    let garbage: &[u8] = b"server.1=\nserver.2=:::;\nserver.x=h:1:2;3\n\
        server.3=h:1:2:participant;h:notaport\nserver.4=h:1:2;[::]:\n\
        server.99999999999999999999999=h:1:2;h:5\n\xff\xfe\x00;;==\nversion=zz";
    admin
        .block_on(admin.client().set_data("/zookeeper/config", garbage, None))
        .unwrap();
    let ran = ensemble().zk(&first).run(&["status", "--admin-port", "1"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["ensemble"]["servers"], 1, "{doc:#}");
    assert_eq!(doc["ensemble"]["membership_source"], Value::Null, "{doc:#}");
    assert_eq!(doc["servers"][0]["address"], first.as_str());
}

#[test]
fn fault_old_style_lines_on_one_host_are_kept_apart() {
    require_zookeeper!();
    let _lock = exclusive();
    // server.N=127.0.0.1:peer:election, each client port only in its own
    // clientPort: three voters on one host that no line tells apart.
    let zk = Ensemble::start_old_style(3).unwrap();
    let conf = zk_testkit::four_letter(&zk.address(0), "conf").unwrap();
    assert!(
        conf.contains("server.2=127.0.0.1:") && !conf.contains(';'),
        "{conf}"
    );

    // Every server named: three servers, three voters, healthy.
    let all = zk.connect_string();
    let ran = ensemble().zk(&all).run(&["status"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["ensemble"]["servers"], 3, "{doc:#}");
    assert_eq!(doc["ensemble"]["voters"], 3, "{doc:#}");
    assert_eq!(doc["ensemble"]["up"], 3, "{doc:#}");
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert_eq!(codes(&doc), [], "{doc:#}");
    let check = ensemble().zk(&all).run(&["check", "--format", "nagios"]);
    assert_eq!(check.code(), 0, "{}{}", check.stdout(), check.stderr());
    assert!(
        check.stdout().starts_with("ZOOKEEPER OK"),
        "{}",
        check.stdout()
    );

    // The leader named alone: its peers cannot be located from any line,
    // so they are neither made up at its port nor probed; a notice says
    // which, and the verdict stands on the leader's word.
    let leader = zk.leader().expect("a leader");
    let ran = ensemble().zk(&zk.address(leader)).run(&["status"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let doc = ran.json();
    assert_eq!(doc["ensemble"]["servers"], 1, "{doc:#}");
    assert_eq!(doc["ensemble"]["voters"], 3, "{doc:#}");
    assert_eq!(doc["status"], "healthy", "{doc:#}");
    assert_eq!(
        codes(&doc),
        [("member_not_located".to_string(), None)],
        "{doc:#}"
    );
    let message = doc["warnings"][0]["message"].as_str().unwrap();
    let others: Vec<String> = (1..=3)
        .filter(|id| *id != leader + 1)
        .map(|id| format!("server.{id}"))
        .collect();
    assert!(message.starts_with(&others.join(", ")), "{message}");
}
