//! What the wrapped command finds in its environment: the lock's variables,
//! and never our credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use zk_testkit::{require_zookeeper, shared, Tool};

#[test]
fn the_command_gets_the_lock_but_not_our_credentials() {
    require_zookeeper!();
    let connect = shared().chroot("lock-environment");
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("env");
    let ran = Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
        .zk(&connect)
        .env("ZK_AUTH", "digest:someone:hunter2")
        .env("ZK_SASL_PASSWORD", "hunter3")
        .run(&["/l", "-c", &format!("env > {}", seen.display())]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("ZK_FENCING_TOKEN="), "{env}");
    assert!(
        !env.contains("hunter2") && !env.contains("ZK_AUTH") && !env.contains("hunter3"),
        "the command must not see our credentials:\n{env}"
    );
    assert!(!ran.stderr().contains("hunter2"), "{}", ran.stderr());
}

#[test]
fn acl_creator_protects_the_lock_node_and_the_parents_it_creates() {
    require_zookeeper!();
    let connect = shared().chroot("lock-acl-creator");
    let mut holder = Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
        .zk(&connect)
        .spawn(&[
            "--auth",
            "digest:owner:secret",
            "--acl",
            "creator",
            "/a/b/l",
        ]);
    let acquired = holder.next_json(std::time::Duration::from_secs(30));
    assert_eq!(acquired["event"], "acquired");
    let zk = zk_testkit::Zk::connect(&connect).unwrap();
    for path in ["/a", "/a/b", "/a/b/l", acquired["node"].as_str().unwrap()] {
        zk.assert_creator_acl(path, "owner");
    }
    // Without the credential, the node can be seen but not taken away.
    let node = acquired["node"].as_str().unwrap();
    assert!(zk.exists(node).unwrap());
    assert!(zk.delete(node).is_err(), "deleted without the credential");
    holder.close_stdin();
    assert_eq!(
        holder.wait(std::time::Duration::from_secs(30)).code(),
        Some(0)
    );
}
