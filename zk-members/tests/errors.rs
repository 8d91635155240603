//! Bad input: one line on stderr naming the cause, and the documented code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use zk_testkit::{require_zookeeper, shared, Tool, Zk};
use zookeeper_client::{Acls, CreateMode};

fn members() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-members"))
}

fn assert_one_line_error(stderr: &str, needle: &str) {
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("zk-members: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected {needle:?} in: {stderr}"
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    // No server needed: these never get as far as connecting.
    let cases: &[(&[&str], &str)] = &[
        (&["list", "services/web"], "is relative"),
        (&["list", "/services//web"], "empty component"),
        (&["list", "/services/web/"], "ends with '/'"),
        (&["list", "/a/../b"], "relative component"),
        (
            &["--session-timeout", "10", "list", "/g"],
            "time unit needed",
        ),
        (
            &["list", "/g", "--connect-timeout", "soon"],
            "--connect-timeout",
        ),
        (&["wait", "/g"], "--min"),
        (&["wait", "/g", "--min", "-1"], "'-1'"),
        (&["wait", "/g", "--min", "three"], "--min"),
        (&["watch", "/g", "--debounce", "x"], "--debounce"),
        (&["--zk", "", "list", "/g"], "bad connect string"),
        (
            &["--zk", "127.0.0.1:2181/chroot/", "list", "/g"],
            "ends with '/'",
        ),
        (&["--zk", "127.0.0.1:notaport", "list", "/g"], "host[:port]"),
        (&["--auth", "nocolon", "list", "/g"], "SCHEME:CREDENTIAL"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        // Unreachable unless a case overrides it with its own bad --zk.
        let ran = members().env("ZK_CONNECT", "127.0.0.1:1").run(args);
        assert_eq!(ran.code(), 2, "{args:?}: {}", ran.stderr());
        assert_one_line_error(&ran.stderr(), needle);
        assert!(ran.stdout().is_empty(), "{args:?} printed to stdout");
    }
}

#[test]
fn unreachable_servers_exit_69_within_the_connect_timeout() {
    let ran =
        members()
            .zk("127.0.0.1:1,127.0.0.1:2")
            .run(&["--connect-timeout", "1500ms", "list", "/g"]);
    assert_eq!(ran.code(), 69, "{}", ran.stderr());
    assert_one_line_error(&ran.stderr(), "127.0.0.1:1,127.0.0.1:2");
    assert!(
        ran.elapsed < Duration::from_secs(5),
        "took {:?}",
        ran.elapsed
    );
}

/// `--acl` is one of every tool's connection flags, and sets the ACL of
/// the nodes a tool creates; zk-members only reads, so with `--acl
/// creator` it creates nothing: not the group it lists, waits on or
/// watches, nor any parent.
#[test]
fn acl_creator_creates_no_node() {
    require_zookeeper!();
    let connect = shared().chroot("errors-acl-creator");
    let zk = Zk::connect(&connect).unwrap();
    let tool = || members().zk(&connect);
    let creator = ["--acl", "creator", "--auth", "digest:alice:secret"];
    let with = |args: &[&'static str]| [&creator[..], args].concat();

    let ran = tool().run(&with(&["list", "/app/g"]));
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.json(), serde_json::json!([]));
    let ran = tool().run(&with(&["wait", "/app/g", "--min", "1", "--timeout", "1s"]));
    assert_eq!(ran.code(), 75, "{}", ran.stderr());
    let mut watch = tool().spawn(&with(&["watch", "/app/g"]));
    let first = watch.next_json(Duration::from_secs(20));
    assert_eq!(first["members"], serde_json::json!([]));
    watch.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(watch.wait(Duration::from_secs(20)).code(), Some(143));

    assert_eq!(
        zk.children("/").unwrap(),
        Vec::<String>::new(),
        "a read-only tool created a node"
    );
}

#[test]
fn acl_protected_group_needs_the_right_credentials() {
    require_zookeeper!();
    let connect = shared().chroot("errors-acl");
    let owner = Zk::connect_with(&connect, Some(("digest", "alice:secret"))).unwrap();
    owner
        .create_with(
            "/private",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .unwrap();
    owner
        .create("/private/m1", b"x", CreateMode::Ephemeral)
        .unwrap_or_else(|_| {
            // Children inherit nothing; creator_all on the parent allows alice.
            panic!("alice must be able to join her own group")
        });

    for auth in [
        None,
        Some("digest:alice:wrong"),
        Some("digest:mallory:secret"),
    ] {
        let mut args = vec![];
        if let Some(auth) = auth {
            args.extend(["--auth", auth]);
        }
        args.extend(["list", "/private"]);
        let ran = members().zk(&connect).run(&args);
        assert_eq!(ran.code(), 77, "{auth:?}: {}", ran.stderr());
        assert_one_line_error(&ran.stderr(), "/private");
        assert!(
            !ran.stderr().contains("wrong") && !ran.stderr().contains("secret"),
            "credentials leaked"
        );
    }
    let ran = members()
        .zk(&connect)
        .run(&["--auth", "digest:alice:secret", "list", "/private"]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    assert_eq!(ran.json()[0]["id"], "m1");
}

#[test]
fn help_has_examples_and_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["list", "--help"],
        &["watch", "--help"],
        &["wait", "--help"],
    ] {
        let ran = members().run(args);
        assert_eq!(ran.code(), 0);
        assert!(ran.stdout().contains("zk-members "), "{args:?}");
        assert!(ran.stdout().contains("Example"), "{args:?} has no example");
    }
    assert!(members()
        .run(&["--help"])
        .stdout()
        .contains("79   ownership lost"));
}

#[test]
fn generates_man_page_and_completions() {
    let man = members().run(&["--generate", "man"]);
    assert_eq!(man.code(), 0);
    assert!(man.stdout().contains(".TH zk-members"), "{}", man.stdout());
    let bash = members().run(&["--generate", "bash"]);
    assert_eq!(bash.code(), 0);
    assert!(
        bash.stdout().contains("complete -F _zk__members") && bash.stdout().contains("watch"),
        "{}",
        bash.stdout()
    );
    assert_eq!(members().run(&["--generate", "tcsh"]).code(), 2);
}
