//! The real kazoo (PyPI) contending beside our tools: `python/kazoo_worker.py`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `python3 kazoo_worker.py ARGS...`, ready to spawn (see the script for
/// its arguments). Panics when kazoo is not installed: an interop test
/// that skipped would prove nothing.
pub fn kazoo_worker(args: &[&str]) -> Command {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import kazoo"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        installed,
        "kazoo is missing: run scripts/zookeeper.sh install"
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/kazoo_worker.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    cmd
}
