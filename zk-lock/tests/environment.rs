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
