//! Helpers the zk-lock test files share.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use zk_testkit::{Ensemble, Tool};

pub fn lock() -> Tool {
    Tool::new(env!("CARGO_BIN_EXE_zk-lock"))
}

/// The session of a tool whose node a test expects gone: longer than
/// [`GONE_WITHIN`], so only the tool itself (closing its session) removes
/// its node in time; the server would not expire the session for 40 s. A
/// tool that never closed its session would pass with the default 10 s.
/// (The test servers allow up to 60 s.)
pub const LONG_SESSION: &str = "40s";

/// How long a test waits for a node the tool must remove itself.
pub const GONE_WITHIN: Duration = Duration::from_secs(15);

/// zk-lock with a session of [`LONG_SESSION`]: for a tool whose node must
/// be gone within [`GONE_WITHIN`] (see [`wait_for_queue_to_shrink`]).
pub fn lock_with_long_session() -> Tool {
    lock().env("ZK_SESSION_TIMEOUT", LONG_SESSION)
}

/// Polls `zk-lock holders` until it lists `n` nodes.
pub fn wait_for_queue(connect: &str, path: &str, n: usize) -> Value {
    wait_for_queue_within(connect, path, n, Duration::from_secs(20))
}

/// Polls `zk-lock holders` until it lists only `n` nodes, after a tool run
/// by [`lock_with_long_session`] was to remove its own: within
/// [`GONE_WITHIN`], well before the server would expire its session.
pub fn wait_for_queue_to_shrink(connect: &str, path: &str, n: usize) -> Value {
    wait_for_queue_within(connect, path, n, GONE_WITHIN)
}

fn wait_for_queue_within(connect: &str, path: &str, n: usize, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let holders = lock().zk(connect).run(&["holders", path]).json();
        if holders.as_array().unwrap().len() == n {
            return holders;
        }
        assert!(
            Instant::now() < deadline,
            "queue never had {n} nodes within {within:?}: {holders}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `content` to `dir/name` with `mode`.
pub fn secret_file(dir: &Path, name: &str, content: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A single server that takes SASL DIGEST-MD5 logins for alice and bob.
pub fn sasl_server(dir: &Path) -> Ensemble {
    let jaas = dir.join("jaas.conf");
    std::fs::write(
        &jaas,
        "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
         user_alice=\"alice-pw\"\n  user_bob=\"bob-pw\";\n};\n",
    )
    .unwrap();
    Ensemble::start_with_jvm(
        1,
        &["authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"],
        &[&format!(
            "-Djava.security.auth.login.config={}",
            jaas.display()
        )],
    )
    .unwrap()
}
