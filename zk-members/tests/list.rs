//! `zk-members list` against a real 3-server ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{json, Value};
use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::CreateMode;

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

#[test]
fn lists_json_utf8_and_binary_data_in_join_order() {
    require_zookeeper!();
    let connect = shared().chroot("list-formats");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/g", b"", CreateMode::Persistent).unwrap();
    // Created out of alphabetical order: the listing must follow czxid.
    let c = zk
        .create(
            "/g/c-json",
            br#"{"address":"10.0.0.3","port":8080}"#,
            CreateMode::Ephemeral,
        )
        .unwrap();
    let a = zk
        .create(
            "/g/a-text",
            "héllo wörld".as_bytes(),
            CreateMode::Persistent,
        )
        .unwrap();
    let b = zk
        .create(
            "/g/b-binary",
            &[0xff, 0xfe, 0x00, 0x01],
            CreateMode::Persistent,
        )
        .unwrap();

    let ran = members().zk(&connect).run(&["list", "/g"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let list = ran.json();
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c-json", "a-text", "b-binary"]);

    assert_eq!(
        list[0]["data"],
        json!({"address": "10.0.0.3", "port": 8080})
    );
    assert_eq!(list[0]["path"], "/g/c-json");
    assert_eq!(
        list[0]["ephemeral_owner"],
        json!(format!("{:#x}", zk.session_id()))
    );
    assert_eq!(list[0]["czxid"], json!(c.czxid));
    assert_eq!(list[1]["data"], json!("héllo wörld"));
    assert_eq!(list[1]["ephemeral_owner"], Value::Null);
    assert_eq!(list[1]["czxid"], json!(a.czxid));
    assert_eq!(list[2]["data_base64"], json!("//4AAQ=="));
    assert!(
        list[2].get("data").is_none(),
        "binary data must not also appear as data"
    );
    assert_eq!(list[2]["czxid"], json!(b.czxid));
    assert_eq!(list[2]["version"], json!(0));
    let created = list[2]["created"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "RFC 3339 UTC with millis: {created}"
    );
}

#[test]
fn missing_group_is_empty_with_a_warning() {
    require_zookeeper!();
    let connect = shared().chroot("list-missing");
    let ran = members().zk(&connect).run(&["list", "/nobody/joined"]);
    assert_eq!(ran.code(), 0);
    assert_eq!(ran.json(), json!([]));
    assert!(
        ran.stderr().contains("/nobody/joined does not exist"),
        "{}",
        ran.stderr()
    );
}

#[test]
fn recursive_lists_a_registry_tree() {
    require_zookeeper!();
    let connect = shared().chroot("list-recursive");
    let zk = Zk::connect(&connect).unwrap();
    for path in ["/services", "/services/web", "/services/db"] {
        zk.create(path, b"", CreateMode::Persistent).unwrap();
    }
    zk.create("/services/web/i1", br#"{"port":80}"#, CreateMode::Ephemeral)
        .unwrap();
    zk.create("/services/web/i2", br#"{"port":81}"#, CreateMode::Ephemeral)
        .unwrap();

    let ran = members()
        .zk(&connect)
        .run(&["list", "--recursive", "/services"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let tree = ran.json();
    assert_eq!(tree[0]["id"], "web");
    assert_eq!(tree[0]["children"][0]["id"], "i1");
    assert_eq!(tree[0]["children"][1]["data"]["port"], 81);
    assert_eq!(tree[0]["children"][1]["path"], "/services/web/i2");
    assert_eq!(tree[1]["id"], "db");
    assert_eq!(tree[1]["children"], json!([]));
    assert_eq!(tree[0]["children"][0]["children"], json!([]));

    let flat = members().zk(&connect).run(&["list", "/services"]).json();
    assert!(
        flat[0].get("children").is_none(),
        "children only with --recursive"
    );
}

#[test]
fn lists_ten_thousand_members() {
    require_zookeeper!();
    let connect = shared().chroot("list-large");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/big", b"", CreateMode::Persistent).unwrap();
    let options = CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let paths: Vec<String> = (0..10_000).map(|i| format!("/big/m{i:05}")).collect();
    // Pipelined: every create is sent before the first reply is awaited.
    let created: Vec<_> = paths
        .iter()
        .map(|path| zk.client().create(path, b"{}", &options))
        .collect();
    for reply in created {
        zk.block_on(reply).unwrap();
    }
    let ran = members().zk(&connect).run(&["list", "/big"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let list = ran.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 10_000);
    assert_eq!(list[0]["id"], "m00000");
    assert_eq!(list[9_999]["id"], "m09999");
}

#[test]
fn reads_an_instance_that_curator_registered() {
    require_zookeeper!();
    let connect = shared().chroot("list-curator");
    let java = zk_testkit::JavaClient::compile("CuratorDiscovery").unwrap();
    let mut registrar = java
        .command(&[
            &connect,
            "/discovery",
            "register",
            "api",
            "api-7",
            "10.1.2.3",
            "8443",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = zk_testkit::LineReader::new(registrar.stdout.take().unwrap());
    assert_eq!(out.next_line(Duration::from_secs(60)).trim(), "REGISTERED");
    let list = members()
        .zk(&connect)
        .run(&["list", "/discovery/api"])
        .json();
    assert_eq!(list[0]["id"], "api-7");
    assert_eq!(list[0]["data"]["address"], "10.1.2.3");
    assert_eq!(list[0]["data"]["port"], 8443);
    assert_eq!(list[0]["data"]["payload"]["zone"], "a");
    assert!(
        list[0]["ephemeral_owner"]
            .as_str()
            .unwrap()
            .starts_with("0x"),
        "Curator registers ephemeral nodes"
    );
    drop(registrar.stdin.take());
    assert!(zk_testkit::wait_child(&mut registrar, Duration::from_secs(60)).success());
}
