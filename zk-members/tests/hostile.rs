//! Hostile data and a hostile environment (issue 11): member data comes out
//! exactly as stored, an unreadable member does not hide the others, and a
//! failed write of our own output is exit 74, never a silent success.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use zk_testkit::{require_zookeeper, shared, Ensemble, Tool, Zk};
use zookeeper_client::{Acls, CreateMode};

const T: Duration = Duration::from_secs(20);

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    lines[0].to_string()
}

/// The `data` of member `id` as JSON text, exactly as printed.
fn printed_data(stdout: &str, id: &str) -> String {
    // Read back with the same exact-number parser the tool prints with.
    let list: serde_json::Value = serde_json::from_str(stdout).unwrap();
    let member = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no member {id} in {stdout}"));
    serde_json::to_string(&member["data"]).unwrap()
}

#[test]
fn member_data_is_printed_exactly_as_stored() {
    require_zookeeper!();
    let connect = shared().chroot("members-exact");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g").unwrap();
    let exact = [
        ("big", "123456789012345678901234567890"),
        ("u64max1", "18446744073709551616"),
        ("tiny", "1e-400"),
        (
            "nested",
            r#"{"id":12345678901234567890123,"ratio":0.1000000000000000055511151231257827}"#,
        ),
    ];
    for (id, data) in exact {
        zk.create(&format!("/g/{id}"), data.as_bytes(), CreateMode::Persistent)
            .unwrap();
    }
    let duplicate = r#"{"a":1,"a":2}"#;
    zk.create("/g/dup", duplicate.as_bytes(), CreateMode::Persistent)
        .unwrap();
    zk.create("/g/null", b"null", CreateMode::Persistent)
        .unwrap();
    zk.create("/g/empty", b"", CreateMode::Persistent).unwrap();

    let ran = members().zk(&connect).run(&["list", "/g"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let stdout = ran.stdout();
    for (id, data) in exact {
        assert_eq!(printed_data(&stdout, id), data, "{id}");
        // And in the raw output too, not only after our own parse.
        assert!(stdout.contains(data), "{data} not verbatim in {stdout}");
    }
    // A duplicated key would collapse to {"a":2}: the text itself instead.
    assert_eq!(
        printed_data(&stdout, "dup"),
        serde_json::to_string(duplicate).unwrap()
    );
    // null and empty data both print data: null, and differ in data_length.
    let list = ran.json();
    let of = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of("null")["data"], serde_json::Value::Null);
    assert_eq!(of("null")["data_length"], 4);
    assert_eq!(of("empty")["data"], serde_json::Value::Null);
    assert_eq!(of("empty")["data_length"], 0);
}

#[test]
fn an_unreadable_member_is_marked_and_the_others_listed() {
    require_zookeeper!();
    let connect = shared().chroot("members-unreadable");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g").unwrap();
    zk.create("/g/a", br#"{"port":1}"#, CreateMode::Persistent)
        .unwrap();
    let alice = Zk::connect_with(&connect, Some(("digest", "alice:secret"))).unwrap();
    alice
        .create_with(
            "/g/b",
            b"secret data",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .unwrap();
    zk.create("/g/c", br#"{"port":3}"#, CreateMode::Persistent)
        .unwrap();

    let ran = members().zk(&connect).run(&["list", "/g"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let list = ran.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "c"], "all three, in join order");
    assert_eq!(list[0]["data"]["port"], 1);
    assert_eq!(list[1]["error"], "not authorized");
    assert!(list[1].get("data").is_none(), "{}", list[1]);
    assert!(list[1]["czxid"].is_number(), "the stat is still known");
    assert_eq!(list[2]["data"]["port"], 3);
    assert!(
        ran.stderr().contains("not authorized") && ran.stderr().contains('b'),
        "a warning names it: {}",
        ran.stderr()
    );
    assert!(!ran.stdout().contains("secret data"));
}

#[test]
fn failed_writes_of_our_output_exit_74() {
    require_zookeeper!();
    let connect = shared().chroot("members-ioerror");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g/m").unwrap();

    // stdout on a full disk.
    let full = members()
        .zk(&connect)
        .command(&["list", "/g"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(74), "{stderr}");
    let line = one_line(&stderr);
    assert!(
        line.contains("writing stdout") && line.contains("No space left"),
        "{line}"
    );

    // stdout closed (`>&-`): Rust would drop the writes and exit 0.
    let closed = std::process::Command::new("sh")
        .args(["-c", "exec \"$0\" \"$@\" >&-"])
        .arg(env!("CARGO_BIN_EXE_zk-members"))
        .args(["--zk", &connect, "list", "/g"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert_eq!(closed.status.code(), Some(74), "{stderr}");
    assert!(one_line(&stderr).contains("stdout is closed"), "{stderr}");

    // --output into a directory we may not write (as root every directory
    // is writable, so a full device stands in: /dev/full's directory is
    // /dev, which root can write; a path under a file is refused to all).
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "").unwrap();
    let target = not_a_dir.join("peers.json");
    let ran = members()
        .zk(&connect)
        .run(&["watch", "/g", "--output", target.to_str().unwrap()]);
    assert_eq!(ran.code(), 74, "{}", ran.stderr());
    assert!(
        one_line(&ran.stderr()).contains("--output"),
        "{}",
        ran.stderr()
    );
    let readonly = dir.path().join("ro");
    std::fs::create_dir(&readonly).unwrap();
    std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes anywhere: then only the path under a file above counts.
    if std::fs::write(readonly.join("probe"), "").is_err() {
        let ran = members().zk(&connect).run(&[
            "watch",
            "/g",
            "--output",
            readonly.join("peers.json").to_str().unwrap(),
        ]);
        assert_eq!(ran.code(), 74, "{}", ran.stderr());
    }
}

#[test]
fn watch_output_keeps_the_mode_and_follows_a_symlink() {
    require_zookeeper!();
    let connect = shared().chroot("members-output");
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g/m1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("peers.json");
    std::fs::write(&real, "[]").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("peers.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let fresh = dir.path().join("fresh.json");

    let mut watch =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--output", link.to_str().unwrap()]);
    let mut watch_fresh =
        members()
            .zk(&connect)
            .spawn(&["watch", "/g", "--output", fresh.to_str().unwrap()]);
    zk_testkit::wait_until("the snapshot written through the link", T, || {
        std::fs::read_to_string(&real).is_ok_and(|s| s.contains("m1"))
            && std::fs::read_to_string(&fresh).is_ok_and(|s| s.contains("m1"))
    });
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    watch_fresh.signal(nix::sys::signal::Signal::SIGTERM);
    watch.wait(T);
    watch_fresh.wait(T);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "the file keeps its mode");
    // A new file: 0666 less our umask (the test runner's, typically 022).
    let umask = umask();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask, "a new file follows the umask");
    let leftovers: Vec<_> = std::fs::read_dir(&real_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

/// This process's umask (the tool inherits it), without changing it.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

#[test]
fn a_chroot_that_does_not_exist_is_named() {
    require_zookeeper!();
    let missing = format!(
        "{}/no-such-chroot-{}",
        shared().connect_string(),
        std::process::id()
    );
    let ran = members().zk(&missing).run(&["list", "/g"]);
    assert_eq!(ran.code(), 2, "{}", ran.stderr());
    let line = one_line(&ran.stderr());
    assert!(
        line.contains("/no-such-chroot-") && line.contains("does not exist"),
        "{line}"
    );
    let zk = Zk::connect(shared().connect_string()).unwrap();
    assert!(
        !zk.exists(&format!("/no-such-chroot-{}", std::process::id()))
            .unwrap(),
        "no stray node"
    );
}

#[test]
fn a_host_that_does_not_resolve_is_named() {
    let ran =
        members()
            .zk("zk1.example.invalid:2181")
            .run(&["--connect-timeout", "1s", "list", "/g"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    let line = one_line(&ran.stderr());
    assert!(
        line.contains("zk1.example.invalid") && line.contains("does not resolve"),
        "{line}"
    );
}

#[test]
fn max_client_connections_reached_is_named() {
    require_zookeeper!();
    let ensemble = Ensemble::start_with(1, &["maxClientCnxns=1"]).unwrap();
    let connect = ensemble.connect_string();
    // The one connection our address may have.
    let _holder = Zk::connect(&connect).unwrap();
    let ran = members()
        .zk(&connect)
        .run(&["--connect-timeout", "2s", "list", "/g"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    let line = one_line(&ran.stderr());
    assert!(
        line.contains("maxClientCnxns") && !line.contains("no available hosts"),
        "{line}"
    );
}

/// A server refuses a request larger than its jute.maxbuffer by dropping
/// the connection. 250 members with 600-byte names made one 200-member
/// multi-read of ~125 kB: over a 100 kB limit (1 MB by default; lowered
/// here so the group stays small). Reads are batched by bytes too.
#[test]
fn a_group_whose_names_exceed_jute_maxbuffer_in_one_read_is_listed() {
    require_zookeeper!();
    let small = Ensemble::start_with(1, &["-Djute.maxbuffer=100000"]).unwrap();
    let connect = small.connect_string();
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g").unwrap();
    let names: Vec<String> = (0..250).map(|i| format!("{i:0>600}")).collect();
    for name in &names {
        zk.create(&format!("/g/{name}"), b"1", CreateMode::Persistent)
            .unwrap();
    }
    let ran = members()
        .zk(&connect)
        .run(&["--connect-timeout", "5s", "list", "/g"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.json().as_array().unwrap().len(), 250);

    let watch = members().zk(&connect).spawn(&["watch", "/g"]);
    let first = watch.next_json(T);
    assert_eq!(first["event"], "snapshot");
    assert_eq!(first["members"].as_array().unwrap().len(), 250);
    zk.delete(&format!("/g/{}", names[0])).unwrap();
    let changed = watch.next_json(T);
    assert_eq!(changed["left"], serde_json::json!([names[0]]));
}

/// A server's `zk_connection_request_count` (mntr): every connect it saw.
fn connection_requests(address: &str) -> u64 {
    let mntr = zk_testkit::four_letter(address, "mntr").unwrap();
    mntr.lines()
        .find_map(|line| line.strip_prefix("zk_connection_request_count\t"))
        .unwrap_or_else(|| panic!("no zk_connection_request_count in mntr: {mntr}"))
        .trim()
        .parse()
        .unwrap()
}

/// When even one batch of the multi-read is larger than the server's
/// jute.maxbuffer (lowered to 10,000 bytes here; batches are cut at 32 kB),
/// every read drops the connection. `watch` used to reconnect ~45 times a
/// second forever; it must back off and name the limit, and `list` must
/// fail with one line that names it.
#[test]
fn a_read_over_jute_maxbuffer_backs_off_and_names_the_limit() {
    require_zookeeper!();
    let small = Ensemble::start_with(1, &["-Djute.maxbuffer=10000"]).unwrap();
    let connect = small.connect_string();
    let address = small.address(0);
    let zk = Zk::connect(&connect).unwrap();
    zk.create_all("/g").unwrap();
    // 40 names of 600 bytes: one ~25 kB batch, well over 10,000 bytes.
    for i in 0..40 {
        zk.create(&format!("/g/{i:0>600}"), b"1", CreateMode::Persistent)
            .unwrap();
    }

    let ran = members()
        .zk(&connect)
        .run(&["--connect-timeout", "5s", "list", "/g"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    let line = one_line(&ran.stderr());
    assert!(line.contains("jute.maxbuffer"), "{line}");

    let before = connection_requests(&address);
    let mut watch = members().zk(&connect).spawn(&["watch", "/g", "-v"]);
    std::thread::sleep(Duration::from_secs(8));
    let after = connection_requests(&address);
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    watch.wait(T);
    let stderr = watch.stderr_so_far();
    let connects = after - before;
    eprintln!("{connects} connection requests in 8 s");
    // The server did drop us (else this test proves nothing) ...
    assert!(connects >= 3, "{connects} connects; stderr:\n{stderr}");
    // ... and a storm is ~45 a second, ~360 in 8 s.
    assert!(
        connects <= 20,
        "{connects} connects in 8 s; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("jute.maxbuffer") && stderr.contains("-Djute.maxbuffer="),
        "{stderr}"
    );
    assert!(watch.next_line(Duration::ZERO).is_none(), "no snapshot");
}
