//! `dump` and `restore`: every byte and ACL back, idempotent, never
//! overwriting unless asked, 10,000 nodes, a writer racing the dump.

use std::collections::BTreeMap;

use serde_json::Value;
use zk_testkit::{require_zookeeper, shared, Zk};
use zookeeper_client::{Acl, Acls, AuthId, CreateMode, Permission};

use crate::{code, run_with_stdin, stderr, tree};

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What must survive a round trip, per path: data and ACL.
fn contents(dump: &[Value]) -> BTreeMap<String, (Value, Value, Value)> {
    dump.iter()
        .map(|l| {
            (
                l["path"].as_str().unwrap().to_string(),
                (
                    l["data"].clone(),
                    l["data_base64"].clone(),
                    l["acl"].clone(),
                ),
            )
        })
        .collect()
}

#[test]
fn a_round_trip_gives_back_every_byte_and_acl_into_a_chroot_that_did_not_exist() {
    require_zookeeper!();
    let source = shared().chroot("tree-dump-src");
    let zk = Zk::connect_with(&source, Some(("digest", "owner:secret"))).unwrap();
    zk.create("/app", b"", CreateMode::Persistent).unwrap();
    // JSON with its own spacing stays text: a re-encoding would change bytes.
    zk.create("/app/json", b"{ \"a\" : 1.50 }", CreateMode::Persistent)
        .unwrap();
    zk.create(
        "/app/text",
        "héllo\nwörld".as_bytes(),
        CreateMode::Persistent,
    )
    .unwrap();
    zk.create("/app/binary", &[0, 0xff, 0xfe, 7], CreateMode::Persistent)
        .unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    zk.create("/app/big", &big, CreateMode::Persistent).unwrap();
    zk.create_with(
        "/app/owned",
        b"mine",
        &CreateMode::Persistent.with_acls(Acls::creator_all()),
    )
    .unwrap();
    zk.create("/app/owned/child", b"c", CreateMode::Persistent)
        .unwrap();
    let read_only = [Acl::new(
        Permission::READ | Permission::CREATE,
        AuthId::anyone(),
    )];
    zk.create_with(
        "/app/ro",
        b"",
        &CreateMode::Persistent.with_acls(Acls::new(&read_only)),
    )
    .unwrap();
    zk.create("/app/live", b"session", CreateMode::Ephemeral)
        .unwrap();

    let dump = tree(&source)
        .env("ZK_AUTH", "digest:owner:secret")
        .run(&["dump", "/app"]);
    assert_eq!(dump.code(), 0, "{}", dump.stderr());
    let first = lines(&dump.output.stdout);
    let paths: Vec<&str> = first.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/app",
            "/app/big",
            "/app/binary",
            "/app/json",
            "/app/live",
            "/app/owned",
            "/app/owned/child",
            "/app/ro",
            "/app/text"
        ]
    );
    let by_path: BTreeMap<&str, &Value> = paths.iter().copied().zip(&first).collect();
    assert_eq!(by_path["/app/json"]["data"], "{ \"a\" : 1.50 }");
    assert_eq!(by_path["/app/binary"]["data_base64"], "AP/+Bw==");
    assert_eq!(by_path["/app/owned"]["acl"][0]["scheme"], "digest");
    assert_eq!(by_path["/app/owned"]["acl"][0]["perms"], "cdrwa");
    assert_eq!(by_path["/app/ro"]["acl"][0]["perms"], "cr");
    assert!(by_path["/app/live"]["ephemeral_owner"].is_string());
    assert!(by_path["/app"]["ephemeral_owner"].is_null());

    // Into a chroot two levels below one that exists.
    let target = format!("{}/restored/here", shared().chroot("tree-dump-dst"));
    let restore = run_with_stdin(
        &tree(&target).env("ZK_AUTH", "digest:owner:secret"),
        &["restore"],
        &dump.output.stdout,
    );
    assert_eq!(code(&restore), 0, "{}", stderr(&restore));
    let report: Value = serde_json::from_slice(&restore.stdout).unwrap();
    assert_eq!(report["created"], 8, "{report}");
    assert_eq!(report["skipped_ephemeral"], 1, "{report}");

    let again = tree(&target)
        .env("ZK_AUTH", "digest:owner:secret")
        .run(&["dump", "/app"]);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    let second = lines(&again.output.stdout);
    let mut want = contents(&first);
    want.remove("/app/live");
    assert_eq!(contents(&second), want, "every byte and ACL back");
    let restored = Zk::connect(&target).unwrap();
    assert_eq!(restored.get("/app/big").unwrap().0, big);

    // Idempotent: a second restore changes nothing.
    let twice = run_with_stdin(
        &tree(&target).env("ZK_AUTH", "digest:owner:secret"),
        &["restore"],
        &dump.output.stdout,
    );
    assert_eq!(code(&twice), 0, "{}", stderr(&twice));
    let report: Value = serde_json::from_slice(&twice.stdout).unwrap();
    assert_eq!(
        (report["created"].clone(), report["unchanged"].clone()),
        (0.into(), 8.into())
    );
    assert_eq!(
        restored.get("/app/text").unwrap().1.version,
        0,
        "not rewritten"
    );
}

#[test]
fn a_restore_never_overwrites_unless_asked_and_a_dry_run_writes_nothing() {
    require_zookeeper!();
    let connect = shared().chroot("tree-overwrite");
    let zk = Zk::connect(&connect).unwrap();
    let dump =
        b"{\"path\":\"/cfg\",\"data\":\"from dump\"}\n{\"path\":\"/cfg/new\",\"data\":\"n\"}\n";
    zk.create("/cfg", b"edited by hand", CreateMode::Persistent)
        .unwrap();

    let dry = run_with_stdin(
        &tree(&connect),
        &["restore", "--dry-run", "--overwrite"],
        dump,
    );
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        (report["created"].clone(), report["updated"].clone()),
        (1.into(), 1.into())
    );
    assert!(!zk.exists("/cfg/new").unwrap(), "a dry run writes nothing");

    let refused = run_with_stdin(&tree(&connect), &["restore"], dump);
    assert_eq!(code(&refused), 1, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("/cfg") && stderr(&refused).contains("--overwrite"));
    assert_eq!(zk.get("/cfg").unwrap().0, b"edited by hand");
    assert!(!zk.exists("/cfg/new").unwrap(), "nothing at all written");

    let forced = run_with_stdin(&tree(&connect), &["restore", "--overwrite"], dump);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert_eq!(zk.get("/cfg").unwrap().0, b"from dump");
    assert_eq!(zk.get("/cfg/new").unwrap().0, b"n");

    // A bad line anywhere stops it before it writes.
    let bad = b"{\"path\":\"/x\",\"data\":\"1\"}\n{\"path\":\"/y\",\"data_base64\":\"%%\"}\n";
    let refused = run_with_stdin(&tree(&connect), &["restore"], bad);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("line 2"), "{}", stderr(&refused));
    assert!(!zk.exists("/x").unwrap(), "no stray node");
}

#[test]
fn ten_thousand_nodes_dump_count_and_restore_in_batches() {
    require_zookeeper!();
    let connect = shared().chroot("tree-10k");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/big", b"", CreateMode::Persistent).unwrap();
    for group in 0..10 {
        let parent = format!("/big/g{group}");
        zk.create(&parent, b"", CreateMode::Persistent).unwrap();
        let client = zk.client();
        for batch in 0..10 {
            let mut multi = client.new_multi_writer();
            let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
            for i in 0..100 {
                let path = format!("{parent}/n{:04}", batch * 100 + i);
                multi.add_create(&path, b"0123456789", &options).unwrap();
            }
            zk.block_on(multi.commit()).unwrap();
        }
    }
    // 1 + 10 + 10,000 nodes; 100,000 bytes of data.
    let du = tree(&connect).run(&["du", "/big"]);
    assert_eq!(du.code(), 0, "{}", du.stderr());
    let rows = du.json();
    assert_eq!(rows[0]["path"], "/big");
    assert_eq!(rows[0]["nodes"], 10_011);
    assert_eq!(rows[0]["bytes"], 100_000);
    assert_eq!(rows.as_array().unwrap().len(), 11, "PATH and its children");
    assert_eq!(rows[1]["nodes"], 1001);

    let dump = tree(&connect).run(&["dump", "/big"]);
    assert_eq!(dump.code(), 0, "{}", dump.stderr());
    assert_eq!(lines(&dump.output.stdout).len(), 10_011);

    let target = shared().chroot("tree-10k-copy");
    let restore = run_with_stdin(&tree(&target), &["restore"], &dump.output.stdout);
    assert_eq!(code(&restore), 0, "{}", stderr(&restore));
    let report: Value = serde_json::from_slice(&restore.stdout).unwrap();
    assert_eq!(report["created"], 10_011);
    let copy = Zk::connect(&target).unwrap();
    assert_eq!(copy.children("/big/g9").unwrap().len(), 1000);
    assert_eq!(copy.get("/big/g9/n0999").unwrap().0, b"0123456789");
}

#[test]
fn a_writer_racing_the_dump_leaves_every_line_whole() {
    require_zookeeper!();
    let connect = shared().chroot("tree-race");
    let zk = Zk::connect(&connect).unwrap();
    zk.create("/live", b"", CreateMode::Persistent).unwrap();
    for i in 0..2000 {
        zk.create(&format!("/live/n{i}"), b"x", CreateMode::Persistent)
            .unwrap();
    }
    zk.create("/live/counter", b"0", CreateMode::Persistent)
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (connect, stop) = (connect.clone(), stop.clone());
        std::thread::spawn(move || {
            let zk = Zk::connect(&connect).unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let n = format!("/live/n{}", i % 2000);
                // Delete and recreate nodes the dump is walking, and bump a counter.
                let _ = zk.delete(&n);
                let _ = zk.create(&n, i.to_string().as_bytes(), CreateMode::Persistent);
                let _ = zk.block_on(zk.client().set_data(
                    "/live/counter",
                    i.to_string().as_bytes(),
                    None,
                ));
            }
            i
        })
    };
    let dump = tree(&connect).run(&["dump", "/live"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert_eq!(dump.code(), 0, "{}", dump.stderr());
    let dumped = lines(&dump.output.stdout);
    assert!(writes > 0, "the writer ran during the dump");
    // Each line is one node read whole: its data matches its own version.
    for line in &dumped {
        let version = line["stat"]["version"].as_i64().unwrap();
        let length = line["stat"]["data_length"].as_u64().unwrap();
        assert_eq!(
            line["data"].as_str().unwrap().len() as u64,
            length,
            "{line}"
        );
        if line["path"] == "/live/counter" {
            // Data and version come from one read: the i-th write stores i,
            // and no more than i writes can have succeeded.
            let value: i64 = line["data"].as_str().unwrap().parse().unwrap();
            assert!(version <= value, "{line}");
        }
    }
    // A node being recreated may be missed, never duplicated.
    let paths: std::collections::BTreeSet<_> = dumped
        .iter()
        .map(|l| l["path"].clone().to_string())
        .collect();
    assert_eq!(paths.len(), dumped.len());
    assert!(
        dumped.len() >= 1950 && dumped.len() <= 2002,
        "{}",
        dumped.len()
    );
}

#[test]
fn a_dump_stops_at_a_node_it_may_not_read_with_exit_77_naming_it() {
    require_zookeeper!();
    let connect = shared().chroot("tree-dump-noauth");
    let owner = Zk::connect_with(&connect, Some(("digest", "owner:secret"))).unwrap();
    owner.create("/d", b"", CreateMode::Persistent).unwrap();
    let only_owner = [Acl::new(Permission::ALL, AuthId::new("auth", ""))];
    owner
        .create_with(
            "/d/private",
            b"x",
            &CreateMode::Persistent.with_acls(Acls::new(&only_owner)),
        )
        .unwrap();
    let dump = tree(&connect).run(&["dump", "/d"]);
    assert_eq!(dump.code(), 77, "{}", dump.stderr());
    assert!(dump.stderr().contains("/d/private"), "{}", dump.stderr());
}

#[test]
fn a_planted_dump_is_refused_with_exit_2_and_leaves_no_node() {
    require_zookeeper!();
    let connect = shared().chroot("tree-hostile-dump");
    let zk = Zk::connect(&connect).unwrap();
    let no_server = tree("127.0.0.1:1");
    for (dump, reason) in [
        (
            &br#"{"path":"/a/../b","data":"x"}"#[..],
            "relative component",
        ),
        (br#"{"path":"/a\u0001","data":"x"}"#, "forbidden character"),
        (br#"{"path":"/a","data":7}"#, "data as a string"),
        (
            br#"{"path":"/a","acl":[{"scheme":"world","id":"anyone","perms":"rwz"}]}"#,
            "cdrwa",
        ),
        (br#"[1,2]"#, "\"path\""),
    ] {
        // Refused before any connection is tried.
        let refused = run_with_stdin(&no_server, &["restore"], dump);
        assert_eq!(code(&refused), 2, "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains(reason),
            "{reason}: {}",
            stderr(&refused)
        );
    }
    let huge = format!(r#"{{"path":"/a","data":"{}"}}"#, "x".repeat(2 << 20));
    let refused = run_with_stdin(&no_server, &["restore"], huge.as_bytes());
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("jute.maxbuffer"),
        "{}",
        stderr(&refused)
    );

    // ZooKeeper's own tree is refused without a chroot, allowed inside one.
    let own = br#"{"path":"/zookeeper/quota/x","data":"x"}"#;
    let refused = run_with_stdin(
        &tree(shared().connect_string()),
        &["restore", "--dry-run"],
        own,
    );
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("ZooKeeper's own tree"),
        "{}",
        stderr(&refused)
    );
    let inside = run_with_stdin(&tree(&connect), &["restore"], own);
    assert_eq!(code(&inside), 0, "{}", stderr(&inside));
    assert_eq!(zk.get("/zookeeper/quota/x").unwrap().0, b"x");

    // The server's refusal of an ACL is the dump's fault (2), not ours (70).
    let bad_acl = b"{\"path\":\"/ok\",\"data\":\"1\"}\n{\"path\":\"/ok/acl\",\"acl\":[{\"scheme\":\"auth\",\"id\":\"\",\"perms\":\"cdrwa\"}]}\n";
    let refused = run_with_stdin(&tree(&connect), &["restore"], bad_acl);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("/ok/acl"), "{}", stderr(&refused));
    assert!(
        !zk.exists("/ok").unwrap(),
        "the batch was one multi: nothing written"
    );
}
