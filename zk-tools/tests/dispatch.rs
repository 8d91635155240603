//! The one `zk-tools` executable runs as each tool, by its link's name or
//! by `zk-tools TOOL`, exactly as that tool's own binary does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use zk_testkit::{process_state, require_zookeeper, shared, wait_for_file, wait_until, Tool};

const ZK_TOOLS: &str = env!("CARGO_BIN_EXE_zk-tools");
const TOOLS: [&str; 6] = [
    "zk-lock",
    "zk-elect",
    "zk-health",
    "zk-members",
    "zk-ensemble",
    "zk-tree",
];
const T: Duration = Duration::from_secs(30);

/// A directory of links named after the tools, as the packages install them.
fn links() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for tool in TOOLS {
        std::os::unix::fs::symlink(ZK_TOOLS, dir.path().join(tool)).unwrap();
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// The tool's own binary of this build (target/debug/NAME).
fn own_binary(tool: &str) -> PathBuf {
    let path = Path::new(ZK_TOOLS).parent().unwrap().join(tool);
    assert!(
        path.exists(),
        "{} is missing: cargo build --workspace --bins",
        path.display()
    );
    path
}

fn output(program: &Path, args: &[&str]) -> (i32, Vec<u8>, Vec<u8>) {
    let out = Command::new(program).args(args).output().unwrap();
    (out.status.code().unwrap(), out.stdout, out.stderr)
}

#[test]
fn every_tool_answers_by_its_link_and_by_name_as_its_own_binary_does() {
    let (_dir, links) = links();
    for tool in TOOLS {
        let own = own_binary(tool);
        let short = tool.strip_prefix("zk-").unwrap();
        for args in [
            &["--help"][..],
            &["-h"],
            &["--version"],
            &["--generate", "man"],
            &["--generate", "bash"],
            &["--no-such-flag"],
            &[],
        ] {
            let expected = output(&own, args);
            assert_eq!(
                output(&links.join(tool), args),
                expected,
                "{tool} {args:?} by link"
            );
            let by_name = Command::new(ZK_TOOLS)
                .arg(short)
                .args(args)
                .output()
                .unwrap();
            assert_eq!(
                (
                    by_name.status.code().unwrap(),
                    by_name.stdout,
                    by_name.stderr
                ),
                expected,
                "zk-tools {short} {args:?}"
            );
        }
    }
}

#[test]
fn an_unknown_tool_is_a_usage_error_naming_the_six() {
    let (code, _, stderr) = output(Path::new(ZK_TOOLS), &["lok"]);
    assert_eq!(code, 2);
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(stderr.contains("no tool named 'lok'"), "{stderr}");
    for tool in TOOLS {
        assert!(
            stderr.contains(tool.strip_prefix("zk-").unwrap()),
            "{stderr}"
        );
    }
    let (code, stdout, _) = output(Path::new(ZK_TOOLS), &[]);
    assert_eq!(code, 0);
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        TOOLS
            .iter()
            .all(|t| stdout.contains(t.strip_prefix("zk-").unwrap())),
        "{stdout}"
    );
    // A renamed copy that is no tool's name still dispatches by argument.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("zkt");
    std::os::unix::fs::symlink(ZK_TOOLS, &renamed).unwrap();
    let (code, stdout, _) = output(&renamed, &["tree", "--version"]);
    assert_eq!(
        (code, String::from_utf8(stdout).unwrap().trim()),
        (0, "zk-tree 0.1.0")
    );
}

#[test]
fn by_its_link_zk_lock_passes_the_commands_status_and_its_watchdog_kills_an_orphan() {
    require_zookeeper!();
    let connect = shared().chroot("zk-tools-links");
    let (_dir, links) = links();
    let lock = Tool::new(links.join("zk-lock").to_str().unwrap()).zk(&connect);
    let ran = lock.run(&["/l", "-c", "test -n \"$ZK_NODE\" && exit 7"]);
    assert_eq!(ran.code(), 7, "{}", ran.stderr());

    // The dead-man's switch is this executable run again by its real name:
    // a SIGKILLed zk-lock must still take its command's group with it.
    let work = tempfile::tempdir().unwrap();
    let pid_file = work.path().join("pid");
    let command = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let mut holder = lock.spawn(&[
        "--session-timeout",
        "4s",
        "--watchdog",
        "/w",
        "-c",
        &command,
    ]);
    let sleeper: i32 = wait_for_file(&pid_file, T).trim().parse().unwrap();
    holder.signal(Signal::SIGKILL);
    holder.wait(T);
    wait_until("the watchdog to kill the orphaned command", T, || {
        matches!(process_state(sleeper), None | Some('Z'))
    });
}
