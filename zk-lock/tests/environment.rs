//! What the wrapped command finds in its environment: the lock's variables,
//! and never our credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{lock, sasl_server, secret_file};
use zk_testkit::{exclusive, require_zookeeper, shared, Tool, Zk};

/// What a wrapped command must never find in its environment (README: a
/// command, hook or handler never sees them).
const CREDENTIAL_VARIABLES: [&str; 5] = [
    "ZK_AUTH",
    "ZK_AUTH_FILE",
    "ZK_SASL",
    "ZK_SASL_PASSWORD",
    "ZK_SASL_PASSWORD_FILE",
];

/// Runs `tool` on lock `/l` with a command that saves its environment,
/// and checks that the command got the lock's variables, none of
/// [`CREDENTIAL_VARIABLES`] and none of `secrets` (values, file paths),
/// and that nothing the tool printed shows a secret either.
fn assert_the_command_sees_no_credentials(tool: &Tool, dir: &Path, secrets: &[&str]) {
    let seen = dir.join("env");
    let ran = tool.run(&["/l", "-c", &format!("env > {}", seen.display())]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr());
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("ZK_FENCING_TOKEN="), "{env}");
    for key in CREDENTIAL_VARIABLES {
        assert!(
            !env.lines().any(|l| l.starts_with(&format!("{key}="))),
            "the command must not see {key}:\n{env}"
        );
    }
    for secret in secrets {
        assert!(
            !env.contains(secret),
            "the command must not see {secret:?}:\n{env}"
        );
        assert!(!ran.stderr().contains(secret), "{}", ran.stderr());
        assert!(!ran.stdout().contains(secret), "{}", ran.stdout());
    }
}

#[test]
fn the_command_gets_the_lock_but_not_our_credentials() {
    require_zookeeper!();
    let connect = shared().chroot("lock-environment");
    let dir = tempfile::tempdir().unwrap();
    let tool = lock()
        .zk(&connect)
        .env("ZK_AUTH", "digest:someone:hunter2")
        .env("ZK_SASL_PASSWORD", "hunter3");
    assert_the_command_sees_no_credentials(&tool, dir.path(), &["hunter2", "hunter3"]);
}

#[test]
fn the_command_sees_neither_our_auth_file_nor_its_path() {
    require_zookeeper!();
    let connect = shared().chroot("lock-environment-auth-file");
    let dir = tempfile::tempdir().unwrap();
    let file = secret_file(dir.path(), "auth", "digest:someone:hunter4\n", 0o600);
    let file = file.to_str().unwrap();
    let tool = lock().zk(&connect).env("ZK_AUTH_FILE", file);
    assert_the_command_sees_no_credentials(&tool, dir.path(), &["hunter4", file]);
}

/// A SASL login from the environment: ZK_SASL names the user and
/// ZK_SASL_PASSWORD_FILE the password's file. Neither reaches the command.
#[test]
fn the_command_sees_neither_our_sasl_login_nor_its_password_file() {
    require_zookeeper!();
    let _one_at_a_time = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let server = sasl_server(dir.path());
    let password = secret_file(dir.path(), "alice.pw", "alice-pw\n", 0o600);
    let password = password.to_str().unwrap();
    let tool = lock()
        .zk(&server.connect_string())
        .env("ZK_SASL", "digest-md5:alice")
        .env("ZK_SASL_PASSWORD_FILE", password);
    assert_the_command_sees_no_credentials(
        &tool,
        dir.path(),
        &["alice-pw", password, "digest-md5"],
    );
    // The login was used: a SASL login makes creator ACLs.
    let acl = Zk::connect(&server.connect_string())
        .unwrap()
        .acl("/l")
        .unwrap();
    assert!(
        acl.contains(&("sasl".into(), "alice".into(), "ALL".into())),
        "{acl:?}"
    );
}

#[test]
fn acl_creator_protects_the_lock_node_and_the_parents_it_creates() {
    require_zookeeper!();
    let connect = shared().chroot("lock-acl-creator");
    let mut holder = lock().zk(&connect).spawn(&[
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
