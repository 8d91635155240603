//! zk-tree against a real ZooKeeper ensemble: one test binary, a module
//! per subcommand family.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod backup;
mod data;
mod docs;
mod watch;

use std::io::Write;
use std::process::{Output, Stdio};

use zk_testkit::Tool;

pub const BIN: &str = env!("CARGO_BIN_EXE_zk-tree");

/// Another tool of this build (target/debug/NAME; the test runs from
/// target/debug/deps): `cargo test --workspace` builds them all first.
pub fn sibling(name: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the tools first (cargo build --workspace --bins)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

pub fn tree(connect: &str) -> Tool {
    Tool::new(BIN).zk(connect)
}

/// Runs zk-tree with `input` on its stdin.
pub fn run_with_stdin(tool: &Tool, args: &[&str], input: &[u8]) -> Output {
    let mut child = tool
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: a tool that refuses early must not deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
